"""CEL for admission policies, shared by the targets that speak it (vap,
kyverno-cel): the images of a workload parsed in staged variables, the
offending containers per rule, the model's messages, and the per-rule
files that carry them (each target brings only its template).

Facts: admission CEL has ``object``, ``oldObject``, ``request``,
``namespaceObject`` and ``variables``, and the cel-go strings extension
(``split``, ``lastIndexOf``, ``substring``, ``lowerAscii``). The CEL parses
each image itself (the distribution grammar as an RE2 regex, then splitting
as distribution's splitDockerDomain does), so the cluster needs nothing
installed.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from policygen import celcost, globs, imageref, overlap, rules
from policygen.config import Config, LabelSelector
from policygen.render import render
from policygen.targets._common import (
    NOTHING,
    active_rules,
    alternation,
    exemptions_for,
    prefix_regex,
)
from policygen.workloads import CONTAINER_LISTS, VOLUMES, policy_field
from policygen.yamlio import dump

#: config action → validationActions entry; under ``mutate`` the pull-policy
#: validation still denies what the mutation cannot reach (ephemeral
#: containers, image volumes)
VALIDATION_ACTIONS = {"deny": "Deny", "warn": "Warn", "audit": "Audit", "mutate": "Deny"}

RESOURCE_RULES = [
    {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["pods", "pods/ephemeralcontainers", "replicationcontrollers"],
    },
    {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["daemonsets", "deployments", "replicasets", "statefulsets"],
    },
    {
        "apiGroups": ["batch"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["cronjobs", "jobs"],
    },
]


#: The API version of MutatingAdmissionPolicy and its binding: v1 from
#: Kubernetes 1.36 (KEP-3962); v1beta1 (1.34, feature gate) and v1alpha1
#: (1.32) are what older clusters serve.
MUTATING_API_VERSION = "admissionregistration.k8s.io/v1"
MUTATING_API_VERSIONS = (
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1beta1",
)
#: The container lists ``mutate`` sets to Always (model.MUTATED_LISTS):
#: ephemeral containers arrive through a subresource the mutation does not
#: match, image volumes are not mutated.
MUTATED_LISTS = ("containers", "initContainers")


def mutated_resource_rules() -> list[dict[str, Any]]:
    """The resources the mutation matches: the validation's, without
    ``pods/ephemeralcontainers``."""
    return [{**r, "resources": [x for x in r["resources"] if "/" not in x]} for r in RESOURCE_RULES]


def q(text: str) -> str:
    """A CEL string literal (JSON's escapes are CEL's)."""
    return json.dumps(text)


# --- image parsing in CEL ------------------------------------------------------
# VAP CEL has no local bindings, so the parse runs in stages, each a variable
# that maps every container to a record carrying what the next stage needs.

CARRY = ("kind", "name", "image", "policy")


def _stage(source: str, fields: dict[str, str], carry: tuple[str, ...]) -> str:
    kept = [f"{q(f)}: c.{f}" for f in carry]
    added = [f"{q(k)}: {v}" for k, v in fields.items()]
    return f"variables.{source}.map(c, {{{', '.join(kept + added)}}})"


def _digest_sizes() -> str:
    """CEL for the exact size of ``c.digest`` (``@algorithm:hex``), by its
    algorithm, which the unbounded grammar has already limited to these."""
    sizes = sorted(imageref.REFERENCE_DIGEST_HEX_LENGTH.items())
    out = str(len(f"@{sizes[-1][0]}:") + sizes[-1][1])
    for algorithm, hex_length in reversed(sizes[:-1]):
        prefix = f"@{algorithm}:"
        out = f"(c.digest.startsWith({q(prefix)}) ? {len(prefix) + hex_length} : {out})"
    return out


def parse_stages() -> list[dict[str, str]]:
    """Variables from the raw containers to records of kind, name, image,
    policy, valid ('yes'/'no'), ref (normalised domain/path) and key (what
    exemption globs see), as policygen.imageref computes them."""
    has_tag = "c.nd.lastIndexOf(':') > c.nd.lastIndexOf('/')"
    is_domain = (
        "(c.nm.contains('/') && (c.first.contains('.') || c.first.contains(':') "
        "|| c.first == 'localhost' || c.first.lowerAscii() != c.first))"
    )
    stages = [
        (
            "parts",
            "containers",
            {
                "nd": "c.image.split('@')[0]",
                "digest": "c.image.contains('@') ? '@' + c.image.split('@')[1] : ''",
            },
            CARRY,
        ),
        (
            "names",
            "parts",
            {
                "nm": f"{has_tag} ? c.nd.substring(0, c.nd.lastIndexOf(':')) : c.nd",
                "tag": f"{has_tag} ? c.nd.substring(c.nd.lastIndexOf(':') + 1) : ''",
            },
            (*CARRY, "digest"),
        ),
        ("firsts", "names", {"first": "c.nm.split('/')[0]"}, (*CARRY, "digest", "nm", "tag")),
        (
            "domains",
            "firsts",
            {
                "domain": f"{is_domain} ? (c.first == 'index.docker.io' ? 'docker.io' : c.first)"
                " : 'docker.io'",
                "path": f"{is_domain} ? c.nm.substring(size(c.first) + 1) : c.nm",
            },
            (*CARRY, "digest", "nm", "tag"),
        ),
        (
            "refs",
            "domains",
            {
                # The unbounded grammar and the lengths it leaves out: the same
                # verdict, at a sixth of the cost where regexes are compiled per use.
                # The identifier test runs only on 64 characters; the path is
                # measured normalised (library/ included), as Parse does.
                "valid": f"c.image.matches({q(imageref.UNBOUNDED_REFERENCE_RE)})"
                f" && !(size(c.image) == 64 && c.image.matches({q(imageref.IDENTIFIER_RE)}))"
                " && size(c.path) + ((c.domain == 'docker.io' && !c.path.contains('/'))"
                f" ? {len(imageref.OFFICIAL_REPO_PREFIX)} : 0) <= {imageref.NAME_TOTAL_LENGTH_MAX}"
                f" && size(c.tag) <= {imageref.TAG_LENGTH_MAX}"
                f" && (c.digest == '' || size(c.digest) == {_digest_sizes()}) ? 'yes' : 'no'",
                "ref": "c.domain + '/' + ((c.domain == 'docker.io' && !c.path.contains('/'))"
                " ? 'library/' + c.path : c.path)",
            },
            (*CARRY, "digest", "tag"),
        ),
        (
            "images",
            "refs",
            {
                "key": "c.valid == 'yes' ? c.ref + (c.tag != '' ? ':' + c.tag "
                ": (c.digest != '' ? '' : ':latest')) + c.digest : c.image",
            },
            (*CARRY, "valid", "ref", "digest"),
        ),
    ]
    return [
        {"name": name, "expression": _stage(source, fields, carry)}
        for name, source, fields, carry in stages
    ]


# --- containers, selectors, exemptions -----------------------------------------

SPEC = (
    "object.kind == 'Pod' ? object.spec : "
    "(object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec "
    ": object.spec.template.spec)"
)
LABELS = "has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}"


def containers_expression() -> str:
    """Every container and image volume as {kind, name, image, policy},
    lists in model order."""
    parts = []
    unset = rules.TABLE["pullPolicy"].unset
    for list_name in CONTAINER_LISTS:
        kind = list_name[:-1]
        item = (
            f"{{'kind': {q(kind)}, 'name': c.name, 'image': c.image, "
            "'policy': has(c.imagePullPolicy) && c.imagePullPolicy != '' "
            f"? c.imagePullPolicy : {_lit(unset)}}}"
        )
        parts.append(
            f"(has(variables.spec.{list_name}) ? variables.spec.{list_name}.map(c, {item}) : [])"
        )
    # An image volume is a volume with an image source; its reference may be
    # left out of a pod template, which is no valid image either.
    volume = (
        f"{{'kind': {q(VOLUMES[:-1])}, 'name': v.name, "
        "'image': has(v.image.reference) ? v.image.reference : '', "
        "'policy': has(v.image.pullPolicy) && v.image.pullPolicy != '' "
        f"? v.image.pullPolicy : {_lit(unset)}}}"
    )
    parts.append(
        f"(has(variables.spec.{VOLUMES}) ? variables.spec.{VOLUMES}"
        f".filter(v, has(v.image)).map(v, {volume}) : [])"
    )
    return " + ".join(parts)


def selector_expression(selector: LabelSelector, labels: str = "variables.labels") -> str:
    """CEL for a label selector over ``labels`` (a map expression)."""
    terms = [
        f"({q(k)} in {labels} && {labels}[{q(k)}] == {q(v)})"
        for k, v in sorted(selector.matchLabels.items())
    ]
    for req in selector.matchExpressions:
        key, values = q(req.key), json.dumps(list(req.values))
        terms.append(
            {
                "In": f"({key} in {labels} && {labels}[{key}] in {values})",
                "NotIn": f"(!({key} in {labels}) || !({labels}[{key}] in {values}))",
                "Exists": f"({key} in {labels})",
                "DoesNotExist": f"!({key} in {labels})",
            }[req.operator]
        )
    return "(" + (" && ".join(terms) or "true") + ")"


def exemption_variables(config: Config, rule: str) -> list[dict[str, str]]:
    """``exemptions``: the image regexes of the exemptions of ``rule`` whose
    namespace globs take the request's namespace. Each namespace regex is a
    constant (compiled once) tested once per request; each container is then
    tested only against the few exemptions of its namespace."""
    exemptions = exemptions_for(config, rule)
    if not exemptions:
        return []
    picks = ", ".join(
        f"request.namespace.matches({q(alternation(e['namespaces']))}) "
        f"? {q(alternation(e['images']))} : ''"
        for e in exemptions
    )
    return [{"name": "exemptions", "expression": f"[{picks}].filter(r, r != '')"}]


#: Whether container ``c`` is exempt by a PolicyException (kyverno-cel):
#: Kyverno lists the image regexes of the live exceptions that name the
#: policy and match the request in ``exceptions.allowedImages``.
EXCEPTED = "(c.valid == 'yes' && exceptions.allowedImages.exists(r, c.key.matches(r)))"


def exempt_expression(config: Config, rule: str, *, exceptions: bool = False) -> str:
    """Whether container ``c`` is exempt from ``rule`` here: only a valid
    image is, by its normalised reference; with ``exceptions``, as the
    PolicyExceptions say, else by the exemptions written into the CEL."""
    if not exemptions_for(config, rule):
        return "false"
    if exceptions:
        return EXCEPTED
    return "(c.valid == 'yes' && variables.exemptions.exists(r, c.key.matches(r)))"


def message(rule: str, config: Config, *, text: Callable[[str], str] = str) -> str:
    """The model's message for the first offending container, as CEL, from
    the rule table's message: ``{kind} "{container}"``, then (image rules)
    `` image "{image}"`` and the complaint, or the invalid-reference one;
    ``text`` wraps the values read from the container (``one_line``)."""
    hint = imageref.digest_hint(list(config.spec.rules.digest.algorithms))
    return container_message(rule, {"namespace": "request.namespace"}, hint=hint, text=text)


def one_line(text: str) -> str:
    """CEL for ``text`` with each line break written ``\\n``: the API
    server's validator (apiserver ``policy/validating/validator.go``, which
    Gatekeeper's CEL driver runs too) drops a messageExpression result that
    holds one and says ``failed expression: …`` instead. Messages are
    compared so (``agreement.one_line``). Kyverno passes its message on as
    it is: kyverno-cel does not need this."""
    return f"{text}.replace('\\n', '\\\\n')"


def container_message(
    rule: str,
    fields: dict[str, str],
    *,
    hint: str | None = None,
    text: Callable[[str], str] = str,
) -> str:
    """The rule table's message for ``variables.bad[0]`` as CEL: ``fields``
    holds the expressions for the complaint's fields (``namespace``, and
    ``hint`` unless ``hint`` gives its text), ``text`` wraps each value
    read from the container (Gatekeeper's entry escapes line breaks)."""
    c = "variables.bad[0]"
    entry = rules.TABLE[rule]
    named, rest = entry.message.split('" ', 1)
    head = _concat(named + '"', {"kind": f"{c}.kind", "container": f"{c}.name"})
    if rule == "pullPolicy":
        before, after = rest.replace("{policy}", "").split("{field}")
        where = (
            f"({c}.kind == {q(VOLUMES[:-1])} ? {q(policy_field(VOLUMES))} "
            f": {q(policy_field('containers'))})"
        )
        return f"{head} + {q(' ' + before)} + {where} + {q(after)} + {text(c + '.policy')}"
    image, tail = rest.split('" ', 1)
    if hint is not None:
        tail = tail.replace("{hint}", hint)
    why = _concat(" " + tail, fields)
    invalid = " " + entry.invalid.split('" ', 2)[-1]
    image_part = _concat(" " + image + '"', {"image": text(f"{c}.image")})
    return f"{head} + {image_part} + ({c}.valid == 'yes' ? {why} : {q(invalid)})"


def _concat(shape: str, fields: dict[str, str]) -> str:
    """A message shape as CEL: its text as literals, its fields as the
    expressions given, joined by ``+``."""
    parts = []
    for text, name, _, _ in string.Formatter().parse(shape):
        if text:
            parts.append(_lit(text))
        if name is not None:
            parts.append(fields[name])
    return " + ".join(parts)


def _lit(text: str) -> str:
    """A CEL string literal, in single quotes where the text allows."""
    return f"'{text}'" if "'" not in text and "\\" not in text else q(text)


def offending(rule: str, config: Config, *, owners: bool = True, exceptions: bool = False) -> str:
    """``bad``: the containers that break ``rule``. For registries, a
    container passes under a shared entry, or under the own entries of every
    tenant that owns the namespace (``variables.owners``, indices into
    ``variables.tenantRegistries``); a namespace no tenant owns has the
    shared entries only."""
    exempt = exempt_expression(config, rule, exceptions=exceptions)
    not_exempt = "" if exempt == "false" else f"!{exempt} && "
    if rule == "digest":
        # A small regex on the parsed digest: the whole reference was
        # already matched against the grammar once, in the parse stages.
        allowed = imageref.digest_regex(list(config.spec.rules.digest.algorithms))
        digest = "^@" + allowed.removeprefix("^")
        pinned = f"(c.valid == 'yes' && c.digest.matches({q(digest)}))"
        return f"variables.images.filter(c, {not_exempt}!{pinned})"
    if rule == "pullPolicy":
        return f"variables.images.filter(c, {not_exempt}c.policy != 'Always')"
    shared = _under(list(config.spec.rules.registries.allowed))
    if not owners:  # the namespaces of no tenant (variables are typed: none read)
        return f"variables.images.filter(c, {not_exempt}(c.valid != 'yes' || !{shared}))"
    return (
        f"variables.images.filter(c, {not_exempt}(c.valid != 'yes' || !({shared}"
        " || (size(variables.owners) > 0 && variables.owners.all(i, "
        "variables.tenantRegistries[i].exists(p, (c.ref + '/').startsWith(p)))))))"
    )


def _under(entries: list[str]) -> str:
    return f"c.ref.matches({q(prefix_regex(entries))})"


# --- tenants, a policy for each group of them -----------------------------------
# The registries rule reads the tenants. Written into one expression they
# grow it by kilobytes per tenant and its cost per container with their
# number; instead each registries policy holds a group of tenants as data,
# selects the request's owners once per request (one precompiled regex per
# tenant), and tests each container against its owners' entries only.

#: Tenants per registries policy, and the CEL their data may take in one:
#: each keeps the policy far under the 100,000-code-point and 200 KiB limits
#: and bounds the work of selecting a request's tenant.
TENANTS_PER_POLICY = 100
TENANT_DATA_BUDGET = 40_000
#: matchConditions a policy may have (apiserver validation); the policy of
#: the namespaces no tenant owns has one per tenant group.
MAX_MATCH_CONDITIONS = 64
#: The Namespace's labels, where a matchCondition reads them (matchConditions
#: read no variables).
INLINE_LABELS = f"({LABELS})"


def _glob_regex(tenant: Any) -> str:
    return alternation([globs.to_regex(n) for n in tenant.namespaces])


def _tenant_data_size(tenant: Any) -> int:
    return len(_glob_regex(tenant)) * 2 + sum(len(r) + 4 for r in tenant.registries) + 40


def tenant_groups(config: Config) -> list[list[Any]]:
    """The tenants in config order, cut into groups that each fit a policy."""
    groups: list[list[Any]] = []
    size = 0
    for tenant in config.spec.tenants:
        cost = _tenant_data_size(tenant)
        if groups and len(groups[-1]) < TENANTS_PER_POLICY and size + cost <= TENANT_DATA_BUDGET:
            groups[-1].append(tenant)
            size += cost
        else:
            groups.append([tenant])
            size = cost
    return groups


def owned_expression(group: list[Any], labels: str = INLINE_LABELS) -> str:
    """Whether some tenant of ``group`` owns the request's namespace."""
    regex = alternation([globs.to_regex(n) for t in group for n in t.namespaces])
    terms = [f"request.namespace.matches({q(regex)})"] if regex != NOTHING else []
    terms += [
        selector_expression(t.namespaceSelector, labels)
        for t in group
        if t.namespaceSelector is not None
    ]
    return " || ".join(terms) or "false"


def owner_variables(group: list[Any]) -> list[dict[str, str]]:
    """``owners``: the indices (into ``tenantRegistries``) of the tenants of
    ``group`` that own the request's namespace. Tenants' globs never
    overlap (the config refuses it), so ``byName`` holds at most one true;
    any number of tenants may also select it by labels."""
    registries = ", ".join("[" + ", ".join(q(r + "/") for r in t.registries) + "]" for t in group)
    by_name = ", ".join(
        f"request.namespace.matches({q(_glob_regex(t))})" if t.namespaces else "false"
        for t in group
    )
    out = [
        {"name": "tenantRegistries", "expression": f"[{registries}]"},
        {"name": "byName", "expression": f"[{by_name}]"},
        {"name": "named", "expression": "variables.byName.indexOf(true)"},
    ]
    owners = "(variables.named >= 0 ? [variables.named] : [])"
    selected = [(i, t) for i, t in enumerate(group) if t.namespaceSelector is not None]
    if selected:
        by_labels = ", ".join(
            f"{selector_expression(t.namespaceSelector)} ? {i} : -1" for i, t in selected
        )
        out += [
            {"name": "labels", "expression": LABELS},
            {"name": "byLabels", "expression": f"[{by_labels}].filter(i, i >= 0)"},
        ]
        owners += " + variables.byLabels"
    out.append({"name": "owners", "expression": owners})
    return out


def match_conditions(config: Config, rule: str) -> list[dict[str, str]]:
    scope = config.spec.scope
    in_scope = alternation([globs.to_regex(n) for n in scope.namespaces])
    conditions = [{"name": "in-scope", "expression": f"request.namespace.matches({q(in_scope)})"}]
    if scope.excludeNamespaces:
        regex = alternation([globs.to_regex(n) for n in scope.excludeNamespaces])
        conditions.append(
            {"name": "not-excluded", "expression": f"!request.namespace.matches({q(regex)})"}
        )
    if rule == "digest" and config.spec.rules.digest.namespaces:
        regex = alternation([globs.to_regex(n) for n in config.spec.rules.digest.namespaces])
        conditions.append(
            {"name": "opted-in", "expression": f"request.namespace.matches({q(regex)})"}
        )
    return conditions


def parse_variables() -> list[dict[str, str]]:
    return [
        {"name": "spec", "expression": SPEC},
        {"name": "containers", "expression": containers_expression()},
        *parse_stages(),
    ]


@dataclass(frozen=True)
class PolicyPart:
    """One policy of a rule: its name suffix, matchConditions and variables."""

    suffix: str
    conditions: list[dict[str, str]]
    variables: list[dict[str, str]]


def rule_policies(config: Config, rule: str, *, exceptions: bool = False) -> list[PolicyPart]:
    """The policies that enforce ``rule``: one, or for registries with more
    tenants than one policy holds, one per tenant group (for the namespaces
    its tenants own) and one for the namespaces of no tenant. With
    ``exceptions`` the exemptions are PolicyExceptions the CEL reads, not
    data in it."""
    conditions = match_conditions(config, rule)
    common = [*parse_variables()]
    if not exceptions:
        common += exemption_variables(config, rule)
    bad = {"name": "bad", "expression": offending(rule, config, exceptions=exceptions)}
    if rule != "registries":
        return [PolicyPart("", conditions, [*common, bad])]
    groups = tenant_groups(config)
    nobody = {
        "name": "bad",
        "expression": offending(rule, config, owners=False, exceptions=exceptions),
    }
    if not groups:
        return [PolicyPart("", conditions, [*common, nobody])]
    if len(groups) == 1:
        return [PolicyPart("", conditions, [*common, *owner_variables(groups[0]), bad])]
    if len(conditions) + len(groups) > MAX_MATCH_CONDITIONS:
        # imported here: validate reads this module, and apicheck brings jsonschema
        from policygen.apicheck import ObjectTooLarge

        raise ObjectTooLarge(
            f"{len(config.spec.tenants):,} tenants need {len(groups)} registries policies, "
            "and the policy for namespaces of no tenant would need "
            f"{len(conditions) + len(groups)} matchConditions, over the API server's "
            f"{MAX_MATCH_CONDITIONS}"
        )
    width = len(str(len(groups)))
    unowned = [
        {"name": f"not-tenants-{k + 1:0{width}d}", "expression": f"!({owned_expression(g)})"}
        for k, g in enumerate(groups)
    ]
    parts = [PolicyPart("", conditions + unowned, [*common, nobody])]
    for k, group in enumerate(groups):
        owned = {"name": "tenants", "expression": owned_expression(group)}
        parts.append(
            PolicyPart(
                f"-{k + 1:0{width}d}",
                [*conditions, owned],
                [*common, *owner_variables(group), bad],
            )
        )
    return parts


def policy_names(config: Config, rule: str) -> list[str]:
    """The names of the policies that enforce ``rule``."""
    slug = rules.TABLE[rule].slug
    return [f"{config.name}-{slug}{p.suffix}" for p in rule_policies(config, rule)]


def render_policies(
    config: Config,
    template: str,
    api_version: str,
    *,
    exceptions: bool = False,
    text: Callable[[str], str] = str,
) -> dict[str, str]:
    """One file per active rule, ``template`` filled with that rule's
    envelope data and CEL for each of the rule's policies: what every
    CEL-speaking target writes, as ``api_version`` (the version the config's
    releases serve). ``exceptions``: the exemptions are PolicyExceptions the
    CEL reads (kyverno-cel); ``text``: how the message writes the values it
    reads from a container (``one_line`` where the API server chooses it)."""
    selector = config.spec.scope.namespaceSelector
    files = {}
    for rule in active_rules(config):
        slug = rules.TABLE[rule].slug
        files[f"{slug}.yaml"] = "---\n".join(
            render(
                template,
                name=f"{config.name}-{slug}{part.suffix}",
                api_version=api_version,
                rule=rule,
                action=VALIDATION_ACTIONS[config.spec.rules.action(rule)],
                resource_rules=dump(RESOURCE_RULES),
                namespace_selector=""
                if selector.empty
                else dump(selector.model_dump(exclude_defaults=True)),
                match_conditions=dump(part.conditions),
                variables=dump(part.variables),
                message=message(rule, config, text=text),
            )
            for part in rule_policies(config, rule, exceptions=exceptions)
        )
    return files


# --- mutation ------------------------------------------------------------------


def _typed(path: tuple[str, ...], fields: str) -> str:
    """``Object.a.b{fields}``: a typed object of an apply configuration,
    named by its field path from the root, as the API server requires."""
    return ".".join(("Object", *path)) + "{" + fields + "}"


def _lists_always(base: tuple[str, ...]) -> str:
    """The fields of a pod spec at ``base`` (a path from ``object``) that set
    ``imagePullPolicy: Always`` on each container of the mutated lists, by
    name (containers are a list-map keyed by name, so the apply merges into
    each); a list the object lacks is left absent."""
    fields = []
    source = "object." + ".".join(base)
    for list_name in MUTATED_LISTS:
        item = _typed((*base, list_name), 'name: c.name, imagePullPolicy: "Always"')
        fields.append(
            f"?{list_name}: has({source}.{list_name}) "
            f"? optional.of({source}.{list_name}.map(c, {item})) : optional.none()"
        )
    return ", ".join(fields)


def _wrapped(path: tuple[str, ...], done: tuple[str, ...] = ()) -> str:
    """The apply configuration that reaches the pod spec at ``path``, each
    object on the way typed by its path (``Object{spec: Object.spec{…}}``)."""
    if len(done) == len(path):
        return _typed(done, _lists_always(path))
    field = path[len(done)]
    return _typed(done, f"{field}: {_wrapped(path, (*done, field))}")


def apply_pull_always() -> str:
    """One ApplyConfiguration expression for every matched kind: the Pod's
    own spec, a CronJob's job template, or any other controller's
    template."""
    return (
        f"object.kind == 'Pod' ? {_wrapped(('spec',))} : "
        f"(object.kind == 'CronJob' ? "
        f"{_wrapped(('spec', 'jobTemplate', 'spec', 'template', 'spec'))} : "
        f"{_wrapped(('spec', 'template', 'spec'))})"
    )


def render_mutation(config: Config, template: str, api_version: str) -> str:
    """The mutating policy of ``pullPolicy: mutate`` as ``api_version``: the
    same scope as the validation (matchConditions, namespaceSelector), one
    apply configuration."""
    selector = config.spec.scope.namespaceSelector
    return render(
        template,
        api_version=api_version,
        name=f"{config.name}-pull-always",
        resource_rules=dump(mutated_resource_rules()),
        namespace_selector=""
        if selector.empty
        else dump(selector.model_dump(exclude_defaults=True)),
        match_conditions=dump(match_conditions(config, "pullPolicy")),
        expression=apply_pull_always(),
    )


# --- the requests whose cost policygen bounds ------------------------------------

#: The envelope of the CEL cost bound (README "Limits"): images of one
#: object (containers, init and ephemeral containers and image volumes
#: together), the characters of each image, and the Namespace's labels.
ENVELOPE_IMAGES = 32
ENVELOPE_IMAGE_LENGTH = 1024
ENVELOPE_LABELS = 64
#: What the API server bounds itself: a namespace name (DNS label), a label
#: key (253-character prefix, '/', 63) and value, a container or volume name,
#: a pull policy, a kind.
NAMESPACE_LENGTH = 63
LABEL_KEY_LENGTH = 317
LABEL_VALUE_LENGTH = 63
NAME_LENGTH = 63
PULL_POLICY_LENGTH = len("IfNotPresent")
KIND_LENGTH = len("ReplicationController")


def exemptions_per_namespace(config: Config, rule: str) -> int:
    """At most how many of ``rule``'s exemptions can take one namespace: one
    more than the most others an exemption's namespace globs can meet (a
    set of exemptions that all take one namespace meet pairwise)."""
    chosen = [e for e in config.spec.exemptions if rule in e.rules]
    degree = [0] * len(chosen)
    met = {(g, h) for g, _, h, _ in overlap.glob_pairs([list(e.namespaces) for e in chosen])}
    for g, h in met:
        degree[g] += 1
        degree[h] += 1
    return 1 + max(degree, default=0) if chosen else 0


def _disjoint(a: LabelSelector, b: LabelSelector) -> bool:
    """Whether no label set can satisfy both selectors (conservatively:
    False unless one key's requirements exclude each other)."""

    def allowed(s: LabelSelector) -> dict[str, set[str] | None]:
        # key -> the values it may have (None: must be absent)
        out: dict[str, set[str] | None] = {k: {v} for k, v in s.matchLabels.items()}
        for req in s.matchExpressions:
            if req.operator == "In":
                have = out.get(req.key, set(req.values))
                out[req.key] = None if have is None else have & set(req.values)
            elif req.operator == "DoesNotExist":
                out[req.key] = None if req.key not in out else set()
        return out

    left, right = allowed(a), allowed(b)
    for key in left.keys() & right.keys():
        x, y = left[key], right[key]
        if (x is None) != (y is None) or (x is not None and y is not None and not x & y):
            return True
    return False


def label_owners_per_namespace(config: Config) -> int:
    """At most how many tenants of one group can select one namespace by
    labels: one more than the most others a tenant's selector is not
    disjoint from (such tenants are pairwise compatible)."""
    worst = 0
    for group in tenant_groups(config):
        chosen = [t.namespaceSelector for t in group if t.namespaceSelector is not None]
        for i, a in enumerate(chosen):
            degree = sum(1 for j, b in enumerate(chosen) if i != j and not _disjoint(a, b))
            worst = max(worst, 1 + degree)
    return worst


def cost_envelope(config: Config, rule: str) -> celcost.Envelope:
    """The envelope's inputs as the CEL of ``rule``'s policies reads them."""
    image = celcost.Str(ENVELOPE_IMAGE_LENGTH)
    policy = celcost.Str(PULL_POLICY_LENGTH)
    name = celcost.Str(NAME_LENGTH)
    container = celcost.Rec({"name": name, "image": image, "imagePullPolicy": policy})
    volume = celcost.Rec(
        {"name": name, "image": celcost.Rec({"reference": image, "pullPolicy": policy})}
    )
    lists = {
        **{n: celcost.Lst(ENVELOPE_IMAGES, container) for n in CONTAINER_LISTS},
        VOLUMES: celcost.Lst(ENVELOPE_IMAGES, volume),
    }
    template = celcost.Rec({"spec": celcost.Rec(lists)})
    spec = celcost.Rec(
        {
            **lists,
            "template": template,
            "jobTemplate": celcost.Rec({"spec": celcost.Rec({"template": template})}),
        }
    )
    labels = celcost.Dict(
        ENVELOPE_LABELS, celcost.Str(LABEL_KEY_LENGTH), celcost.Str(LABEL_VALUE_LENGTH)
    )
    return celcost.Envelope(
        roots={
            "object": celcost.Rec({"kind": celcost.Str(KIND_LENGTH), "spec": spec}),
            "request": celcost.Rec({"namespace": celcost.Str(NAMESPACE_LENGTH)}),
            "namespaceObject": celcost.Rec({"metadata": celcost.Rec({"labels": labels})}),
            # kyverno-cel: one image regex from each PolicyException that
            # takes the namespace
            "exceptions": celcost.Rec(
                {
                    "allowedImages": celcost.Lst(
                        exemptions_per_namespace(config, rule),
                        celcost.Str(
                            max(
                                (
                                    len(alternation(e["images"]))
                                    for e in exemptions_for(config, rule)
                                ),
                                default=0,
                            )
                        ),
                    )
                }
            ),
        },
        # Each list may hold the whole envelope, but together they hold it once.
        variables={
            "containers": ENVELOPE_IMAGES,
            "exemptions": exemptions_per_namespace(config, rule),
            "byLabels": label_owners_per_namespace(config),
        },
    )
