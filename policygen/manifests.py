"""Reading real manifests: files, folders, stdin, multi-document YAML, ``List``
kinds, Helm and kustomize output. A bad file is reported and the rest read."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import yaml

try:  # libyaml's parser reads the stream as it goes
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

MAX_FILE_BYTES = 256 * 1024 * 1024
SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Document:
    source: str  # file.yaml#N (1-based document), with .items[i] for List members
    obj: dict[str, Any]
    line: int = 0  # where the document starts, 1-based; 0 when unknown

    @property
    def path(self) -> str:
        """The file the document came from."""
        return self.source.rsplit("#", 1)[0]


@dataclass(frozen=True)
class FileProblem:
    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


def expand_paths(paths: list[str]) -> Iterator[str]:
    for raw in paths:
        if raw == "-":
            yield raw
            continue
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix in SUFFIXES:
                    yield str(child)
        else:
            yield raw


def read(paths: list[str]) -> Iterator[Document | FileProblem]:
    for name in expand_paths(paths):
        yield from read_one(name)


def read_one(name: str) -> Iterator[Document | FileProblem]:
    """The documents of one file, one at a time: a large file is never held
    whole in memory. A YAML error stops that file where it is; what came
    before it has been yielded."""
    label = "<stdin>" if name == "-" else name
    try:
        if name == "-":
            stream: BinaryIO = sys.stdin.buffer
        else:
            path = Path(name)
            if path.stat().st_size > MAX_FILE_BYTES:
                yield FileProblem(label, f"larger than {MAX_FILE_BYTES // 2**20} MiB, not read")
                return
            stream = path.open("rb")
    except OSError as exc:
        yield FileProblem(label, f"cannot read: {exc.strerror}")
        return
    try:
        yield from _documents(stream, label)
    finally:
        if name != "-":
            stream.close()


def _documents(stream: BinaryIO, label: str) -> Iterator[Document | FileProblem]:
    # Files opened "rb" and a real sys.stdin.buffer are BufferedReaders;
    # anything else (a test's BytesIO) is wrapped so that it can peek.
    if hasattr(stream, "peek"):
        buffered = cast(io.BufferedReader, stream)
    else:
        buffered = io.BufferedReader(cast(io.RawIOBase, stream))
    try:
        head = buffered.peek(8192)[:8192]
    except OSError as exc:
        yield FileProblem(label, f"cannot read: {exc.strerror}")
        return
    if b"\0" in head:
        yield FileProblem(label, "binary file, not a manifest")
        return
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig")
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            index += 1
            line = node.start_mark.line + 1 if node is not None else 0
            doc = loader.construct_document(node) if node is not None else None
            yield from _objects(doc, f"{label}#{index}", line)
    except UnicodeDecodeError:
        yield FileProblem(label, "not UTF-8 text")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        problem = getattr(exc, "problem", None) or str(exc)
        yield FileProblem(where, f"invalid YAML: {problem}")
    finally:
        loader.dispose()
        text.detach()


def _objects(doc: Any, source: str, line: int) -> Iterator[Document | FileProblem]:
    if doc is None:
        return
    if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
        yield FileProblem(source, "not a Kubernetes object (no apiVersion/kind), skipped")
        return
    if str(doc["kind"]).endswith("List") and isinstance(doc.get("items"), list):
        for i, item in enumerate(doc["items"]):
            if isinstance(item, dict) and "kind" in item:
                yield Document(f"{source}.items[{i}]", item, line)
            else:
                yield FileProblem(f"{source}.items[{i}]", "not a Kubernetes object, skipped")
        return
    yield Document(source, doc, line)
