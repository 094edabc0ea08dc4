"""The fixture corpus and its declared expectations, shared by model and engine tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policygen.manifests import Document, read
from tests.conftest import CORPUS

EXPECT = "policygen.dev/expect"


@dataclass(frozen=True)
class Case:
    source: str
    obj: dict[str, Any]
    expected: frozenset[tuple[str, str]] | None

    @property
    def id(self) -> str:
        return self.source.rsplit("/", 1)[-1]


def parse_expect(text: str) -> frozenset[tuple[str, str]]:
    items = [i.strip() for i in text.split(",") if i.strip()]
    return frozenset((i.split(":", 1)[0], i.split(":", 1)[1]) for i in items)


def cases() -> list[Case]:
    out = []
    for item in read([str(CORPUS)]):
        assert isinstance(item, Document), item
        note = (item.obj.get("metadata", {}).get("annotations") or {}).get(EXPECT)
        out.append(Case(item.source, item.obj, None if note is None else parse_expect(note)))
    return out
