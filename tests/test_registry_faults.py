"""The registry client against servers that misbehave: every answer it cannot
use is a RegistryError naming the image, and no server holds it forever."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from policygen.errors import RegistryError
from policygen.imageref import parse
from policygen.registry import Client

Serve = Callable[[socket.socket], None]


@pytest.fixture
def server() -> Iterator[Callable[[Serve], str]]:
    """A TCP server on 127.0.0.1 running ``serve`` for each connection."""
    listeners: list[socket.socket] = []

    def start(serve: Serve) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        listeners.append(sock)

        def loop() -> None:
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                threading.Thread(target=_run, args=(serve, conn), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()
        return f"127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for sock in listeners:
        sock.close()


def _run(serve: Serve, conn: socket.socket) -> None:
    try:
        conn.recv(65536)
        serve(conn)
    except OSError:
        pass
    finally:
        conn.close()


def answer(raw: bytes) -> Serve:
    return lambda conn: conn.sendall(raw)


def digest_of(host: str, **client: float) -> str:
    # 127.0.0.1 is tried over TLS first, as Docker does; these servers speak
    # plain HTTP, so say so and test only the exchange that matters.
    return Client(plain_http=[host], **client).digest(parse(f"{host}/app:1"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"HELLO\r\n\r\n", "sent a malformed answer (BadStatusLine)"),
        (
            b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 70000 + b"\r\n\r\n",
            "malformed answer (LineTooLong)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
            "sent 2 of the 100 bytes it announced",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "sent a malformed answer (IncompleteRead)",
        ),
        (b"", "closed the connection without answering"),
    ],
)
def test_malformed_answers(server: Callable[[Serve], str], raw: bytes, message: str) -> None:
    host = server(answer(raw))
    with pytest.raises(RegistryError) as info:
        digest_of(host)
    assert str(info.value).startswith(f"{host}/app:1: ")
    assert message in str(info.value)


def test_a_dripping_registry_meets_the_deadline(server: Callable[[Serve], str]) -> None:
    def drip(conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: x\r\n" * 100:
            conn.sendall(bytes([byte]))
            time.sleep(0.2)  # each byte well inside the per-operation timeout

    host = server(drip)
    start = time.monotonic()
    with pytest.raises(RegistryError) as info:
        digest_of(host, timeout=5.0, deadline=1.0)
    assert str(info.value) == f"{host}/app:1: no complete answer from {host} within 1 s"
    assert time.monotonic() - start < 4.0


def test_a_body_cut_off_by_the_deadline_is_not_a_digest(server: Callable[[Serve], str]) -> None:
    # No Content-Length: a body ends when the connection does, so the cut
    # looks like an end; the deadline, not the body, must decide.
    def slow_body(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.0 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\r\n{"
        )
        time.sleep(3)
        conn.sendall(b"}")

    host = server(slow_body)
    with pytest.raises(RegistryError) as info:
        digest_of(host, timeout=5.0, deadline=1.0)
    assert "no complete answer" in str(info.value)
