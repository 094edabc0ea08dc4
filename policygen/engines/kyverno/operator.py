"""Kyverno's condition operators (pkg/engine/variables/operator) (values.py
holds the quantity and duration parsers they share with patterns).

Facts this follows, from the handlers:
- numbers are float64 throughout (the CLI converts resources so, and
  policies decode so); ``fmt.Sprint`` writes ``5`` for 5.0;
- ``Equals`` on a string key tries durations, then quantities, then a
  wildcard match with the *value* as the pattern; ints and floats compare
  with strings by parsing the string;
- the ``In`` family take a JSON-array string as a list, match wildcards
  both ways (``AnyIn``, ``AllIn``…) or one way (``In``), and read a
  ``a-b`` range string as a numeric range;
- the numeric operators compare durations, quantities, numbers and
  versions, whichever the key and value both are;
- an unknown operator, a type a handler does not take, or a JSON value
  that does not parse is ``false``, not an error.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from typing import Any

from policygen.engines.kyverno.pattern import value_matches
from policygen.engines.kyverno.values import go_string, parse_duration, parse_quantity
from policygen.engines.kyverno.wildcards import wildcard
from policygen.errors import UnsupportedConstruct


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- Equals / NotEquals -------------------------------------------------------


def _durations(key: Any, value: Any) -> tuple[Fraction, Fraction] | None:
    """parseDuration of operator.go: one side a duration string (not "0"),
    the other a duration string or a number of seconds."""
    kd = parse_duration(key) if isinstance(key, str) and key != "0" else None
    vd = parse_duration(value) if isinstance(value, str) and value != "0" else None
    if kd is None and vd is None:
        return None
    if kd is None:
        if not _is_number(key):
            return None
        kd = Fraction(int(key))  # time.Duration(x) * time.Second truncates
    if vd is None:
        if not _is_number(value):
            return None
        vd = Fraction(int(value))
    return kd, vd


def _parse_float(text: str) -> float | None:
    try:
        return float(text) if text.strip() == text and text else None
    except ValueError:
        return None


def equals(key: Any, value: Any) -> bool:
    if isinstance(key, bool):
        return isinstance(value, bool) and key == value
    if _is_number(key):
        k = float(key)
        if isinstance(value, bool):
            return False
        if _is_number(value):
            return k == float(value)
        if isinstance(value, str):
            v = _parse_float(value)
            return v is not None and v == k
        return False
    if isinstance(key, str):
        d = _durations(key, value)
        if d is not None:
            return d[0] == d[1]
        kq = parse_quantity(key)
        if kq is not None and isinstance(value, str):
            vq = parse_quantity(value)
            return vq is not None and kq == vq
        return isinstance(value, str) and wildcard(value, key)
    if isinstance(key, dict | list):
        return type(value) is type(key) and _deep_equal(key, value)
    return False


def not_equals(key: Any, value: Any) -> bool:
    if isinstance(key, str):
        d = _durations(key, value)
        if d is not None:
            return d[0] != d[1]
        kq = parse_quantity(key)
        if kq is not None and isinstance(value, str):
            if value == "":
                return not wildcard(value, key)
            vq = parse_quantity(value)
            return vq is None or kq != vq
        if isinstance(value, str):
            return not wildcard(value, key)
        return True
    if key is None:
        return False
    return not equals(key, value)


def _deep_equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


# --- the In family ------------------------------------------------------------

_IN_RANGE = re.compile(r"^([-|+]?\d+(?:\.\d+)?[A-Za-z]*)-([-|+]?\d+(?:\.\d+)?[A-Za-z]*)$")
_NOT_IN_RANGE = re.compile(r"^([-|+]?\d+(?:\.\d+)?[A-Za-z]*)!-([-|+]?\d+(?:\.\d+)?[A-Za-z]*)$")


def _json_strings(text: str) -> list[str] | None:
    """``json.Unmarshal`` into []string: None when it is not such a list."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if not isinstance(parsed, list) or not all(isinstance(x, str) for x in parsed):
        return None
    return parsed


