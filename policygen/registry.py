"""Resolving a tag to a digest over the OCI distribution API.

``HEAD /v2/<name>/manifests/<tag>`` first, with the index and manifest media
types in ``Accept`` (OCI index, Docker manifest list, OCI manifest, Docker
manifest v2, in that order, so a multi-platform image pins to its index): a
HEAD costs no pull on Docker Hub and its ``Docker-Content-Digest`` is the
answer. Only when the HEAD gives no usable digest is the manifest fetched
with ``GET``, and then its digest is computed from the body and checked
against the header.

Authentication is answered as the registry asks (``WWW-Authenticate``):
``Basic`` with the credentials found for it, or ``Bearer`` with a token from
its realm, fetched anonymously or with those credentials (a refresh token
is exchanged as OAuth2, distribution's ``docs/spec/auth/oauth.md``).
Credentials are sent only to the registry they were found for and to a
token realm on the same host (Docker Hub's auth.docker.io, or a host named
with ``--token-realm``), never over plain HTTP to a host not chosen for it,
and never across a redirect to another host. A registry's own CA is
trusted from ``--ca-file`` or where podman and Docker keep it
(``certs.d/HOST/*.crt``). Every failure is a
:class:`RegistryError` naming the image and what went wrong, never a secret.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from policygen import netdeadline
from policygen.credentials import Credentials, Store
from policygen.errors import RegistryError
from policygen.imageref import ImageRef
from policygen.netdeadline import Deadline

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    *INDEX_TYPES,
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join(MANIFEST_TYPES)
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # distribution's own limit for a manifest
MAX_TOKEN_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
#: Registries that answer somewhere other than their name.
ENDPOINTS = {"docker.io": "registry-1.docker.io"}
#: Token realms on another host that a registry's credentials may go to.
DELEGATED_REALMS = {"registry-1.docker.io": ("auth.docker.io",)}
#: Where container tools keep a registry's own CAs: containers-certs.d(5)
#: (podman, skopeo) and Docker's certs.d, each a folder per ``host[:port]``.
CERTS_DIRS = ("~/.config/containers/certs.d", "/etc/containers/certs.d", "/etc/docker/certs.d")
#: Hosts spoken to over plain HTTP by default, as Docker does.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes
    url: str


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercase
    params: dict[str, str]


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """RFC 7235 challenges, as in ``WWW-Authenticate`` (quoted strings with
    escapes and commas, several challenges in one header)."""
    out: list[Challenge] = []
    token = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    quoted = r'"((?:[^"\\]|\\.)*)"'
    for value in values:
        pos, n = 0, len(value)
        while pos < n:
            m = re.compile(rf"[\s,]*({token})").match(value, pos)
            if not m:
                break
            scheme, pos = m.group(1).lower(), m.end()
            params: dict[str, str] = {}
            while True:
                p = re.compile(rf"[\s,]*({token})\s*=\s*(?:{quoted}|({token}))").match(value, pos)
                if not p:
                    break
                raw = p.group(2) if p.group(2) is not None else p.group(3)
                params[p.group(1).lower()] = re.sub(r"\\(.)", r"\1", raw)
                pos = p.end()
            out.append(Challenge(scheme, params))
    return out


def _origin(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) with default ports dropped."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, host if port in (None, default) else f"{host}:{port}"


def _host_name(host: str) -> str:
    return host.split("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by :meth:`Client._send`, which decides what
    headers may travel (urllib's own handler forwards ``Authorization`` to
    any host)."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class Client:
    plain_http: Iterable[str] = ()
    timeout: float = 20.0
    credentials: Store | None = None
    #: Hosts of token realms that may be shown any registry's credentials.
    token_realms: Iterable[str] = ()
    #: A CA bundle trusted besides the system's.
    ca_file: str | None = None
    # Authorization headers hold secrets: kept out of repr, so that no
    # traceback or debugger shows them
    _auth: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _basic: dict[str, str] = field(default_factory=dict, repr=False)
    _local: dict[str, bool] = field(default_factory=dict)  # local host: speaks TLS
    #: Folders holding a ``HOST[:PORT]`` folder of CA files per registry.
    certs_dirs: Iterable[str] = CERTS_DIRS
    _openers: dict[str, urllib.request.OpenerDirector] = field(default_factory=dict)
    #: Seconds for one image, every request included: ``timeout`` bounds
    #: each socket operation only, and a registry dripping bytes never hits it.
    deadline: float = 60.0
    _deadline: Deadline | None = field(default=None, repr=False)

    def digest(self, ref: ImageRef) -> str:
        """The manifest digest the registry serves for ``ref``'s tag."""
        with Deadline(self.deadline) as self._deadline:
            try:
                digest = self._digest(ref)
            except RegistryError:
                if not self._deadline.expired:
                    raise
                digest = ""
            if self._deadline.expired:  # a cut-off answer can look whole
                raise RegistryError(
                    f"{ref.original}: no complete answer from {ref.domain} "
                    f"within {self.deadline:g} s"
                )
        return digest

    def _watch(self, sock: socket.socket) -> None:
        if self._deadline is not None:
            self._deadline.watch(sock)

    def _digest(self, ref: ImageRef) -> str:
        tag = ref.tag or "latest"
        base = self._base(ref.domain, ref.original)
        url = f"{base}/v2/{ref.path}/manifests/{urllib.parse.quote(tag)}"
        head = self._request(ref, "HEAD", url)
        if head.status == 200:
            header = head.headers.get("Docker-Content-Digest")
            if header is not None and not DIGEST.match(header):
                raise RegistryError(
                    f"{ref.original}: the registry sent a malformed digest {header!r}"
                )
            if header is not None and _media_type(head.headers) in MANIFEST_TYPES:
                return header
        elif head.status not in (405, 501):  # registries without HEAD say so
            raise RegistryError(self._problem(ref, head))
        got = self._request(ref, "GET", url)
        if got.status != 200:
            raise RegistryError(self._problem(ref, got))
        return _verified(ref, got)

    # -- plumbing --------------------------------------------------------------

    def _base(self, domain: str, image: str = "") -> str:
        host = ENDPOINTS.get(domain, domain)
        if host in set(self.plain_http):
            return f"http://{host}"
        if _host_name(host) in LOCAL_HOSTS:
            # Docker's rule for a registry on this machine: HTTPS when it
            # speaks it, else plain HTTP; never HTTP because a certificate
            # was not trusted.
            if host not in self._local:
                self._local[host] = self._speaks_tls(image or domain, host)
            return f"{'https' if self._local[host] else 'http'}://{host}"
        return f"https://{host}"

    def _speaks_tls(self, image: str, host: str) -> bool:
        try:
            with self._open(host).open(f"https://{host}/v2/", timeout=self.timeout):
                return True
        except urllib.error.HTTPError:
            return True
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLCertVerificationError):
                raise RegistryError(_untrusted(image, host, exc.reason)) from None
            if isinstance(exc.reason, ssl.SSLError | ConnectionResetError):
                return False
            raise RegistryError(f"{image}: cannot reach {host}: {exc.reason}") from None
        except (ssl.SSLError, ConnectionResetError):
            return False
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise RegistryError(f"{image}: cannot reach {host}: {exc}") from None

    def _plain(self, host: str) -> bool:
        return _host_name(host) in LOCAL_HOSTS or host in set(self.plain_http)

    def _open(self, host: str) -> urllib.request.OpenerDirector:
        """The opener for ``host``: the system's CAs, ``--ca-file``, and the
        CAs container tools keep for that host (``certs.d/HOST/*.crt``)."""
        if host not in self._openers:
            context = ssl.create_default_context()
            cas = [Path(self.ca_file)] if self.ca_file else []
            for folder in self.certs_dirs:
                cas += sorted((Path(folder).expanduser() / host).glob("*.crt"))
            for ca in cas:
                try:
                    context.load_verify_locations(cafile=ca)
                except (OSError, ssl.SSLError) as exc:
                    raise RegistryError(f"{ca}: not a CA certificate file: {exc}") from None
            self._openers[host] = urllib.request.build_opener(
                _NoRedirect, *netdeadline.handlers(self._watch, context)
            )
        return self._openers[host]

    def _send(
        self,
        ref: ImageRef,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None = None,
        limit: int = MAX_MANIFEST_BYTES,
    ) -> Response:
        """One request, following redirects: ``Authorization`` goes only to
        the origin it was meant for, and never from HTTPS down to HTTP."""
        first = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            send = dict(headers)
            if _origin(url) != first:
                send.pop("Authorization", None)
            request = urllib.request.Request(url, data=data, headers=send, method=method)
            try:
                with self._open(_origin(url)[1]).open(request, timeout=self.timeout) as answer:
                    body = b"" if method == "HEAD" else answer.read(limit + 1)
                    status, got = answer.status, answer.headers
            except urllib.error.HTTPError as exc:
                status, got = exc.code, exc.headers
                body = exc.read(64 * 1024) if method != "HEAD" else b""
            except http.client.RemoteDisconnected:
                raise RegistryError(
                    f"{ref.original}: {_origin(url)[1]} closed the connection without answering"
                ) from None
            except http.client.HTTPException as exc:
                # A status line, header or body that is not HTTP.
                what = type(exc).__name__
                raise RegistryError(
                    f"{ref.original}: {_origin(url)[1]} sent a malformed answer ({what})"
                ) from None
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                host = _origin(url)[1]
                if isinstance(reason, ssl.SSLCertVerificationError):
                    raise RegistryError(_untrusted(ref.original, host, reason)) from None
                raise RegistryError(f"{ref.original}: cannot reach {host}: {reason}") from None
            if status in (301, 302, 303, 307, 308) and got.get("Location"):
                target = urllib.parse.urljoin(url, got["Location"])
                if _origin(target)[0] not in ("http", "https") or (
                    _origin(url)[0] == "https" and _origin(target)[0] == "http"
                ):
                    raise RegistryError(
                        f"{ref.original}: {_origin(url)[1]} redirected to {_origin(target)[0]}"
                        f"://{_origin(target)[1]}; policygen does not follow it"
                    )
                if status == 303:
                    method, data = ("HEAD" if method == "HEAD" else "GET"), None
                url = target
                continue
            if len(body) > limit:
                raise RegistryError(
                    f"{ref.original}: the answer from {_origin(url)[1]} is too large"
                )
            length = got.get("Content-Length", "")
            if method != "HEAD" and length.isdigit() and int(length) != len(body):
                # http.client returns a body cut short by a closed connection
                # as if it were whole: its digest would be a wrong pin.
                raise RegistryError(
                    f"{ref.original}: {_origin(url)[1]} sent {len(body)} of the "
                    f"{length} bytes it announced"
                )
            return Response(status, got, body, url)
        raise RegistryError(f"{ref.original}: more than {MAX_REDIRECTS} redirects")

    def _request(self, ref: ImageRef, method: str, url: str) -> Response:
        headers = {"Accept": ACCEPT, "User-Agent": "policygen"}
        auth = self._auth.get((ref.domain, ref.path)) or self._basic.get(ref.domain)
        if auth:
            headers["Authorization"] = auth
        answer = self._send(ref, method, url, headers)
        if answer.status != 401:
            return answer
        challenges = parse_challenges(answer.headers.get_all("WWW-Authenticate") or [])
        headers["Authorization"] = self._authorize(ref, challenges)
        answer = self._send(ref, method, url, headers)
        return answer

    def _creds(self, ref: ImageRef) -> Credentials | None:
        if self.credentials is None:
            return None
        try:
            return self.credentials.find(ref.domain, ref.path)
        except RegistryError as exc:
            raise RegistryError(f"{ref.original}: {exc}") from None

    def _authorize(self, ref: ImageRef, challenges: list[Challenge]) -> str:
        """The ``Authorization`` header the registry's challenge asks for."""
        creds = self._creds(ref)
        host = ENDPOINTS.get(ref.domain, ref.domain)
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is None and basic is not None:
            if creds is None or creds.basic is None:
                raise RegistryError(
                    f"{ref.original}: {ref.domain} needs a username and password and none "
                    f"was found for it (docker login {ref.domain}, or --username)"
                )
            self._basic[ref.domain] = creds.basic
            return creds.basic
        if bearer is None:
            offered = ", ".join(c.scheme for c in challenges) or "nothing"
            raise RegistryError(
                f"{ref.original}: {ref.domain} asked for credentials but offered {offered}, "
                "not Basic or Bearer"
            )
        if creds is not None and creds.registry_token:
            header = f"Bearer {creds.registry_token}"
        else:
            header = f"Bearer {self._token(ref, host, bearer.params, creds)}"
        self._auth[(ref.domain, ref.path)] = header
        return header

    def _token(
        self, ref: ImageRef, host: str, params: dict[str, str], creds: Credentials | None
    ) -> str:
        realm = params.get("realm", "")
        scheme, realm_host = _origin(realm)
        if scheme not in ("https", "http") or not realm_host:
            raise RegistryError(f"{ref.original}: {ref.domain} sent no usable token realm")
        query = {"service": params["service"]} if params.get("service") else {}
        query["scope"] = params.get("scope") or f"repository:{ref.path}:pull"
        headers = {"User-Agent": "policygen"}
        data = None
        method = "GET"
        if creds is not None and (creds.basic or creds.identity_token):
            self._may_send(ref, host, scheme, realm_host, creds)
            if creds.identity_token:
                method = "POST"
                form = {**query, "grant_type": "refresh_token", "client_id": "policygen"}
                form["refresh_token"] = creds.identity_token
                data = urllib.parse.urlencode(form).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                headers["Authorization"] = creds.basic or ""
                # as docker and containers/image send it (distribution's token.md)
                query["account"] = creds.username
        url = realm if data is not None else realm + ("&" if "?" in realm else "?")
        if data is None:
            url += urllib.parse.urlencode(query)
        answer = self._send(ref, method, url, headers, data, MAX_TOKEN_BYTES)
        if answer.status in (401, 403):
            said = f"the credentials from {creds.source}" if creds else "anonymous access"
            raise RegistryError(
                f"{ref.original}: {realm_host} refused {said} "
                f"({answer.status} from the token realm)"
            )
        if answer.status != 200:
            raise RegistryError(
                f"{ref.original}: the token realm {realm_host} answered {answer.status}"
            )
        try:
            got = json.loads(answer.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            got = None
        token = (got.get("token") or got.get("access_token")) if isinstance(got, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{ref.original}: the token realm {realm_host} sent no token")
        return token

    def _may_send(
        self, ref: ImageRef, host: str, scheme: str, realm_host: str, creds: Credentials
    ) -> None:
        """Refuse to show ``host``'s credentials to a realm they do not belong to."""
        host = _origin(f"https://{host}")[1]  # lowercase, no :443
        if realm_host != host and realm_host not in (
            *DELEGATED_REALMS.get(host, ()),
            *self.token_realms,
        ):
            raise RegistryError(
                f"{ref.original}: {ref.domain} sends its token requests to {realm_host}; "
                f"policygen shows the credentials from {creds.source} only to {ref.domain} "
                f"(trust that realm with --token-realm {realm_host})"
            )
        if scheme == "http" and not self._plain(realm_host):
            raise RegistryError(
                f"{ref.original}: the token realm {realm_host} is plain HTTP; policygen "
                "sends no credentials over it (--plain-http to allow it)"
            )

    def _problem(self, ref: ImageRef, answer: Response) -> str:
        code = answer.status
        if code == 404:
            return f"{ref.original}: no such image or tag on {ref.domain}"
        creds = self._creds(ref) if code in (401, 403) else None
        if code == 401:
            if creds is None:
                return (
                    f"{ref.original}: {ref.domain} refused anonymous access (401); log in "
                    f"(docker login {ref.domain}) or pass --registry with --username"
                )
            return f"{ref.original}: {ref.domain} refused the credentials from {creds.source} (401)"
        if code == 403:
            who = f"the credentials from {creds.source}" if creds else "anonymous access"
            return f"{ref.original}: {ref.domain} denied {who} to {ref.path} (403)"
        if code == 429:
            return f"{ref.original}: {ref.domain} is rate limiting (429); try again later"
        try:
            detail = json.loads(answer.body).get("errors", [{}])[0].get("message", "")
        except Exception:
            detail = ""
        suffix = f": {str(detail)[:200]}" if detail else ""
        return f"{ref.original}: {ref.domain} answered {code} for the manifest{suffix}"


def _untrusted(image: str, host: str, reason: ssl.SSLCertVerificationError) -> str:
    return (
        f"{image}: {host}'s TLS certificate is not trusted ({reason.verify_message}); "
        f"pass its CA with --ca-file, or put it in ~/.config/containers/certs.d/{host}/"
    )


def _media_type(headers: Message) -> str:
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _verified(ref: ImageRef, answer: Response) -> str:
    """The digest of the manifest served, checked against what the registry
    says it is."""
    body, header = answer.body, answer.headers.get("Docker-Content-Digest")
    if header is not None and not DIGEST.match(header):
        raise RegistryError(f"{ref.original}: the registry sent a malformed digest {header!r}")
    algorithm = header.split(":")[0] if header else "sha256"
    digest = f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"
    if header is not None and header != digest:
        raise RegistryError(
            f"{ref.original}: the registry says the manifest is {header} "
            f"but what it served hashes to {digest}"
        )
    try:
        manifest = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        manifest = None
    if not isinstance(manifest, dict):
        raise RegistryError(f"{ref.original}: the registry's answer is not a manifest")
    media = manifest.get("mediaType") or _media_type(answer.headers)
    if manifest.get("schemaVersion") == 1 or str(media).startswith(SCHEMA1):
        raise RegistryError(
            f"{ref.original}: the registry serves only a schema 1 manifest, "
            "which cannot be pinned (push it again with a current client)"
        )
    if media not in MANIFEST_TYPES:
        raise RegistryError(
            f"{ref.original}: the registry served {media or 'an untyped document'}, "
            "not an image manifest or index"
        )
    return digest
