"""A Rego tokenizer (OPA's lexical grammar: ``ast/internal/scanner``):
comments, strings with escapes, raw strings, numbers, names and operators,
each with its offset and whether it starts a line. The v0 reader and the
regopy fault checks work on tokens, so text inside strings and comments is
never mistaken for code."""

from __future__ import annotations

import re
from dataclasses import dataclass

from policygen.rego.errors import RegoError

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|==|!=|<=|>=|[{}\[\]().,;:|&+\-*/%=<>!])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string | raw | number | name | op
    text: str
    start: int
    end: int
    line: int
    #: The first token on its line.
    first: bool


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source``, comments and whitespace dropped; RegoError
    on a character that starts no token (an unterminated string, say)."""
    out: list[Token] = []
    pos, line, fresh = 0, 1, True
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            raise RegoError(f"line {line}: Rego cannot start a token with {source[pos]!r}")
        kind = str(m.lastgroup)
        text = m.group()
        if kind == "space":
            if "\n" in text:
                fresh = True
        elif kind != "comment":
            out.append(Token(kind, text, pos, pos + len(text), line, fresh))
            fresh = False
        line += text.count("\n")
        pos += len(text)
    return out
