"""A document cut down to the paths a policy can read."""

from __future__ import annotations

from policygen.engines._projection import minimal, project


def test_projection_keeps_only_what_paths_reach() -> None:
    doc = {
        "review": {"name": "a", "object": {"spec": {"x": 1}, "metadata": {"name": "a"}}},
        "parameters": {"p": 1},
    }
    paths = frozenset({("review", "object", "spec"), ("review", "missing", "deep")})
    assert project(doc, paths) == {"review": {"object": {"spec": {"x": 1}}}}
    assert project(doc, None) is doc


def test_projection_keeps_a_non_object_on_the_way_whole() -> None:
    doc = {"review": {"object": ["not", "an", "object"]}}
    assert project(doc, frozenset({("review", "object", "spec")})) == doc


def test_minimal_drops_paths_under_another() -> None:
    assert minimal([("a",), ("a", "b"), ("c", "d")]) == {("a",), ("c", "d")}
