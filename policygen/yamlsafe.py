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

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson
import yaml
import yaml_rs

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
    if kube and positions is None and not yaml12:
        fast = _fast_document(data, first_line)
        if fast is not None:
            yield fast
            return
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


# The fast path: manifest documents through yaml-rs (Rust, YAML 1.2), many
# times faster than libyaml with our builder. It is taken only when the
# text cannot mean anything else to it than to the API server's go-yaml v2
# as the careful path above reads it; everything else, and everything it
# refuses, goes the careful way, so values and error messages are the same.
# What is ruled out, and why (tests/test_yamlsafe.py tries each):
#
# - characters libyaml refuses (controls, a BOM, surrogates), the line
#   breaks Python and libyaml count differently (NEL, LS, PS), and text that
#   is not UTF-8: yaml-rs reads some of them;
# - anchors, tags, merge keys, directives and explicit (``?``) or
#   collection keys: the alias-ratio limit, the tag rules and ``<<`` are
#   the builder's. An anchor or tag starts a node, so it follows whitespace
#   or a flow indicator; a value right after a JSON-style key (``"a":1``)
#   is ruled out whatever it is;
# - numbers other than a plain decimal integer (at most 18 digits) or
#   decimal fraction: leading zeros (octal to go-yaml), ``0x``, ``0o``,
#   ``0b``, ``_``, exponents, signs, ``.5``, ``.inf`` go the careful way,
#   unless the token holds a character no number of either reader has
#   (``7-alpine``, ``16@sha256:…``). Checked in the text whenever yaml-rs
#   read a number (or a null, which is what NaN and infinity become in JSON);
# - strings go-yaml would read as something else when plain (yes/no/on/off,
#   y/n, ``0777`` left a string by yaml-rs): found in the values' JSON, they
#   send the document the careful way, quoted or not; a map key that is not
#   a string (``1:``, ``true:``) cannot be written as JSON at all;
# - deep nesting (yaml-rs crashes the process on a few thousand levels):
#   block nesting grows by at most one level per column of indentation and
#   flow nesting by one per ``[`` or ``{``, so both are kept small enough
#   that a document stays within MAX_DEPTH;
# - more than one document where one is expected, or none, so that numbering
#   is the builder's.
_NOT_PRINTABLE = re.compile(
    "[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_ADJACENT = re.compile(r"[\"'\]}]:[^\s]")
_ANCHOR_OR_TAG = re.compile(r"[\s\[{,][&!]")
_EXPLICIT_KEY = re.compile(r"\s\?[ \t\r\n]")
_COLLECTION_KEY = re.compile(r"[\]}][ \t]*:(?:[ \t\r\n]|$)")
#: what may be a number, to be checked against _SAFE_NUMBER
_NUMBER = re.compile(r"[\s\[{,][-+.]?[0-9.][^\s,\[\]{}#\"']*")
_SAFE_NUMBER = re.compile(
    r"-?(?:0|[1-9][0-9]{0,17})|-?(?:0|[1-9][0-9]{0,15})\.[0-9]{1,15}|[0-9]+(?:\.[0-9]+){2,}"
    # a character no number has, to go-yaml or to YAML 1.2 (``7-alpine``)
    r"|.*[^0-9a-fA-FxXoObBiInN_.+\-].*"
)
#: go-yaml v2's booleans that YAML 1.2 reads as strings: as JSON strings,
#: and as plain scalars in the text
_BOOLEAN_WORDS = "y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF"
_GO_BOOLEAN_STRING = re.compile(f'"(?:{_BOOLEAN_WORDS})"'.encode())
_GO_BOOLEAN = re.compile(rf"[\s\[{{,](?:{_BOOLEAN_WORDS})(?=[ \t]*(?:[\r\n,\]}}:#]|$))")
#: a JSON string that go-yaml might read as a number when plain
_NUMERIC_STRING = re.compile(rb'"[-+.]?[0-9.][^"\\]*"')
#: a JSON number, or a null (NaN and infinities are written as null)
_JSON_NUMBER = re.compile(rb"[:,\[](?:-?[0-9]|null)")
_MARKER = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|$)", re.M)
#: Block nesting adds a level per column of indentation at most, flow
#: nesting one per ``[`` or ``{``: both bounds together stay below MAX_DEPTH.
_FAST_INDENT = 60
_DEEP_LINE = re.compile(rf"\n[ \t?-]{{{_FAST_INDENT}}}")
_FAST_FLOW = 30


