"""Glob patterns (``*`` any run of characters, ``?`` one character): the one
matcher for namespaces and images, plus what each target can express."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache


@lru_cache(maxsize=4096)
def to_regex(pattern: str) -> str:
    """An anchored, RE2-compatible regex for ``pattern``; the form engines receive."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "^" + "".join(out) + "$"


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(to_regex(pattern), re.DOTALL)


def match(pattern: str, value: str) -> bool:
    # fullmatch: Python's "$" would also match before a final newline.
    return _compiled(pattern).fullmatch(value) is not None


def match_any(patterns: list[str], value: str) -> bool:
    return any(match(p, value) for p in patterns)


def gatekeeper_expressible(pattern: str) -> bool:
    """Gatekeeper's ``pkg/wildcard``: a literal, ``x*``, ``*x`` or ``*x*``; no ``?``."""
    core = pattern[1:] if pattern.startswith("*") else pattern
    core = core[:-1] if core.endswith("*") else core
    return "*" not in core and "?" not in pattern


@dataclass(frozen=True)
class Syntax:
    """Which namespace globs a place in a policy can hold, as a target
    declares it: ``expressible`` decides, ``hint`` tells the user what to
    write instead."""

    name: str
    expressible: Callable[[str], bool]
    hint: str = ""


#: Every glob: the policy holds it as an RE2 regex (``to_regex``), read by
#: CEL's ``matches()``, Rego's ``regex.match`` or Kyverno's
#: ``regex_match``, or Kyverno's own wildcard matcher (``*`` and ``?``
#: anywhere, ext/wildcard).
ANY = Syntax("any", lambda pattern: True)

#: Gatekeeper's match ``namespaces``/``excludedNamespaces`` (pkg/wildcard;
#: the Constraint and Assign CRDs' item pattern ``^\*?[-:a-z0-9]*\*?$``).
PREFIX_SUFFIX = Syntax("prefix-suffix", gatekeeper_expressible, "use '*' only as prefix or suffix")


def intersect(a: str, b: str) -> bool:
    """Whether some string matches both globs (used to find a namespace two
    tenants would both claim)."""

    @cache
    def go(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*":
            if go(i + 1, j):
                return True
            return j < len(b) and go(i, j + 1)
        if j < len(b) and b[j] == "*":
            if go(i, j + 1):
                return True
            return i < len(a) and go(i + 1, j)
        if i == len(a) or j == len(b):
            return False
        return (a[i] == b[j] or "?" in (a[i], b[j])) and go(i + 1, j + 1)

    return go(0, 0)