def _json_valid(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _in_range(key: str, value: str) -> bool:
    return value_matches(key, value)


def _key_in(key: str, value: Any, two_way_json: bool) -> bool | None:
    """keyExistsInArray (In, NotIn; two_way_json False) and
    anyKeyExistsInArray/allKeyExistsInArray (the rest): None for a value of
    a type the operator does not take."""
    if isinstance(value, list):
        return any(wildcard(go_string(v), key) or wildcard(key, go_string(v)) for v in value)
    if isinstance(value, str):
        if wildcard(value, key):
            return True
        if not two_way_json:
            arr = _json_strings(value)
            return None if arr is None else key in arr
        if _IN_RANGE.match(value) and not _NOT_IN_RANGE.match(value):
            return _in_range(key, value)
        if _json_valid(value):
            arr = _json_strings(value)
            return None if arr is None else key in arr
        return key == value
    return None


def _set_in(keys: list[str], value: Any, mode: str) -> bool | None:
    """The set forms (a list key): ``mode`` is in, notin, anyin, anynotin,
    allin or allnotin."""
    if mode in ("in", "notin"):
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                return None
            values = list(value)
        elif isinstance(value, str):
            if len(keys) == 1 and keys[0] == value:
                return True
            arr = _json_strings(value)
            if arr is None:
                return None
            values = arr
        else:
            return None
        missing = any(k not in values for k in keys)
        return missing if mode == "notin" else not missing
    negate = mode.endswith("notin")
    if isinstance(value, list):
        values = [go_string(v) for v in value]
    elif _is_number(value) or isinstance(value, bool):
        if not mode.startswith("any"):
            return None
        values = [go_string(value)]
    elif isinstance(value, str):
        if len(keys) == 1 and keys[0] == value:
            return not negate
        if _IN_RANGE.match(value) and not _NOT_IN_RANGE.match(value):
            if mode == "anyin":
                return any(_in_range(k, value) for k in keys)
            if mode == "anynotin":
                flipped = value.replace("-", "!-", 1)
                return any(_in_range(k, flipped) for k in keys)
            if mode == "allin":
                return all(_in_range(k, value) for k in keys)
            return not any(_in_range(k, value) for k in keys)
        if _json_valid(value):
            arr = _json_strings(value)
            if arr is None:
                return None
            values = arr
        else:
            values = [value]
    else:
        return None

    def hit(k: str) -> bool:
        return any(wildcard(k, v) or wildcard(v, k) for v in values)

    if mode == "anyin":
        return any(hit(k) for k in keys)
    if mode == "anynotin":
        return any(not hit(k) for k in keys)
    if mode == "allin":
        return all(hit(k) for k in keys)
    return not any(hit(k) for k in keys)  # allnotin


def _membership(mode: str, key: Any, value: Any) -> bool:
    if isinstance(key, str) or _is_number(key) or isinstance(key, bool):
        k = key if isinstance(key, str) else go_string(key)
        found = _key_in(k, value, two_way_json=mode not in ("in", "notin"))
        if found is None:
            return False
        return (not found) if mode.endswith("notin") else found
    if isinstance(key, list):
        if mode in ("in", "notin") and not all(isinstance(k, str) for k in key):
            raise UnsupportedConstruct("kyverno", "condition", f"{mode} with a non-string key list")
        result = _set_in([go_string(k) for k in key], value, mode)
        return bool(result)
    return False


# --- numeric ------------------------------------------------------------------

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


def _semver(text: str) -> tuple[Any, ...] | None:
    m = _SEMVER.match(text)
    if m is None:
        return None
    pre = m.group(4)
    parts: tuple[Any, ...] = ()
    if pre:
        parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    # a version with a pre-release sorts before the same version without
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, parts)


def _compare(op: str, a: Any, b: Any) -> bool:
    return bool(
        {
            "greaterthanorequals": a >= b,
            "greaterthan": a > b,
            "lessthanorequals": a <= b,
            "lessthan": a < b,
        }[op]
    )


def _numeric_number(op: str, key: float, value: Any) -> bool:
    if _is_number(value):
        return _compare(op, key, float(value))
    if isinstance(value, str):
        d = _durations(key, value)
        if d is not None:
            return _compare(op, d[0], d[1])
        v = _parse_float(value)
        return v is not None and _compare(op, key, v)
    return False


def numeric(op: str, key: Any, value: Any) -> bool:
    if isinstance(key, bool):
        return False
    if _is_number(key):
        return _numeric_number(op, float(key), value)
    if isinstance(key, str):
        d = _durations(key, value)
        if d is not None:
            return _compare(op, d[0], d[1])
        kq = parse_quantity(key)
        vq = parse_quantity(value) if isinstance(value, str) else None
        if kq is not None and vq is not None:
            return _compare(op, kq, vq)
        k = _parse_float(key)
        if k is not None and not math.isnan(k):
            return _numeric_number(op, k, value)
        kv = _semver(key)
        if kv is not None:
            vv = _semver(value) if isinstance(value, str) else None
            return vv is not None and _compare(op, kv, vv)
    return False


def _duration_operator(op: str, key: Any, value: Any) -> bool:
    def seconds(x: Any) -> Fraction | None:
        if _is_number(x):
            return Fraction(int(x))
        if isinstance(x, str):
            return parse_duration(x)
        return None

    k, v = seconds(key), seconds(value)
    if k is None or v is None:
        return False
    return _compare(op.removeprefix("duration"), k, v)


OPERATORS = {
    "equal",
    "equals",
    "notequal",
    "notequals",
    "in",
    "anyin",
    "allin",
    "notin",
    "anynotin",
    "allnotin",
    "greaterthanorequals",
    "greaterthan",
    "lessthanorequals",
    "lessthan",
    "durationgreaterthanorequals",
    "durationgreaterthan",
    "durationlessthanorequals",
    "durationlessthan",
}


def evaluate(operator: str, key: Any, value: Any, where: str) -> bool:
    """CreateOperatorHandler(op).Evaluate(key, value); operator names are
    matched without regard to case, as Kyverno does."""
    op = operator.lower()
    if op not in OPERATORS:
        raise UnsupportedConstruct("kyverno", f"{where} condition", f"operator {operator}")
    if op in ("equal", "equals"):
        return equals(key, value)
    if op in ("notequal", "notequals"):
        return not_equals(key, value)
    if op in ("in", "anyin", "allin", "notin", "anynotin", "allnotin"):
        return _membership(op, key, value)
    if op.startswith("duration"):
        return _duration_operator(op, key, value)
    return numeric(op, key, value)
