"""The scanner cross-walk: every row names a policygen rule and a source."""

from __future__ import annotations

from collections import Counter

from policygen.crosswalk import CROSSWALK, rows
from policygen.rules import NAMES as RULES


def test_every_row_is_about_a_policygen_rule_and_cites_its_source() -> None:
    for m in CROSSWALK:
        assert m.rule in RULES
        # "owner/repo path": where the identifier was read
        owner_repo, _, path = m.source.partition(" ")
        assert owner_repo.count("/") == 1 and path, m
        assert m.why.endswith("."), m


def test_each_check_appears_once() -> None:
    assert [k for k, n in Counter((m.scanner, m.check) for m in CROSSWALK).items() if n > 1] == []


def test_every_rule_is_mapped_to_at_least_two_scanners() -> None:
    scanners = {rule: {m.scanner for m in CROSSWALK if m.rule == rule} for rule in RULES}
    assert all(len(s) >= 2 for s in scanners.values()), scanners


def test_rows_keep_the_table_order() -> None:
    assert rows()[0][:3] == ["digest", "Checkov", "CKV_K8S_43"]
    assert len(rows()) == len(CROSSWALK)
