"""Kyverno match/exclude (notes/kyverno.md §3.3; kyverno
pkg/engine/utils/match.go, pkg/utils/match): a rule's match and exclude
blocks against one request, by resource and by requester."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from policygen.config import LabelSelector
from policygen.engines import NamespaceUnknown
from policygen.engines.kyverno.api import Request, Rule
from policygen.engines.kyverno.wildcards import wildcard
from policygen.errors import UnsupportedConstruct

RESOURCE_FIELDS = {
    "kinds",
    "names",
    "name",
    "namespaces",
    "selector",
    "namespaceSelector",
    "operations",
    "annotations",
}


@dataclass(frozen=True)
class Admission:
    """What the matcher reads of one request."""

    obj: Mapping[str, Any]
    namespace: str
    operation: str
    subresource: str
    namespace_labels: Mapping[str, str] | None
    #: the requester: Kubernetes UserInfo (username, groups) and its roles
    user: Mapping[str, Any] = field(default_factory=dict)
    roles: tuple[str, ...] = ()
    cluster_roles: tuple[str, ...] = ()


def matches(block: Mapping[str, Any] | None, req: Admission, where: str) -> bool:
    """A match or exclude block: ``any``, ``all`` or the legacy ``resources``."""
    if not block:
        return False
    legacy = {"resources", "subjects", "roles", "clusterRoles"}
    unknown = set(block) - {"any", "all"} - legacy
    if unknown:
        raise UnsupportedConstruct("kyverno", f"{where}.{sorted(unknown)[0]}", "match field")
    if set(block) & legacy:  # the pre-1.5 form: one filter, not any/all
        return _filter({k: v for k, v in block.items() if k in legacy}, req, where)
    if block.get("any"):
        return any(_filter(f, req, f"{where}.any[{i}]") for i, f in enumerate(block["any"]))
    if block.get("all"):
        return all(_filter(f, req, f"{where}.all[{i}]") for i, f in enumerate(block["all"]))
    return False


def _filter(entry: Mapping[str, Any], req: Admission, where: str) -> bool:
    """doesResourceMatchConditionBlock: the resource description, then the
    requester (roles and cluster roles by name, subjects by wildcard)."""
    extra = set(entry) - {"resources", "subjects", "roles", "clusterRoles"}
    if extra:
        raise UnsupportedConstruct("kyverno", f"{where}.{sorted(extra)[0]}", "match field")
    if not _requester(entry, req):
        return False
    res = entry.get("resources") or {}
    unknown = set(res) - RESOURCE_FIELDS
    if unknown:
        raise UnsupportedConstruct("kyverno", f"{where}.resources.{sorted(unknown)[0]}", "field")
    meta = req.obj.get("metadata") or {}
    if res.get("kinds") and not any(_kind(k, req) for k in res["kinds"]):
        return False
    names = list(res.get("names") or []) + ([res["name"]] if res.get("name") else [])
    if names and not any(wildcard(n, str(meta.get("name", ""))) for n in names):
        return False
    ns = req.namespace if req.obj.get("kind") != "Namespace" else str(meta.get("name", ""))
    if res.get("namespaces") and not any(wildcard(n, ns) for n in res["namespaces"]):
        return False
    if res.get("operations") and req.operation not in res["operations"]:
        return False
    annotations = meta.get("annotations") or {}
    for k, v in (res.get("annotations") or {}).items():
        if not any(wildcard(k, ak) and wildcard(str(v), str(av)) for ak, av in annotations.items()):
            return False
    selector = res.get("selector")
    labels = meta.get("labels") or {}
    if selector is not None and not LabelSelector.model_validate(selector).matches(labels):
        return False
    if res.get("namespaceSelector") is not None and req.obj.get("kind") == "Namespace":
        return False  # "namespace selector is not applicable for namespace resource"
    if res.get("namespaceSelector") is not None:
        if req.namespace_labels is None:
            raise NamespaceUnknown(req.namespace)
        ns_selector = LabelSelector.model_validate(res["namespaceSelector"])
        if not ns_selector.matches(dict(req.namespace_labels)):
            return False
    return True


def _requester(entry: Mapping[str, Any], req: Admission) -> bool:
    roles = entry.get("roles") or []
    if roles and not set(roles) & set(req.roles):
        return False
    cluster_roles = entry.get("clusterRoles") or []
    if cluster_roles and not set(cluster_roles) & set(req.cluster_roles):
        return False
    subjects = entry.get("subjects") or []
    return not subjects or any(_subject(s, req.user) for s in subjects)


def _subject(subject: Mapping[str, Any], user: Mapping[str, Any]) -> bool:
    """CheckSubjects (pkg/utils/match/subjects.go)."""
    kind, name = subject.get("kind"), str(subject.get("name", ""))
    username = str(user.get("username", ""))
    if kind == "ServiceAccount":
        return wildcard(f"system:serviceaccount:{subject.get('namespace', '')}:{name}", username)
    if kind == "Group":
        return any(wildcard(name, str(g)) for g in user.get("groups") or [])
    if kind == "User":
        return wildcard(name, username)
    return False


def _kind(entry: str, req: Admission) -> bool:
    """``Kind``, ``version/Kind``, ``group/version/Kind``, ``Kind/subresource``
    or ``*``. A rule for Pod also covers ``pods/ephemeralcontainers``."""
    if entry == "*":
        return True
    api_version = str(req.obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    want_group, want_version, kind, subresource = _kind_entry(entry)
    if want_group is not None and not wildcard(want_group, group):
        return False
    if want_version is not None and not wildcard(want_version, version):
        return False
    if not wildcard(kind, str(req.obj.get("kind", ""))):
        return False
    if subresource:
        return wildcard(subresource, req.subresource)
    return req.subresource in ("", "ephemeralcontainers") if kind == "Pod" else not req.subresource


@lru_cache(maxsize=1024)
def _kind_entry(entry: str) -> tuple[str | None, str | None, str, str]:
    """(group, version, kind, subresource) of a kinds entry; None = any."""
    parts = entry.split("/")
    subresource = ""
    if len(parts) > 1 and parts[-1][:1].islower():  # Kind/subresource
        subresource = parts[-1]
        parts = parts[:-1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2], subresource
    if len(parts) == 2:
        return None, parts[0], parts[1], subresource
    return None, None, parts[0], subresource


def match_entries(block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A block's filters: ``any`` and ``all`` entries, or the legacy ``resources``."""
    if "resources" in block:
        return [{"resources": block["resources"]}]
    return list(block.get("any") or []) + list(block.get("all") or [])


