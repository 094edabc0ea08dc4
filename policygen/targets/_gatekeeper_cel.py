"""The ``K8sNativeValidation`` (CEL) code of each Gatekeeper ConstraintTemplate,
beside its Rego: the same verdicts from the same Constraint parameters.

Facts it is written to (gatekeeper ``pkg/drivers/k8scel``: driver.go,
schema/schema.go, transform/cel_snippets.go):

- The driver binds ``variables.anyObject`` (``oldObject`` on a DELETE, else
  ``object``) and ``variables.params`` (the Constraint's
  ``spec.parameters``) before the template's own variables; names starting
  ``gatekeeper_internal_`` and ``params``/``anyObject`` are reserved.
- ``namespaceObject`` is the Namespace of the request from Gatekeeper 3.22
  (#4285), null under ``gator`` and before 3.22; ``request`` is the
  AdmissionRequest.
- Each validation that is not true is one violation, with its
  messageExpression. So a template reports the first offending container
  of its rule (as the vap target does), where its Rego reports each one.
- A ConstraintTemplate whose ``code`` holds a K8sNativeValidation entry is
  evaluated by it, first, wherever the CEL driver is on (3.18 and later by
  default); the legacy ``rego`` field becomes the Rego entry beside it
  (frameworks ``apis/templates/v1/conversion.go``), used with the driver off.
  Gatekeeper generates a ValidatingAdmissionPolicy only from a template with
  CEL.

The images are parsed in CEL as the vap target parses them
(``targets/_cel.py``); tenants and the digest opt-in arrive as the Rego's
parameters, so a thousand tenants change Constraints, not templates.

A rule with exemptions gets no CEL entry: Kubernetes' CEL environment has
no clock (apiserver ``pkg/cel/environment/base.go``; the driver compiles
with ``MustBaseEnvSet``), and since Gatekeeper evaluates one engine per
template, CEL first (frameworks ``client.go`` ``driverForTemplate``), a CEL
entry would keep an exemption alive after the Rego's ``time.now_ns()``
lets it lapse.
"""

from __future__ import annotations

from typing import Any

from policygen.rules import MESSAGES
from policygen.targets._cel import (
    container_message,
    containers_expression,
    one_line,
    parse_stages,
    q,
)

P = "variables.params"
NS = "variables.namespace"

#: The namespace under review as the Rego library reads it: the request's,
#: else the object's, else "default".
NAMESPACE = (
    "has(request.namespace) && request.namespace != '' ? request.namespace : "
    "(has(variables.anyObject.metadata.namespace) ? variables.anyObject.metadata.namespace "
    ": 'default')"
)

#: The Namespace's labels, with ``kubernetes.io/metadata.name`` always its
#: name (the API server's guarantee, as the Rego unions it in).
NAME_LABEL = "kubernetes.io/metadata.name"


def _has_label(key: str) -> str:
    return f"({key} == {q(NAME_LABEL)} || {key} in variables.labels)"


def _label(key: str) -> str:
    return f"({key} == {q(NAME_LABEL)} ? {NS} : variables.labels[{key}])"


def _selects(sel: str) -> str:
    """Whether the Namespace's labels satisfy the LabelSelector ``sel`` (a
    Constraint parameter), as the Rego's ``selects`` decides."""
    labels = (
        f"(!has({sel}.matchLabels) || {sel}.matchLabels.all(k, "
        f"{_has_label('k')} && {_label('k')} == {sel}.matchLabels[k]))"
    )
    values = "(has(r.values) ? r.values : [])"
    in_values = f"({_has_label('r.key')} && {_label('r.key')} in {values})"
    expressions = (
        f"(!has({sel}.matchExpressions) || {sel}.matchExpressions.all(r, "
        f"r.operator == 'In' ? {in_values} : "
        f"(r.operator == 'NotIn' ? !{in_values} : "
        f"(r.operator == 'Exists' ? {_has_label('r.key')} : !{_has_label('r.key')}))))"
    )
    return f"({labels} && {expressions})"


