"""Kyverno variables: ``{{ jmespath }}`` substitution with Kyverno's functions
(functions.py), and a foreach's list.

Facts (notes/kyverno.md §3.5; kyverno pkg/engine/variables, pkg/engine/jmespath):
- a string that is exactly one ``{{ … }}`` takes the query's value with its
  type; inside a longer string the value is formatted into the text;
- a query that yields null is an unresolved variable, an error for the rule;
- ``\\{{`` escapes a variable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import jmespath

from policygen.engines.kyverno.api import NotFound, VariableError
from policygen.engines.kyverno.functions import CLOCK_FUNCTIONS, OPTIONS, clock_key
from policygen.errors import UnsupportedConstruct
from policygen.memo import MISSING, Memo, fingerprint

VARIABLE = re.compile(r"(?<!\\)\{\{(.*?)\}\}", re.DOTALL)  # for finding reads only


_COMPILED: dict[str, tuple[Any, tuple[tuple[str, ...], ...] | None]] = {}


_RESULTS: Memo[tuple[str, bytes], Any] = Memo(50_000)


# Node types whose later children are evaluated against the first child's
# result, not against the variables.
_RELATIVE = {
    "subexpression",
    "index_expression",
    "projection",
    "value_projection",
    "filter_projection",
    "pipe",
    "flatten",
}


def _chain(node: Mapping[str, Any]) -> tuple[str, ...] | None:
    if node["type"] == "field":
        return (node["value"],)
    if node["type"] == "subexpression" and all(c["type"] == "field" for c in node["children"]):
        return tuple(c["value"] for c in node["children"])
    return None


def expression_inputs(node: Mapping[str, Any]) -> frozenset[tuple[str, ...]] | None:
    """The variable paths an expression reads; None if it reads the whole
    document (``@``), which makes it uncacheable."""
    chain = _chain(node)
    if chain is not None:
        return frozenset([chain])
    kind = node["type"]
    if kind in ("current", "identity"):
        return None
    children = node.get("children") or []
    if kind in _RELATIVE:
        children = children[:1]
    out: set[tuple[str, ...]] = set()
    for child in children:
        if not isinstance(child, Mapping):
            continue
        sub = expression_inputs(child)
        if sub is None:
            return None
        out |= sub
    return frozenset(out)


def lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for key in path:
        if type(value) is not dict:  # exact dicts: what YAML and JSON give us
            return None
        value = value.get(key)
    return value


def _field_chain(chain: tuple[str, ...], data: Mapping[str, Any]) -> Any:
    value: Any = data
    for key in chain:
        if not isinstance(value, dict):
            return None
        if key not in value:
            raise NotFound(f'Unknown key "{key}" in path')
        value = value[key]
    return value


def query(expression: str, data: Any, *, constant: bool = False) -> Any:
    """Evaluate JMESPath with Kyverno's functions. Every function here is
    pure but for the time functions, which read the clock, so a result is
    memoised on the values of the paths it reads and, where it reads the
    clock, on the clock's second: workloads repeat images, and the same
    questions recur. ``constant``: ``data`` is a policy's own value, which
    nothing changes, so it is known by identity, not by a fingerprint of
    the paths read (a tenant index is as large as the organisation)."""
    entry = _COMPILED.get(expression)
    if entry is None:
        try:
            compiled = jmespath.compile(expression)
        except jmespath.exceptions.ParseError as exc:
            raise VariableError(f"invalid JMESPath '{expression}': {exc}") from None
        paths = expression_inputs(compiled.parsed)
        entry = _COMPILED[expression] = (compiled, None if paths is None else tuple(sorted(paths)))
    compiled, inputs = entry
    chain = _chain(compiled.parsed)
    if chain is not None:
        return _field_chain(chain, data)
    key = None
    if constant:
        # by identity, and by the clock's second where the expression reads
        # it (an exemption's expiry: a policy's list, asked on every request)
        at = clock_key() if CLOCK_FUNCTIONS.search(expression) else ""
        key = (expression, b"id:%d@%s" % (id(data), at.encode()))
        hit = _RESULTS.get(key)
        if isinstance(hit, tuple) and hit[0] is data:  # the id of this very value
            return hit[1]
        result = _search(compiled, expression, data)
        _RESULTS.put(key, (data, result))
        return result
    if inputs is not None:
        # repr, not JSON: equal values written in another key order only miss.
        values = [lookup(data, path) for path in inputs]
        if CLOCK_FUNCTIONS.search(expression):
            values.append(clock_key())  # the clock is an input too
        key = (expression, fingerprint(values))
        hit = _RESULTS.get(key)
        if hit is not MISSING:
            # Shared, not copied: the evaluator only reads query results
            # (patches are built by substitute(), which makes new values).
            return hit
    result = _search(compiled, expression, data)
    if key is not None:
        _RESULTS.put(key, result)
    return result


def _search(compiled: Any, expression: str, data: Any) -> Any:
    try:
        return compiled.search(data, options=OPTIONS)
    except jmespath.exceptions.UnknownFunctionError as exc:
        raise UnsupportedConstruct("kyverno", f"JMESPath '{expression}'", str(exc)) from None
    except jmespath.exceptions.JMESPathError as exc:
        raise VariableError(f"JMESPath '{expression}' failed: {exc}") from None


def _format(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def has_variables(value: Any) -> bool:
    """Whether ``substitute`` could change ``value``: a ``{{`` in one of
    its strings or keys."""
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, list):
        return any(has_variables(v) for v in value)
    if isinstance(value, dict):
        return any("{{" in k or has_variables(v) for k, v in value.items())
    return False


def substitute(value: Any, data: Mapping[str, Any]) -> Any:
    """Replace every variable in ``value`` (deeply), in map keys too, as
    Kyverno's ``SubstituteAll`` does (jsonutils.OnlyForLeafsAndKeys)."""
    if isinstance(value, str):
        return substitute_string(value, data)
    if isinstance(value, list):
        return [substitute(v, data) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = substitute_string(k, data) if "{{" in k else k
            out[key if isinstance(key, str) else _format(key)] = substitute(v, data)
        return out
    return value


#: Kyverno's regex.RegexVariables: a ``{{ }}`` holding no braces but at most
#: one level of ``{ }`` (a multiselect hash), not preceded by a backslash.
_VARIABLE = re.compile(r"(^|[^\\])(\{\{(?:\{[^{}]*\}|[^{}])*\}\})")


def substitute_string(text: str, data: Mapping[str, Any]) -> Any:
    """substituteVariablesIfAny of pkg/engine/variables/vars.go: variables
    are replaced innermost first and the text scanned again, so a variable
    may build another (``{{ a.{{ b }} }}``); a string that is exactly one
    variable takes the value with its type (null too); inside text a value
    is written as JSON; ``{{- x }}`` substitutes once, without rescanning."""
    if "{{" not in text:
        return text
    value = text
    found = [m.group(2) for m in _VARIABLE.finditer(value)]
    while found:
        shallow = False
        for var in found:
            expression = var[2:-2].strip()
            if expression.startswith("-"):
                expression, shallow = expression[1:].strip(), True
            resolved = _resolve(expression, data)
            if value == var:
                return resolved
            text_value = _format(resolved)
            if shallow:
                text_value = text_value.replace("{{", "\\{{")
            value = value.replace(var, text_value, 1)
        found = [] if shallow else [m.group(2) for m in _VARIABLE.finditer(value)]
    return value.replace("\\{{", "{{")


def _resolve(expression: str, data: Mapping[str, Any]) -> Any:
    if expression == "@" or expression.startswith("@"):
        raise UnsupportedConstruct("kyverno", f"variable '{{{{{expression}}}}}'", "@ reference")
    try:
        return query(expression, data)
    except VariableError:
        refuse_cluster_only(expression, data)
        raise


CLUSTER_ONLY = "__cluster_only__"


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def refuse_cluster_only(expression: str, data: Mapping[str, Any]) -> None:
    """A variable that did not resolve because it names a context entry
    only a cluster can fill: refuse, as the offline answer would be a guess."""
    missing = data.get(CLUSTER_ONLY) or {}
    for name in _NAME.findall(expression):
        if name in missing:
            raise UnsupportedConstruct("kyverno", missing[name], "")


def evaluate_list(fe: Mapping[str, Any], data: dict[str, Any]) -> list[Any]:
    """EvaluateList: the query's list, or a one-element list of whatever
    else it gives (null too, which is then skipped)."""
    expression = str(fe.get("list", ""))
    if "{{" in expression:
        expression = str(substitute_string(expression, data))
    value = query(expression.strip(), data)
    return value if isinstance(value, list) else [value]
