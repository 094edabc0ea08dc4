"""Kyverno's JMESPath time functions (pkg/engine/jmespath/time.go) with the
clock the evaluator sets from --now; the cases of Kyverno's own
time_test.go (Test_jpTimeBefore, Test_jpTimeAfter) restated."""

from __future__ import annotations

import datetime as dt

import pytest

from policygen.engines.kyverno.api import VariableError
from policygen.engines.kyverno.functions import clock
from policygen.engines.kyverno.variables import query

AT = dt.datetime(2027, 3, 31, 23, 59, 59, tzinfo=dt.UTC)


def test_time_now_utc_reads_the_clock_in_whole_seconds() -> None:
    with clock(AT.replace(microsecond=700_000)):
        assert query("time_now_utc()", {}) == "2027-03-31T23:59:59Z"
    offset = dt.timezone(dt.timedelta(hours=-7))
    with clock(dt.datetime(2027, 4, 1, 1, 2, 3, tzinfo=offset)):
        assert query("time_now_utc()", {}) == "2027-04-01T08:02:03Z"


def test_a_result_that_reads_the_clock_is_kept_per_clock() -> None:
    expression = "!time_after(time_now_utc(), expires)"
    data = {"expires": "2027-03-31T23:59:59Z"}
    seen = []
    for moment in (AT, AT + dt.timedelta(seconds=1), AT):
        with clock(moment):
            seen.append(query(expression, data))
    assert seen == [True, False, True]


EARLY, LATE = "2021-01-02T15:04:05-07:00", "2021-01-02T16:04:05-07:00"


@pytest.mark.parametrize(
    ("a", "b", "before", "after"),
    [
        (EARLY, LATE, True, False),
        (EARLY, EARLY, False, False),  # strict, both ways
        (LATE, EARLY, False, True),
        ("2021-01-02T22:04:05Z", EARLY, False, False),  # the same instant
    ],
)
def test_time_before_and_after_are_strict(a: str, b: str, before: bool, after: bool) -> None:
    data = {"a": a, "b": b}
    assert query("time_before(a, b)", data) is before
    assert query("time_after(a, b)", data) is after


@pytest.mark.parametrize("bad", ["2021-01-02", "2021-01-02 15:04:05Z", "2021-01-02T15:04:05"])
def test_a_time_that_is_not_rfc3339_is_an_error(bad: str) -> None:
    with pytest.raises(VariableError) as caught:
        query("time_after(a, b)", {"a": bad, "b": EARLY})
    assert str(caught.value) == (
        f'time_after: parsing time "{bad}" as "2006-01-02T15:04:05Z07:00": cannot parse'
    )


def test_a_number_is_refused_by_the_signature() -> None:
    with pytest.raises(VariableError):
        query("time_before(`1`, b)", {"b": EARLY})
