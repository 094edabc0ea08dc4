"""A token server for the real registry's token authentication
(distribution's ``auth: token``, ``docs/spec/auth/token.md``): checks Basic
credentials, and answers with a JWT signed ES256 by a certificate the
registry's ``rootcertbundle`` CA issued, carried in the ``x5c`` header, as
distribution's ``registry/auth/token`` verifies it. Signing is done with
``openssl``, so the tests need no crypto library."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ISSUER = "policygen-test-issuer"
SERVICE = "policygen-test"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw_signature(der: bytes) -> bytes:
    """ECDSA's DER (r, s) as JOSE's 64 bytes r || s."""
    assert der[0] == 0x30
    pos = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[pos] == 0x02
        size = der[pos + 1]
        value = der[pos + 2 : pos + 2 + size]
        out += value.lstrip(b"\0").rjust(32, b"\0")
        pos += 2 + size
    return out


class TokenServer:
    def __init__(self, cert: Path, key: Path, users: dict[str, str]) -> None:
        self.key = key
        self.users = users
        pem = cert.read_text()
        body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        self.x5c = "".join(body.split())  # the DER, in standard base64
        #: (path, whether it came with valid credentials) of every request
        self.seen: list[tuple[str, bool]] = []
        server = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.host = f"127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.http.shutdown()

    def sign(self, claims: dict[str, object]) -> str:
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]}
        payload = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        der = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=payload.encode(),
            check=True,
            capture_output=True,
        ).stdout
        return payload + "." + _b64url(_raw_signature(der))

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(h.path).query)
        account = ""
        given = h.headers.get("Authorization", "")
        if given.startswith("Basic "):
            user, _, password = base64.b64decode(given[6:]).decode().partition(":")
            if self.users.get(user) != password:
                self.seen.append((h.path, False))
                h.send_response(401)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            account = user
        self.seen.append((h.path, bool(account)))
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":")
            # the signed-in user may pull and push; nobody else gets anything
            allowed = actions.split(",") if account else []
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        token = self.sign(
            {
                "iss": ISSUER,
                "sub": account,
                "aud": query.get("service", [""])[0],
                "exp": now + 300,
                "nbf": now - 10,
                "iat": now,
                "jti": secrets.token_hex(8),
                "access": access,
            }
        )
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
