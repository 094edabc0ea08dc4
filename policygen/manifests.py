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

from policygen.kubeyaml import KubeLoader
from policygen.pathfilter import NO_IGNORE, Ignore, SkipReason, entries

#: Scalars resolve as sigs.k8s.io/yaml resolves them (see kubeyaml).
_Loader: type[yaml.SafeLoader] = KubeLoader

MAX_FILE_BYTES = 256 * 1024 * 1024

#: Kustomize's own files look like objects but never reach the API server.
KUSTOMIZE_GROUP = "kustomize.config.k8s.io/"


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


@dataclass(frozen=True)
class Skipped:
    """Something read past on purpose: counted, never an error."""

    source: str
    reason: SkipReason
    detail: str = ""


Item = Document | FileProblem | Skipped


def read(paths: list[str], ignore: Ignore = NO_IGNORE) -> Iterator[Item]:
    for entry in entries(paths, ignore):
        if entry.skip is not None:
            yield Skipped(entry.path, entry.skip, entry.detail)
        else:
            yield from read_one(entry.path)


def read_one(name: str) -> Iterator[Document | FileProblem | Skipped]:
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


def _documents(stream: BinaryIO, label: str) -> Iterator[Document | FileProblem | Skipped]:
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


def _objects(doc: Any, source: str, line: int) -> Iterator[Document | FileProblem | Skipped]:
    if doc is None:
        return
    if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
        # CI workflows, Helm values, pre-commit configs: YAML, not manifests.
        yield Skipped(source, "not-kubernetes")
        return
    if str(doc["apiVersion"]).startswith(KUSTOMIZE_GROUP):
        yield Skipped(source, "kustomize", str(doc["kind"]))
        return
    if str(doc["kind"]).endswith("List") and isinstance(doc.get("items"), list):
        for i, item in enumerate(doc["items"]):
            if isinstance(item, dict) and "kind" in item:
                yield Document(f"{source}.items[{i}]", item, line)
            else:
                yield FileProblem(f"{source}.items[{i}]", "not a Kubernetes object, skipped")
        return
    yield Document(source, doc, line)
