"""Kyverno's JMESPath (pkg/engine/jmespath): the custom functions the
policies we meet use, with Go's regular expressions and Kyverno's
arithmetic; anything else is an unknown function, refused."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import jmespath
from jmespath import functions

from policygen.engines.kyverno.api import VariableError
from policygen.engines.kyverno.values import go_duration, parse_quantity
from policygen.engines.kyverno.wildcards import wildcard
from policygen.errors import UnsupportedConstruct

#: The clock Kyverno's time functions read (``time.Now()`` in
#: pkg/engine/jmespath/time.go); None: the real one. The evaluator sets it
#: from ``--now``.
CLOCK: ContextVar[dt.datetime | None] = ContextVar("kyverno_clock", default=None)

#: Functions that read the clock: a result that uses one is kept per second.
CLOCK_FUNCTIONS = re.compile(r"\btime_(?:now|now_utc|since)\s*\(")


def clock_now() -> dt.datetime:
    """The instant the time functions see, in whole seconds, UTC."""
    moment = CLOCK.get() or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).replace(microsecond=0)


#: the set clock's moment and its clock_key(), computed once per moment
_CLOCK_KEY: list[Any] = [None, ""]


def clock_key() -> str:
    """``clock_now().isoformat()``, which memo keys take per element: for a
    set clock computed once per moment (a datetime never changes), for the
    real one every time."""
    moment = CLOCK.get()
    if moment is None:
        return clock_now().isoformat()
    if _CLOCK_KEY[0] is not moment:
        _CLOCK_KEY[:] = [moment, clock_now().isoformat()]
    return str(_CLOCK_KEY[1])


@contextlib.contextmanager
def clock(moment: dt.datetime | None) -> Iterator[None]:
    """Evaluate with the time functions reading ``moment``."""
    token = CLOCK.set(moment)
    try:
        yield
    finally:
        CLOCK.reset(token)


#: Go's time.RFC3339 as time.Parse reads it: the T and seconds required,
#: fractions optional, a Z or a numeric offset.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")


def _rfc3339(function: str, text: str) -> dt.datetime:
    """getTimeArg: the argument parsed as RFC 3339, or the function's error."""
    if _RFC3339.fullmatch(text):
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
    raise VariableError(
        f'{function}: parsing time "{text}" as "2006-01-02T15:04:05Z07:00": cannot parse'
    )


@lru_cache(maxsize=4096)
def _go_regex(pattern: str) -> re.Pattern[str]:
    """Go RE2 syntax as far as Python's engine reads it the same way. Go's
    ``$`` (without the m flag) is the end of the text; Python's also matches
    before a final newline, so it becomes ``\\Z``."""
    if "(?P<" in pattern or "\\z" in pattern or "\\C" in pattern:
        raise UnsupportedConstruct("kyverno", "regex", f"'{pattern}' uses syntax we do not map")
    if re.search(r"\(\?[a-zA-Z]*m", pattern):
        raise UnsupportedConstruct("kyverno", "regex", f"'{pattern}' uses the m flag")
    return re.compile(_end_of_text(pattern))


