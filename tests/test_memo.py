"""The bounded memo: least recently used entries are evicted first."""

from __future__ import annotations

from policygen.memo import MISSING, Memo, fingerprint


def test_lru_eviction_and_fingerprints() -> None:
    memo: Memo[str, int] = Memo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1  # a is now the most recent
    memo.put("c", 3)
    assert memo.get("b") is MISSING
    assert (memo.get("a"), memo.get("c"), len(memo)) == (1, 3, 2)
    assert fingerprint([1, {"x": "y"}]) == fingerprint([1, {"x": "y"}])
    assert fingerprint([1]) != fingerprint([2])
    assert len(fingerprint("x" * 10_000)) == 16
