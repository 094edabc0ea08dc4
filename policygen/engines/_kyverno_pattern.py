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

import copy
import re
from functools import lru_cache
from typing import Any

from policygen.errors import UnsupportedConstruct

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


def match(resource: Any, pattern: Any, path: str = "/") -> None:
    """Raise Mismatch or Skip; return when the resource matches."""
    if isinstance(pattern, dict):
        if not isinstance(resource, dict):
            raise Mismatch(path)
        _match_map(resource, pattern, path)
    elif isinstance(pattern, list):
        if not isinstance(resource, list):
            raise Mismatch(path)
        _match_list(resource, pattern, path)
    elif not value_matches(resource, pattern, path):
        raise Mismatch(path)


def _match_map(resource: dict[str, Any], pattern: dict[str, Any], path: str) -> None:
    # Conditions first, as Kyverno orders anchors: a skipped map is never a failure.
    ordered = sorted(pattern.items(), key=lambda kv: anchor(kv[0])[0] not in ("(", "<"))
    for key, sub in ordered:
        kind, name = anchor(key)
        here = f"{path}{name}/"
        present = name in resource
        if kind in ("(", "<"):
            if not present:
                raise Skip(here, kind == "<")
            try:
                match(resource[name], sub, here)
            except Mismatch:
                raise Skip(here, kind == "<") from None
        elif kind == "=":
            if present:
                match(resource[name], sub, here)
        elif kind == "X":
            if present:
                raise Mismatch(here)
        elif kind == "^":
            if not isinstance(sub, list) or len(sub) != 1 or not present:
                raise Mismatch(here)
            if not isinstance(resource[name], list) or not any(
                _holds(item, sub[0], f"{here}{i}/") for i, item in enumerate(resource[name])
            ):
                raise Mismatch(here)
        elif kind == "+":
            raise UnsupportedConstruct("kyverno", f"pattern {here}", "+() is for mutation")
        else:
            if not present:
                raise Mismatch(here)
            match(resource[name], sub, here)


def _holds(resource: Any, pattern: Any, path: str) -> bool:
    try:
        match(resource, pattern, path)
    except (Mismatch, Skip):
        return False
    return True


def _match_list(resource: list[Any], pattern: list[Any], path: str) -> None:
    if len(pattern) != 1:
        raise UnsupportedConstruct("kyverno", f"pattern {path}", "a list pattern of one element")
    element = pattern[0]
    applied = 0
    skipped: Skip | None = None
    for i, item in enumerate(resource):
        try:
            match(item, element, f"{path}{i}/")
            applied += 1
        except Skip as skip:
            if skip.is_global:
                raise
            skipped = skip  # this element does not meet the conditions
    if resource and applied == 0 and skipped is not None:
        raise skipped


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def value_matches(value: Any, pattern: Any, path: str = "/") -> bool:
    if isinstance(pattern, bool):
        return isinstance(value, bool) and value == pattern
    if isinstance(pattern, int | float):
        return isinstance(value, int | float) and not isinstance(value, bool) and value == pattern
    if pattern is None:
        return value is None
    if isinstance(pattern, str):
        return any(
            all(_condition(value, part.strip(), path) for part in alt.split("&"))
            for alt in pattern.split("|")
        )
    raise UnsupportedConstruct("kyverno", f"pattern {path}", f"value {pattern!r}")


def _condition(value: Any, pattern: str, path: str) -> bool:
    for op in (">=", "<=", ">", "<"):
        if pattern.startswith(op):
            return _compare(value, op, pattern[len(op) :].strip(), path)
    if pattern.startswith("!"):
        return not _equal(value, pattern[1:].strip())
    if re.match(r"^-?\d+(\.\d+)?-\d", pattern) or pattern.startswith("!-"):
        raise UnsupportedConstruct("kyverno", f"pattern {path}", f"range '{pattern}'")
    return _equal(value, pattern)


