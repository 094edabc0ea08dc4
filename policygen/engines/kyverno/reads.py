"""Which data paths a Kyverno rule reads, so that the engine can memoise its
outcome on their values (the same idea as _cel_reads and _rego_reads)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jmespath

from policygen.engines.kyverno.variables import VARIABLE, expression_inputs

#: Fields whose value is a bare JMESPath expression rather than text with {{ }}.
_EXPRESSION_FIELDS = {"jmesPath", "list"}


#: Parts of a rule that compare against the whole object: not memoisable.
_WHOLE_OBJECT = {"pattern", "anyPattern", "patchStrategicMerge", "cel", "podSecurity"}


DATA_ROOTS = {"request", "images"}


def rule_inputs(rule: Mapping[str, Any]) -> tuple[tuple[str, ...], ...] | None:
    """The data paths a rule's context, conditions, foreach and message read,
    so that its outcome can be memoised on their values; None when that
    cannot be known (patterns read the whole object, ``@`` reads anything).
    Variables the rule defines itself (context entries, ``element``) are not
    inputs: they are computed from inputs."""
    body = {k: rule.get(k) for k in ("context", "preconditions", "validate") if k in rule}
    return _inputs(body, {"element", "elementIndex"})


#: What a foreach entry may hold for its elements' answers to be memoised:
#: no patterns (they read the whole element), no nested foreach.
_ELEMENT_FIELDS = {"list", "context", "preconditions", "deny"}


def element_inputs(fe: Mapping[str, Any], message: Any) -> tuple[tuple[str, ...], ...] | None:
    """The data paths one element's answer in a validate foreach entry
    reads: its context, preconditions, deny conditions and the rule's
    ``message`` (which a failure formats), ``element`` and ``elementIndex``
    included, since they differ between elements; the variables the entry
    defines itself are inputs too, as they stand before the element's
    context loads (a read before a definition sees the outer value; absent,
    they cost nothing). None when that cannot be known."""
    if set(fe) - _ELEMENT_FIELDS or fe.get("deny") is None:
        return None
    context = fe.get("context") or []
    if not isinstance(context, list) or not all(
        isinstance(e, Mapping) and "variable" in e for e in context
    ):
        return None  # an entry only a cluster fills keeps a value from outside
    body = {
        "context": fe.get("context"),
        "preconditions": fe.get("preconditions"),
        "deny": fe.get("deny"),
        "message": message,
    }
    return _inputs(body, set(), drop_local=False)


def context_inputs(entries: Any) -> tuple[tuple[str, ...], ...] | None:
    """The data paths a list of context entries reads, its own names
    included (a read before a definition sees the value from outside);
    None when an entry only a cluster fills (it tests whether its name is
    set) or what is read cannot be known."""
    if not isinstance(entries, list) or not all(
        isinstance(e, Mapping) and isinstance(e.get("variable"), Mapping) for e in entries
    ):
        return None
    return _inputs({"context": entries}, set(), drop_local=False)


def _inputs(
    body: Mapping[str, Any], local: set[str], *, drop_local: bool = True
) -> tuple[tuple[str, ...], ...] | None:
    expressions: list[str] = []
    local = set(local)

    def walk(node: Any, key: str = "") -> bool:
        if key in _WHOLE_OBJECT:
            return False
        if isinstance(node, str):
            inner = [m.group(1).strip() for m in VARIABLE.finditer(node)]
            expressions.extend(inner)
            if key in _EXPRESSION_FIELDS:
                # a {{ }} inside an expression makes its paths dynamic: keep roots
                outer = VARIABLE.sub("x", node).strip()
                expressions.append(f"__root__:{outer}" if inner else outer)
            return True
        if isinstance(node, list):
            return all(walk(item, key) for item in node)
        if isinstance(node, dict):
            if key == "context":
                local.add(str(node.get("name", "")))
            if key == "variable" and "value" in node and isinstance(node.get("jmesPath"), str):
                # that path reads the value, not the data: only its {{ }} are inputs
                expressions.extend(m.group(1).strip() for m in VARIABLE.finditer(node["jmesPath"]))
                return all(walk(v, k) for k, v in node.items() if k != "jmesPath")
            return all(walk(v, "context" if k == "context" else k) for k, v in node.items())
        return True

    if not walk(body):
        return None
    if drop_local and local & DATA_ROOTS:
        return None  # a context entry shadows request or images
    paths: set[tuple[str, ...]] = set()
    for expression in expressions:
        roots_only = expression.startswith("__root__:")
        text = expression.removeprefix("__root__:")
        try:
            found = expression_inputs(jmespath.compile(text).parsed)
        except jmespath.exceptions.JMESPathError:
            return None
        if found is None:
            return None
        for path in found:
            if drop_local and path[0] in local:
                continue
            paths.add(path[:1] if roots_only else path)
    return tuple(sorted(paths))
