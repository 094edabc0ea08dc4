"""The fast reliability checks, in CI: each is one test, so a broken one names
itself (``python -m tests.reliability`` runs them with a count)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.checks import FAST, Check, Lab


@pytest.mark.parametrize("check", FAST, ids=[c.__name__ for c in FAST])
def test_holds(check: Check, tmp_path: Path) -> None:
    check(Lab(tmp_path))


def test_a_childs_peak_memory_is_its_own_not_its_parents(tmp_path: Path) -> None:
    # Linux carries a process's memory high-water mark across exec, so a
    # child forked from this (large) test process would report this
    # process's size as its own, and the memory checks would fail or pass
    # by how much pytest happens to hold.
    ballast = bytearray(768 * 1024 * 1024)
    ballast[::4096] = b"\1" * len(ballast[::4096])
    result = Lab(tmp_path).run("--help")
    assert result.code == 0
    assert 5 < result.max_rss_mib < 256
    del ballast
