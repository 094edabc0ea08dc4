"""YAML reading that remembers where every value came from.

:mod:`policygen.yamlsafe` builds plain Python values (with its limits) and a
map from field path to (line, column), so that a pydantic error at
``spec.tenants[1].registries[0]`` can be reported at its line. Duplicate keys
are an error (PyYAML silently keeps the last one).
"""

from __future__ import annotations

import io
import re
from pathlib import Path as FilePath
from typing import Any

import yaml

from policygen import yamlsafe
from policygen.errors import InputError, Problem
from policygen.yamlsafe import Path, Positions


class LocatedYamlError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_with_positions(text: str | bytes, filename: str) -> tuple[Any, Positions]:
    """Load a single YAML document, returning the value and its positions.
    YAML 1.2 booleans: only true/false, so `action: off` means "off"."""
    positions: Positions = {}
    docs: list[Any] = []
    try:
        for value, line in yamlsafe.parse(text, positions=positions, yaml12=True):
            if docs:
                raise yamlsafe.YamlProblem(line, 1, "expected a single document, found another")
            docs.append(value)
    except yamlsafe.YamlProblem as exc:
        problem = Problem(filename, exc.line, exc.column, exc.field, exc.message)
        raise LocatedYamlError([problem]) from None
    return (docs[0] if docs else None), positions


def position_of(positions: Positions, path: Path) -> tuple[int, int]:
    """The position of the deepest known prefix of ``path``."""
    for end in range(len(path), -1, -1):
        if path[:end] in positions:
            return positions[path[:end]]
    return (0, 0)


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


dotted = _dotted


def load_all_fast(text: str | bytes) -> list[Any]:
    """All documents of a stream, with limits (raises :class:`yamlsafe.YamlProblem`)."""
    return [value for value, _ in yamlsafe.parse(text)]


#: libyaml's emitter (15x faster than PyYAML's pure-Python one on a
#: 1,000-tenant bundle) when this PyYAML has it.
_CDumper: type[yaml.Dumper] | None = getattr(yaml, "CDumper", None)

# The two emitters choose the same styles for printable ASCII, but not for
# every value: an empty key, a key of 128 characters or more, non-ASCII or
# control characters, and a long string with line breaks (folded
# differently) come out differently. Those go through the Python emitter,
# so that the bundle's bytes never depend on which one is installed
# (tests/test_yamlio.py compares both on generated values).
_PLAIN_TEXT = re.compile(r"[ -~]*\Z")
_SHORT_LINES = re.compile(r"[ -~\n]{0,1000}\Z")
_PLAIN_KEY = re.compile(r"[ -~]{1,100}\Z")
_MAX_DEPTH = 50  # indentation stays far from the line width
_STR, _INT, _BOOL, _NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "bool", "null"))
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


class _Unlike(Exception):
    """A value libyaml would not write as PyYAML does, or that PyYAML's
    representer treats specially (a float, a subclass, a shared object)."""


def _text(value: str) -> yaml.ScalarNode:
    if _PLAIN_TEXT.match(value) is None and _SHORT_LINES.match(value) is None:
        raise _Unlike
    return yaml.ScalarNode(_STR, value)


def _nodes(data: Any, seen: set[int], depth: int) -> yaml.Node:
    """PyYAML's Representer (``sort_keys=False``, block style) for plain
    JSON-like data, without its per-node dispatch; raises _Unlike for
    anything else, which then takes PyYAML's whole path."""
    kind = type(data)
    if kind is str:
        return _text(data)
    if kind is dict or kind is list:
        if depth > _MAX_DEPTH or id(data) in seen:
            raise _Unlike  # PyYAML writes a shared object as an anchor and aliases
        seen.add(id(data))
        if kind is list:
            return yaml.SequenceNode(
                _SEQ, [_nodes(v, seen, depth + 1) for v in data], flow_style=False
            )
        pairs = []
        for key, value in data.items():
            if type(key) is str:
                if _PLAIN_KEY.match(key) is None:
                    raise _Unlike
                node: yaml.Node = yaml.ScalarNode(_STR, key)
            else:
                node = _nodes(key, seen, depth + 1)
            pairs.append((node, _nodes(value, seen, depth + 1)))
        return yaml.MappingNode(_MAP, pairs, flow_style=False)
    if kind is bool:
        return yaml.ScalarNode(_BOOL, "true" if data else "false")
    if kind is int:
        return yaml.ScalarNode(_INT, str(data))
    if data is None:
        return yaml.ScalarNode(_NULL, "null")
    raise _Unlike


def emits_alike(data: Any) -> bool:
    """Whether ``dump`` writes ``data`` through libyaml (byte for byte what
    PyYAML's emitter would write)."""
    try:
        _nodes(data, set(), 0)
    except _Unlike:
        return False
    return True


_OPTIONS: dict[str, Any] = {
    "sort_keys": False,
    "default_flow_style": False,
    "allow_unicode": True,
    "width": 4096,
}


def dump(data: Any) -> str:
    """Deterministic block YAML for rendered and generated files."""
    if _CDumper is not None:
        try:
            node = _nodes(data, set(), 0)
        except _Unlike:
            pass
        else:
            out = io.StringIO()
            dumper: Any = _CDumper(out, **_OPTIONS)
            try:
                dumper.open()
                dumper.serialize(node)
                dumper.close()
            finally:
                dumper.dispose()
            return out.getvalue()
    text: str = yaml.dump(data, Dumper=yaml.Dumper, **_OPTIONS)
    return text


def read_objects(path: FilePath) -> list[dict[str, Any]]:
    """Every document of a file the user named as input to a command (a test
    suite, a policy, a fixture): all must be mappings; any problem is an
    InputError naming the file and line."""
    data = read_bounded(path, yamlsafe.MAX_DOCUMENT_BYTES)
    why = yamlsafe.encoding_problem(data[:8192])
    if why:
        raise InputError.at(path, "", why)
    try:
        docs = [(value, line) for value, line in yamlsafe.parse(data)]
    except yamlsafe.YamlProblem as exc:
        raise InputError(
            [Problem(str(path), exc.line, exc.column, exc.field, exc.message)]
        ) from None
    for value, line in docs:
        if value is not None and not isinstance(value, dict):
            raise InputError([Problem(str(path), line, 1, "", "every document must be a mapping")])
    return [value for value, _ in docs if value is not None]


def read_bounded(path: FilePath, limit: int) -> bytes:
    """The bytes of a file the user named, refusing more than ``limit`` (a
    device like /dev/zero has no size to check first)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError.at(path, "", f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError.at(path, "", f"larger than {yamlsafe.size_text(limit)}, not read")
    return data
