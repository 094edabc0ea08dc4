"""The registry client against fake registries that answer badly on purpose,
and token realms and redirect targets that record what they were sent."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from policygen import imageref
from policygen.credentials import Credentials, Store
from policygen.errors import RegistryError
from policygen.registry import ACCEPT, Challenge, Client, parse_challenges
from tests.support.registry import TLS, make_tls

MANIFEST = json.dumps(
    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
).encode()
GOOD = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
OCI = "application/vnd.oci.image.manifest.v1+json"
SECRET = "pa55-w0rd-never-shown"
TOKEN_SECRET = "refresh-t0ken-never-shown"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Fake:
    host: str
    seen: list[Seen] = field(default_factory=list)


Handler = Callable[[BaseHTTPRequestHandler, Seen], None]


@pytest.fixture
def serve() -> Iterator[Callable[..., Fake]]:
    servers: list[ThreadingHTTPServer] = []

    def start(handle: Handler, tls: TLS | None = None) -> Fake:
        fake = Fake("")

        class H(BaseHTTPRequestHandler):
            def _any(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(size))
                fake.seen.append(seen)
                handle(self, seen)

            do_GET = do_HEAD = do_POST = _any

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.cert, tls.key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        fake.host = f"127.0.0.1:{server.server_port}"
        return fake

    yield start
    for s in servers:
        s.shutdown()


def reply(h: BaseHTTPRequestHandler, code: int, body: bytes = b"", **headers: str) -> None:
    h.send_response(code)
    for k, v in headers.items():
        h.send_header(k.replace("_", "-"), v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def manifest(h: BaseHTTPRequestHandler, body: bytes = MANIFEST, media: str = OCI) -> None:
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    reply(h, 200, body, Content_Type=media, Docker_Content_Digest=digest)


def client(host: str | None = None, found: Credentials | None = None, **kw: object) -> Client:
    store = None
    if found is not None and host is not None:
        store = Store(environ={}, home=Path("/nonexistent"), explicit=(host, found))
    return Client(credentials=store, **kw)  # type: ignore[arg-type]


def resolve(host: str, c: Client | None = None, image: str = "team/app:1") -> str:
    return (c or Client()).digest(imageref.parse(f"{host}/{image}"))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


PASSWORD = Credentials("--username", "ci", SECRET)


# -- resolution ---------------------------------------------------------------


def test_head_answers_with_the_right_accept_and_no_get(serve: Callable[..., Fake]) -> None:
    fake = serve(lambda h, s: manifest(h))
    assert resolve(fake.host) == GOOD
    # one HEAD: no GET spends a pull (the HTTPS attempt on this plain local
    # server is a TLS handshake it cannot answer, so no request reaches it)
    assert [(s.method, s.path) for s in fake.seen] == [("HEAD", "/v2/team/app/manifests/1")]
    head = fake.seen[-1]
    assert head.headers["Accept"] == ACCEPT
    assert ACCEPT.split(", ") == [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]


def test_an_index_pins_to_the_index(serve: Callable[..., Fake]) -> None:
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}
    ).encode()
    fake = serve(lambda h, s: manifest(h, index, "application/vnd.oci.image.index.v1+json"))
    assert resolve(fake.host) == "sha256:" + hashlib.sha256(index).hexdigest()
    assert [s.method for s in fake.seen] == ["HEAD"]


@pytest.mark.parametrize(
    "head",
    [
        lambda h: reply(h, 200, Content_Type=OCI),  # no Docker-Content-Digest
        lambda h: reply(h, 405),  # a registry without HEAD
    ],
)
def test_get_when_the_head_gives_no_digest(
    serve: Callable[..., Fake], head: Callable[[BaseHTTPRequestHandler], None]
) -> None:
    def handle(h: BaseHTTPRequestHandler, s: Seen) -> None:
        return head(h) if h.command == "HEAD" else reply(h, 200, MANIFEST, Content_Type=OCI)

    fake = serve(handle)
    assert resolve(fake.host) == GOOD
    assert [s.method for s in fake.seen] == ["HEAD", "GET"]


def test_a_sha512_digest_is_checked_with_sha512(serve: Callable[..., Fake]) -> None:
    digest = "sha512:" + hashlib.sha512(MANIFEST).hexdigest()

    def handle(h: BaseHTTPRequestHandler, s: Seen) -> None:
        if h.command == "HEAD":
            return reply(h, 200, Content_Type=OCI)
        return reply(h, 200, MANIFEST, Content_Type=OCI, Docker_Content_Digest=digest)

    assert resolve(serve(handle).host) == digest


def _get_only(answer: Callable[[BaseHTTPRequestHandler], None]) -> Handler:
    """A registry whose HEAD carries no digest, so the body decides."""

    def handle(h: BaseHTTPRequestHandler, s: Seen) -> None:
        return reply(h, 200, Content_Type=OCI) if h.command == "HEAD" else answer(h)

    return handle


@pytest.mark.parametrize(
    ("handle", "message"),
    [
        (
            _get_only(
                lambda h: reply(h, 200, MANIFEST, Docker_Content_Digest="sha256:" + "0" * 64)
            ),
            f"the registry says the manifest is sha256:{'0' * 64} but what it served hashes "
            f"to {GOOD}",
        ),
        (
            lambda h, s: reply(h, 200, Content_Type=OCI, Docker_Content_Digest="md5:abc"),
            "the registry sent a malformed digest 'md5:abc'",
        ),
        (
            _get_only(lambda h: reply(h, 200, b"<html>login</html>")),
            "the registry's answer is not a manifest",
        ),
        (
            _get_only(lambda h: reply(h, 200, b'{"schemaVersion": 1, "name": "team/app"}')),
            "the registry serves only a schema 1 manifest, which cannot be pinned",
        ),
        (
            _get_only(lambda h: reply(h, 200, b'{"schemaVersion": 2}', Content_Type="text/plain")),
            "the registry served text/plain, not an image manifest or index",
        ),
        (lambda h, s: reply(h, 404), "no such image or tag on"),
        (lambda h, s: reply(h, 429), "is rate limiting (429); try again later"),
        (
            lambda h, s: reply(h, 500, json.dumps({"errors": [{"message": "disk full"}]}).encode()),
            "answered 500 for the manifest",
        ),
        (
            _get_only(
                lambda h: reply(h, 500, json.dumps({"errors": [{"message": "disk full"}]}).encode())
            ),
            "answered 500 for the manifest: disk full",
        ),
        (
            lambda h, s: reply(h, 401, WWW_Authenticate='Basic realm="x"'),
            "needs a username and password and none was found for it",
        ),
        (
            lambda h, s: reply(h, 401, WWW_Authenticate="Negotiate, NTLM"),
            "asked for credentials but offered negotiate, ntlm, not Basic or Bearer",
        ),
        (
            _get_only(lambda h: reply(h, 200, b"{" * (4 * 1024 * 1024 + 1))),
            "is too large",
        ),
        (
            lambda h, s: reply(h, 302, Location="ftp://elsewhere/x"),
            "redirected to ftp://elsewhere; policygen does not follow it",
        ),
    ],
)
def test_bad_answers_are_clear_errors(
    serve: Callable[..., Fake], handle: Handler, message: str
) -> None:
    host = serve(handle).host
    with pytest.raises(RegistryError, match="^" + re.escape(f"{host}/team/app:1: ")) as info:
        resolve(host)
    assert message in str(info.value)


def test_unreachable_registry() -> None:
    with pytest.raises(RegistryError, match=r"^127\.0\.0\.1:9/x:1: cannot reach 127\.0\.0\.1:9: "):
        resolve("127.0.0.1:9", image="x:1")


# -- authentication -----------------------------------------------------------


def _bearer(realm: Callable[[BaseHTTPRequestHandler], str], token: str = "t0k") -> Handler:
    def handle(h: BaseHTTPRequestHandler, s: Seen) -> None:
        if h.headers.get("Authorization") != f"Bearer {token}":
            challenge = f'Bearer realm="{realm(h)}",service="fake",scope="repository:team/app:pull"'
            return reply(h, 401, WWW_Authenticate=challenge)
        return manifest(h)

    return handle


def test_anonymous_bearer_token(serve: Callable[..., Fake]) -> None:
    realm = serve(lambda h, s: reply(h, 200, json.dumps({"token": "t0k"}).encode()))
    fake = serve(_bearer(lambda h: f"http://{realm.host}/token"))
    assert resolve(fake.host) == GOOD
    assert [(s.method, s.path) for s in realm.seen] == [
        ("GET", "/token?service=fake&scope=repository%3Ateam%2Fapp%3Apull")
    ]
    assert "Authorization" not in realm.seen[0].headers


def test_basic_credentials_get_a_bearer_token_from_a_realm_on_the_same_host(
    serve: Callable[..., Fake],
) -> None:
    def handle(h: BaseHTTPRequestHandler, s: Seen) -> None:
        if h.path.startswith("/token"):
            if h.headers.get("Authorization") != basic("ci", SECRET):
                return reply(h, 401)
            return reply(h, 200, json.dumps({"access_token": "t0k"}).encode())
        return _bearer(lambda h: f"http://{h.headers['Host']}/token")(h, s)

    fake = serve(handle)
    c = client(fake.host, PASSWORD)
    assert resolve(fake.host, c) == GOOD
    assert resolve(fake.host, c) == GOOD  # the token is kept: one token request
    assert [s.path.split("?")[0] for s in fake.seen] == [
        "/v2/team/app/manifests/1",
        "/token",
        "/v2/team/app/manifests/1",
        "/v2/team/app/manifests/1",
    ]
    assert fake.seen[-1].headers["Authorization"] == "Bearer t0k"
    # the account is named as docker and containers/image name it
    assert (
        fake.seen[1].path == "/token?service=fake&scope=repository%3Ateam%2Fapp%3Apull&account=ci"
    )


def test_an_identity_token_is_exchanged_as_oauth2(serve: Callable[..., Fake]) -> None:
    def handle(h: BaseHTTPRequestHandler, s: Seen) -> None:
        if h.path == "/token":
            return reply(h, 200, json.dumps({"access_token": "t0k"}).encode())
        return _bearer(lambda h: f"http://{h.headers['Host']}/token")(h, s)

    fake = serve(handle)
    found = Credentials("config.json", identity_token=TOKEN_SECRET)
    assert resolve(fake.host, client(fake.host, found)) == GOOD
    post = fake.seen[1]
    assert (post.method, post.headers["Content-Type"]) == (
        "POST",
        "application/x-www-form-urlencoded",
    )
    assert dict(p.split("=", 1) for p in post.body.decode().split("&")) == {
        "service": "fake",
        "scope": "repository%3Ateam%2Fapp%3Apull",
        "grant_type": "refresh_token",
        "client_id": "policygen",
        "refresh_token": TOKEN_SECRET,
    }


def test_a_registry_token_is_sent_as_is(serve: Callable[..., Fake]) -> None:
    fake = serve(_bearer(lambda h: "http://127.0.0.1:9/never", token="given"))
    found = Credentials("POLICYGEN_REGISTRY_TOKEN", registry_token="given")
    assert resolve(fake.host, client(fake.host, found)) == GOOD


def test_basic_auth_is_sent_again_without_a_second_challenge(serve: Callable[..., Fake]) -> None:
    def handle(h: BaseHTTPRequestHandler, s: Seen) -> None:
        if h.headers.get("Authorization") != basic("ci", SECRET):
            return reply(h, 401, WWW_Authenticate='Basic realm="registry"')
        return manifest(h)

    fake = serve(handle)
    c = client(fake.host, PASSWORD)
    assert resolve(fake.host, c) == GOOD
    assert resolve(fake.host, c, "team/other:2") == GOOD
    assert [s.headers.get("Authorization") is not None for s in fake.seen] == [False, True, True]


def test_wrong_credentials(serve: Callable[..., Fake]) -> None:
    fake = serve(lambda h, s: reply(h, 401, WWW_Authenticate='Basic realm="registry"'))
    with pytest.raises(RegistryError) as info:
        resolve(fake.host, client(fake.host, PASSWORD))
    assert str(info.value) == (
        f"{fake.host}/team/app:1: {fake.host} refused the credentials from --username (401)"
    )


def test_a_realm_on_another_host_is_not_shown_the_credentials(
    serve: Callable[..., Fake],
) -> None:
    realm = serve(lambda h, s: reply(h, 200, json.dumps({"token": "t0k"}).encode()))
    fake = serve(_bearer(lambda h: f"http://{realm.host}/token"))
    with pytest.raises(RegistryError) as info:
        resolve(fake.host, client(fake.host, PASSWORD))
    assert str(info.value) == (
        f"{fake.host}/team/app:1: {fake.host} sends its token requests to {realm.host}; "
        f"policygen shows the credentials from --username only to {fake.host} "
        f"(trust that realm with --token-realm {realm.host})"
    )
    assert realm.seen == []
    # trusted by name, it gets them
    c = client(fake.host, PASSWORD, token_realms=[realm.host])
    assert resolve(fake.host, c) == GOOD
    assert realm.seen[0].headers["Authorization"] == basic("ci", SECRET)


@pytest.mark.parametrize(
    ("realm", "message"),
    [
        (lambda h, s: reply(h, 500), "the token realm {realm} answered 500"),
        (lambda h, s: reply(h, 200, b'{"token": ""}'), "the token realm {realm} sent no token"),
        (lambda h, s: reply(h, 200, b"<html>"), "the token realm {realm} sent no token"),
        (lambda h, s: reply(h, 403), "{realm} refused anonymous access (403 from the token realm)"),
    ],
)
def test_bad_token_realms(serve: Callable[..., Fake], realm: Handler, message: str) -> None:
    server = serve(realm)
    fake = serve(_bearer(lambda h: f"http://{server.host}/token"))
    with pytest.raises(RegistryError) as info:
        resolve(fake.host)
    assert str(info.value) == f"{fake.host}/team/app:1: " + message.format(realm=server.host)


def test_a_challenge_without_a_usable_realm(serve: Callable[..., Fake]) -> None:
    fake = serve(lambda h, s: reply(h, 401, WWW_Authenticate='Bearer realm="/relative"'))
    with pytest.raises(RegistryError) as info:
        resolve(fake.host)
    assert str(info.value) == f"{fake.host}/team/app:1: {fake.host} sent no usable token realm"


def test_docker_hub_credentials_may_go_to_auth_docker_io_only() -> None:
    c = client("docker.io", PASSWORD)
    ref = imageref.parse("nginx:1")
    c._may_send(ref, "registry-1.docker.io", "https", "auth.docker.io", PASSWORD)
    with pytest.raises(RegistryError, match=re.escape("sends its token requests to auth.evil.io")):
        c._may_send(ref, "registry-1.docker.io", "https", "auth.evil.io", PASSWORD)
    # a registry named with its default port is the same host as its realm
    c._may_send(ref, "reg.example:443", "https", "reg.example", PASSWORD)


def test_redirect_loops_end(serve: Callable[..., Fake]) -> None:
    fake = serve(lambda h, s: reply(h, 302, Location=h.path + "x"))
    with pytest.raises(RegistryError) as info:
        resolve(fake.host)
    assert str(info.value) == f"{fake.host}/team/app:1: more than 5 redirects"
    assert len(fake.seen) == 6


def test_credentials_go_over_plain_http_only_to_hosts_chosen_for_it() -> None:
    c = client("reg.example", PASSWORD, token_realms=["auth.example"])
    ref = imageref.parse("reg.example/team/app:1")
    challenge = {"realm": "http://auth.example/token", "service": "x"}
    with pytest.raises(RegistryError) as info:
        c._token(ref, "reg.example", challenge, PASSWORD)
    assert str(info.value) == (
        "reg.example/team/app:1: the token realm auth.example is plain HTTP; policygen "
        "sends no credentials over it (--plain-http to allow it)"
    )


def test_redirects_carry_no_credentials_to_another_host(serve: Callable[..., Fake]) -> None:
    blobs = serve(lambda h, s: reply(h, 200, MANIFEST, Content_Type=OCI))

    def handle(h: BaseHTTPRequestHandler, s: Seen) -> None:
        if h.headers.get("Authorization") != basic("ci", SECRET):
            return reply(h, 401, WWW_Authenticate='Basic realm="registry"')
        if h.path.startswith("/v2/team/app/manifests/"):
            return reply(h, 307, Location=f"/moved{h.path}")
        if h.path.startswith("/moved/"):
            # the same host keeps the credentials; the CDN gets none
            return reply(h, 302, Location=f"http://{blobs.host}/cdn/m")
        return reply(h, 404)

    fake = serve(handle)
    assert resolve(fake.host, client(fake.host, PASSWORD)) == GOOD
    assert fake.seen[-1].path == "/moved/v2/team/app/manifests/1"
    assert fake.seen[-1].headers["Authorization"] == basic("ci", SECRET)
    assert [s.method for s in blobs.seen] == ["HEAD", "GET"]
    assert all("Authorization" not in s.headers for s in blobs.seen)


def test_https_never_redirects_down_to_http(serve: Callable[..., Fake], tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    plain = serve(lambda h, s: manifest(h))
    fake = serve(lambda h, s: reply(h, 302, Location=f"http://{plain.host}/x"), tls)
    with pytest.raises(RegistryError) as info:
        resolve(fake.host, Client(ca_file=str(tls.ca)))
    assert str(info.value) == (
        f"{fake.host}/team/app:1: {fake.host} redirected to http://{plain.host}; "
        "policygen does not follow it"
    )
    assert plain.seen == []


def test_a_local_registry_with_an_untrusted_certificate_is_not_tried_over_http(
    serve: Callable[..., Fake], tmp_path: Path
) -> None:
    fake = serve(lambda h, s: manifest(h), make_tls(tmp_path))
    with pytest.raises(RegistryError) as info:
        resolve(fake.host)
    assert str(info.value).startswith(
        f"{fake.host}/team/app:1: {fake.host}'s TLS certificate is not trusted ("
    )
    assert str(info.value).endswith(
        f"); pass its CA with --ca-file, or put it in ~/.config/containers/certs.d/{fake.host}/"
    )


def test_a_registry_ca_in_certs_d_is_trusted_for_that_host_alone(
    serve: Callable[..., Fake], tmp_path: Path
) -> None:
    tls = make_tls(tmp_path / "tls")
    fake = serve(lambda h, s: manifest(h), tls)
    other = serve(lambda h, s: manifest(h), tls)
    certs = tmp_path / "certs.d"
    (certs / fake.host).mkdir(parents=True)
    (certs / fake.host / "ca.crt").write_bytes(tls.ca.read_bytes())
    c = Client(certs_dirs=[str(certs)])
    assert resolve(fake.host, c) == GOOD
    assert [s.method for s in fake.seen] == ["GET", "HEAD"]  # over HTTPS: the probe, the HEAD
    with pytest.raises(RegistryError, match="TLS certificate is not trusted"):
        resolve(other.host, c)
    # a request to a registry elsewhere, not probed, is told the same
    ref = imageref.parse(f"{other.host}/team/app:1")
    with pytest.raises(RegistryError) as info:
        Client(certs_dirs=[])._send(ref, "HEAD", f"https://{other.host}/v2/", {})
    assert str(info.value).startswith(
        f"{other.host}/team/app:1: {other.host}'s TLS certificate is not trusted ("
    )


def test_no_secret_in_any_error(serve: Callable[..., Fake]) -> None:
    """Every failure with credentials in play: none of their secrets, nor
    their base64, is in the message or its repr."""
    secrets = [SECRET, TOKEN_SECRET, base64.b64encode(f"ci:{SECRET}".encode()).decode()]
    messages = []
    for found in (PASSWORD, Credentials("config.json", identity_token=TOKEN_SECRET)):
        handlers: list[Handler] = [
            lambda h, s: reply(h, 401, WWW_Authenticate='Basic realm="registry"'),
            _bearer(lambda h: f"http://{h.headers['Host']}/token"),  # realm refuses (401)
            _bearer(lambda h: "http://127.0.0.1:9/token"),  # realm elsewhere
            _bearer(lambda h: "https://127.0.0.1:9/token"),  # realm elsewhere
            _get_only(
                lambda h: reply(h, 200, MANIFEST, Docker_Content_Digest="sha256:" + "0" * 64)
            ),
        ]
        for handle in handlers:
            fake = serve(handle)
            with pytest.raises(RegistryError) as info:
                resolve(fake.host, client(fake.host, found, token_realms=["127.0.0.1:9"]))
            messages += [str(info.value), repr(info.value)]
    messages.append(repr(PASSWORD))
    assert len(messages) == 21
    assert not [m for m in messages for secret in secrets if secret in m]


# -- challenges ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/nginx:pull,push"',
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "https://auth.docker.io/token",
                        "service": "registry.docker.io",
                        "scope": "repository:library/nginx:pull,push",
                    },
                )
            ],
        ),
        (
            'Basic realm="a \\"quoted\\" realm", Bearer realm="https://x/t", error=invalid_token',
            [
                Challenge("basic", {"realm": 'a "quoted" realm'}),
                Challenge("bearer", {"realm": "https://x/t", "error": "invalid_token"}),
            ],
        ),
        ("Negotiate", [Challenge("negotiate", {})]),
        ("", []),
    ],
)
def test_challenges(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges([header]) == expected


def test_docker_hub_is_reached_at_its_endpoint_over_https() -> None:
    client = Client()
    assert client._base("docker.io") == "https://registry-1.docker.io"
    assert client._base("reg.internal:5000") == "https://reg.internal:5000"
    assert (
        Client(plain_http=["reg.internal:5000"])._base("reg.internal:5000")
        == "http://reg.internal:5000"
    )


def test_credentials_are_looked_up_only_when_a_registry_asks(
    serve: Callable[..., Fake], tmp_path: Path
) -> None:
    """A public image never reads the credential files nor runs a helper, so
    a broken one matters only to the registry that asks for credentials."""
    config = tmp_path / "config.json"
    config.write_text("{not json")
    store = Store(environ={"DOCKER_CONFIG": str(tmp_path)}, home=tmp_path)
    public = serve(lambda h, s: manifest(h))
    assert resolve(public.host, Client(credentials=store)) == GOOD
    private = serve(lambda h, s: reply(h, 401, WWW_Authenticate='Basic realm="r"'))
    with pytest.raises(RegistryError) as info:
        resolve(private.host, Client(credentials=store))
    assert str(info.value) == (
        f"{private.host}/team/app:1: {config}:1:2: not valid JSON: "
        "Expecting property name enclosed in double quotes"
    )
