"""Resolving a tag to a digest over the OCI distribution API.

``GET /v2/<name>/manifests/<tag>`` with the manifest media types in
``Accept``; the digest is the sha256 of the body as served (checked against
``Docker-Content-Digest`` when the registry sends it). Anonymous bearer
tokens are fetched when the registry asks for them (``WWW-Authenticate``),
as ``docker pull`` does for public images. Anything unexpected is a
:class:`RegistryError` naming the image and what the registry said.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field

from policygen.errors import RegistryError
from policygen.imageref import ImageRef

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # distribution's own limit for a manifest
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
#: Registries that answer somewhere other than their name.
ENDPOINTS = {"docker.io": "registry-1.docker.io"}
#: Hosts spoken to over plain HTTP by default, as Docker does.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


@dataclass
class Client:
    plain_http: Iterable[str] = ()
    timeout: float = 20.0
    _tokens: dict[str, str] = field(default_factory=dict)

    def digest(self, ref: ImageRef) -> str:
        """The manifest digest the registry serves for ``ref``'s tag."""
        tag = ref.tag or "latest"
        url = f"{self._base(ref.domain)}/v2/{ref.path}/manifests/{urllib.parse.quote(tag)}"
        body, header = self._get(url, ref)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if header is not None and header != digest:
            raise RegistryError(
                f"{ref.original}: the registry says the manifest is {header} "
                f"but what it served hashes to {digest}"
            )
        try:
            media = json.loads(body).get("mediaType", "") or "manifest"
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            raise RegistryError(
                f"{ref.original}: the registry's answer is not a manifest"
            ) from None
        if not isinstance(media, str):
            raise RegistryError(f"{ref.original}: the registry's answer is not a manifest")
        return digest

    def _base(self, domain: str) -> str:
        host = ENDPOINTS.get(domain, domain)
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        scheme = "http" if name in LOCAL_HOSTS or host in set(self.plain_http) else "https"
        return f"{scheme}://{host}"

    def _get(self, url: str, ref: ImageRef, retried: bool = False) -> tuple[bytes, str | None]:
        headers = {"Accept": ACCEPT, "User-Agent": "policygen"}
        token = self._tokens.get(ref.domain)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read(MAX_MANIFEST_BYTES + 1)
                header = response.headers.get("Docker-Content-Digest")
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and not retried:
                self._tokens[ref.domain] = self._token(exc.headers.get("WWW-Authenticate", ""), ref)
                return self._get(url, ref, retried=True)
            raise RegistryError(_http_problem(ref, exc)) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryError(f"{ref.original}: cannot reach {ref.domain}: {reason}") from None
        if len(body) > MAX_MANIFEST_BYTES:
            raise RegistryError(f"{ref.original}: the manifest is larger than 4 MiB")
        if header is not None and not DIGEST.match(header):
            raise RegistryError(f"{ref.original}: the registry sent a malformed digest {header!r}")
        return body, header

    def _token(self, challenge: str, ref: ImageRef) -> str:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() != "bearer":
            raise RegistryError(
                f"{ref.original}: {ref.domain} wants {scheme or 'credentials'}; "
                "policygen resolves public images only"
            )
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.pop("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise RegistryError(f"{ref.original}: {ref.domain} sent no usable token realm")
        fields.setdefault("scope", f"repository:{ref.path}:pull")
        url = realm + "?" + urllib.parse.urlencode(fields)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                answer = json.loads(response.read(1024 * 1024))
        except urllib.error.HTTPError as exc:
            raise RegistryError(_http_problem(ref, exc, "token")) from None
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
            raise RegistryError(f"{ref.original}: no token from {realm}: {exc}") from None
        token = (
            answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
        )
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{ref.original}: {realm} answered without a token")
        return token


def _http_problem(ref: ImageRef, exc: urllib.error.HTTPError, what: str = "manifest") -> str:
    if exc.code == 404:
        return f"{ref.original}: no such image or tag on {ref.domain}"
    if exc.code in (401, 403):
        return (
            f"{ref.original}: {ref.domain} refused access ({exc.code}); "
            "private images are not supported"
        )
    try:
        detail = json.loads(exc.read(64 * 1024)).get("errors", [{}])[0].get("message", "")
    except Exception:
        detail = ""
    suffix = f": {detail}" if detail else ""
    return f"{ref.original}: {ref.domain} answered {exc.code} for the {what}{suffix}"
