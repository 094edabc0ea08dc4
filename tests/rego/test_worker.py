"""The worker's wire format: marshal for JSON-like data, pickle for the rest."""

from __future__ import annotations

import datetime as dt

from policygen.rego.errors import RegoError
from policygen.rego.worker import decode, encode, frame, unframe


def test_messages_round_trip_whatever_they_hold() -> None:
    plain = ("query", 1, "data.t.v", [{"a": [1, 2.5, None, True]}], {"parameters": {}})
    assert encode(plain)[:1] == b"M"
    assert decode(encode(plain)) == plain
    dated = ("ok", [{"when": dt.date(2026, 1, 1)}])
    assert decode(encode(dated)) == dated
    failed = decode(encode(("ok", [RegoError("division by zero"), [{"msg": "x"}]])))
    assert isinstance(failed[1][0], RegoError) and str(failed[1][0]) == "division by zero"


def test_unframe_takes_whole_messages_and_keeps_the_rest() -> None:
    stream = frame(("ok", 1)) + frame(("ok", [2]))
    third = frame(("ok", "three"))
    buffer = bytearray(stream + third[:5])
    assert unframe(buffer) == [("ok", 1), ("ok", [2])]
    assert buffer == bytearray(third[:5])
    buffer += third[5:]
    assert unframe(buffer) == [("ok", "three")]
    assert buffer == bytearray()
