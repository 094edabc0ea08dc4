"""``matches`` with a constant pattern, answered once per subject.

cel-cpp compiles the RE2 pattern of ``s.matches("...")`` on every call (the
binding has no regex precompilation), so an image-reference check costs
~150 µs per container however often the same image comes by. The rewrite
here turns ``recv.matches("lit")`` into

    cel.bind(S, recv, type(S) == string ? MATCH(S, "lit") : S.matches("lit"))

where ``MATCH`` is a Python function that asks cel-cpp's own ``matches``
(in a small environment of its own) and keeps the answer per (subject,
pattern): the same RE2, the same pattern, so the same boolean. The receiver
is evaluated once, as before; a receiver that errs gives its error (bind and
the conditional pass it through) and one that is not a string reaches the
original ``matches``, so errors read as they did. Only rewritten where the
pattern is known to compile (``Cel`` checks it), so the function never errs.

The rewrite is lexical and conservative: the receiver must be a plain chain
of names (``c.image``, ``request.namespace``) and the argument one quoted
literal; anything else is left as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from policygen.engines._cel_reads import _TOKEN

#: The bound subject's name and the function's: names no policy uses (the
#: rewrite is skipped for an expression that mentions either).
SUBJECT = "__policygen_subject"
FUNCTION = "__policygen_matches"

_CHAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
#: What may stand right before a receiver chain: the start, a space, an
#: opening bracket, a separator or an operator (not ".", ")", "]", a quote or
#: a name character, which would make the chain part of a larger operand).
_BEFORE = frozenset(" \t\r\n([{,!&|:=<>+-*/%")


def rewrite(expression: str, valid: Callable[[str], bool]) -> str | None:
    """``expression`` with each rewritable ``recv.matches("lit")`` rewritten,
    or None when there is none. ``valid(lit)`` tells whether the literal
    (as written) is a pattern that compiles."""
    if SUBJECT in expression or FUNCTION in expression:
        return None
    tokens = [(t.lastgroup, t.start(), t.end()) for t in _TOKEN.finditer(expression)]
    out: list[str] = []
    done = 0  # how far ``expression`` is copied into ``out``
    changed = False
    for i, (group, start, end) in enumerate(tokens):
        if group != "ident" or expression[start:end] != "matches" or i + 3 >= len(tokens):
            continue
        if start == 0 or expression[start - 1] != "." or expression[end : end + 1] != "(":
            continue
        lit_group, lit_start, lit_end = tokens[i + 2]
        if lit_group != "string" or expression[lit_end : lit_end + 1] != ")":
            continue
        literal = expression[lit_start:lit_end]
        receiver_start = _receiver_start(expression, start - 1)
        if receiver_start is None or receiver_start < done or not valid(literal):
            continue
        receiver = expression[receiver_start : start - 1]
        out.append(expression[done:receiver_start])
        out.append(
            f"cel.bind({SUBJECT}, {receiver}, type({SUBJECT}) == string"
            f" ? {FUNCTION}({SUBJECT}, {literal}) : {SUBJECT}.matches({literal}))"
        )
        done = lit_end + 1
        changed = True
    if not changed:
        return None
    out.append(expression[done:])
    return "".join(out)


def _receiver_start(expression: str, dot: int) -> int | None:
    """Where the name chain ending at ``dot`` (the "." of ``.matches``)
    begins, or None when what precedes is not a plain chain of names."""
    start = dot
    while start > 0 and (expression[start - 1].isalnum() or expression[start - 1] in "._"):
        start -= 1
    chain = expression[start:dot]
    if not _CHAIN.match(chain) or chain[0].isdigit():
        return None
    if start > 0:
        before = expression[start - 1]
        if before not in _BEFORE and before != "?":
            return None
        if before == "?" and start > 1 and expression[start - 2] == ".":
            return None  # an optional field (x.?y.z): not a chain of its own
    return start


class Matcher:
    """``MATCH``: cel-cpp's ``matches``, asked once per (subject, pattern)."""

    def __init__(self, cel: Any) -> None:
        self._cel = cel
        self._env = cel.NewEnv(
            config=cel.NewEnvConfigFromYaml(
                "name: matches\nvariables:\n"
                "  - {name: s, type_name: string}\n  - {name: r, type_name: string}\n"
            )
        )
        self._program = self._env.compile("s.matches(r)")
        self._answers: dict[tuple[str, str], bool] = {}

    def __call__(self, subject: str, pattern: str) -> bool:
        key = (subject, pattern)
        answer = self._answers.get(key)
        if answer is None:
            value = self._program.eval(
                self._env.Activation({"s": subject, "r": pattern}, arena=self._cel.Arena())
            )
            if value.type() != self._cel.Type.BOOL:  # not expected: patterns are checked
                raise RuntimeError(str(value.value()))
            answer = bool(value.value())
            if len(self._answers) >= 50_000:
                self._answers.clear()  # bounded: a scan's subjects repeat, a few do not
            self._answers[key] = answer
        return answer
