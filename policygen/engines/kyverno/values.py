"""The value formats Kyverno reads and writes as Go does: Kubernetes
quantities (resource.ParseQuantity), Go durations (time.ParseDuration and
Duration.String) and fmt.Sprint of a decoded JSON value. Shared by the
operators, the patterns and the JMESPath functions."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from typing import Any

_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([a-zA-Z]*|[eE][+-]?\d+)$")


_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}


def parse_quantity(text: str) -> Fraction | None:
    """resource.ParseQuantity: a number with a binary, decimal or exponent
    suffix; None when it is not one."""
    m = _QUANTITY.match(text.strip()) if text == text.strip() else None
    if m is None:
        return None
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number * Fraction(10) ** int(suffix[1:])
    return None


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


_UNITS = {
    "ns": Fraction(1, 10**9),
    "us": Fraction(1, 10**6),
    "µs": Fraction(1, 10**6),
    "μs": Fraction(1, 10**6),
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
}


def parse_duration(text: str) -> Fraction | None:
    """time.ParseDuration, in seconds: ``1h30m``, ``-1.5s``, ``0``."""
    s = text
    sign = -1 if s.startswith("-") else 1
    s = s[1:] if s[:1] in "+-" else s
    if s == "0":
        return Fraction(0)
    if not s:
        return None
    total, at = Fraction(0), 0
    for m in _DURATION_PART.finditer(s):
        if m.start() != at:
            return None
        total += Fraction(m.group(1)) * _UNITS[m.group(2)]
        at = m.end()
    return sign * total if at == len(s) and at else None


def go_string(value: Any) -> str:
    """fmt.Sprint of a decoded JSON value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        f = float(value)
        if f.is_integer() and abs(f) < 1e21:
            return str(int(f))
        return repr(f).replace("e+", "e+").replace("inf", "+Inf")
    if value is None:
        return "<nil>"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))  # maps and lists: close enough to refuse


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