def _fast_text(text: str) -> bool:
    """Whether ``text`` (whole documents, from a line start) holds nothing
    the checks in the text rule out (numbers are checked by _fast_values)."""
    first = text[:1]
    if first in ("&", "!", "%", " ", "\t", "?", "[", "{") or (
        first in "-+.0123456789yYnNoOtTfF~" and not text.startswith("---")
    ):
        return False  # the patterns look at what follows a separator
    return not (
        "<<" in text
        or "\n%" in text
        or _NOT_PRINTABLE.search(text)
        or _ADJACENT.search(text)
        or _DEEP_LINE.search(text)
        or (("&" in text or "!" in text) and _ANCHOR_OR_TAG.search(text))
        or ("?" in text and _EXPLICIT_KEY.search(text))
        or (("]" in text or "}" in text) and _COLLECTION_KEY.search(text))
    )


def _fast_values(text: str, values: Any) -> bool:
    """Whether what yaml-rs read from ``text`` is what go-yaml reads."""
    try:
        blob = orjson.dumps(values)
    except TypeError:  # a key that is not a string, an integer over 64 bits
        return False
    # A string that is a go-yaml boolean: quoted, or plain (then go-yaml
    # reads a boolean): look for it in the text as a plain scalar.
    if _GO_BOOLEAN_STRING.search(blob) and _GO_BOOLEAN.search(text):
        return False
    # Any number, or a string that may be one (quoted, or plain and read as a
    # string by yaml-rs only): every number-like plain token must be one both
    # read alike. A plain go-yaml number never holds the characters a token
    # stops at, so the token is the whole scalar.
    if _JSON_NUMBER.search(blob) or _NUMERIC_STRING.search(blob):
        for number in _NUMBER.finditer(text):
            if not _SAFE_NUMBER.fullmatch(number.group(), 1):
                return False
    return True


