"""Kyverno's pattern language: validate ``pattern`` matching with anchors, and
``patchStrategicMerge`` with conditional and add anchors.

Facts (notes/kyverno.md §3.5; kyverno pkg/engine/anchor, pkg/engine/pattern,
pkg/engine/validate):
- anchors ``(k)`` conditional, ``=(k)`` equality, ``X(k)`` negation,
  ``^(k)`` existence, ``<(k)`` global, ``+(k)`` add (mutate only);
- a failed conditional anchor skips (the list element, or the rule at the
  top); a failed global anchor skips the rule;
- string patterns: ``|`` is OR, ``&`` is AND, a leading ``!`` negates,
  ``* ?`` are wildcards (``*`` crosses ``/`` and ``:``), ``> >= < <=``
  compare numbers; a missing key fails a plain key.
Anything else is refused.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

ANCHOR = re.compile(r"^([+<=X^])?\((.+)\)$")


class Skip(Exception):
    """A conditional (or global) anchor did not hold: not a failure."""

    def __init__(self, path: str, is_global: bool = False) -> None:
        super().__init__(path)
        self.path = path
        self.is_global = is_global


class Mismatch(Exception):
    """The resource does not match the pattern at ``path``."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def anchor(key: str) -> tuple[str, str]:
    """(modifier, key): modifier is "", "(", "=", "X", "^", "<" or "+"."""
    m = ANCHOR.match(key)
    if not m:
        return "", key
    return (m.group(1) or "("), m.group(2)


def wildcard(pattern: str, value: str) -> bool:
    """Kyverno's wildcard.Match: ``*`` any run (``/`` and ``:`` too), ``?`` one character."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == value
    return _wildcard_regex(pattern).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, re.DOTALL)


# --- validate patterns (pkg/engine/validate/validate.go) ----------------------


CONDITIONAL_MSG = "conditional anchor mismatch"
GLOBAL_MSG = "global anchor mismatch"
NEGATION_MSG = "negation anchor matched in resource"


class PatternErr:
    """One of the engine's errors. Kyverno tells a skip from a failure by
    the error's type or, where the type is lost, by its text; so do we."""

    def __init__(self, text: str, kind: str = "", skip: bool = False, pattern: bool = False):
        self.text = text
        self.kind = kind  # conditional | global | negation | ""
        self.skip = skip
        self.pattern = pattern  # a PatternError (from a nested map or list)


def _anchor_err(kind: str, msg: str) -> PatternErr:
    head = {"conditional": CONDITIONAL_MSG, "global": GLOBAL_MSG, "negation": NEGATION_MSG}[kind]
    return PatternErr(f"{head}: {msg}", kind)


def _is_skip(err: PatternErr) -> bool:
    return (
        err.kind in ("conditional", "global")
        or CONDITIONAL_MSG in err.text
        or GLOBAL_MSG in err.text
    )


def _is_fail(err: PatternErr) -> bool:
    return err.kind == "negation" or NEGATION_MSG in err.text


class _AnchorMap:
    """anchor.AnchorMap: whether the resource holds each anchored key."""

    def __init__(self) -> None:
        self.seen: dict[str, bool] = {}

    def check(self, pattern: dict[str, Any], resource: Any) -> None:
        for key in pattern:
            kind, name = anchor(key)
            if kind not in ("(", "^", "X"):
                continue
            if self.seen.get(key):
                continue
            self.seen.setdefault(key, False)
            if _has_key(resource, name):
                self.seen[key] = True

    def keys_missing(self) -> bool:
        return any(not v and anchor(k)[0] != "X" for k, v in self.seen.items())


def _has_key(resource: Any, key: str) -> bool:
    if isinstance(resource, dict):
        return key in resource
    if isinstance(resource, list):
        return any(_has_key(item, key) for item in resource)
    return False


