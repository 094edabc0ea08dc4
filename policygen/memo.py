"""A bounded memo for pure functions: least recently used entries go first,
so a long scan keeps what it keeps needing and memory stays flat."""

from __future__ import annotations

import hashlib
import marshal
from collections import OrderedDict
from typing import Any, Generic, TypeVar

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


def fingerprint(value: Any) -> bytes:
    """A short key for a value: memo keys stay small however large the
    values they stand for. Equal keys mean equal values, types included;
    equal values may, rarely, get different keys (a missed reuse, never a
    wrong one). 128 bits make a collision negligible."""
    try:
        # marshal is the cheapest faithful encoding of JSON-like data;
        # version 2 writes no back-references, so equal copies encode alike.
        encoded = marshal.dumps(value, 2)
    except ValueError:  # a value marshal cannot encode, such as a YAML date
        encoded = repr(value).encode()
    return hashlib.blake2b(encoded, digest_size=16).digest()
