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
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import jmespath
from jmespath import functions

from policygen.errors import PolicygenError, UnsupportedConstruct
from policygen.memo import MISSING, Memo, fingerprint

VARIABLE = re.compile(r"(?<!\\)\{\{(.*?)\}\}", re.DOTALL)  # for finding reads only


class VariableError(PolicygenError):
    """A variable did not resolve: Kyverno reports the rule as an error."""


class NotFound(VariableError):
    """A path of plain fields names a key its map lacks: go-jmespath's
    ``NotFoundError`` ("Unknown key"), which Kyverno's fork raises where
    standard JMESPath would give null. An expression that is more than a
    chain of fields (a function, a projection, ``||``) gives null instead."""


@lru_cache(maxsize=4096)
def _go_regex(pattern: str) -> re.Pattern[str]:
    """Go RE2 syntax as far as Python's engine reads it the same way. Go's
    ``$`` (without the m flag) is the end of the text; Python's also matches
    before a final newline, so it becomes ``\\Z``."""
    if "(?P<" in pattern or "\\z" in pattern or "\\C" in pattern:
        raise UnsupportedConstruct("kyverno", "regex", f"'{pattern}' uses syntax we do not map")
    if re.search(r"\(\?[a-zA-Z]*m", pattern):
        raise UnsupportedConstruct("kyverno", "regex", f"'{pattern}' uses the m flag")
    return re.compile(_end_of_text(pattern))


def _end_of_text(pattern: str) -> str:
    """Each ``$`` outside a character class as ``\\Z``."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            # a "]" first in the class (after an optional "^") is a literal
            if pattern[i : i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i : i + 1] == "]":
                out.append("]")
                i += 1
            continue
        elif ch == "$":
            out.append("\\Z")
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class KyvernoFunctions(functions.Functions):
    """The Kyverno JMESPath functions (pkg/engine/jmespath/functions.go) the
    policies we meet use. A function given null where it wants another type
    gives null rather than failing the rule."""

    def call_function(self, function_name: str, resolved_args: Iterable[Any]) -> Any:
        resolved_args = list(resolved_args)
        try:
            return super().call_function(function_name, resolved_args)
        except jmespath.exceptions.JMESPathTypeError:
            if any(arg is None for arg in resolved_args):
                return None
            raise

    @functions.signature({"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_replace_all(self, s: str, old: str, new: str) -> str:
        return s.replace(old, new)

    @functions.signature(
        {"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]}, {"types": ["number"]}
    )
    def _func_replace(self, s: str, old: str, new: str, n: float) -> str:
        return s.replace(old, new, int(n)) if n >= 0 else s.replace(old, new)

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_trim_prefix(self, s: str, prefix: str) -> str:
        return s.removeprefix(prefix)

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_pattern_match(self, pattern: str, s: str) -> bool:
        from policygen.engines._kyverno_pattern import wildcard

        return wildcard(pattern, s)

    @functions.signature({"types": ["string"]})
    def _func_base64_decode(self, s: str) -> str:
        import base64

        return base64.b64decode(s).decode()

    @functions.signature({"types": ["string"]})
    def _func_base64_encode(self, s: str) -> str:
        import base64

        return base64.b64encode(s.encode()).decode()

    @functions.signature({"types": ["string"]})
    def _func_parse_json(self, s: str) -> Any:
        return json.loads(s)

    @functions.signature({"types": ["string"]})
    def _func_parse_yaml(self, s: str) -> Any:
        import yaml

        return yaml.safe_load(s)

    @functions.signature({"types": ["object", "array"]}, {"types": ["string", "number"]})
    def _func_lookup(self, collection: Any, key: Any) -> Any:
        if isinstance(collection, dict):
            return collection.get(key)
        if isinstance(key, float | int) and 0 <= int(key) < len(collection):
            return collection[int(key)]
        return None

    @functions.signature({"types": ["object"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_items(self, obj: Mapping[str, Any], key: str, value: str) -> list[Any]:
        return [{key: k, value: v} for k, v in sorted(obj.items())]

    @functions.signature({"types": ["array"]}, {"types": ["array"]})
    def _func_object_from_lists(self, keys: list[Any], values: list[Any]) -> dict[str, Any]:
        return {str(k): (values[i] if i < len(values) else None) for i, k in enumerate(keys)}

    @functions.signature({"types": ["string", "number"]}, {"types": ["string", "number"]})
    def _func_divide(self, a: Any, b: Any) -> Any:
        return _arithmetic("divide", a, b)

    @functions.signature({"types": ["string", "number"]}, {"types": ["string", "number"]})
    def _func_multiply(self, a: Any, b: Any) -> Any:
        return _arithmetic("multiply", a, b)

    @functions.signature({"types": ["string", "number"]}, {"types": ["string", "number"]})
    def _func_add(self, a: Any, b: Any) -> Any:
        return _arithmetic("add", a, b)

    @functions.signature({"types": ["string", "number"]}, {"types": ["string", "number"]})
    def _func_subtract(self, a: Any, b: Any) -> Any:
        return _arithmetic("subtract", a, b)

    @functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_round(self, a: float, digits: float) -> float:
        return float(round(a, int(digits)))

    @functions.signature({"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_time_since(self, layout: str, start: str, end: str) -> str:
        """jpTimeSince: ``end`` empty is now, as in the CLI; the result is Go's
        Duration.String()."""
        import datetime as dt

        if layout:
            raise UnsupportedConstruct("kyverno", "JMESPath time_since()", f"layout {layout!r}")

        def parse(text: str) -> dt.datetime:
            try:
                return dt.datetime.fromisoformat(text)
            except ValueError:
                raise VariableError(f"time_since: cannot parse {text!r} as RFC 3339") from None

        t1 = parse(start)
        t2 = parse(end) if end else dt.datetime.now(dt.UTC)
        return go_duration((t2 - t1).total_seconds())

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


def go_duration(seconds: float) -> str:
    """time.Duration.String for whole-nanosecond durations of a second or more
    (and zero): ``72h3m0.5s``."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    ns = round(abs(seconds) * 1e9)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                text = f"{ns / size:.9f}".rstrip("0").rstrip(".")
                return f"{sign}{text}{unit}"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    secs = f"{rest / 1e9:.9f}".rstrip("0").rstrip(".")
    out = (
        f"{hours}h{minutes}m{secs}s" if hours else (f"{minutes}m{secs}s" if minutes else f"{secs}s")
    )
    return sign + out