def _end_of_text(pattern: str) -> str:
    """Each ``$`` outside a character class as ``\\Z``."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            # a "]" first in the class (after an optional "^") is a literal
            if pattern[i : i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i : i + 1] == "]":
                out.append("]")
                i += 1
            continue
        elif ch == "$":
            out.append("\\Z")
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class KyvernoFunctions(functions.Functions):
    """The Kyverno JMESPath functions (pkg/engine/jmespath/functions.go) the
    policies we meet use. A function given null where it wants another type
    gives null rather than failing the rule."""

    def call_function(self, function_name: str, resolved_args: Iterable[Any]) -> Any:
        resolved_args = list(resolved_args)
        try:
            return super().call_function(function_name, resolved_args)
        except jmespath.exceptions.JMESPathTypeError:
            if any(arg is None for arg in resolved_args):
                return None
            raise

    @functions.signature({"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_replace_all(self, s: str, old: str, new: str) -> str:
        return s.replace(old, new)

    @functions.signature(
        {"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]}, {"types": ["number"]}
    )
    def _func_replace(self, s: str, old: str, new: str, n: float) -> str:
        return s.replace(old, new, int(n)) if n >= 0 else s.replace(old, new)

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_trim_prefix(self, s: str, prefix: str) -> str:
        return s.removeprefix(prefix)

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_pattern_match(self, pattern: str, s: str) -> bool:
        return wildcard(pattern, s)

    @functions.signature({"types": ["string"]})
    def _func_base64_decode(self, s: str) -> str:
        import base64

        return base64.b64decode(s).decode()

    @functions.signature({"types": ["string"]})
    def _func_base64_encode(self, s: str) -> str:
        import base64

        return base64.b64encode(s.encode()).decode()

    @functions.signature({"types": ["string"]})
    def _func_parse_json(self, s: str) -> Any:
        return json.loads(s)

    @functions.signature({"types": ["string"]})
    def _func_parse_yaml(self, s: str) -> Any:
        import yaml

        return yaml.safe_load(s)

    @functions.signature({"types": ["object", "array"]}, {"types": ["string", "number"]})
    def _func_lookup(self, collection: Any, key: Any) -> Any:
        if isinstance(collection, dict):
            return collection.get(key)
        if isinstance(key, float | int) and 0 <= int(key) < len(collection):
            return collection[int(key)]
        return None

    @functions.signature({"types": ["object"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_items(self, obj: Mapping[str, Any], key: str, value: str) -> list[Any]:
        return [{key: k, value: v} for k, v in sorted(obj.items())]

    @functions.signature({"types": ["array"]}, {"types": ["array"]})
    def _func_object_from_lists(self, keys: list[Any], values: list[Any]) -> dict[str, Any]:
        return {str(k): (values[i] if i < len(values) else None) for i, k in enumerate(keys)}

    @functions.signature({"types": ["string", "number"]}, {"types": ["string", "number"]})
    def _func_divide(self, a: Any, b: Any) -> Any:
        return _arithmetic("divide", a, b)

    @functions.signature({"types": ["string", "number"]}, {"types": ["string", "number"]})
    def _func_multiply(self, a: Any, b: Any) -> Any:
        return _arithmetic("multiply", a, b)

    @functions.signature({"types": ["string", "number"]}, {"types": ["string", "number"]})
    def _func_add(self, a: Any, b: Any) -> Any:
        return _arithmetic("add", a, b)

    @functions.signature({"types": ["string", "number"]}, {"types": ["string", "number"]})
    def _func_subtract(self, a: Any, b: Any) -> Any:
        return _arithmetic("subtract", a, b)

    @functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_round(self, a: float, digits: float) -> float:
        return float(round(a, int(digits)))

    @functions.signature({"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_time_since(self, layout: str, start: str, end: str) -> str:
        """jpTimeSince: ``end`` empty is now, as in the CLI; the result is Go's
        Duration.String()."""
        if layout:
            raise UnsupportedConstruct("kyverno", "JMESPath time_since()", f"layout {layout!r}")

        def parse(text: str) -> dt.datetime:
            try:
                return dt.datetime.fromisoformat(text)
            except ValueError:
                raise VariableError(f"time_since: cannot parse {text!r} as RFC 3339") from None

        t1 = parse(start)
        t2 = parse(end) if end else clock_now()
        return go_duration((t2 - t1).total_seconds())

    @functions.signature()
    def _func_time_now_utc(self) -> str:
        """jpTimeNowUtc: ``time.Now().UTC().Format(time.RFC3339)``, whole seconds."""
        return clock_now().strftime("%Y-%m-%dT%H:%M:%SZ")

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_time_before(self, a: str, b: str) -> bool:
        """jpTimeBefore: ``t1.Before(t2)``, strictly."""
        return _rfc3339("time_before", a) < _rfc3339("time_before", b)

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_time_after(self, a: str, b: str) -> bool:
        """jpTimeAfter: ``t1.After(t2)``, strictly."""
        return _rfc3339("time_after", a) > _rfc3339("time_after", b)

    @functions.signature({"types": ["string"]}, {"types": ["string", "number"]})
    def _func_regex_match(self, pattern: str, value: str | float) -> bool:
        return _go_regex(pattern).search(str(value)) is not None

    @functions.signature(
        {"types": ["string"]}, {"types": ["string", "number"]}, {"types": ["string", "number"]}
    )
    def _func_regex_replace_all(self, pattern: str, src: Any, repl: Any) -> str:
        # Go's ReplaceAllString expands $1 / ${1}; Python's sub uses \g<1>.
        template = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", str(repl))
        return _go_regex(pattern).sub(template, str(src))

    @functions.signature(
        {"types": ["string"]}, {"types": ["string", "number"]}, {"types": ["string", "number"]}
    )
    def _func_regex_replace_all_literal(self, pattern: str, src: Any, repl: Any) -> str:
        return _go_regex(pattern).sub(lambda _: str(repl), str(src))

    @functions.signature({"types": ["string"]})
    def _func_to_upper(self, s: str) -> str:
        return s.upper()

    @functions.signature({"types": ["string"]})
    def _func_to_lower(self, s: str) -> str:
        return s.lower()

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_split(self, s: str, sep: str) -> list[str]:
        return s.split(sep)

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_trim(self, s: str, cutset: str) -> str:
        return s.strip(cutset)

    @functions.signature({"types": ["string"]}, {"types": ["number"]})
    def _func_truncate(self, s: str, n: float) -> str:
        return s[: int(n)]

    @functions.signature({"types": ["object"]}, {"types": ["object"]})
    def _func_label_match(self, selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in selector.items())


def _arithmetic(op: str, a: Any, b: Any) -> Any:
    """Kyverno's arithmetic (pkg/engine/jmespath/arithmetic.go) on numbers and
    on quantities: a quantity over a quantity is a number, a quantity times
    a number a quantity. Durations and mixed forms are refused."""
    if isinstance(a, int | float) and isinstance(b, int | float):
        if op == "divide":
            if b == 0:
                raise VariableError("divide by zero")
            return a / b
        return {"multiply": a * b, "add": a + b, "subtract": a - b}[op]
    qa = parse_quantity(a) if isinstance(a, str) else None
    qb = parse_quantity(b) if isinstance(b, str) else None
    if op == "divide" and qa is not None and qb is not None:
        if qb == 0:
            raise VariableError("divide by zero")
        return float(qa / qb)
    raise UnsupportedConstruct("kyverno", f"JMESPath {op}()", f"arguments {a!r}, {b!r}")


OPTIONS = jmespath.Options(custom_functions=KyvernoFunctions())
