"""Registry credentials, found where the container tools keep them.

The search follows containers/image (``pkg/docker/config/config.go``, what
skopeo and podman use), with Docker's ``credsStore`` on top:

1. explicit credentials (``--username`` with ``--password-stdin`` or
   ``POLICYGEN_REGISTRY_PASSWORD``, or a bearer token in
   ``POLICYGEN_REGISTRY_TOKEN``), only for the one registry named with
   ``--registry``;
2. ``$REGISTRY_AUTH_FILE`` when set, and then nothing else; otherwise
   ``$XDG_RUNTIME_DIR/containers/auth.json``,
   ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`` and
   ``${DOCKER_CONFIG:-~/.docker}/config.json``, the first file that knows
   the registry winning.

In a file, ``credHelpers[host]`` comes first, then ``credsStore``, then the
``auths`` entry: most specific key first (``host/team/app``, ``host/team``,
``host``), then keys written as URLs (``https://index.docker.io/v1/``).

Secrets live only in :class:`Credentials`, whose ``repr`` hides them; every
message here names files, keys and helpers, never what they hold.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from policygen.errors import RegistryError

#: Docker Hub's names, all meaning the same credentials (containers/image's
#: normalizeRegistry).
DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")
#: The key Docker's own tools store Hub credentials under, and the server
#: URL they give a credential helper for it.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
#: What docker-credential-helpers print when they hold nothing for a server.
NOT_FOUND = "credentials not found in native keychain"
HELPER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
HELPER_TIMEOUT = 60.0


@dataclass(frozen=True)
class Credentials:
    """What a registry or its token realm is shown. ``source`` says where
    they came from, for messages; the secrets never leave this object but
    as an ``Authorization`` header or a token request."""

    source: str
    username: str = ""
    password: str = field(default="", repr=False)
    #: An OAuth2 refresh token (``identitytoken``), exchanged at the realm.
    identity_token: str = field(default="", repr=False)
    #: A bearer token sent to the registry as is (``registrytoken``).
    registry_token: str = field(default="", repr=False)

    @property
    def basic(self) -> str | None:
        """The ``Basic`` header value, when there is a username and password."""
        if not self.username or not self.password:
            return None
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def same_registry(a: str, b: str) -> bool:
    return a == b or (a in DOCKER_HUB and b in DOCKER_HUB)


@dataclass
class Store:
    """Finds credentials for a registry; each source is read once."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    home: Path = field(default_factory=Path.home)
    #: The registry explicit credentials belong to, and them.
    explicit: tuple[str, Credentials] | None = None
    _files: dict[Path, dict[str, object] | None] = field(default_factory=dict)
    _found: dict[tuple[str, str], Credentials | None] = field(default_factory=dict)

    def find(self, domain: str, path: str) -> Credentials | None:
        """Credentials for repository ``path`` on registry ``domain``, or None."""
        if self.explicit is not None and same_registry(self.explicit[0], domain):
            return self.explicit[1]
        key = (domain, path)
        if key not in self._found:
            self._found[key] = self._search(domain, path)
        return self._found[key]

    def auth_files(self) -> list[Path]:
        """The files searched, in order (containers/image's getAuthFilePaths)."""
        env = self.environ
        if env.get("REGISTRY_AUTH_FILE"):
            return [Path(env["REGISTRY_AUTH_FILE"])]
        files = []
        if env.get("XDG_RUNTIME_DIR"):
            files.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
        config_home = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else None
        files.append((config_home or self.home / ".config") / "containers" / "auth.json")
        docker = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else None
        files.append((docker or self.home / ".docker") / "config.json")
        return files

    def _search(self, domain: str, path: str) -> Credentials | None:
        for file in self.auth_files():
            content = self._read(file)
            if content is not None:
                found = _in_file(file, content, domain, path, self.environ)
                if found is not None:
                    return found
        return None

    def _read(self, file: Path) -> dict[str, object] | None:
        if file not in self._files:
            self._files[file] = _load(file)
        return self._files[file]


