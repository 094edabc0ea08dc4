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
from typing import Any

from policygen import globs, imageref
from policygen.config import Config, LabelSelector
from policygen.render import render
from policygen.targets._common import active_rules, alternation, exemptions_for, prefix_regex
from policygen.violations import MESSAGES
from policygen.workloads import CONTAINER_LISTS, VOLUMES, policy_field
from policygen.yamlio import dump

#: config action → validationActions entry; under ``mutate`` the pull-policy
#: validation still denies what the mutation cannot reach (ephemeral
#: containers, image volumes)
VALIDATION_ACTIONS = {"deny": "Deny", "warn": "Warn", "audit": "Audit", "mutate": "Deny"}
#: rule → the name of its policy and file
POLICY_NAMES = {"digest": "digest", "pullPolicy": "pull-policy", "registries": "registries"}

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
    for list_name in CONTAINER_LISTS:
        kind = list_name[:-1]
        item = (
            f"{{'kind': {q(kind)}, 'name': c.name, 'image': c.image, "
            "'policy': has(c.imagePullPolicy) && c.imagePullPolicy != '' "
            "? c.imagePullPolicy : 'unset'}"
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
        "? v.image.pullPolicy : 'unset'}"
    )
    parts.append(
        f"(has(variables.spec.{VOLUMES}) ? variables.spec.{VOLUMES}"
        f".filter(v, has(v.image)).map(v, {volume}) : [])"
    )
    return " + ".join(parts)


def selector_expression(selector: LabelSelector) -> str:
    labels = "variables.labels"
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


def exempt_expression(config: Config, rule: str) -> str:
    """Whether container ``c`` is exempt from ``rule`` here: only a valid
    image is, by its normalised reference."""
    terms = [
        f"(c.valid == 'yes' && request.namespace.matches({q(alternation(e['namespaces']))}) "
        f"&& c.key.matches({q(alternation(e['images']))}))"
        for e in exemptions_for(config, rule)
    ]
    return "(" + (" || ".join(terms) or "false") + ")"


def message(rule: str, config: Config) -> str:
    """The model's message for the first offending container, as CEL."""
    c = "variables.bad[0]"
    head = f"{c}.kind + ' \"' + {c}.name + '\"'"
    invalid = " is not a valid image reference"
    if rule == "pullPolicy":
        tail = MESSAGES["pullPolicy"].split('" ', 1)[1].replace("{policy}", "")
        before, after = tail.split("{field}")
        where = (
            f"({c}.kind == {q(VOLUMES[:-1])} ? {q(policy_field(VOLUMES))} "
            f": {q(policy_field('containers'))})"
        )
        return f"{head} + {q(' ' + before)} + {where} + {q(after)} + {c}.policy"
    if rule == "digest":
        hint = imageref.digest_hint(list(config.spec.rules.digest.algorithms))
        why = f"' must be pinned by digest ({hint})'"
    else:
        why = "' is not from a registry allowed in namespace \"' + request.namespace + '\"'"
    return f"{head} + ' image \"' + {c}.image + '\"' + ({c}.valid == 'yes' ? {why} : {q(invalid)})"


def offending(rule: str, config: Config) -> str:
    not_exempt = f"!{exempt_expression(config, rule)}"
    if rule == "digest":
        # A small regex on the parsed digest: the whole reference was
        # already matched against the grammar once, in the parse stages.
        allowed = imageref.digest_regex(list(config.spec.rules.digest.algorithms))
        digest = "^@" + allowed.removeprefix("^")
        pinned = f"(c.valid == 'yes' && c.digest.matches({q(digest)}))"
        return f"variables.images.filter(c, {not_exempt} && !{pinned})"
    if rule == "pullPolicy":
        return f"variables.images.filter(c, {not_exempt} && c.policy != 'Always')"
    shared = list(config.spec.rules.registries.allowed)
    allowed_for_each = [
        f"(!{_owns(t)} || {_under(shared + list(t.registries))})" for t in config.spec.tenants
    ]
    if not config.spec.tenants:
        allowed = _under(shared)
    else:
        owned = " || ".join(_owns(t) for t in config.spec.tenants)
        allowed = f"(({owned}) ? ({' && '.join(allowed_for_each)}) : {_under(shared)})"
    return f"variables.images.filter(c, {not_exempt} && (c.valid != 'yes' || !{allowed}))"


def _under(entries: list[str]) -> str:
    return f"c.ref.matches({q(prefix_regex(entries))})"


def _owns(tenant: Any) -> str:
    terms = []
    if tenant.namespaces:
        regex = alternation([globs.to_regex(n) for n in tenant.namespaces])
        terms.append(f"request.namespace.matches({q(regex)})")
    if tenant.namespaceSelector is not None:
        terms.append(selector_expression(tenant.namespaceSelector))
    return "(" + " || ".join(terms) + ")"


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


def rule_variables(config: Config, rule: str) -> list[dict[str, str]]:
    """The variables a rule's policy needs, ending with ``bad``: the
    offending containers."""
    variables = [
        {"name": "spec", "expression": SPEC},
        {"name": "containers", "expression": containers_expression()},
        *parse_stages(),
    ]
    if rule == "registries" and any(t.namespaceSelector for t in config.spec.tenants):
        # only tenants chosen by labels need the Namespace object
        variables.append({"name": "labels", "expression": LABELS})
    variables.append({"name": "bad", "expression": offending(rule, config)})
    return variables


def render_policies(config: Config, template: str) -> dict[str, str]:
    """One file per active rule, ``template`` filled with that rule's
    envelope data and CEL: what every CEL-speaking target writes."""
    selector = config.spec.scope.namespaceSelector
    files = {}
    for rule in active_rules(config):
        files[f"{POLICY_NAMES[rule]}.yaml"] = render(
            template,
            name=f"{config.name}-{POLICY_NAMES[rule]}",
            rule=rule,
            action=VALIDATION_ACTIONS[config.spec.rules.action(rule)],
            resource_rules=dump(RESOURCE_RULES),
            namespace_selector=""
            if selector.empty
            else dump(selector.model_dump(exclude_defaults=True)),
            match_conditions=dump(match_conditions(config, rule)),
            variables=dump(rule_variables(config, rule)),
            message=message(rule, config),
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