def validate_pattern(resource: Any, pattern: Any) -> tuple[str, str]:
    """MatchPattern: (pass | skip | fail | error, the failing path)."""
    ac = _AnchorMap()
    path, err = _element(resource, pattern, "/", ac)
    if err is None:
        return "pass", ""
    if _is_skip(err):
        return "skip", ""
    if _is_fail(err):
        return ("fail", path) if path else ("error", "")
    if ac.keys_missing():
        return "error", ""
    return ("fail", path) if path else ("error", "")


_Result = tuple[str, PatternErr | None]


def _element(resource: Any, pattern: Any, path: str, ac: _AnchorMap) -> _Result:
    if isinstance(pattern, dict):
        if not isinstance(resource, dict):
            return path, PatternErr(f"pattern and resource have different structures. Path: {path}")
        ac.check(pattern, resource)
        return _map(resource, pattern, path, ac)
    if isinstance(pattern, list):
        if not isinstance(resource, list):
            return path, PatternErr(f"validation rule failed at path {path}")
        return _array(resource, pattern, path, ac)
    if isinstance(pattern, str | int | float | bool) or pattern is None:
        items = resource if isinstance(resource, list) else [resource]
        for item in items:
            if not value_matches(item, pattern, path):
                return path, PatternErr(f"resource value does not match '{pattern}' at path {path}")
        return "", None
    return path, PatternErr(f"failed at '{path}', pattern contains unknown type")


def _map(resource: dict[str, Any], pattern: dict[str, Any], path: str, ac: _AnchorMap) -> _Result:
    pattern = expand_in_metadata(pattern, resource)
    anchors = {k: v for k, v in pattern.items() if anchor(k)[0] in ("(", "^", "=", "X")}
    rest = {k: v for k, v in pattern.items() if k not in anchors}
    skips: list[PatternErr] = []
    applied = 0
    for key in sorted(anchors):
        hpath, err = _handle(key, anchors[key], resource, path, ac)
        if err is not None:
            if _is_skip(err):
                skips.append(err)
                continue
            if not any(not e.pattern for e in skips):
                return hpath, err
            continue
        applied += 1
    if skips and (applied == 0 or any(not e.pattern for e in skips)):
        text = "; ".join(e.text for e in skips)
        return path, PatternErr(text, skip=True, pattern=True)
    front: list[str] = []
    back: list[str] = []
    for key in sorted(rest):
        if anchor(key)[0] == "<" or _has_nested_anchors(rest[key]):
            front.insert(0, key)
        else:
            back.append(key)
    for key in front + back:
        hpath, err = _handle(key, rest[key], resource, path, ac)
        if err is not None:
            return hpath, err
    return "", None


def _has_nested_anchors(pattern: Any) -> bool:
    if isinstance(pattern, dict):
        return any(anchor(k)[0] in ("(", "^", "=", "X", "<") for k in pattern) or any(
            _has_nested_anchors(v) for v in pattern.values()
        )
    if isinstance(pattern, list):
        return any(_has_nested_anchors(v) for v in pattern)
    return False


def _handle(key: str, pattern: Any, resource: dict[str, Any], path: str, ac: _AnchorMap) -> _Result:
    """anchor.CreateElementHandler(key).Handle."""
    kind, name = anchor(key)
    here = f"{path}{name}/"
    if kind == "(":
        if name not in resource:
            return here, _anchor_err("conditional", "conditional anchor key doesn't exist")
        rpath, err = _element(resource[name], pattern, here, ac)
        return (rpath, _anchor_err("conditional", err.text)) if err else ("", None)
    if kind == "<":
        if name not in resource:
            return "", None
        rpath, err = _element(resource[name], pattern, here, ac)
        return (rpath, _anchor_err("global", err.text)) if err else ("", None)
    if kind == "^":
        if name not in resource:
            return "", None
        value = resource[name]
        if not isinstance(value, list):
            return here, PatternErr(f"invalid resource type at {here}: ^() needs a list")
        if not isinstance(pattern, list):
            return here, PatternErr("invalid pattern type: ^() needs a list")
        epath, found_err = "", None
        for item in pattern:
            if not isinstance(item, dict):
                return here, PatternErr("invalid pattern type: ^() needs maps")
            if not any(
                _element(r, item, f"{here}{i}/", ac)[1] is None for i, r in enumerate(value)
            ):
                return here, PatternErr(f"existence anchor validation failed at path {here}")
        return epath, found_err
    if kind == "=":
        if name not in resource:
            return "", None
        rpath, err = _element(resource[name], pattern, here, ac)
        return (rpath, err) if err else ("", None)
    if kind == "X":
        if name in resource:
            return here, _anchor_err("negation", f"{here} is not allowed")
        return "", None
    # a plain key (an add anchor too, which validation reads as a plain key)
    here = f"{path}{key}/"
    value = resource.get(key)
    if pattern == "*":
        return ("", None) if value is not None else (path, PatternErr(f"{path}/{key} not found"))
    return _element(value, pattern, here, ac)


