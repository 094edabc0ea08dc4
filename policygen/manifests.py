"""Reading real manifests: files, folders, stdin, multi-document YAML, ``List``
kinds, Helm and kustomize output. A bad file is reported and the rest read."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policygen.yamlio import load_all_fast

MAX_FILE_BYTES = 256 * 1024 * 1024
SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Document:
    source: str  # file.yaml#N (1-based document), with .items[i] for List members
    obj: dict[str, Any]


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
    label = "<stdin>" if name == "-" else name
    try:
        if name == "-":
            data = sys.stdin.buffer.read()
        else:
            path = Path(name)
            if path.stat().st_size > MAX_FILE_BYTES:
                yield FileProblem(label, f"larger than {MAX_FILE_BYTES // 2**20} MiB, not read")
                return
            data = path.read_bytes()
    except OSError as exc:
        yield FileProblem(label, f"cannot read: {exc.strerror}")
        return
    if b"\0" in data[:8192]:
        yield FileProblem(label, "binary file, not a manifest")
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        yield FileProblem(label, "not UTF-8 text")
        return
    try:
        docs = load_all_fast(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        problem = getattr(exc, "problem", None) or str(exc)
        yield FileProblem(where, f"invalid YAML: {problem}")
        return
    for index, doc in enumerate(docs, start=1):
        source = f"{label}#{index}"
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            yield FileProblem(source, "not a Kubernetes object (no apiVersion/kind), skipped")
            continue
        if str(doc["kind"]).endswith("List") and isinstance(doc.get("items"), list):
            for i, item in enumerate(doc["items"]):
                if isinstance(item, dict) and "kind" in item:
                    yield Document(f"{source}.items[{i}]", item)
                else:
                    yield FileProblem(f"{source}.items[{i}]", "not a Kubernetes object, skipped")
            continue
        yield Document(source, doc)