def _fast_document(data: bytes | str, first_line: int) -> tuple[Any, int] | None:
    """(value, line) of the one document in ``data`` when the fast path may
    read it; None when the careful path must."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        return None
    if text.count("[") + text.count("{") > _FAST_FLOW or not _fast_text(text):
        return None
    line = _root_line(text)
    if line is None:
        return None
    try:
        value = yaml_rs.loads(text, parse_datetime=False)
    except (ValueError, TypeError, RecursionError):  # the careful path explains
        return None
    if value is None or not _fast_values(text, value):
        return None
    return value, first_line + line


def fast_batch(chunks: list[Chunk]) -> list[tuple[Any, int]] | None:
    """(value, line) for each chunk of ``split`` when each holds one
    document that starts on its first line (or on the line after its
    ``---``) and the fast path may read them all; None when not, and each
    goes through :func:`parse`. One call for many documents saves most of
    the cost per document."""
    lines = []
    for chunk in chunks:
        data = chunk.data
        if data.startswith(b"---\n"):
            start = 4
        elif data.startswith(b"---\r\n"):
            start = 5
        else:
            start = 0
        head = data[start : start + 1]
        if chunk.too_big or not head or head in b" \t\r\n#%.-?&![{" or b"\n..." in data:
            return None
        if data.count(b"[") + data.count(b"{") > _FAST_FLOW:
            return None
        lines.append(chunk.first_line + (start > 0))
    try:
        text = b"".join(c.data for c in chunks).decode()
    except UnicodeDecodeError:
        return None
    if not _fast_text(text):
        return None
    try:
        read: Any = yaml_rs.loads(text, parse_datetime=False)
    except (ValueError, TypeError, RecursionError):  # the careful path explains
        return None
    values = [read] if len(chunks) == 1 else read
    if not isinstance(values, list) or len(values) != len(chunks) or None in values:
        return None
    if not _fast_values(text, values):
        return None
    return list(zip(values, lines, strict=True))


def _root_line(text: str) -> int | None:
    """The 0-based line where the one document's content starts (on a
    ``---`` line with more on it, or after it); None unless ``text`` holds
    exactly one document with content, opened at most by a ``---`` first."""
    markers = _MARKER.findall(text)
    if len(markers) > 1 or markers[:1] == ["..."]:
        return None
    opened = False
    # libyaml's line breaks: \n, \r\n and \r (NEL, LS and PS never get here).
    for number, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if markers and not opened:
            if not line.startswith("---"):
                return None  # content before the marker: two documents
            opened = True
            rest = line[3:].strip()
            if rest and not rest.startswith("#"):
                return number
            continue
        return number
    return None


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


#: A ``---`` or ``...`` line (at a line start, with re.M).
_SPLIT_MARKER = re.compile(rb"^(?:---|\.\.\.)(?=[ \t\r\n]|\Z)", re.M)
#: A line that is more than blank, a comment or a directive.
_CONTENT_LINE = re.compile(rb"^[ \t\r\x0b\x0c]*[^ \t\r\n\x0b\x0c#%]", re.M)
#: Bytes read at a time; lines are found in them with regular expressions,
#: which is several times faster than reading line by line.
_BLOCK = 1 << 20


class _Splitter:
    """The document being gathered, fed runs of whole lines."""

    def __init__(self, max_document: int) -> None:
        self.max_document = max_document
        self.buf = bytearray()
        self.first_line = self.line = 1
        self.too_big = False
        self.size = 0
        self.content = False  # buf holds more than comments, blank lines and directives

    def cut(self) -> Chunk:
        chunk = Chunk(bytes(self.buf), self.first_line, self.size, self.too_big)
        self.buf.clear()
        self.first_line, self.too_big, self.content, self.size = self.line, False, False, 0
        return chunk

    def add(self, piece: bytes, starts_line: bool) -> None:
        """Lines (the first one's end only, unless ``starts_line``; the last
        one may lack its newline)."""
        if not piece:
            return
        self.size += len(piece)
        if not self.content and (not starts_line or _CONTENT_LINE.search(piece)):
            self.content = True
        if not self.too_big:
            if len(self.buf) + len(piece) <= self.max_document:
                self.buf.extend(piece)
            else:  # keep the start of the line that goes over, as a hint
                self.too_big = True
                end = 0
                while end < len(piece):
                    nl = piece.find(b"\n", end) + 1 or len(piece)
                    if len(self.buf) + nl - end > self.max_document:
                        break
                    self.buf.extend(piece[end:nl])
                    end = nl
                self.buf.extend(piece[end : end + max(0, 1024 - len(self.buf))])
        self.line += piece.count(b"\n")

    def lines(self, region: bytes, starts_line: bool, final: bool) -> Iterator[Chunk]:
        """Feed ``region``, cutting before each ``---`` line (once the
        document has content) and after each ``...`` line. Unless ``final``,
        a last line without its newline goes on in the next region."""
        pos = 0
        for marker in _SPLIT_MARKER.finditer(region):
            at = marker.start()
            if at == 0 and not starts_line:
                continue  # inside a line longer than a block
            if marker.end() == len(region) and not final:
                continue  # "---" so far: what follows decides
            self.add(region[pos:at], starts_line or pos > 0)
            if marker.group() == b"---":
                if self.content:
                    yield self.cut()
                pos = at
            else:
                end = region.find(b"\n", at) + 1 or len(region)
                self.add(region[at:end], True)
                yield self.cut()
                pos = end
        self.add(region[pos:], starts_line or pos > 0)


def split(stream: BinaryIO, max_document: int | None = None) -> Iterator[Chunk]:
    """The stream cut before each ``---`` line and after each ``...`` line.
    A document over ``max_document`` bytes is yielded as a ``too_big`` chunk
    holding only its first bytes; reading goes on at the next document."""
    doc = _Splitter(MAX_DOCUMENT_BYTES if max_document is None else max_document)
    tail = b""  # the start of a line whose end is not read yet
    starts_line = True  # tail starts a line
    while block := stream.read(_BLOCK):
        data = tail + block if tail else block
        whole = data.rfind(b"\n") + 1
        if whole == 0 and len(data) <= max(2 * _BLOCK, 4096):
            tail = data
            continue
        # A very long line: feed its start (enough to tell a marker line).
        if whole == 0:
            whole = len(data)
        yield from doc.lines(data[:whole], starts_line, final=False)
        starts_line = data[whole - 1 : whole] == b"\n"
        tail = data[whole:]
    yield from doc.lines(tail, starts_line, final=True)
    if doc.buf or doc.too_big:
        yield doc.cut()


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
