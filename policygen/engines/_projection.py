"""A document cut down to the paths an expression language can read.

An evaluation on the cut-down document gives the same answer as on the
whole one, so an evaluator sends less across to its engine and can reuse an
answer for every document whose readable parts are equal (two Pods that
differ only in name, for a policy that never reads the name). The lexical
passes that find the paths are per language: ``_rego_reads``, ``_cel_reads``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: A path into a document, as its keys.
Path = tuple[str, ...]


def minimal(paths: Iterable[Path]) -> frozenset[Path]:
    """Drop paths under another: reading a document reads all of it."""
    found = set(paths)
    return frozenset(p for p in found if not any(p[:n] in found for n in range(1, len(p))))


def static_prefix(source: str, pos: int, segment: re.Pattern[str]) -> Path:
    """The keys of the selectors that follow ``pos``, up to the first that is
    not static. ``segment`` matches one selector, with the key in group
    ``name`` (a field) or ``quoted`` (a string index)."""
    keys: list[str] = []
    while found := segment.match(source, pos):
        name, quoted = found.group("name"), found.group("quoted")
        if name is not None:
            keys.append(name)
        elif "\\" in quoted:
            # An escaped key: decoding escapes by hand is not worth the risk
            # of decoding one wrongly; stop here and read more.
            break
        else:
            keys.append(quoted)
        pos = found.end()
    return tuple(keys)


def project(document: Any, paths: frozenset[Path] | None) -> Any:
    """``document`` with only what ``paths`` reach; values along the way that
    are not objects are kept whole, since a ref into them reads them."""
    if paths is None:
        return document
    return _project(document, _trie(paths))


_Trie = dict[str, "_Trie | None"]  # None: the whole value below this key


@functools.lru_cache(maxsize=256)
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
