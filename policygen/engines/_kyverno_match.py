"""Kyverno match/exclude and autogen (notes/kyverno.md §3.3, §3.5; kyverno
pkg/engine/utils/match.go, pkg/utils/match/kind.go, pkg/autogen/v1)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from policygen.config import LabelSelector
from policygen.engines import NamespaceUnknown
from policygen.engines._kyverno_pattern import wildcard
from policygen.errors import UnsupportedConstruct

POD_CONTROLLERS = (
    "DaemonSet",
    "Deployment",
    "Job",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
    "CronJob",
)
AUTOGEN_ANNOTATION = "pod-policies.kyverno.io/autogen-controllers"
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


def possible_kinds(block: Mapping[str, Any] | None) -> frozenset[str] | None:
    """The object kinds a match block can ever match, for a quick first
    test; None when it could match any kind."""
    if not block:
        return frozenset()
    entries = _entries(block)
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


# --- autogen ------------------------------------------------------------------

REPLACEMENTS = {
    "template": [
        ("request.object.spec", "request.object.spec.template.spec"),
        ("request.oldObject.spec", "request.oldObject.spec.template.spec"),
        ("request.object.metadata", "request.object.spec.template.metadata"),
        ("request.oldObject.metadata", "request.oldObject.spec.template.metadata"),
    ],
    "cronjob": [
        ("request.object.spec", "request.object.spec.jobTemplate.spec.template.spec"),
        ("request.oldObject.spec", "request.oldObject.spec.jobTemplate.spec.template.spec"),
        ("request.object.metadata", "request.object.spec.jobTemplate.spec.template.metadata"),
        (
            "request.oldObject.metadata",
            "request.oldObject.spec.jobTemplate.spec.template.metadata",
        ),
    ],
}


CEL_REPLACEMENTS = {
    flavour: [(old.removeprefix("request."), new.removeprefix("request.")) for old, new in pairs]
    for flavour, pairs in REPLACEMENTS.items()
}


def autogen_controllers(policy: Mapping[str, Any]) -> list[str]:
    annotations = (policy.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(AUTOGEN_ANNOTATION)
    if value is None:
        return list(POD_CONTROLLERS)
    if value == "none":
        return []
    if value == "all":
        raise UnsupportedConstruct("kyverno", AUTOGEN_ANNOTATION, "'all' is rejected by Kyverno")
    return sorted(v.strip() for v in value.split(",") if v.strip() in POD_CONTROLLERS)


def _can_autogen(rule: Mapping[str, Any]) -> bool:
    if "generate" in rule or "patchesJson6902" in json.dumps(rule.get("mutate") or {}):
        return False
    kinds: list[str] = []
    for block_name in ("match", "exclude"):
        block = rule.get(block_name) or {}
        for entry in _entries(block):
            res = entry.get("resources") or {}
            if any(res.get(k) for k in ("name", "names", "selector", "annotations")):
                return False
            if block_name == "match":
                kinds.extend(res.get("kinds") or [])
            elif res.get("kinds") and "Pod" not in res["kinds"]:
                return False
    return bool(kinds) and all(k == "Pod" for k in kinds)


def _entries(block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if "resources" in block:
        return [{"resources": block["resources"]}]
    return list(block.get("any") or []) + list(block.get("all") or [])


def autogen_rules(policy: Mapping[str, Any], rule: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rules Kyverno generates for controllers from a Pod rule."""
    controllers = autogen_controllers(policy)
    if not controllers or not _can_autogen(rule):
        return []
    out = []
    plain = [c for c in controllers if c != "CronJob"]
    if plain:
        out.append(_generate(rule, "autogen-", plain, "template", ["spec", "template"]))
    if "CronJob" in controllers:
        path = ["spec", "jobTemplate", "spec", "template"]
        out.append(_generate(rule, "autogen-cronjob-", ["CronJob"], "cronjob", path))
    return out


def _generate(
    rule: Mapping[str, Any], prefix: str, kinds: list[str], flavour: str, wrap: list[str]
) -> dict[str, Any]:
    """generateRule of pkg/autogen/v1/rule.go, then its byte replacements."""
    text = json.dumps(rule)
    # a CEL rule's text is rewritten for CEL's roots (updateFields, cel=true)
    cel = "cel" in (rule.get("validate") or {})
    for old, new in (CEL_REPLACEMENTS if cel else REPLACEMENTS)[flavour]:
        text = text.replace(old, new)
    out: dict[str, Any] = json.loads(text)
    out["name"] = (prefix + str(rule["name"]))[:63]
    for block_name in ("match", "exclude"):
        for entry in _entries(out.get(block_name) or {}):
            res = entry.get("resources") or {}
            if res.get("kinds"):
                res["kinds"] = list(kinds)
    if "mutate" in out:
        out["mutate"] = _autogen_mutate(out["mutate"], wrap)
    if "validate" in out:
        out["validate"] = _autogen_validate(out["validate"], wrap)
    return out


def _autogen_mutate(mutate: Mapping[str, Any], wrap: list[str]) -> dict[str, Any]:
    if "patchStrategicMerge" in mutate:
        return {"patchStrategicMerge": _wrap(mutate["patchStrategicMerge"], wrap)}
    foreach = []
    for fe in mutate.get("foreach") or []:
        kept = {k: fe[k] for k in ("list", "context", "preconditions") if k in fe}
        kept["patchStrategicMerge"] = _wrap(fe.get("patchStrategicMerge"), wrap)
        foreach.append(kept)
    return {"foreach": foreach}


#: what an autogen validate rule keeps of the original besides the check
#: itself: emitWarning is not among them, so controllers get no warnings.
VALIDATE_KEPT = ("message", "failureAction", "failureActionOverrides", "allowExistingViolations")


def _autogen_validate(validate: Mapping[str, Any], wrap: list[str]) -> dict[str, Any]:
    out = {k: validate[k] for k in VALIDATE_KEPT if k in validate}
    if "pattern" in validate:
        out["pattern"] = _wrap(validate["pattern"], wrap)
    elif "deny" in validate:
        out["deny"] = validate["deny"]
    elif "anyPattern" in validate:
        out["anyPattern"] = [_wrap(p, wrap) for p in validate["anyPattern"]]
    elif "foreach" in validate:
        out["foreach"] = validate["foreach"]
    else:
        return dict(validate)  # cel, assert, podSecurity: refused later
    return out


def _wrap(pattern: Any, path: list[str]) -> Any:
    """A Pod pattern's ``spec``/``metadata`` moved under the controller's template."""
    if not isinstance(pattern, dict):
        return pattern
    inner = copy.deepcopy(pattern)
    for key in reversed(path):
        inner = {key: inner}
    return inner