def _array(resource: list[Any], pattern: list[Any], path: str, ac: _AnchorMap) -> _Result:
    if not pattern:
        return path, PatternErr("pattern Array empty")
    first = pattern[0]
    if isinstance(first, dict):
        skips: list[PatternErr] = []
        applied = 0
        for i, item in enumerate(resource):
            rpath, err = _element(item, first, f"{path}{i}/", ac)
            if err is not None:
                if _is_skip(err):
                    skips.append(err)
                    continue
                return rpath, err
            applied += 1
        if applied == 0 and skips:
            text = "; ".join(e.text for e in skips)
            return path, PatternErr(text, skip=True, pattern=True)
        return "", None
    if isinstance(first, str | int | float | bool) or first is None:
        return _element(resource, first, path, ac)
    if len(resource) < len(pattern):
        return "", PatternErr("validate Array failed, array length mismatch")
    skips = []
    applied = 0
    for i, sub in enumerate(pattern):
        rpath, err = _element(resource[i], sub, f"{path}{i}/", ac)
        if err is not None:
            if _is_skip(err):
                skips.append(err)
                continue
            return rpath, err
        applied += 1
    if applied == 0 and skips:
        return path, PatternErr("; ".join(e.text for e in skips), skip=True, pattern=True)
    return "", None