def _bad(rule: str) -> str:
    """The offending containers. No exemption is read: a template carries
    CEL only when its rule has none (``versions.gatekeeper_without_cel``),
    since Kubernetes' CEL has no clock to let one lapse by."""
    if rule == "digest":
        return (
            "variables.applies ? variables.images.filter(c, "
            f"c.valid != 'yes' || !c.image.matches({P}.pinnedRegex)) : []"
        )
    if rule == "pullPolicy":
        return "variables.images.filter(c, c.policy != 'Always')"
    allowed = f"(c.ref.matches({P}.sharedRegex) || (variables.owned && {_owners_allow('c')}))"
    return f"variables.images.filter(c, c.valid != 'yes' || variables.unknown || !{allowed})"


#: The Constraint's tenant indexes (``_common.tenant_index``), as the Rego
#: reads them: an owning tenant is found by a few lookups, never by walking
#: every tenant, so a review costs the same at 3 tenants and at 1,000.
BY_NS = f"{P}.ownersByNamespace"
REGISTRIES = f"{P}.tenantRegistries"


def _confirmed(e: str) -> str:
    """An index entry's tenant owns the namespace: its key decided, or its
    regex confirms."""
    return f"(!has({e}.regex) || {NS}.matches({e}.regex))"


def _selector_owners(test: str) -> str:
    """``test`` (over tenant name ``t``) of every tenant chosen by labels
    that owns the namespace: candidates by the label their selector
    requires, and the unindexed ones; none while the Namespace is unknown."""
    owns = f"{_selects(P + '.selectors[t]')}"
    by_label = f"{P}.selectorsByLabel[k][{_label('k')}]"
    return (
        f"(namespaceObject == null || (variables.labelHits.all(k, {by_label}.all(t, "
        f"!{owns} || {test})) && {P}.selectorsUnindexed.all(t, !{owns} || {test})))"
    )


def _owners_allow(c: str) -> str:
    """Whether every tenant owning the namespace allows ``c``'s reference
    (least privilege when owners overlap), index by index."""
    allows = f"{c}.ref.matches({REGISTRIES}[t])"
    by_entry = f"{c}.ref.matches({REGISTRIES}[e.tenant])"
    return (
        f"(!({NS} in {BY_NS}) || {BY_NS}[{NS}].all(t, {allows})) && "
        f"variables.prefixHits.all(k, {P}.ownersByPrefix[k].all(e, "
        f"!{_confirmed('e')} || {by_entry})) && "
        f"variables.suffixHits.all(k, {P}.ownersBySuffix[k].all(e, "
        f"!{_confirmed('e')} || {by_entry})) && "
        f"{P}.ownersByPattern.all(e, !{NS}.matches(e.regex) || {by_entry}) && "
        f"{_selector_owners(allows)}"
    )


def _glob_owner(t: str) -> str:
    """Whether tenant ``t`` owns the namespace by one of its globs."""
    mine = f"e.tenant == {t} && {_confirmed('e')}"
    return (
        f"(({NS} in {BY_NS} && {t} in {BY_NS}[{NS}]) || "
        f"variables.prefixHits.exists(k, {P}.ownersByPrefix[k].exists(e, {mine})) || "
        f"variables.suffixHits.exists(k, {P}.ownersBySuffix[k].exists(e, {mine})) || "
        f"{P}.ownersByPattern.exists(e, e.tenant == {t} && {NS}.matches(e.regex)))"
    )


