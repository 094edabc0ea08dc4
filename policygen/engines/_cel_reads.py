"""Which parts of its activation a set of CEL expressions can read.

The same lexical pass as ``_rego_reads``, for the roots an admission
policy's CEL sees (``object``, ``request``, …): each root ref contributes
its longest static prefix (``object.spec.containers``; ``has()`` tests and
``.?`` optional selections count as reads of their path), and anything the
pass cannot follow (a bare root, ``object[k]``, a raw string literal whose
end it might misjudge) means "the whole activation".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from policygen.engines._projection import Path, minimal, static_prefix

#: The admission variables, and Kyverno's ``exceptions`` (the allowed images
#: and values of the PolicyExceptions that match the request).
ROOTS = frozenset(
    {"object", "oldObject", "request", "namespaceObject", "params", "authorizer", "exceptions"}
)

_TOKEN = re.compile(
    r"""
      (?P<comment>//[^\n]*)
    | (?P<raw>[rR][bB]?["']|[bB][rR]["'])     # raw literals: escapes differ, so give up
    | (?P<string>'''.*?'''|\"\"\".*?\"\"\"|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
# A field, optional or not (a name before "(" is a method call, not a
# field), or a double-quoted index; a single-quoted index ends the prefix,
# which only means reading more.
_SEGMENT = re.compile(
    r"""\.\??(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_]|\s*\()|\[\??\s*"(?P<quoted>(?:[^"\\]|\\.)*)"\s*\]"""
)


def activation_paths(expressions: Iterable[str]) -> frozenset[Path] | None:
    """The static prefixes, root first, of every root ref in
    ``expressions``; None when some ref may read a root whole."""
    paths: set[Path] = set()
    for expression in expressions:
        for token in _TOKEN.finditer(expression):
            if token.lastgroup == "raw":
                return None
            if token.lastgroup != "ident" or token.group() not in ROOTS:
                continue
            if token.start() > 0 and expression[token.start() - 1] == ".":
                continue  # a field of that name, as in c.object
            path = static_prefix(expression, token.end(), _SEGMENT)
            if not path:
                return None
            paths.add((token.group(), *path))
    return minimal(paths)
