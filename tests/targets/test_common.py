"""Regexes the targets share (policygen/targets/_common.py)."""

from __future__ import annotations

import re

import pytest

from policygen.targets._common import alternation, prefix_regex


@pytest.mark.parametrize("text", ["", "a", "team-a"])
def test_empty_lists_match_nothing(text: str) -> None:
    # An empty alternation used to be "^(?:)$", which matches "".
    assert not re.search(alternation([]), text)
    assert not re.search(prefix_regex([]), text)


def test_alternation_matches_any_anchored_regex() -> None:
    regex = alternation(["^team\\-a$", "^team\\-a\\-.*$"])
    assert [bool(re.search(regex, n)) for n in ["team-a", "team-a-x", "team-ab", "xteam-a"]] == [
        True,
        True,
        False,
        False,
    ]


def test_prefix_regex_stops_on_a_path_segment() -> None:
    regex = prefix_regex(["harbor.corp.example/infra"])
    names = [
        "harbor.corp.example/infra",
        "harbor.corp.example/infra/x",
        "harbor.corp.example/infrax",
    ]
    assert [bool(re.search(regex, n)) for n in names] == [True, True, False]
