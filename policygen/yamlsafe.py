"""YAML reading with limits, one document at a time.

Every YAML file policygen reads (config, manifests, fixtures, suites, a
bundle) is built here, from the parser's events into plain Python values,
without PyYAML's node graph (a node and two marks per scalar cost about 50
times the text). Building from events lets us check, as we go:

- alias expansion, with go-yaml's own rule (``gopkg.in/yaml.v2`` decode.go,
  ``allowedAliasRatio``): the API server decodes YAML with it, so a document it
  would refuse as "excessive aliasing" is refused here too, before an engine
  expands the aliases and runs out of memory;
- nesting depth: the evaluators walk objects recursively, so we stop far
  below go-yaml's 10,000 levels, and far above any real object;
- duplicate keys, which the API server's decoder refuses ("already set in
  map") and which PyYAML silently resolves to the last one;
- tags: only the JSON-compatible ones, so a ``!!binary`` or ``!!set`` never
  reaches an engine, and ``!!int abc`` is a located error, not a crash.

:func:`split` cuts a byte stream into documents on ``---`` and ``...`` lines
before parsing, so a bad byte or a syntax error costs only its document, and
a document larger than the limit is skipped without being held in memory.
YAML forbids those markers at the start of a line inside any content, so the
cut never falls inside a document.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import yaml

from policygen import kubeyaml

try:  # libyaml's parser is several times faster
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

#: Deeper than any Kubernetes object, well inside Python's recursion limit for
#: every evaluator (go-yaml allows 10,000; our engines recurse per level).
MAX_DEPTH = 100
#: A document (a ``List`` from ``kubectl get -o yaml`` can be large; one object
#: cannot exceed the API server's 3 MiB request body).
MAX_DOCUMENT_BYTES = 64 * 2**20
#: One file or stream of manifests.
MAX_STREAM_BYTES = 256 * 2**20

Path = tuple[str | int, ...]
Positions = dict[Path, tuple[int, int]]

_STR = "tag:yaml.org,2002:str"
_BOOL = "tag:yaml.org,2002:bool"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"  # PyYAML's tag for a bare '=': a string everywhere else
_SCALAR_TAGS = {
    _STR: "a string",
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    _BOOL: "a boolean",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a valid date or timestamp",
}
_MAP_TAGS = (None, "!", "tag:yaml.org,2002:map")
_SEQ_TAGS = (None, "!", "tag:yaml.org,2002:seq")


class YamlProblem(Exception):
    """A problem at a 1-based line and column (0 when unknown)."""

    def __init__(self, line: int, column: int, message: str, field: str = "") -> None:
        super().__init__(f"{line}:{column}: {field + ': ' if field else ''}{message}")
        self.line = line
        self.column = column
        self.message = message
        self.field = field

    @property
    def text(self) -> str:
        """The message with its field, for messages that have no field slot."""
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True)
class Chunk:
    """The bytes of one document, or of comments between documents."""

    data: bytes
    first_line: int  # 1-based line of data[0] in the stream
    size: int  # bytes the document had in the stream
    too_big: bool = False  # data is only the start; the document was skipped


def allowed_alias_ratio(decodes: int) -> float:
    """go-yaml's ``allowedAliasRatio``: 99% of decodes may come from alias
    expansion up to 400,000 decodes, falling linearly to 10% at 4,000,000."""
    low, high = 400_000, 4_000_000
    if decodes <= low:
        return 0.99
    if decodes >= high:
        return 0.10
    return 0.99 - 0.89 * ((decodes - low) / (high - low))


def _excessive(aliased: int, decodes: int) -> bool:
    return aliased > 100 and decodes > 1000 and aliased / decodes > allowed_alias_ratio(decodes)


class _Frame:
    __slots__ = ("anchor", "decodes", "explicit", "key", "key_mark", "merges", "path", "value")

    def __init__(self, value: Any, path: Path, anchor: str | None, decodes: int) -> None:
        self.value = value
        self.path = path
        self.key: Any = _NO_KEY
        self.key_mark: yaml.Mark | None = None
        self.anchor = anchor
        self.decodes = decodes  # decode count when this collection started
        self.merges: list[dict[Any, Any]] = []
        self.explicit: set[Any] = set()


_NO_KEY = object()


class _Builder:
    """Values from one chunk's events."""

    def __init__(
        self,
        loader: yaml.SafeLoader,
        line_offset: int,
        positions: Positions | None,
        yaml12: bool,
        kube: bool,
    ) -> None:
        self.loader: Any = loader  # PyYAML's event API is untyped
        self.offset = line_offset
        self.positions = positions
        self.yaml12 = yaml12
        self.kube = kube

    def problem(self, mark: Any, message: str, field: str = "") -> YamlProblem:
        if mark is None:
            return YamlProblem(0, 0, message, field)
        return YamlProblem(mark.line + 1 + self.offset, mark.column + 1, message, field)

    def documents(self) -> Iterator[tuple[Any, int]]:
        loader = self.loader
        loader.get_event()  # StreamStart
        while not loader.check_event(yaml.StreamEndEvent):
            loader.get_event()  # DocumentStart
            root = loader.peek_event()  # a document's line is its content's, after any ---
            value = self.document()
            loader.get_event()  # DocumentEnd
            yield value, root.start_mark.line + 1 + self.offset

    def document(self) -> Any:
        loader = self.loader
        anchors: dict[str, tuple[Any, int]] = {}  # anchor → (value, decodes it stands for)
        pending: set[str] = set()  # anchors of collections not closed yet
        stack: list[_Frame] = []
        decodes = 1  # go-yaml counts the document node too
        aliased = 0
        while True:
            event = loader.get_event()
            mark = event.start_mark
            parent = stack[-1] if stack else None
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = stack.pop()
                value = self.closed(frame)
                if frame.anchor is not None:
                    anchors[frame.anchor] = (value, decodes - frame.decodes)
                    pending.discard(frame.anchor)
                parent = stack[-1] if stack else None
            elif isinstance(event, yaml.AliasEvent):
                name = event.anchor
                if name in pending:
                    raise self.problem(mark, f"alias *{name} refers to its own anchor")
                if name not in anchors:
                    raise self.problem(mark, f"alias *{name} has no anchor")
                value, size = anchors[name]
                decodes += 1 + size
                aliased += size
                if _excessive(aliased, decodes):
                    raise self.problem(
                        mark,
                        "document contains excessive aliasing (the API server's limit): "
                        f"{aliased:,} of {decodes:,} values would come from aliases",
                    )
                self.record(parent, mark)
            elif isinstance(event, yaml.ScalarEvent):
                decodes += 1
                value = self.scalar(event, parent)
                if event.anchor is not None:
                    anchors[event.anchor] = (value, 0)
                self.record(parent, mark)
            else:
                decodes += 1
                if len(stack) >= MAX_DEPTH:
                    raise self.problem(mark, f"nested deeper than {MAX_DEPTH} levels")
                if isinstance(event, yaml.MappingStartEvent) and event.tag in _MAP_TAGS:
                    container: Any = {}
                elif isinstance(event, yaml.SequenceStartEvent) and event.tag in _SEQ_TAGS:
                    container = []
                else:
                    raise self.problem(mark, f"unsupported tag {getattr(event, 'tag', '')}")
                if parent is not None and isinstance(parent.value, dict) and parent.key is _NO_KEY:
                    raise self.problem(mark, "a mapping key must be a scalar")
                self.record(parent, mark)
                if event.anchor is not None:
                    pending.add(event.anchor)
                stack.append(_Frame(container, self.child_path(parent), event.anchor, decodes))
                continue
            if parent is None:
                return value
            self.attach(parent, value, mark)

    def closed(self, frame: _Frame) -> Any:
        value = frame.value
        for merged in frame.merges:  # earlier merges win; explicit keys win over all
            for k, v in merged.items():
                if k not in frame.explicit and k not in value:
                    value[k] = v
        return value

    def record(self, parent: _Frame | None, mark: yaml.Mark) -> None:
        """Remember where a value starts (not a key: keys are recorded by
        :meth:`attach`, at the path of the value they name)."""
        if self.positions is None:
            return
        if parent is not None and isinstance(parent.value, dict) and parent.key is _NO_KEY:
            return
        self.positions.setdefault(
            self.child_path(parent), (mark.line + 1 + self.offset, mark.column + 1)
        )

    def child_path(self, parent: _Frame | None) -> Path:
        if parent is None:
            return ()
        if isinstance(parent.value, list):
            return parent.path + (len(parent.value),)
        if parent.key is _NO_KEY or parent.key is _MERGE_KEY:
            return parent.path
        return parent.path + (parent.key,)

    def attach(self, parent: _Frame, value: Any, mark: yaml.Mark) -> None:
        if isinstance(parent.value, list):
            parent.value.append(value)
            return
        if parent.key is _NO_KEY:  # this value is a key
            if isinstance(value, (dict, list)):
                raise self.problem(mark, "a mapping key must be a scalar")
            if value is _MERGE_KEY:
                parent.key = _MERGE_KEY
                return
            if self.kube:
                key = kubeyaml.json_key(value)
                if key is None:
                    raise self.problem(
                        mark, f"unsupported map key {value!r} (Kubernetes accepts only scalars)"
                    )
            elif self.positions is not None and not isinstance(value, str):
                key = str(value)
            else:
                key = value
            if key in parent.explicit:
                raise self.problem(mark, "duplicate key", _dotted(parent.path + (key,)))
            parent.explicit.add(key)
            parent.key = key
            parent.key_mark = mark
            if self.positions is not None:
                # A field is reported at its key: that is the line a user edits.
                self.positions[parent.path + (key,)] = (
                    mark.line + 1 + self.offset,
                    mark.column + 1,
                )
            return
        if parent.key is _MERGE_KEY:
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(s, dict) for s in sources):
                raise self.problem(mark, "a merge (<<) takes a mapping or a list of mappings")
            parent.merges.extend(sources)
        else:
            parent.value[parent.key] = value
        parent.key = _NO_KEY

    def scalar(self, event: Any, parent: _Frame | None) -> Any:
        tag = event.tag
        value = event.value
        implicit = tag is None or tag == "!"
        if implicit and self.kube and not event.style:
            tag, resolved = kubeyaml.resolve_plain(value)
            if tag != _MERGE:
                return resolved
        elif implicit:
            tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit)
        if tag in (_STR, _VALUE):
            return value
        if tag == _MERGE:
            if parent is not None and isinstance(parent.value, dict) and parent.key is _NO_KEY:
                return _MERGE_KEY
            return value
        if tag not in _SCALAR_TAGS:
            raise self.problem(event.start_mark, f"unsupported tag {tag}")
        yaml12_string = self.yaml12 and value.lower() not in ("true", "false")
        if tag == _BOOL and implicit and not event.style and yaml12_string:
            return value  # YAML 1.2: only true/false are booleans, so `action: off` is "off"
        node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
        try:
            return self.loader.yaml_constructors[tag](self.loader, node)
        except (ValueError, TypeError, AttributeError, OverflowError, yaml.YAMLError):
            short = tag.replace("tag:yaml.org,2002:", "!!")
            raise self.problem(
                event.start_mark, f"{value!r} is not {_SCALAR_TAGS[tag]} ({short})"
            ) from None


