"""The overlap index finds exactly the pairs that comparing every pair finds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from policygen import globs
from policygen.overlap import entry_pairs, glob_pairs

GLOB = st.text(alphabet="ab-*?", min_size=1, max_size=6)
SEGMENT = st.sampled_from(["h.x", "h.x:5000", "a", "b", "a-b"])
ENTRY = st.lists(SEGMENT, min_size=1, max_size=4).map("/".join)


def brute(groups: list[list[str]], meets: object) -> list[tuple[int, int, int, int]]:
    return [
        (g, i, h, j)
        for g in range(len(groups))
        for i in range(len(groups[g]))
        for h in range(g)
        for j in range(len(groups[h]))
        if meets(groups[g][i], groups[h][j])  # type: ignore[operator]
    ]


def covers(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(GLOB, max_size=3), max_size=5))
def test_glob_pairs_are_all_intersecting_pairs(groups: list[list[str]]) -> None:
    assert list(glob_pairs(groups)) == brute(groups, lambda a, b: globs.intersect(b, a))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(ENTRY, max_size=3), max_size=5))
def test_entry_pairs_are_all_covering_pairs(groups: list[list[str]]) -> None:
    assert list(entry_pairs(groups)) == brute(groups, covers)


def test_a_prefix_glob_meets_what_its_head_starts() -> None:
    # team-ab shares the head "team-a" with team-a-* but no name: no pair
    groups = [["team-a", "team-a-*"], ["team-ab"], ["*-prod"], ["team-a-prod"]]
    assert list(glob_pairs(groups)) == [(2, 0, 0, 1), (3, 0, 0, 1), (3, 0, 2, 0)]


def test_entries_meet_on_segment_boundaries_only() -> None:
    groups = [["harbor.x/team"], ["harbor.x/team-b", "harbor.x/team/app"], ["harbor.x"]]
    assert list(entry_pairs(groups)) == [(1, 1, 0, 0), (2, 0, 0, 0), (2, 0, 1, 0), (2, 0, 1, 1)]
