"""Kyverno's anchors (pkg/engine/anchor): ``(k)`` conditional, ``=(k)``
equality, ``X(k)`` negation, ``^(k)`` existence, ``<(k)`` global, ``+(k)``
add (mutate only); the errors that tell a skip from a failure, and the
anchor map that tracks which anchored keys a resource has."""

from __future__ import annotations

import re
from typing import Any

ANCHOR = re.compile(r"^([+<=X^])?\((.+)\)$")


def anchor(key: str) -> tuple[str, str]:
    """(modifier, key): modifier is "", "(", "=", "X", "^", "<" or "+"."""
    m = ANCHOR.match(key)
    if not m:
        return "", key
    return (m.group(1) or "("), m.group(2)


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


def anchor_err(kind: str, msg: str) -> PatternErr:
    head = {"conditional": CONDITIONAL_MSG, "global": GLOBAL_MSG, "negation": NEGATION_MSG}[kind]
    return PatternErr(f"{head}: {msg}", kind)


def is_skip(err: PatternErr) -> bool:
    return (
        err.kind in ("conditional", "global")
        or CONDITIONAL_MSG in err.text
        or GLOBAL_MSG in err.text
    )


def is_fail(err: PatternErr) -> bool:
    return err.kind == "negation" or NEGATION_MSG in err.text


class AnchorMap:
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
