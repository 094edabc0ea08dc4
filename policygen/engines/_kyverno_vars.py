"""Kyverno variables: ``{{ jmespath }}`` substitution with Kyverno's functions.

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
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jmespath
from jmespath import functions

from policygen.errors import PolicygenError, UnsupportedConstruct
from policygen.memo import MISSING, Memo, fingerprint

VARIABLE = re.compile(r"(?<!\\)\{\{(.*?)\}\}", re.DOTALL)


class VariableError(PolicygenError):
    """A variable did not resolve: Kyverno reports the rule as an error."""


def _go_regex(pattern: str) -> re.Pattern[str]:
    """Go RE2 syntax as far as Python's engine reads it the same way."""
    if "(?P<" in pattern or "\\z" in pattern or "\\C" in pattern:
        raise UnsupportedConstruct("kyverno", "regex", f"'{pattern}' uses syntax we do not map")
    return re.compile(pattern)


class KyvernoFunctions(functions.Functions):
    """The Kyverno JMESPath functions our policies and the image policies use."""

    @functions.signature({"types": ["string"]}, {"types": ["string", "number"]})
    def _func_regex_match(self, pattern: str, value: str | float) -> bool:
        return _go_regex(pattern).search(str(value)) is not None

    @functions.signature(
        {"types": ["string"]}, {"types": ["string", "number"]}, {"types": ["string", "number"]}
    )
    def _func_regex_replace_all(self, pattern: str, src: Any, repl: Any) -> str:
        # Go's ReplaceAllString expands $1 / ${1}; Python's sub uses \g<1>.
        template = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", str(repl))
        return _go_regex(pattern).sub(template, str(src))

    @functions.signature(
        {"types": ["string"]}, {"types": ["string", "number"]}, {"types": ["string", "number"]}
    )
    def _func_regex_replace_all_literal(self, pattern: str, src: Any, repl: Any) -> str:
        return _go_regex(pattern).sub(lambda _: str(repl), str(src))

    @functions.signature({"types": ["string"]})
    def _func_to_upper(self, s: str) -> str:
        return s.upper()

    @functions.signature({"types": ["string"]})
    def _func_to_lower(self, s: str) -> str:
        return s.lower()

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_split(self, s: str, sep: str) -> list[str]:
        return s.split(sep)

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_trim(self, s: str, cutset: str) -> str:
        return s.strip(cutset)

    @functions.signature({"types": ["string"]}, {"types": ["number"]})
    def _func_truncate(self, s: str, n: float) -> str:
        return s[: int(n)]

    @functions.signature({"types": ["object"]}, {"types": ["object"]})
    def _func_label_match(self, selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in selector.items())


_OPTIONS = jmespath.Options(custom_functions=KyvernoFunctions())
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


def _inputs(node: Mapping[str, Any]) -> frozenset[tuple[str, ...]] | None:
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
        sub = _inputs(child)
        if sub is None:
            return None
        out |= sub
    return frozenset(out)


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
    expressions: list[str] = []
    local = {"element", "elementIndex"}

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
            return all(walk(v, "context" if k == "context" else k) for k, v in node.items())
        return True

    body = {k: rule.get(k) for k in ("context", "preconditions", "validate") if k in rule}
    if not walk(body):
        return None
    if local & DATA_ROOTS:
        return None  # a context entry shadows request or images
    paths: set[tuple[str, ...]] = set()
    for expression in expressions:
        roots_only = expression.startswith("__root__:")
        text = expression.removeprefix("__root__:")
        try:
            found = _inputs(jmespath.compile(text).parsed)
        except jmespath.exceptions.JMESPathError:
            return None
        if found is None:
            return None
        for path in found:
            if path[0] in local:
                continue
            paths.add(path[:1] if roots_only else path)
    return tuple(sorted(paths))


def lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for key in path:
        if type(value) is not dict:  # exact dicts: what YAML and JSON give us
            return None
        value = value.get(key)
    return value


def query(expression: str, data: Mapping[str, Any]) -> Any:
    """Evaluate JMESPath with Kyverno's functions. Every function here is
    pure, so a result is memoised on the values of the paths it reads:
    workloads repeat images, and the same questions recur."""
    entry = _COMPILED.get(expression)
    if entry is None:
        try:
            compiled = jmespath.compile(expression)
        except jmespath.exceptions.ParseError as exc:
            raise VariableError(f"invalid JMESPath '{expression}': {exc}") from None
        paths = _inputs(compiled.parsed)
        entry = _COMPILED[expression] = (compiled, None if paths is None else tuple(sorted(paths)))
    compiled, inputs = entry
    key = None
    if inputs is not None:
        # repr, not JSON: equal values written in another key order only miss.
        key = (expression, fingerprint([lookup(data, path) for path in inputs]))
        hit = _RESULTS.get(key)
        if hit is not MISSING:
            # Shared, not copied: the evaluator only reads query results
            # (patches are built by substitute(), which makes new values).
            return hit
    try:
        result = compiled.search(data, options=_OPTIONS)
    except jmespath.exceptions.UnknownFunctionError as exc:
        raise UnsupportedConstruct("kyverno", f"JMESPath '{expression}'", str(exc)) from None
    except jmespath.exceptions.JMESPathError as exc:
        raise VariableError(f"JMESPath '{expression}' failed: {exc}") from None
    if key is not None:
        _RESULTS.put(key, result)
    return result


def _format(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def substitute(value: Any, data: Mapping[str, Any]) -> Any:
    """Replace every variable in ``value`` (deeply)."""
    if isinstance(value, str):
        return substitute_string(value, data)
    if isinstance(value, list):
        return [substitute(v, data) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, data) for k, v in value.items()}
    return value


def substitute_string(text: str, data: Mapping[str, Any]) -> Any:
    if "{{" not in text:
        return text
    parts = _template(text)
    if len(parts) == 1 and isinstance(parts[0], Expr):
        return _resolve(parts[0].text, data)
    return "".join(p if isinstance(p, str) else _format(_resolve(p.text, data)) for p in parts)


@dataclass(frozen=True)
class Expr:
    text: str


@lru_cache(maxsize=4096)
def _template(text: str) -> tuple[str | Expr, ...]:
    """Literal text and variables, in order: policies reuse a few strings."""
    parts: list[str | Expr] = []
    at = 0
    for m in VARIABLE.finditer(text):
        if m.start() > at:
            parts.append(text[at : m.start()].replace("\\{{", "{{"))
        parts.append(Expr(m.group(1)))
        at = m.end()
    if at < len(text):
        parts.append(text[at:].replace("\\{{", "{{"))
    return tuple(parts)


def _resolve(expression: str, data: Mapping[str, Any]) -> Any:
    expression = expression.strip()
    if expression.startswith("@"):
        raise UnsupportedConstruct("kyverno", f"variable '{{{{{expression}}}}}'", "@ reference")
    value = query(expression, data)
    if value is None:
        refuse_cluster_only(expression, data)
        raise VariableError(f"variable {{{{{expression}}}}} could not be resolved")
    return value


CLUSTER_ONLY = "__cluster_only__"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def refuse_cluster_only(expression: str, data: Mapping[str, Any]) -> None:
    """A variable that did not resolve because it names a context entry
    only a cluster can fill: refuse, as the offline answer would be a guess."""
    missing = data.get(CLUSTER_ONLY) or {}
    for name in _NAME.findall(expression):
        if name in missing:
            raise UnsupportedConstruct("kyverno", missing[name], "")
