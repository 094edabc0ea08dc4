"""What regorus and regopy are measured to get wrong, each fixed before
the engine sees the Rego or refused, so that neither gives a wrong verdict.

Measured against OPA on the same modules (tests/rego/test_faults.py):

- ``not f(x.missing)`` (both): OPA evaluates a call's arguments outside the
  negation, so an undefined argument leaves the body undefined; regorus and
  regopy negate it and succeed. Rewritten: each argument that is a ref is
  bound first (``__pg0 := x.missing; not f(__pg0)``). OPA's safety check
  means any named variable in it is bound already; a wildcard ``_`` is not,
  and is refused.
- a line starting with ``(`` after a term (``y := input.a`` then
  ``(1 + 1) == 2``; both): read as a call of that term, where OPA starts a
  new expression. Rewritten with a ``;`` between them.
- a call whose argument holds the wildcard ``_`` (``startswith(s, xs[_])``;
  regopy) fails to evaluate: refused.
- ``time.parse_rfc3339_ns`` of a timestamp in UTC written with ``Z``
  (``2027-03-31T23:59:59Z``; regopy) is undefined, where it reads the same
  instant written ``+00:00``. Rewritten: the argument's ``Z`` becomes
  ``+00:00`` (in RFC 3339 a ``Z`` can only be that zone).
- ``… with time.now_ns as N`` (regopy) keeps about 100 MiB per query that
  it never frees (the example bundle, one query per workload). Rewritten:
  the module reads the clock from the input (``CLOCK_INPUT``), which
  ``programs.RegopyProgram`` sets to ``N``, or to the real clock when the
  query sets none, as ``time.now_ns()`` would read.
- ``sprintf("%v")`` of some strings keeps their quotes (regopy), which makes
  its own output unreadable: refused when the answer is read
  (``programs.RegopyProgram``).
"""

from __future__ import annotations

import re

from policygen.rego.errors import RegoError
from policygen.rego.lexer import Token, tokenize

_OPEN = {"(": ")", "[": "]", "{": "}"}


#: The input key that carries the clock to regopy (see the module's text).
CLOCK_INPUT = "__policygen_now_ns"

_CLOCK_CALL = ["time", ".", "now_ns", "(", ")"]
_WITH_CLOCK = re.compile(r"\s+with\s+time\.now_ns\s+as\s+(\d+)\s*$")


class EngineFault(RegoError):
    """The engine cannot evaluate this faithfully: a refusal, never a verdict."""


def prepare(engine: str, name: str, source: str) -> str:
    """``source`` (v1) as ``engine`` (regorus or regopy) runs it as OPA
    does, or EngineFault."""
    tokens = tokenize(source)
    if engine == "regopy":
        _refuse_wildcard_arguments(name, tokens)
        source = _utc_as_offset(source, tokens)
        source = _clock_from_input(source, tokenize(source))
        tokens = tokenize(source)
    source = _separate_paren_lines(source, tokens)
    return _hoist_negated_arguments(name, source, tokenize(source))


def _brackets(tokens: list[Token]) -> tuple[dict[int, int], set[int]]:
    """Each opening bracket's closing index, and the openings of comprehensions."""
    close: dict[int, int] = {}
    comprehensions: set[int] = set()
    stack: list[int] = []
    for i, tok in enumerate(tokens):
        if tok.text in _OPEN:
            stack.append(i)
        elif tok.text in (")", "]", "}"):
            if stack:
                close[stack.pop()] = i
        elif tok.text == "|" and stack:
            comprehensions.add(stack[-1])
    return close, comprehensions


def _is_call(tokens: list[Token], i: int) -> bool:
    return tokens[i].text == "(" and i > 0 and tokens[i - 1].kind == "name"


def _refuse_wildcard_arguments(name: str, tokens: list[Token]) -> None:
    _, comprehensions = _brackets(tokens)
    stack: list[int] = []
    for i, tok in enumerate(tokens):
        if tok.text in _OPEN:
            stack.append(i)
        elif tok.text in (")", "]", "}"):
            if stack:
                stack.pop()
        elif tok.text == "_":
            for j in reversed(stack):
                if j in comprehensions:
                    break
                # ``f(x, _)`` starting a line at depth 0 is a function's head.
                head = j == stack[0] and tokens[j - 1].first
                if _is_call(tokens, j) and not head:
                    raise EngineFault(
                        f"{name}:{tok.line}: regopy cannot evaluate a call whose "
                        "argument holds the wildcard _"
                    )


