"""One OPA worker process (see policygen.rego.pool): compiles the programs it is sent
and answers batches of queries, one request at a time, over its standard
input and output. It exits when its input closes, so it cannot outlive the
process that started it."""

from __future__ import annotations

import marshal
import pickle
import struct
import sys
from typing import IO, Any

from policygen.rego.programs import OpaProgram

_LENGTH = struct.Struct("<I")


def encode(message: Any) -> bytes:
    """marshal where it can (several times faster than pickle on JSON-like
    data), pickle for the rest: evaluation errors, YAML dates."""
    try:
        return b"M" + marshal.dumps(message)
    except ValueError:
        return b"P" + pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def decode(body: bytes | memoryview) -> Any:
    return marshal.loads(body[1:]) if body[:1] == b"M" else pickle.loads(body[1:])


def read_frame(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return decode(body)


def frame(message: Any) -> bytes:
    body = encode(message)
    return _LENGTH.pack(len(body)) + body


def unframe(buffer: bytearray) -> list[Any]:
    """The whole messages at the front of ``buffer``, which loses them."""
    out = []
    start = 0
    view = memoryview(buffer)
    while len(buffer) - start >= _LENGTH.size:
        (size,) = _LENGTH.unpack_from(buffer, start)
        end = start + _LENGTH.size + size
        if len(buffer) < end:
            break
        out.append(decode(view[start + _LENGTH.size : end]))
        start = end
    view.release()
    del buffer[:start]  # once: deleting each message in turn is quadratic
    return out


def write_frame(stream: IO[bytes], message: Any) -> None:
    stream.write(frame(message))
    stream.flush()


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """Requests are ``("compile", id, modules, data)`` and
    ``("query", id, ref, inputs, shared)``; each gets ``("ok", value)`` or
    ``("error", message)``."""
    programs: dict[int, OpaProgram] = {}
    while (request := read_frame(requests)) is not None:
        op, *args = request
        try:
            if op == "compile":
                pid, modules, data = args
                programs[pid] = OpaProgram(modules, data)
                value: Any = None
            elif op == "query":
                pid, ref, inputs, shared = args
                value = programs[pid].query_many(ref, inputs, shared)
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception as exc:  # reported to the parent, which raises it
            write_frame(replies, ("error", f"{type(exc).__name__}: {exc}"))
            continue
        write_frame(replies, ("ok", value))


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
