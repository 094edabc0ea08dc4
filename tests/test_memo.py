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


def test_fingerprints_tell_types_apart_and_take_any_yaml_value() -> None:
    import datetime as dt

    keys = [fingerprint(v) for v in (1, True, 1.0, "1", [1], {"1": 1}, None)]
    assert len(set(keys)) == len(keys)
    shared = {"a": "b"}
    # the same object twice encodes as two equal copies do
    assert fingerprint([shared, shared]) == fingerprint([{"a": "b"}, {"a": "b"}])
    # YAML reads an unquoted date as a date, which marshal cannot encode
    assert fingerprint({"d": dt.date(2026, 1, 1)}) != fingerprint({"d": "2026-01-01"})