def _load(file: Path) -> dict[str, object] | None:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise RegistryError(f"{file}: cannot read: {reason}") from None
    try:
        content = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg and the position only: the text around it may hold a secret
        raise RegistryError(f"{file}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(content, dict):
        raise RegistryError(f"{file}: not a JSON object")
    return content


def _section(file: Path, content: dict[str, object], name: str) -> dict[str, object]:
    value = content.get(name) or {}
    if not isinstance(value, dict):
        raise RegistryError(f"{file}: {name} is not an object")
    return value


def _in_file(
    file: Path, content: dict[str, object], domain: str, path: str, environ: Mapping[str, str]
) -> Credentials | None:
    helpers = _section(file, content, "credHelpers")
    for host, helper in helpers.items():
        if same_registry(_normalised_key(host), domain):
            return _from_helper(file, f"credHelpers[{host}]", helper, domain, environ)
    store = content.get("credsStore")
    if store:
        found = _from_helper(file, "credsStore", store, domain, environ)
        if found is not None:
            return found
    auths = _section(file, content, "auths")
    for key in _lookup_keys(domain, path):
        if key in auths:
            return _from_entry(file, key, auths[key])
    for key, entry in auths.items():
        if same_registry(_normalised_key(key), domain):
            return _from_entry(file, key, entry)
    return None


def _lookup_keys(domain: str, path: str) -> Iterator[str]:
    """``host/a/b``, ``host/a``, ``host``: containers/image's authKeyLookupOrder."""
    key = f"{domain}/{path}"
    while True:
        yield key
        if "/" not in key:
            return
        key = key.rsplit("/", 1)[0]


def _normalised_key(key: str) -> str:
    """A key written as a URL (``https://host/v1/``) is its host."""
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            return key[len(scheme) :].split("/", 1)[0]
    return key


def _from_entry(file: Path, key: str, entry: object) -> Credentials | None:
    where = f"{file}: auths[{key}]"
    if not isinstance(entry, dict):
        raise RegistryError(f"{where} is not an object")
    strings = {k: v for k, v in entry.items() if isinstance(v, str)}
    username, password = strings.get("username", ""), strings.get("password", "")
    if strings.get("auth"):
        try:
            decoded = base64.b64decode(strings["auth"], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise RegistryError(f"{where}.auth is not base64 of user:password") from None
        if ":" not in decoded:
            # Docker skips such an entry; so do containers/image and we
            return None
        username, password = decoded.split(":", 1)
        password = password.strip("\x00")
    found = Credentials(
        source=where,
        username=username,
        password=password,
        identity_token=strings.get("identitytoken", ""),
        registry_token=strings.get("registrytoken", ""),
    )
    if not (found.basic or found.identity_token or found.registry_token):
        return None  # an empty entry: what Docker leaves when a helper holds the secret
    return found


def _from_helper(
    file: Path, where: str, helper: object, domain: str, environ: Mapping[str, str]
) -> Credentials | None:
    """``docker-credential-NAME get``: the server on stdin, JSON on stdout
    (docker/docker-credential-helpers' client protocol)."""
    if not isinstance(helper, str) or not HELPER_NAME.match(helper):
        raise RegistryError(f"{file}: {where} is not a credential helper name")
    program = f"docker-credential-{helper}"
    server = DOCKER_HUB_KEY if domain in DOCKER_HUB else domain
    source = f"{program} (from {file})"
    try:
        done = subprocess.run(
            [program, "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            env=dict(environ),
        )
    except FileNotFoundError:
        raise RegistryError(f"{domain}: {source} is not installed") from None
    except subprocess.TimeoutExpired:
        raise RegistryError(f"{domain}: {source} did not answer in 60 s") from None
    except OSError as exc:
        raise RegistryError(f"{domain}: cannot run {source}: {exc.strerror}") from None
    if done.returncode != 0:
        said = done.stdout.strip()
        if NOT_FOUND in said:
            return None
        # what a failing helper printed is shown only when it is not JSON:
        # a broken helper must not get its secret printed by us
        first = said.splitlines()[0][:200] if said and not said.startswith("{") else ""
        raise RegistryError(
            f"{domain}: {source} failed (exit {done.returncode})" + (f": {first}" if first else "")
        )
    try:
        answer = json.loads(done.stdout)
        username, secret = answer["Username"], answer["Secret"]
        if not isinstance(username, str) or not isinstance(secret, str):
            raise TypeError
    except (json.JSONDecodeError, KeyError, TypeError):
        raise RegistryError(
            f"{domain}: {source} answered something other than credentials"
        ) from None
    if username == "<token>":  # an identity token, as docker login stores one
        return Credentials(source=source, identity_token=secret)
    return Credentials(source=source, username=username, password=secret)


def explicit(
    registry: str | None,
    username: str | None,
    password: str | None,
    environ: Mapping[str, str],
) -> tuple[str, Credentials] | None:
    """The credentials given on the command line or in the environment, for
    the one registry they are for."""
    username = username or environ.get("POLICYGEN_REGISTRY_USERNAME") or None
    if password is None and environ.get("POLICYGEN_REGISTRY_PASSWORD"):
        password = environ["POLICYGEN_REGISTRY_PASSWORD"]
    token = environ.get("POLICYGEN_REGISTRY_TOKEN") or ""
    if username is None and password is None and not token:
        return None
    if not registry:
        raise RegistryError(
            "explicit credentials need --registry HOST: they are sent only to the "
            "registry they belong to"
        )
    registry = _normalised_key(registry)  # --registry https://harbor.x/ means harbor.x
    if token:
        return registry, Credentials(source="POLICYGEN_REGISTRY_TOKEN", registry_token=token)
    if not username or not password:
        raise RegistryError(
            "--username needs a password (--password-stdin or POLICYGEN_REGISTRY_PASSWORD)"
        )
    return registry, Credentials(source="--username", username=username, password=password)
