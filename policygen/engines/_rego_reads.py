"""Which parts of ``input`` a set of Rego modules can read, and the input cut
down to those parts.

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
from collections.abc import Iterable, Mapping
from typing import Any

#: A path under ``input``, as its keys.
Path = tuple[str, ...]

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
_SEGMENT = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*"((?:[^"\\]|\\.)*)"\s*\]""")
_ESCAPE = re.compile(r"\\(.)")


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
            path = _static_prefix(source, token.end())
            if not path:
                return None
            paths.add(path)
    return frozenset(_minimal(paths))


def _after_dot(source: str, start: int) -> bool:
    return start > 0 and source[start - 1] == "."


def _static_prefix(source: str, pos: int) -> Path:
    keys: list[str] = []
    while segment := _SEGMENT.match(source, pos):
        name, quoted = segment.groups()
        if name is not None:
            keys.append(name)
        elif "\\" in quoted:
            # An escaped key: decoding JSON escapes by hand is not worth the
            # risk of decoding one wrongly; stop here and read more.
            break
        else:
            keys.append(quoted)
        pos = segment.end()
    return tuple(keys)


def _minimal(paths: set[Path]) -> set[Path]:
    """Drop paths under another: reading a document reads all of it."""
    return {p for p in paths if not any(p[:n] in paths for n in range(1, len(p)))}


def project(document: Any, paths: frozenset[Path] | None) -> Any:
    """``document`` with only what ``paths`` reach; values along the way that
    are not objects are kept whole, since a ref into them reads them."""
    if paths is None:
        return document
    return _project(document, _trie(paths))


_Trie = dict[str, "_Trie | None"]  # None: the whole value below this key


def _trie(paths: frozenset[Path]) -> _Trie:
    root: _Trie = {}
    for path in paths:
        node = root
        for key in path[:-1]:
            # Paths are minimal, so no key on the way is already a leaf.
            child = node.get(key) or {}
            node[key] = child
            node = child
        node[path[-1]] = None
    return root


def _project(value: Any, trie: _Trie) -> Any:
    if not isinstance(value, Mapping):
        return value
    out = {}
    for key, sub in trie.items():
        if key in value:
            out[key] = value[key] if sub is None else _project(value[key], sub)
    return out