def _separate_paren_lines(source: str, tokens: list[Token]) -> str:
    stack: list[str] = []
    inserts = []
    for i, tok in enumerate(tokens):
        if i > 0 and tok.text == "(" and tok.first and stack and stack[-1] == "{":
            before = tokens[i - 1]
            ends_term = before.kind in ("name", "string", "raw", "number") or before.text in "])}"
            if ends_term and before.text not in ("if", "else", "not", "some", "every"):
                inserts.append(before.end)
        if tok.text in _OPEN:
            stack.append(tok.text)
        elif tok.text in (")", "]", "}") and stack:
            stack.pop()
    for at in reversed(inserts):
        source = source[:at] + ";" + source[at:]
    return source


def _hoist_negated_arguments(name: str, source: str, tokens: list[Token]) -> str:
    close, _ = _brackets(tokens)
    edits: list[tuple[int, int, str]] = []
    counter = 0
    for i, tok in enumerate(tokens):
        if tok.text != "not" or tok.kind != "name":
            continue
        j = i + 1  # the callee: name(.name)*
        while j + 1 < len(tokens) and tokens[j].kind == "name" and tokens[j + 1].text == ".":
            j += 2
        if not (j + 1 < len(tokens) and tokens[j].kind == "name" and tokens[j + 1].text == "("):
            continue
        opening = j + 1
        end = close.get(opening)
        if end is None:
            continue
        bindings = []
        for first, last in _arguments(tokens, opening, end, close):
            if any(t.text in (".", "[") for t in tokens[first : last + 1]):
                if any(t.text == "_" for t in tokens[first : last + 1]):
                    raise EngineFault(
                        f"{name}:{tok.line}: a negated call's argument with the wildcard _ "
                        "(OPA evaluates it outside the negation; this engine does not)"
                    )
                var = f"__pg{counter}"
                counter += 1
                text = source[tokens[first].start : tokens[last].end]
                bindings.append(f"{var} := {text}; ")
                edits.append((tokens[first].start, tokens[last].end, var))
        if bindings:
            if i > 0 and tokens[i - 1].text == "if":
                raise EngineFault(
                    f"{name}:{tok.line}: this engine negates an undefined argument of a call "
                    "(not f(x.y)), and this body has no braces to bind it in first"
                )
            edits.append((tok.start, tok.start, "".join(bindings)))
    out = source
    for start, stop, text in sorted(edits, reverse=True):
        out = out[:start] + text + out[stop:]
    return out


def _arguments(
    tokens: list[Token], opening: int, end: int, close: dict[int, int]
) -> list[tuple[int, int]]:
    """The token ranges of a call's arguments."""
    out = []
    k = opening + 1
    first = k
    while k < end:
        if tokens[k].text in _OPEN:
            k = close.get(k, end)
        elif tokens[k].text == ",":
            if first < k:
                out.append((first, k - 1))
            first = k + 1
        k += 1
    if first < end:
        out.append((first, end - 1))
    return out


def _utc_as_offset(source: str, tokens: list[Token]) -> str:
    close, _ = _brackets(tokens)
    edits: list[tuple[int, int]] = []
    for i in range(len(tokens) - 5):
        names = [t.text for t in tokens[i : i + 5]]
        if names == ["time", ".", "parse_rfc3339_ns", "(", names[4]] and (
            i == 0 or tokens[i - 1].text != "."
        ):
            end = close.get(i + 3)
            if end is not None:
                edits.append((tokens[i + 3].end, tokens[end].start))
    out = source
    for start, stop in sorted(edits, reverse=True):
        argument = out[start:stop]
        out = out[:start] + f'replace({argument}, "Z", "+00:00")' + out[stop:]
    return out


def _clock_from_input(source: str, tokens: list[Token]) -> str:
    edits: list[tuple[int, int]] = []
    for i in range(len(tokens) - len(_CLOCK_CALL) + 1):
        window = tokens[i : i + len(_CLOCK_CALL)]
        if [t.text for t in window] == _CLOCK_CALL and (i == 0 or tokens[i - 1].text != "."):
            edits.append((window[0].start, window[-1].end))
    out = source
    for start, stop in sorted(edits, reverse=True):
        out = out[:start] + f"input.{CLOCK_INPUT}" + out[stop:]
    return out


def clock_of(ref: str) -> tuple[str, int | None]:
    """A query without its ``with time.now_ns as N``, and N (None: none)."""
    found = _WITH_CLOCK.search(ref)
    if found is None:
        return ref, None
    return ref[: found.start()], int(found.group(1))