class _MergeKey:
    def __repr__(self) -> str:
        return "<<"


_MERGE_KEY: Any = _MergeKey()


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse(
    data: bytes | str,
    *,
    first_line: int = 1,
    positions: Positions | None = None,
    yaml12: bool = False,
    kube: bool = False,
) -> Iterator[tuple[Any, int]]:
    """(value, start line) of each document in ``data``; a problem raises
    :class:`YamlProblem` with the stream's line numbers. ``kube``: plain
    scalars and keys as the API server reads them (:mod:`policygen.kubeyaml`);
    ``yaml12``: only true/false are booleans (the config)."""
    loader = _Loader(data)
    builder = _Builder(loader, first_line - 1, positions, yaml12, kube)
    try:
        yield from builder.documents()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        raise builder.problem(mark, f"invalid YAML: {message}") from None
    except yaml.reader.ReaderError as exc:
        raise _reader_problem(data, exc, first_line) from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH stops us long before
        raise YamlProblem(first_line, 0, f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def _reader_problem(
    data: bytes | str, exc: yaml.reader.ReaderError, first_line: int
) -> YamlProblem:
    """The reader reports a position in the text, not a line."""
    before = data[: exc.position]
    newline: Any = b"\n" if isinstance(data, bytes) else "\n"
    line = first_line + before.count(newline)
    column = len(before) - (before.rfind(newline) + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    if "control" in str(exc.reason) or isinstance(exc.character, str):
        what = f"control character U+{code:04X} is not allowed in YAML"
    else:
        what = f"byte 0x{code:02x} is not UTF-8"
    return YamlProblem(line, column, what)


def _is_marker(line: bytes, marker: bytes) -> bool:
    return line.startswith(marker) and (len(line) == 3 or line[3:4] in (b" ", b"\t", b"\r", b"\n"))


def split(stream: BinaryIO, max_document: int | None = None) -> Iterator[Chunk]:
    """The stream cut before each ``---`` line and after each ``...`` line.
    A document over ``max_document`` bytes is yielded as a ``too_big`` chunk
    holding only its first bytes; reading goes on at the next document."""
    max_document = MAX_DOCUMENT_BYTES if max_document is None else max_document
    buf = bytearray()
    first_line = line = 1
    too_big = False
    at_line_start = True
    size = 0
    content = False  # buf holds more than comments, blank lines and directives
    while True:
        piece = stream.readline(65536)
        if not piece:
            break
        starts_line = at_line_start
        at_line_start = piece.endswith(b"\n")
        if starts_line and _is_marker(piece, b"---") and content:
            yield Chunk(bytes(buf), first_line, size, too_big)
            buf.clear()
            first_line, too_big, content, size = line, False, False, 0
        size += len(piece)
        if not content and (not starts_line or piece.strip()[:1] not in (b"", b"#", b"%")):
            content = True
        if not too_big:
            if len(buf) + len(piece) > max_document:
                too_big = True
                buf.extend(piece[: max(0, 1024 - len(buf))])
            else:
                buf.extend(piece)
        if at_line_start:
            line += 1
        if starts_line and _is_marker(piece, b"..."):
            yield Chunk(bytes(buf), first_line, size, too_big)
            buf.clear()
            first_line, too_big, content, size = line, False, False, 0
    if buf or too_big:
        yield Chunk(bytes(buf), first_line, size, too_big)


def size_text(n: int) -> str:
    """A limit for a message: ``64 MiB``, or bytes when it is not whole MiB."""
    return f"{n // 2**20} MiB" if n % 2**20 == 0 else f"{n:,} bytes"


def encoding_problem(head: bytes) -> str | None:
    """Why the first bytes of a file are not UTF-8 YAML, named (a UTF-16 file
    from a Windows editor is not "binary"), or None."""
    convert = "policygen reads UTF-8; convert it, e.g. with iconv -f {0} -t UTF-8"
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32 text: " + convert.format("UTF-32")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text: " + convert.format("UTF-16")
    if b"\0" not in head:
        return None
    even, odd = head[0::2], head[1::2]
    if len(head) >= 4 and not odd.strip(b"\0") and even.isascii():
        return "UTF-16LE text without a byte order mark: " + convert.format("UTF-16LE")
    if len(head) >= 4 and not even.strip(b"\0") and odd.isascii():
        return "UTF-16BE text without a byte order mark: " + convert.format("UTF-16BE")
    return "binary file"
