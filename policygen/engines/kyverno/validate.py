"""Kyverno's ``pattern`` matching (pkg/engine/validate/validate.go,
notes/kyverno.md §3.5): a resource against a pattern tree with anchors.
A failed conditional anchor skips (the list element, or the rule at the
top); a failed global anchor skips the rule; a missing key fails a plain
key. Anything else is refused."""

from __future__ import annotations

from typing import Any

from policygen.engines.kyverno.anchor import (
    AnchorMap,
    PatternErr,
    anchor,
    anchor_err,
    is_fail,
    is_skip,
)
from policygen.engines.kyverno.pattern import value_matches
from policygen.engines.kyverno.wildcards import expand_in_metadata


def validate_pattern(resource: Any, pattern: Any) -> tuple[str, str]:
    """MatchPattern: (pass | skip | fail | error, the failing path)."""
    ac = AnchorMap()
    path, err = _element(resource, pattern, "/", ac)
    if err is None:
        return "pass", ""
    if is_skip(err):
        return "skip", ""
    if is_fail(err):
        return ("fail", path) if path else ("error", "")
    if ac.keys_missing():
        return "error", ""
    return ("fail", path) if path else ("error", "")


_Result = tuple[str, PatternErr | None]


def _element(resource: Any, pattern: Any, path: str, ac: AnchorMap) -> _Result:
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


def _map(resource: dict[str, Any], pattern: dict[str, Any], path: str, ac: AnchorMap) -> _Result:
    pattern = expand_in_metadata(pattern, resource)
    anchors = {k: v for k, v in pattern.items() if anchor(k)[0] in ("(", "^", "=", "X")}
    rest = {k: v for k, v in pattern.items() if k not in anchors}
    skips: list[PatternErr] = []
    applied = 0
    for key in sorted(anchors):
        hpath, err = _handle(key, anchors[key], resource, path, ac)
        if err is not None:
            if is_skip(err):
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


def _handle(key: str, pattern: Any, resource: dict[str, Any], path: str, ac: AnchorMap) -> _Result:
    """anchor.CreateElementHandler(key).Handle."""
    kind, name = anchor(key)
    here = f"{path}{name}/"
    if kind == "(":
        if name not in resource:
            return here, anchor_err("conditional", "conditional anchor key doesn't exist")
        rpath, err = _element(resource[name], pattern, here, ac)
        return (rpath, anchor_err("conditional", err.text)) if err else ("", None)
    if kind == "<":
        if name not in resource:
            return "", None
        rpath, err = _element(resource[name], pattern, here, ac)
        return (rpath, anchor_err("global", err.text)) if err else ("", None)
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
            return here, anchor_err("negation", f"{here} is not allowed")
        return "", None
    # a plain key (an add anchor too, which validation reads as a plain key)
    here = f"{path}{key}/"
    value = resource.get(key)
    if pattern == "*":
        return ("", None) if value is not None else (path, PatternErr(f"{path}/{key} not found"))
    return _element(value, pattern, here, ac)


def _array(resource: list[Any], pattern: list[Any], path: str, ac: AnchorMap) -> _Result:
    if not pattern:
        return path, PatternErr("pattern Array empty")
    first = pattern[0]
    if isinstance(first, dict):
        skips: list[PatternErr] = []
        applied = 0
        for i, item in enumerate(resource):
            rpath, err = _element(item, first, f"{path}{i}/", ac)
            if err is not None:
                if is_skip(err):
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
            if is_skip(err):
                skips.append(err)
                continue
            return rpath, err
        applied += 1
    if applied == 0 and skips:
        return path, PatternErr("; ".join(e.text for e in skips), skip=True, pattern=True)
    return "", None