def _equal(value: Any, pattern: str) -> bool:
    if value is None or isinstance(value, dict | list):
        return False
    if isinstance(value, bool):
        return wildcard(pattern, "true" if value else "false")
    if isinstance(value, int | float) and _NUMBER.match(pattern):
        return float(pattern) == float(value)
    return wildcard(pattern, str(value))


def _compare(value: Any, op: str, operand: str, path: str) -> bool:
    if not _NUMBER.match(operand):
        raise UnsupportedConstruct("kyverno", f"pattern {path}", f"'{op}{operand}' (quantities)")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return False
    try:
        number = float(value)
    except ValueError:
        return False
    target = float(operand)
    return {
        ">=": number >= target,
        "<=": number <= target,
        ">": number > target,
        "<": number < target,
    }[op]


# --- patchStrategicMerge ------------------------------------------------------

#: The merge keys of the lists our policies patch (Kubernetes' patchMergeKey).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name"}


def merge(resource: Any, patch: Any, path: str = "/") -> tuple[Any, bool]:
    """(patched copy, whether the patch applied). A conditional anchor that
    does not hold leaves that part unpatched, as Kyverno does."""
    if not isinstance(patch, dict):
        raise UnsupportedConstruct("kyverno", f"patchStrategicMerge {path}", "a mapping")
    out = copy.deepcopy(resource)
    return out, _merge_into(out, patch, path)


def _conditions_hold(resource: dict[str, Any], patch: dict[str, Any], path: str) -> bool:
    for key, sub in patch.items():
        kind, name = anchor(key)
        if kind in ("(", "<"):
            if name not in resource or not _holds(resource[name], sub, f"{path}{name}/"):
                return False
        elif kind not in ("", "+"):
            raise UnsupportedConstruct("kyverno", f"patchStrategicMerge {path}{key}", "anchor")
    return True


def _merge_into(resource: dict[str, Any], patch: dict[str, Any], path: str) -> bool:
    if not _conditions_hold(resource, patch, path):
        return False
    applied = False
    for key, sub in patch.items():
        kind, name = anchor(key)
        here = f"{path}{name}/"
        if kind in ("(", "<"):
            continue
        if kind == "+":
            if name not in resource:
                resource[name] = copy.deepcopy(sub)
                applied = True
            continue
        current = resource.get(name)
        if isinstance(sub, dict) and isinstance(current, dict):
            applied = _merge_into(current, sub, here) or applied
        elif isinstance(sub, dict) and current is None:
            fresh: dict[str, Any] = {}
            if _merge_into(fresh, sub, here):
                resource[name] = fresh
                applied = True
        elif isinstance(sub, list):
            if current is None:
                current = resource[name] = []
            if not isinstance(current, list):
                raise UnsupportedConstruct(
                    "kyverno", f"patchStrategicMerge {here}", "list onto value"
                )
            applied = _merge_list(current, sub, name, here) or applied
        else:
            resource[name] = copy.deepcopy(sub)
            applied = True
    return applied


def _merge_list(resource: list[Any], patch: list[Any], name: str, path: str) -> bool:
    key = MERGE_KEYS.get(name)
    applied = False
    for element in patch:
        if not isinstance(element, dict):
            raise UnsupportedConstruct("kyverno", f"patchStrategicMerge {path}", "scalar lists")
        if any(anchor(k)[0] in ("(", "<") for k in element):
            for item in resource:  # conditions pick the elements to patch
                if isinstance(item, dict):
                    applied = _merge_into(item, element, path) or applied
            continue
        if key is None or key not in element:
            raise UnsupportedConstruct(
                "kyverno", f"patchStrategicMerge {path}", "a list without a known merge key"
            )
        target = next(
            (i for i in resource if isinstance(i, dict) and i.get(key) == element[key]), None
        )
        if target is None:
            resource.append(copy.deepcopy(element))
            applied = True
        else:
            applied = _merge_into(target, element, path) or applied
    return applied
