"""Which parts of ``input`` a set of Rego modules can read.

A template evaluated on the cut-down input gives the same answer as on the
whole one, so the Gatekeeper evaluator sends less across to the engine and
can reuse the answer for every review whose readable parts are equal (two
Pods that differ only in name, for a template that never reads the name).

The analysis is lexical and errs towards reading more: every ``input`` ref
contributes its longest static prefix (``input.review.object.spec``), and
anything it cannot follow (a bare ``input``, ``input[x]``, whitespace inside
a ref, string interpolation) means "the whole input".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from policygen.engines._projection import Path, minimal, static_prefix

# One alternative per lexical element; only identifiers and the refs that
# follow ``input`` matter, the rest is skipped whole so that ``input``
# inside a string or a comment is not taken for a ref.
_TOKEN = re.compile(
    r"""
      (?P<comment>\#[^\n]*)
    | (?P<template>\$["`])                    # OPA 1.x string interpolation
    | (?P<string>"(?:[^"\\\n]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_SEGMENT = re.compile(
    r"""\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)|\[\s*"(?P<quoted>(?:[^"\\]|\\.)*)"\s*\]"""
)


def input_paths(sources: Iterable[str]) -> frozenset[Path] | None:
    """The static prefixes of every ``input`` ref in ``sources``; None when
    some ref may read the whole input."""
    paths: set[Path] = set()
    for source in sources:
        for token in _TOKEN.finditer(source):
            if token.lastgroup == "template":
                return None
            if token.lastgroup != "ident" or token.group() != "input":
                continue
            if _after_dot(source, token.start()):
                continue  # a field named input, as in x.input
            path = static_prefix(source, token.end(), _SEGMENT)
            if not path:
                return None
            paths.add(path)
    return minimal(paths)


def _after_dot(source: str, start: int) -> bool:
    return start > 0 and source[start - 1] == "."
