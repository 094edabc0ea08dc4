"""A real registry for tests: Debian's docker-registry (CNCF distribution)
on 127.0.0.1, images pushed with skopeo from an OCI layout built here.
Installs both with apt-get when they are missing."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

PACKAGES = {"docker-registry": "docker-registry", "skopeo": "skopeo"}


def ensure_tools() -> None:
    missing = [pkg for tool, pkg in PACKAGES.items() if shutil.which(tool) is None]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"tests need {', '.join(missing)}; install them (Debian: apt-get)")
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    def __init__(self, root: Path) -> None:
        ensure_tools()
        self.root = root
        self.host = f"127.0.0.1:{free_port()}"
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: error}\n"
            f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
            f"http: {{addr: {self.host}}}\n"
        )
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("docker-registry did not start") from None
                time.sleep(0.1)

    def push(self, repository: str, tag: str, content: bytes) -> str:
        """Push a one-layer image; return the digest skopeo sees on the registry."""
        layout = self.root / "layouts" / hashlib.sha256(content).hexdigest()[:12]
        if not layout.exists():
            build_layout(layout, content)
        dest = f"docker://{self.host}/{repository}:{tag}"
        subprocess.run(
            ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:image", dest],
            check=True,
            capture_output=True,
        )
        out = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", dest],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def build_layout(layout: Path, content: bytes) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
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
    entry = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **_blob(layout, manifest),
        "annotations": {"org.opencontainers.image.ref.name": "image"},
    }
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