def possible_kinds(block: Mapping[str, Any] | None) -> frozenset[str] | None:
    """The object kinds a match block can ever match, for a quick first
    test; None when it could match any kind."""
    if not block:
        return frozenset()
    entries = match_entries(block)
    kinds: set[str] = set()
    for entry in entries:
        listed = (entry.get("resources") or {}).get("kinds") or []
        if not listed:
            return None
        for k in listed:
            kind = _kind_entry(k)[2]
            if "*" in kind or "?" in kind:
                return None
            kinds.add(kind)
    return frozenset(kinds)


def admission(obj: Mapping[str, Any], req: Request) -> Admission:
    return Admission(
        obj,
        req.namespace,
        req.operation,
        req.subresource,
        req.namespace_labels,
        req.user_info,
        req.roles,
        req.cluster_roles,
    )


def rule_applies(rule: Rule, obj: Mapping[str, Any], req: Request) -> bool:
    """Whether a rule matches the request and is not excluded from it."""
    if rule.kinds is not None and obj.get("kind") not in rule.kinds:
        return False
    adm = admission(obj, req)
    where = f"{rule.policy}.rules[{rule.name}]"
    try:
        if not matches(rule.spec.get("match"), adm, f"{where}.match"):
            return False
    except NamespaceUnknown:
        # Offline only (a cluster always has the Namespace): a rule
        # whose exclude drops the request on what is known, such as an
        # excluded namespace's name, never needed its labels.
        if _surely_excluded(rule.spec.get("exclude"), adm, f"{where}.exclude"):
            return False
        raise
    return not matches(rule.spec.get("exclude"), adm, f"{where}.exclude")


def _surely_excluded(exclude: Mapping[str, Any] | None, adm: Admission, where: str) -> bool:
    """Whether the exclude block holds on what is known of the request."""
    try:
        return matches(exclude, adm, where)
    except NamespaceUnknown:
        return False


#: What of an object's metadata a match or exclude block can read, by the
#: resource filter fields that read it.
_META_READS = {"name": ("names", "name"), "labels": ("selector",), "annotations": ("annotations",)}


def metadata_reads(rule: Rule) -> tuple[str, ...]:
    """The metadata fields (name, labels, annotations) the rule's match and
    exclude blocks read; the rest of what matching reads (kind, apiVersion,
    the request's namespace, its labels, operation, subresource, the
    requester) is read by every rule."""
    fields: set[str] = set()
    for block in (rule.spec.get("match"), rule.spec.get("exclude")):
        if not block:
            continue
        if not isinstance(block, Mapping):
            return tuple(_META_READS)  # refused when matched; read all meanwhile
        for entry in match_entries(block):
            resources = entry.get("resources") if isinstance(entry, Mapping) else None
            if resources is None:
                continue
            if not isinstance(resources, Mapping):
                return tuple(_META_READS)
            fields.update(str(k) for k in resources)
    return tuple(m for m, reads in _META_READS.items() if fields & set(reads))


def match_view(rule_reads: tuple[str, ...], obj: Mapping[str, Any], req: Request) -> Any:
    """Everything ``rule_applies`` reads for a rule that reads
    ``rule_reads`` of the metadata (a Namespace's name always: it stands
    for the namespace), as one marshal-able value."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    labels = req.namespace_labels
    return (
        obj.get("kind"),
        obj.get("apiVersion"),
        req.namespace,
        req.operation,
        req.subresource,
        None if labels is None else dict(labels),
        dict(req.user_info),
        list(req.roles),
        list(req.cluster_roles),
        [(m, meta.get(m)) for m in rule_reads],
        meta.get("name") if obj.get("kind") == "Namespace" else None,
    )
