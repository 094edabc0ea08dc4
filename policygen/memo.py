"""A bounded memo for pure functions: least recently used entries go first,
so a long scan keeps what it keeps needing and memory stays flat."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
MISSING = object()


class Memo(Generic[K, V]):
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | object:
        """The value, or ``MISSING``."""
        value = self._data.get(key, MISSING)
        if value is not MISSING:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        self._data[key] = value
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


def fingerprint(value: object) -> bytes:
    """A short key for a value (its repr, hashed): memo keys stay small however
    large the values they stand for. 128 bits make a collision negligible."""
    return hashlib.blake2b(repr(value).encode(), digest_size=16).digest()
