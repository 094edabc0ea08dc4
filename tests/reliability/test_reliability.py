"""The fast reliability checks, in CI: each is one test, so a broken one names
itself (``python -m tests.reliability`` runs them with a count)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.checks import FAST, Check, Lab


@pytest.mark.parametrize("check", FAST, ids=[c.__name__ for c in FAST])
def test_holds(check: Check, tmp_path: Path) -> None:
    check(Lab(tmp_path))
