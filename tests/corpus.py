"""The fixture corpus and its declared expectations, shared by model and engine tests."""

from __future__ import annotations

from policygen.fixtures import Fixture, read_fixtures
from tests.conftest import CORPUS

Case = Fixture


def case_id(case: Fixture) -> str:
    return case.source.rsplit("/", 1)[-1]


def cases() -> list[Fixture]:
    fixtures, _, problems = read_fixtures([str(CORPUS)])
    assert not problems, problems
    return fixtures
