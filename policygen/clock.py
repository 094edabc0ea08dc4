"""The one clock every evaluator and the model read, and when an exemption lapses.

An exemption's ``expires`` is a date, inclusive: it holds through the last
second of that day in UTC and lapses after ``<expires>T23:59:59Z``, the
instant the rendered policies carry. That instant is compared as Kyverno
compares a PolicyException's ``expiresAt`` (kyverno/api
``PolicyException.IsExpired``: ``time.Now().After(expiresAt)``), so at the
instant itself the exemption still holds.

The clock ticks in whole seconds: Kyverno's ``time_now_utc()`` formats the
time as RFC 3339 without fractions (pkg/engine/jmespath/time.go), and on
whole seconds every engine's comparison gives the same answer.
"""

from __future__ import annotations

import datetime as dt

from policygen.errors import PolicygenError

#: The last instant of an ``expires`` day at which an exemption still holds.
LAST_SECOND = dt.time(23, 59, 59)


def instant(value: dt.date) -> dt.datetime:
    """An aware UTC instant in whole seconds; a date is its first second."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).replace(microsecond=0)
    return dt.datetime.combine(value, dt.time(), dt.UTC)


def now() -> dt.datetime:
    """The current instant, on the same clock."""
    return instant(dt.datetime.now(dt.UTC))


def expires_at(expires: dt.date) -> dt.datetime:
    """The instant after which an exemption ``expires``-ing that day lapses."""
    return dt.datetime.combine(expires, LAST_SECOND, dt.UTC)


def rfc3339(moment: dt.datetime) -> str:
    """As the policies write it: ``2027-03-31T23:59:59Z``."""
    return instant(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def live(expires: dt.date, at: dt.date) -> bool:
    """Whether an exemption ``expires``-ing that day still holds at ``at``."""
    return instant(at) <= expires_at(expires)


def parse(value: str | None) -> dt.datetime:
    """``--now``: a date (its first second, UTC) or an RFC 3339 timestamp in
    whole seconds; None is the current instant."""
    if value is None:
        return now()
    text = value.strip()
    try:
        if "T" not in text.upper():
            return instant(dt.date.fromisoformat(text))
        moment = dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise PolicygenError(
            f"--now: '{value}' is not a date (YYYY-MM-DD) or an RFC 3339 timestamp "
            "(YYYY-MM-DDTHH:MM:SSZ)"
        ) from None
    if moment.tzinfo is None:
        raise PolicygenError(f"--now: '{value}' has no time zone; end it with Z or an offset")
    if moment.microsecond:
        raise PolicygenError(
            f"--now: '{value}' has fractions of a second; the engines' clocks tick in whole "
            "seconds (Kyverno's time_now_utc())"
        )
    return instant(moment)