def _arithmetic(op: str, a: Any, b: Any) -> Any:
    """Kyverno's arithmetic (pkg/engine/jmespath/arithmetic.go) on numbers and
    on quantities: a quantity over a quantity is a number, a quantity times
    a number a quantity. Durations and mixed forms are refused."""
    from policygen.engines._kyverno_operators import parse_quantity

    if isinstance(a, int | float) and isinstance(b, int | float):
        if op == "divide":
            if b == 0:
                raise VariableError("divide by zero")
            return a / b
        return {"multiply": a * b, "add": a + b, "subtract": a - b}[op]
    qa = parse_quantity(a) if isinstance(a, str) else None
    qb = parse_quantity(b) if isinstance(b, str) else None
    if op == "divide" and qa is not None and qb is not None:
        if qb == 0:
            raise VariableError("divide by zero")
        return float(qa / qb)
    raise UnsupportedConstruct("kyverno", f"JMESPath {op}()", f"arguments {a!r}, {b!r}")


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
            if key == "variable" and "value" in node and isinstance(node.get("jmesPath"), str):
                # that path reads the value, not the data: only its {{ }} are inputs
                expressions.extend(m.group(1).strip() for m in VARIABLE.finditer(node["jmesPath"]))
                return all(walk(v, k) for k, v in node.items() if k != "jmesPath")
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


def _field_chain(chain: tuple[str, ...], data: Mapping[str, Any]) -> Any:
    value: Any = data
    for key in chain:
        if not isinstance(value, dict):
            return None
        if key not in value:
            raise NotFound(f'Unknown key "{key}" in path')
        value = value[key]
    return value


def query(expression: str, data: Any) -> Any:
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
    chain = _chain(compiled.parsed)
    if chain is not None:
        return _field_chain(chain, data)
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
