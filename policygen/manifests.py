"""Reading real manifests: files, folders, stdin, multi-document YAML, ``List``
kinds, Helm and kustomize output. A bad file is reported and the rest read."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from policygen import yamlsafe
from policygen.pathfilter import NO_IGNORE, Ignore, SkipReason, entries

MAX_FILE_BYTES = yamlsafe.MAX_STREAM_BYTES

#: Documents read by one call of the fast YAML path when all of them may be
#: (yamlsafe.fast_batch); a batch that may not is read one by one.
BATCH = 32

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
        if entry.problem:
            yield FileProblem(entry.path, entry.problem)
        elif entry.skip is not None:
            yield Skipped(entry.path, entry.skip, entry.detail)
        else:
            yield from read_one(entry.path)


def read_one(name: str) -> Iterator[Document | FileProblem | Skipped]:
    """The documents of one file, one at a time: a large file is never held
    whole in memory. A problem costs only the document it is in."""
    label = "<stdin>" if name == "-" else name
    try:
        if name == "-":
            if sys.stdin is None:  # policygen scan - <&-
                yield FileProblem(label, "standard input is closed")
                return
            stream: BinaryIO = sys.stdin.buffer
        else:
            path = Path(name)
            if path.stat().st_size > MAX_FILE_BYTES:
                limit = yamlsafe.size_text(MAX_FILE_BYTES)
                yield FileProblem(label, f"larger than {limit}, not read")
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
        why = yamlsafe.encoding_problem(head)
        if why:
            yield FileProblem(label, "binary file, not a manifest" if why == "binary file" else why)
            return
        index = 0
        total = 0
        batch: list[yamlsafe.Chunk] = []

        def flush() -> Iterator[Document | FileProblem | Skipped]:
            nonlocal index
            fast = yamlsafe.fast_batch(batch) if batch else None
            if fast is not None:
                for doc, line in fast:
                    index += 1
                    yield from _objects(doc, f"{label}#{index}", line)
            else:
                for chunk in batch:
                    yield from one(chunk)
            batch.clear()

        def one(chunk: yamlsafe.Chunk) -> Iterator[Document | FileProblem | Skipped]:
            nonlocal index
            if chunk.too_big:
                index += 1
                limit = yamlsafe.size_text(yamlsafe.MAX_DOCUMENT_BYTES)
                yield FileProblem(
                    f"{label}:{chunk.first_line}",
                    f"document {index} is larger than {limit}, not read",
                )
                return
            try:
                for doc, line in yamlsafe.parse(chunk.data, first_line=chunk.first_line, kube=True):
                    index += 1
                    yield from _objects(doc, f"{label}#{index}", line)
            except yamlsafe.YamlProblem as exc:
                index += 1
                yield FileProblem(f"{label}:{exc.line}:{exc.column}", exc.text)

        for chunk in yamlsafe.split(buffered):
            total += chunk.size
            if total > MAX_FILE_BYTES:
                yield from flush()
                yield FileProblem(
                    f"{label}:{chunk.first_line}",
                    f"more than {yamlsafe.size_text(MAX_FILE_BYTES)}, the rest is not read",
                )
                return
            batch.append(chunk)
            if len(batch) >= BATCH or chunk.too_big:
                yield from flush()
        yield from flush()
    except OSError as exc:
        yield FileProblem(label, f"cannot read: {exc.strerror or exc}")


def _objects(doc: Any, source: str, line: int) -> Iterator[Document | FileProblem | Skipped]:
    if doc is None:
        return
    if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
        # CI workflows, Helm values, pre-commit configs: YAML, not manifests.
        yield Skipped(source, "not-kubernetes")
        return
    if str(doc["apiVersion"]).startswith(KUSTOMIZE_GROUP):
        yield Skipped(source, "kustomize", f"a kustomize {doc['kind']}")
        return
    wrong = object_problem(doc)
    if wrong:
        yield FileProblem(source, f"{wrong} (the API server would reject it), skipped")
        return
    if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
        for i, item in enumerate(doc["items"]):
            at = f"{source}.items[{i}]"
            if not isinstance(item, dict) or "kind" not in item:
                yield FileProblem(at, "not a Kubernetes object, skipped")
            elif problem := object_problem(item):
                yield FileProblem(at, f"{problem} (the API server would reject it), skipped")
            else:
                yield Document(at, item, line)
        return
    yield Document(source, doc, line)


def object_problem(obj: dict[str, Any]) -> str | None:
    """What makes an object's type meta or metadata unreadable for every
    engine: each field has one JSON type in ``ObjectMeta`` and ``TypeMeta``."""
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str):
            return f"{key}: a string is required"
    meta = obj.get("metadata")
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return "metadata: a mapping is required"
    for key in ("name", "namespace", "generateName"):
        if key in meta and not isinstance(meta[key], str):
            return f"metadata.{key}: a string is required"
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            return f"metadata.{key}: a mapping is required"
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, str):
                return f"metadata.{key}.{k}: a string is required"
    return None
