"""Overlaps among many tenants' namespace globs and registry entries, found
without comparing every pair.

Comparing each tenant with every earlier one is quadratic: a thousand
tenants with two globs each is two million glob intersections, and
``validate`` took minutes. Both relations have a cheap necessary condition
that an index can answer, so only the few candidate pairs it returns are
checked exactly:

- two globs can only meet if the literal text before the first wildcard of
  one is a prefix of the other's (every character up to there must agree);
- two registry entries overlap only when one equals the other or is a
  path-segment prefix of it (``harbor.x/team`` and ``harbor.x/team/app``).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator, Sequence

from policygen import globs

Pair = tuple[int, int, int, int]  # (group, index, earlier group, index in it)
_HIGHEST = "\U0010ffff"


def _head(pattern: str) -> str:
    """The literal text before the first wildcard."""
    cut = [i for i in (pattern.find("*"), pattern.find("?")) if i >= 0]
    return pattern[: min(cut)] if cut else pattern


def glob_pairs(groups: Sequence[Sequence[str]]) -> Iterator[Pair]:
    """Every (g, i, h, j) with h < g where glob ``groups[g][i]`` and glob
    ``groups[h][j]`` match some string in common, g ascending, then i, h, j."""
    by_head: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for g, patterns in enumerate(groups):
        for i, pattern in enumerate(patterns):
            by_head[_head(pattern)].append((g, i))
    heads = sorted(by_head)
    for g, patterns in enumerate(groups):
        for i, pattern in enumerate(patterns):
            head = _head(pattern)
            candidates: set[tuple[int, int]] = set()
            # heads that start with this one...
            start = bisect.bisect_left(heads, head)
            end = bisect.bisect_right(heads, head + _HIGHEST)
            for other in heads[start:end]:
                candidates.update(by_head[other])
            # ...and heads this one starts with
            for k in range(len(head)):
                candidates.update(by_head.get(head[:k], ()))
            for h, j in sorted(candidates):
                if h < g and globs.intersect(groups[h][j], pattern):
                    yield g, i, h, j


def entry_pairs(groups: Sequence[Sequence[str]]) -> Iterator[Pair]:
    """Every (g, i, h, j) with h < g where registry entry ``groups[g][i]``
    equals ``groups[h][j]`` or one is a path-segment prefix of the other."""
    by_entry: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for g, entries in enumerate(groups):
        for i, entry in enumerate(entries):
            by_entry[entry].append((g, i))
    ordered = sorted(by_entry)
    for g, entries in enumerate(groups):
        for i, entry in enumerate(entries):
            candidates: set[tuple[int, int]] = set()
            parts = entry.split("/")
            for k in range(1, len(parts) + 1):  # the entry and every entry above it
                candidates.update(by_entry.get("/".join(parts[:k]), ()))
            below = entry + "/"
            start = bisect.bisect_left(ordered, below)
            end = bisect.bisect_right(ordered, below + _HIGHEST)
            for other in ordered[start:end]:
                candidates.update(by_entry[other])
            for h, j in sorted(candidates):
                if h < g:
                    yield g, i, h, j
