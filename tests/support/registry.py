"""A real registry for tests: Debian's docker-registry (CNCF distribution)
on 127.0.0.1, images pushed with skopeo from an OCI layout built here.

With ``users`` it asks for them with htpasswd (bcrypt entries made by
Apache's ``htpasswd``), which distribution serves only over TLS: a CA and a
certificate for 127.0.0.1 are made with ``openssl`` for each registry, and
given to skopeo and to policygen. Installs the tools with apt-get when they
are missing, and says so."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.token import ISSUER, SERVICE, TokenServer

PACKAGES = {
    "docker-registry": "docker-registry",
    "skopeo": "skopeo",
    "htpasswd": "apache2-utils",
    "openssl": "openssl",
}


def ensure_tools() -> None:
    missing = [pkg for tool, pkg in PACKAGES.items() if shutil.which(tool) is None]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"tests need {', '.join(missing)}; install them (Debian: apt-get)")
    print(
        f"tests/support/registry.py: installing {' '.join(missing)} with apt-get", file=sys.stderr
    )
    install = ["apt-get", "install", "-y", "-q", *missing]
    if subprocess.run(install, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
        subprocess.run(install, check=True, capture_output=True)


@dataclass(frozen=True)
class TLS:
    """A CA and a server certificate it signed, for 127.0.0.1 and localhost."""

    ca: Path
    cert: Path
    key: Path
    #: skopeo's --cert-dir: the CA as ca.crt
    cert_dir: Path


def make_tls(root: Path) -> TLS:
    root.mkdir(parents=True, exist_ok=True)
    ca, ca_key = root / "ca.pem", root / "ca.key"
    cert, key, csr = root / "cert.pem", root / "key.pem", root / "cert.csr"
    ext = root / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = [
        [
            "openssl",
            "req",
            "-x509",
            *ec,
            "-keyout",
            ca_key,
            "-out",
            ca,
            "-days",
            "2",
            "-subj",
            "/CN=policygen test CA",
        ],
        ["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            ext,
        ],
    ]
    for cmd in run:
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
    cert_dir = root / "certs.d"
    cert_dir.mkdir(exist_ok=True)
    shutil.copy(ca, cert_dir / "ca.crt")
    return TLS(ca, cert, key, cert_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    def __init__(
        self, root: Path, users: dict[str, str] | None = None, *, token: bool = False
    ) -> None:
        """Anonymous and plain HTTP; with ``users``, over TLS and asking for
        them with htpasswd, or with ``token`` through a token server on
        another port (distribution's token authentication)."""
        ensure_tools()
        self.root = root
        self.host = f"127.0.0.1:{free_port()}"
        self.users = users or {}
        self.tls = make_tls(root / "tls") if users else None
        self.token: TokenServer | None = None
        http = f"addr: {self.host}"
        auth = ""
        if self.tls is not None:
            http += f", tls: {{certificate: {self.tls.cert}, key: {self.tls.key}}}"
        if self.tls is not None and token:
            # the registry's own certificate signs the tokens: its CA is the root
            self.token = TokenServer(self.tls.cert, self.tls.key, self.users)
            auth = (
                f"auth: {{token: {{realm: 'http://{self.token.host}/token', "
                f"service: {SERVICE}, issuer: {ISSUER}, rootcertbundle: {self.tls.ca}}}}}\n"
            )
        elif self.tls is not None:
            htpasswd = root / "htpasswd"
            htpasswd.write_text(
                "".join(
                    subprocess.run(
                        ["htpasswd", "-nbB", user, password],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout.strip()
                    + "\n"
                    for user, password in self.users.items()
                )
            )
            auth = f"auth: {{htpasswd: {{realm: policygen-test, path: {htpasswd}}}}}\n"
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: error}\n"
            f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
            f"http: {{{http}}}\n" + auth
        )
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        scheme = "https" if self.tls else "http"
        context = ssl.create_default_context(cafile=str(self.tls.ca)) if self.tls else None
        while True:
            try:
                urllib.request.urlopen(f"{scheme}://{self.host}/v2/", timeout=1, context=context)
                break
            except urllib.error.HTTPError:
                break  # 401: up, and asking for credentials
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("docker-registry did not start") from None
                time.sleep(0.1)

    def _skopeo(self, prefix: str) -> list[str]:
        """skopeo's flags for this registry: its CA, or no TLS; the first user."""
        if self.tls is None:
            return [f"--{prefix}tls-verify=false"]
        user, password = next(iter(self.users.items()))
        return [f"--{prefix}cert-dir={self.tls.cert_dir}", f"--{prefix}creds={user}:{password}"]

    def push(self, repository: str, tag: str, content: bytes, *, platforms: int = 0) -> str:
        """Push a one-layer image (an index of ``platforms`` such images, if
        any); return the digest skopeo sees on the registry."""
        name = hashlib.sha256(content + bytes([platforms])).hexdigest()[:12]
        layout = self.root / "layouts" / name
        if not layout.exists():
            build_layout(layout, content, platforms)
        dest = f"docker://{self.host}/{repository}:{tag}"
        subprocess.run(
            [
                "skopeo",
                "copy",
                "-q",
                "--all",
                "--preserve-digests",
                *self._skopeo("dest-"),
                f"oci:{layout}:image",
                dest,
            ],
            check=True,
            capture_output=True,
        )
        out = subprocess.run(
            ["skopeo", "inspect", "--raw", *self._skopeo(""), dest],
            check=True,
            capture_output=True,
        )
        return "sha256:" + hashlib.sha256(out.stdout).hexdigest()

    def stop(self) -> None:
        if self.token is not None:
            self.token.stop()
        self.process.terminate()
        self.process.wait(10)


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _image(layout: Path, content: bytes, arch: str) -> dict[str, object]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()],
            },
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **_blob(layout, config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(layout, layer)}
            ],
        }
    ).encode()
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", **_blob(layout, manifest)}


def build_layout(layout: Path, content: bytes, platforms: int = 0) -> None:
    """An OCI layout holding one image, or an index of ``platforms`` images."""
    if platforms:
        archs = ["amd64", "arm64", "riscv64", "s390x"][:platforms]
        manifests = [
            {
                **_image(layout, content + arch.encode(), arch),
                "platform": {"architecture": arch, "os": "linux"},
            }
            for arch in archs
        ]
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": manifests,
            }
        ).encode()
        entry = {"mediaType": "application/vnd.oci.image.index.v1+json", **_blob(layout, index)}
    else:
        entry = _image(layout, content, "amd64")
    entry["annotations"] = {"org.opencontainers.image.ref.name": "image"}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
