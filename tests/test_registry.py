"""The registry client against a fake registry that answers badly on purpose."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from policygen import imageref
from policygen.errors import RegistryError
from policygen.registry import Client

MANIFEST = json.dumps(
    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
).encode()
GOOD = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()

Handler = Callable[[BaseHTTPRequestHandler], None]


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], str]]:
    servers: list[HTTPServer] = []

    def start(handle: Handler) -> str:
        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                handle(self)

            def log_message(self, *args: object) -> None:
                pass

        server = HTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"127.0.0.1:{server.server_port}"

    yield start
    for s in servers:
        s.shutdown()


def reply(h: BaseHTTPRequestHandler, code: int, body: bytes, **headers: str) -> None:
    h.send_response(code)
    for k, v in headers.items():
        h.send_header(k.replace("_", "-"), v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def resolve(host: str, image: str = "team/app:1") -> str:
    return Client().digest(imageref.parse(f"{host}/{image}"))


def test_digest_of_what_was_served(serve: Callable[[Handler], str]) -> None:
    host = serve(lambda h: reply(h, 200, MANIFEST, Docker_Content_Digest=GOOD))
    assert resolve(host) == GOOD


def test_anonymous_bearer_token(serve: Callable[[Handler], str]) -> None:
    seen: list[str] = []

    def handle(h: BaseHTTPRequestHandler) -> None:
        if h.path.startswith("/token"):
            seen.append(h.path)
            return reply(h, 200, json.dumps({"token": "t0k"}).encode())
        if h.headers.get("Authorization") != "Bearer t0k":
            realm = f"http://{h.headers['Host']}/token"
            return reply(h, 401, b"", WWW_Authenticate=f'Bearer realm="{realm}",service="fake"')
        return reply(h, 200, MANIFEST)

    host = serve(handle)
    assert resolve(host) == GOOD
    assert seen == ["/token?service=fake&scope=repository%3Ateam%2Fapp%3Apull"]


@pytest.mark.parametrize(
    ("handle", "message"),
    [
        (
            lambda h: reply(h, 200, MANIFEST, Docker_Content_Digest="sha256:" + "0" * 64),
            "the registry says the manifest is sha256:000",
        ),
        (
            lambda h: reply(h, 200, MANIFEST, Docker_Content_Digest="md5:abc"),
            "the registry sent a malformed digest 'md5:abc'",
        ),
        (lambda h: reply(h, 200, b"<html>login</html>"), "the registry's answer is not a manifest"),
        (lambda h: reply(h, 404, b""), "no such image or tag on"),
        (
            lambda h: reply(h, 500, json.dumps({"errors": [{"message": "disk full"}]}).encode()),
            "answered 500 for the manifest: disk full",
        ),
        (
            lambda h: reply(h, 401, b"", WWW_Authenticate='Basic realm="x"'),
            "wants Basic; policygen resolves public images only",
        ),
        (
            lambda h: reply(h, 200, b"{" * (4 * 1024 * 1024 + 1)),
            "the manifest is larger than 4 MiB",
        ),
    ],
)
def test_bad_answers_are_clear_errors(
    serve: Callable[[Handler], str], handle: Handler, message: str
) -> None:
    host = serve(handle)
    with pytest.raises(
        RegistryError, match="^" + __import__("re").escape(f"{host}/team/app:1: ")
    ) as info:
        resolve(host)
    assert message in str(info.value)


def test_docker_hub_is_reached_at_its_endpoint_over_https() -> None:
    client = Client()
    assert client._base("docker.io") == "https://registry-1.docker.io"
    assert client._base("localhost:5000") == "http://localhost:5000"
    assert (
        Client(plain_http=["reg.internal:5000"])._base("reg.internal:5000")
        == "http://reg.internal:5000"
    )