def _registries_variables() -> list[dict[str, str]]:
    owns = _selects(P + ".selectors[t]")
    by_label = f"{P}.selectorsByLabel[k][{_label('k')}]"
    prefix, suffix = f"{P}.ownersByPrefix[k]", f"{P}.ownersBySuffix[k]"
    return [
        {
            "name": "labels",
            "expression": "namespaceObject != null && has(namespaceObject.metadata.labels) "
            "? namespaceObject.metadata.labels : {}",
        },
        # The keys of the prefix and suffix indexes the namespace hits. A
        # whole-string head is the string itself: the C++ runtime refuses
        # substring(0, size) where cel-go allows it.
        {
            "name": "prefixHits",
            "expression": f"{P}.prefixLengths.filter(n, n <= size({NS}))"
            f".map(n, n == size({NS}) ? {NS} : {NS}.substring(0, n))"
            f".filter(k, k in {P}.ownersByPrefix)",
        },
        {
            "name": "suffixHits",
            "expression": f"{P}.suffixLengths.filter(n, n <= size({NS}))"
            f".map(n, {NS}.substring(size({NS}) - n)).filter(k, k in {P}.ownersBySuffix)",
        },
        # The label keys of the selector index whose value the namespace has.
        {
            "name": "labelHits",
            "expression": f"{P}.selectorsByLabel.filter(k, {_has_label('k')} && "
            f"{_label('k')} in {P}.selectorsByLabel[k])",
        },
        # Some tenant owns the namespace, by a glob or by labels.
        {
            "name": "owned",
            "expression": f"({NS} in {BY_NS} && size({BY_NS}[{NS}]) > 0) || "
            f"variables.prefixHits.exists(k, {prefix}.exists(e, {_confirmed('e')})) || "
            f"variables.suffixHits.exists(k, {suffix}.exists(e, {_confirmed('e')})) || "
            f"{P}.ownersByPattern.exists(e, {NS}.matches(e.regex)) || "
            f"(namespaceObject != null && (variables.labelHits.exists(k, {by_label}.exists(t, "
            f"{owns})) || {P}.selectorsUnindexed.exists(t, {owns})))",
        },
        # A tenant selects by labels, the Namespace is not known and the
        # tenant does not own it by name: reported rather than guessed, as
        # the Rego does.
        {
            "name": "unknown",
            "expression": f"namespaceObject == null && "
            f"{P}.selectors.exists(t, !{_glob_owner('t')})",
        },
    ]


def _message(rule: str) -> str:
    """The model's message for the first offending container, as
    ``targets/_cel.py`` builds it (its image and pull policy on one line;
    the digest hint and namespace from the Constraint and the request)."""
    known = container_message(rule, {"hint": f"{P}.digestHint", "namespace": NS}, text=one_line)
    if rule in ("pullPolicy", "digest"):
        return known
    unknown = MESSAGES["unknownNamespace"].format(
        namespace="\0", what="the tenants' namespaceSelector"
    )
    first, rest = unknown.split("\0")
    # One message for the rule: that the Namespace is unknown, as soon as a
    # valid image's verdict hangs on it (the Rego says so per container).
    unknown_first = "variables.unknown && variables.bad.exists(b, b.valid == 'yes')"
    return f"{unknown_first} ? {q(first)} + {NS} + {q(rest)} : {known}"


def source(rule: str) -> dict[str, Any]:
    """The K8sNativeValidation ``source`` of ``rule``'s template."""
    variables = [
        {"name": "spec", "expression": "variables.anyObject.spec"},
        {"name": "namespace", "expression": NAMESPACE},
        {"name": "containers", "expression": containers_expression()},
        *parse_stages(),
    ]
    if rule == "digest":
        # The rule may be narrowed to teams that opted in.
        variables.append(
            {
                "name": "applies",
                "expression": f"size({P}.namespaces) == 0 || "
                f"{P}.namespaces.exists(r, {NS}.matches(r))",
            }
        )
    if rule == "registries":
        variables += _registries_variables()
    variables.append({"name": "bad", "expression": _bad(rule)})
    return {
        "variables": variables,
        "validations": [
            {"expression": "size(variables.bad) == 0", "messageExpression": _message(rule)}
        ],
    }
