"""Kyverno's scalar patterns (pkg/engine/pattern/pattern.go): how one
resource value matches one pattern value. Strings: ``|`` is OR, ``&`` is
AND, a leading ``!`` negates, ``* ?`` are wildcards (``*`` crosses ``/`` and
``:``), ``> >= < <=`` compare numbers, durations and quantities, ``a-b`` and
``a!-b`` are ranges."""

from __future__ import annotations

import re
from typing import Any

from policygen.engines.kyverno.values import parse_duration, parse_quantity
from policygen.engines.kyverno.wildcards import wildcard

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