def expand_in_metadata(pattern: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """wildcards.ExpandInMetadata: a wildcard key under metadata.labels or
    metadata.annotations of a pattern becomes the first resource key it
    matches (anchors kept); only string values are kept in those maps."""
    meta_key = next((k for k in pattern if k == "metadata" or anchor(k)[1] == "metadata"), None)
    if meta_key is None or not isinstance(pattern[meta_key], dict):
        return pattern
    resource_meta = resource.get("metadata")
    if not isinstance(resource_meta, dict):
        return pattern
    meta = dict(pattern[meta_key])
    for tag in ("labels", "annotations"):
        tag_key = next((k for k in meta if k == tag or anchor(k)[1] == tag), None)
        if tag_key is None or not isinstance(meta[tag_key], dict):
            continue
        res_key = next((k for k in resource_meta if k == tag or anchor(k)[1] == tag), None)
        res_tags = resource_meta.get(res_key) if res_key else None
        if not isinstance(res_tags, dict):
            continue
        have = {k: v for k, v in res_tags.items() if isinstance(v, str)}
        out: dict[str, Any] = {}
        for k, v in meta[tag_key].items():
            if not isinstance(v, str):
                continue
            if "*" in k or "?" in k:
                kind, name = anchor(k)
                target = name if kind else k
                found = next((rk for rk in have if wildcard(target, rk)), target)
                out[f"{kind if kind != '(' else ''}({found})" if kind else found] = v
            else:
                out[k] = v
        meta[tag_key] = out
    return {**pattern, meta_key: meta}


# --- scalar patterns (pkg/engine/pattern/pattern.go) --------------------------

_IN_RANGE = re.compile(r"^([-|+]?\d+(?:\.\d+)?[A-Za-z]*)-([-|+]?\d+(?:\.\d+)?[A-Za-z]*)$")
_NOT_IN_RANGE = re.compile(r"^([-|+]?\d+(?:\.\d+)?[A-Za-z]*)!-([-|+]?\d+(?:\.\d+)?[A-Za-z]*)$")


def value_matches(value: Any, pattern: Any, path: str = "/") -> bool:
    """pattern.Validate."""
    if isinstance(pattern, bool):
        return isinstance(value, bool) and value == pattern
    if isinstance(pattern, int | float):
        if isinstance(value, bool):
            return False
        if isinstance(value, int | float):
            return float(value) == float(pattern)
        if isinstance(value, str):
            try:
                return float(value) == float(pattern)
            except ValueError:
                return False
        return False
    if pattern is None:
        if isinstance(value, bool):
            return not value
        if isinstance(value, int | float):
            return value == 0
        return value == "" or value is None
    if isinstance(pattern, dict):
        return isinstance(value, dict)
    if isinstance(pattern, str):
        if value == pattern:
            return True
        return any(
            all(_string_pattern(value, part.strip(" ")) for part in alt.strip(" ").split("&"))
            for alt in pattern.split("|")
        )
    return False


def _operator(pattern: str) -> str:
    if len(pattern) < 2:
        return ""
    for op in (">=", "<=", ">", "<", "!"):
        if pattern.startswith(op):
            return op
    if _NOT_IN_RANGE.match(pattern):
        return "!-"
    if _IN_RANGE.match(pattern):
        return "-"
    return ""


def _string_pattern(value: Any, pattern: str) -> bool:
    op = _operator(pattern)
    if op == "-":
        m = _IN_RANGE.match(pattern)
        assert m is not None
        return _string_pattern(value, f">= {m.group(1)}") and _string_pattern(
            value, f"<= {m.group(2)}"
        )
    if op == "!-":
        m = _NOT_IN_RANGE.match(pattern)
        assert m is not None
        return _string_pattern(value, f"< {m.group(1)}") or _string_pattern(
            value, f"> {m.group(2)}"
        )
    return _compare_string_value(value, pattern[len(op) :].strip(), op)


def _number_text(value: Any) -> str | None:
    """convertNumberToString: how a value reads as a duration or quantity."""
    if value is None:
        return "0"
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:f}"
    if isinstance(value, int):
        return str(value)
    return None


def _go_float_e(value: float) -> str:
    """strconv.FormatFloat(v, 'E', -1, 64): shortest digits, E exponent."""
    if value == 0:
        return "0E+00"
    text = f"{value:.17E}"
    for digits in range(0, 17):
        candidate = f"{value:.{digits}E}"
        if float(candidate) == value:
            text = candidate
            break
    mantissa, exponent = text.split("E")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    sign, digits_ = exponent[0], exponent[1:].lstrip("0")
    return f"{mantissa}E{sign}{digits_.rjust(2, '0')}"


def _compare_string_value(value: Any, pattern: str, op: str) -> bool:
    from policygen.engines._kyverno_operators import parse_duration, parse_quantity

    text = _number_text(value)
    pd = parse_duration(pattern)
    if pd is not None and text is not None:
        vd = parse_duration(text)
        if vd is not None:
            return _by_op(op, vd, pd)
    pq = parse_quantity(pattern)
    if pq is not None and text is not None:
        vq = parse_quantity(text)
        if vq is not None:
            return _by_op(op, vq, pq)
    if op not in ("", "!"):
        return False
    if isinstance(value, bool):
        s = "true" if value else "false"
    elif isinstance(value, float):
        s = _go_float_e(value)
    elif isinstance(value, int):
        s = str(value)
    elif isinstance(value, str):
        s = value
    else:
        return False
    hit = wildcard(pattern, s)
    return not hit if op == "!" else hit


def _by_op(op: str, a: Any, b: Any) -> bool:
    return bool(
        {
            "": a == b,
            "!": a != b,
            ">": a > b,
            "<": a < b,
            ">=": a >= b,
            "<=": a <= b,
        }[op]
    )


def _holds(resource: Any, pattern: Any, path: str) -> bool:
    return validate_pattern(resource, pattern)[0] == "pass"
