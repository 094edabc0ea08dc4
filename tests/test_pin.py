"""policygen pin against a real registry (docker-registry, images pushed by skopeo)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policygen.cli import app
from policygen.errors import PolicygenError
from tests.support.registry import Registry

USER, PASSWORD = "ci", "s3cret-Pa55-never-shown"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = Registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The registry with htpasswd authentication, over TLS with a CA of its own."""
    server = Registry(tmp_path_factory.mktemp("private"), users={USER: PASSWORD})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tokened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The registry with token authentication: a token server on another port
    checks the credentials and signs the tokens the registry verifies."""
    server = Registry(tmp_path_factory.mktemp("tokened"), users={USER: PASSWORD}, token=True)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def no_credentials_of_this_machine(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The credentials a test gives, and none from the machine running it."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    for name in (
        "DOCKER_CONFIG",
        "REGISTRY_AUTH_FILE",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
        "POLICYGEN_REGISTRY_USERNAME",
        "POLICYGEN_REGISTRY_PASSWORD",
        "POLICYGEN_REGISTRY_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


def pin(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["pin", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def pod(image: str, name: str = "p") -> str:
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n"
        f"  containers:\n    - name: c\n      image: {image}\n"
    )


MANIFEST = """\
# The app, with comments that must survive.
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: team-a}}
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: "{host}/team-a/init:2"   # quoted, with a comment
      containers:
        - name: app
          image: {host}/team-a/app:1.0
        - name: pinned
          image: {host}/team-a/app@{pinned}
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {{name: p}}
    spec:
      containers: [{{name: c, image: '{host}/team-a/app:1.0'}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: not-a-workload}}
data:
  image: {host}/team-a/app:1.0
"""


def test_pins_every_tag_keeping_layout(registry: Registry, tmp_path: Path) -> None:
    app_digest = registry.push("team-a/app", "1.0", b"app")
    init_digest = registry.push("team-a/init", "2", b"init")
    path = tmp_path / "app.yaml"
    original = MANIFEST.format(host=registry.host, pinned=app_digest)
    path.write_text(original)
    code, out, err = pin(str(path))
    assert (code, err) == (0, "")
    h = registry.host
    assert out.splitlines() == [
        f"{path}:10: pinned init: {h}/team-a/init:2@{init_digest}",
        f"{path}:13: pinned app: {h}/team-a/app:1.0@{app_digest}",
        f"{path}:24: pinned c: {h}/team-a/app:1.0@{app_digest}",
    ]
    expected = (
        original.replace(f'"{h}/team-a/init:2"', f'"{h}/team-a/init:2@{init_digest}"')
        .replace(f"image: {h}/team-a/app:1.0\n", f"image: {h}/team-a/app:1.0@{app_digest}\n", 1)
        .replace(f"'{h}/team-a/app:1.0'", f"'{h}/team-a/app:1.0@{app_digest}'")
    )
    assert path.read_text() == expected
    assert f"  image: {h}/team-a/app:1.0\n" in path.read_text()  # the ConfigMap is not a workload


def test_pins_image_volume_references(registry: Registry, tmp_path: Path) -> None:
    data_digest = registry.push("team-a/data", "3", b"data")
    h = registry.host
    path = tmp_path / "vol.yaml"
    original = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
        f"  containers: [{{name: c, image: '{h}/team-a/data@{data_digest}'}}]\n"
        "  volumes:\n"
        "    - {name: cfg, configMap: {name: x}}\n"
        f"    - name: data  # an image volume\n      image: {{reference: {h}/team-a/data:3, pullPolicy: Always}}\n"
    )
    path.write_text(original)
    code, out, err = pin(str(path))
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"{path}:9: pinned data: {h}/team-a/data:3@{data_digest}"]
    assert path.read_text() == original.replace(
        f"reference: {h}/team-a/data:3,", f"reference: {h}/team-a/data:3@{data_digest},"
    )


def test_dry_run_writes_nothing(registry: Registry, tmp_path: Path) -> None:
    registry.push("team-a/app", "1.0", b"app")
    path = tmp_path / "p.yaml"
    path.write_text(
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers: [{{name: c, image: {registry.host}/team-a/app:1.0}}]\n"
    )
    before = path.read_text()
    code, out, _ = pin("--dry-run", str(path))
    assert code == 0
    assert out.startswith(f"{path}:5: would pin c: {registry.host}/team-a/app:1.0@sha256:")
    assert path.read_text() == before


def test_a_file_with_an_unknown_tag_is_left_untouched(registry: Registry, tmp_path: Path) -> None:
    registry.push("team-a/app", "1.0", b"app")
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n{containers}"
    good.write_text(
        pod.format(containers=f"    - {{name: a, image: {registry.host}/team-a/app:1.0}}\n")
    )
    bad_text = pod.format(
        containers=f"    - {{name: a, image: {registry.host}/team-a/app:1.0}}\n"
        f"    - {{name: b, image: {registry.host}/team-a/app:nope}}\n"
    )
    bad.write_text(bad_text)
    code, out, err = pin(str(tmp_path))
    assert code == 2
    assert bad.read_text() == bad_text
    assert "@sha256:" in good.read_text()
    assert err.splitlines() == [
        f"policygen: {bad}:7: {registry.host}/team-a/app:nope: no such image or tag on {registry.host}",
        f"policygen: {bad}: left unchanged, since not every image resolved",
    ]
    assert out.startswith(f"{good}:6: pinned a: ")


def test_invalid_yaml_and_unreachable_registries(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    far = tmp_path / "far.yaml"
    far.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: 127.0.0.1:9/x:1}]\n"
    )
    code, _, err = pin(str(broken), str(far))
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == f"policygen: {broken}:2:1: invalid YAML: did not find expected node content"
    assert lines[1].startswith(f"policygen: {far}:5: 127.0.0.1:9/x:1: cannot reach 127.0.0.1:9:")


@pytest.mark.parametrize(
    ("raw", "pinned"),
    [
        # Windows line endings survive, comments and quoting too
        (
            b'spec:\r\n  containers:\r\n  - name: a  # x\r\n    image: "nginx:1"\r\n',
            b'spec:\r\n  containers:\r\n  - name: a  # x\r\n    image: "nginx:1@DIGEST"\r\n',
        ),
        # a byte-order mark does not shift the splice
        (
            "\ufeffspec: {containers: [{name: b, image: redis}]}\n".encode(),
            "\ufeffspec: {containers: [{name: b, image: redis@DIGEST}]}\n".encode(),
        ),
    ],
)
def test_line_endings_and_bom_are_kept(tmp_path: Path, raw: bytes, pinned: bytes) -> None:
    from policygen.pin import pin_paths

    digest = "sha256:" + "a" * 64
    head = b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
    path = tmp_path / "p.yaml"
    bom = raw.startswith(b"\xef\xbb\xbf")
    body = raw[3:] if bom else raw
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + head + body)
    report = pin_paths([str(path)], lambda ref: digest)
    assert report.problems == []
    expected = pinned.replace(b"DIGEST", digest.encode())
    expected_body = expected[3:] if bom else expected
    assert path.read_bytes() == (b"\xef\xbb\xbf" if bom else b"") + head + expected_body


# -- private registries -------------------------------------------------------


def login(registry: Registry) -> list[str]:
    assert registry.tls is not None
    return ["--ca-file", str(registry.tls.ca), "--registry", registry.host, "--username", USER]


def test_pins_from_a_private_registry_with_password_stdin(
    private: Registry, tmp_path: Path
) -> None:
    digest = private.push("infra/scraper", "27.15", b"scraper")
    path = tmp_path / "p.yaml"
    path.write_text(pod(f"{private.host}/infra/scraper:27.15"))
    code, out, err = pin(*login(private), "--password-stdin", str(path), stdin=PASSWORD + "\n")
    assert (code, err) == (0, "")
    assert out == f"{path}:7: pinned c: {private.host}/infra/scraper:27.15@{digest}\n"
    assert path.read_text() == pod(f"{private.host}/infra/scraper:27.15@{digest}")


def test_pins_with_the_docker_config_certs_d_and_a_multi_platform_index(
    private: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert private.tls is not None
    index = private.push("infra/multi", "1", b"multi", platforms=2)
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker/config.json").write_text(
        json.dumps({"auths": {private.host: {"auth": auth}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    path = tmp_path / "p.yaml"
    path.write_text(pod(f"{private.host}/infra/multi:1"))
    # the CA where podman and skopeo look for it, not on the command line
    certs = Path.home() / ".config/containers/certs.d" / private.host
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_bytes(private.tls.ca.read_bytes())
    code, out, err = pin(str(path))
    assert (code, err) == (0, "")
    # the index, which every platform's node resolves, not one platform's manifest
    assert out == f"{path}:7: pinned c: {private.host}/infra/multi:1@{index}\n"


def test_wrong_credentials_leave_files_untouched_and_show_no_secret(
    private: Registry, tmp_path: Path
) -> None:
    private.push("infra/scraper", "27.15", b"scraper")
    path, lock = tmp_path / "p.yaml", tmp_path / "images.lock"
    path.write_text(pod(f"{private.host}/infra/scraper:27.15"))
    before = path.read_text()
    wrong = "wrong-" + PASSWORD
    code, out, err = pin(
        *login(private), "--password-stdin", "--lock", str(lock), str(path), stdin=wrong
    )
    assert (code, out) == (2, "")
    assert err == (
        f"policygen: {path}:7: {private.host}/infra/scraper:27.15: {private.host} refused "
        "the credentials from --username (401)\n"
    )
    assert path.read_text() == before
    assert not lock.exists()
    # anonymous, the registry's refusal says what to do
    assert private.tls is not None
    code, _, err = pin("--ca-file", str(private.tls.ca), str(path))
    assert code == 2
    assert err.endswith(
        f"{private.host} needs a username and password and none was found for it "
        f"(docker login {private.host}, or --username)\n"
    )
    assert PASSWORD not in err and wrong not in err


def test_bearer_tokens_from_the_real_registrys_token_realm(
    tokened: Registry, tmp_path: Path
) -> None:
    assert tokened.token is not None and tokened.tls is not None
    digest = tokened.push("infra/scraper", "27.15", b"scraper")
    realm = tokened.token.host
    path = tmp_path / "p.yaml"
    path.write_text(pod(f"{tokened.host}/infra/scraper:27.15"))
    asked = len(tokened.token.seen)
    # the realm is on another port, so another host: not shown the password unasked
    code, out, err = pin(*login(tokened), "--password-stdin", str(path), stdin=PASSWORD)
    assert (code, out) == (2, "")
    assert err == (
        f"policygen: {path}:7: {tokened.host}/infra/scraper:27.15: {tokened.host} sends its "
        f"token requests to {realm}; policygen shows the credentials from --username only to "
        f"{tokened.host} (trust that realm with --token-realm {realm})\n"
    )
    assert len(tokened.token.seen) == asked
    trusted = [*login(tokened), "--password-stdin", "--token-realm", realm, str(path)]
    code, _, err = pin(*trusted, stdin="wrong")
    assert (code, err) == (
        2,
        f"policygen: {path}:7: {tokened.host}/infra/scraper:27.15: {realm} refused the "
        "credentials from --username (401 from the token realm)\n",
    )
    # anonymous, the realm's token grants nothing and the registry says no
    code, _, err = pin("--ca-file", str(tokened.tls.ca), str(path))
    assert (code, err) == (
        2,
        f"policygen: {path}:7: {tokened.host}/infra/scraper:27.15: {tokened.host} refused "
        f"anonymous access (401); log in (docker login {tokened.host}) or pass --registry "
        "with --username\n",
    )
    assert path.read_text() == pod(f"{tokened.host}/infra/scraper:27.15")
    code, out, err = pin(*trusted, stdin=PASSWORD)
    assert (code, err) == (0, "")
    assert out == f"{path}:7: pinned c: {tokened.host}/infra/scraper:27.15@{digest}\n"
    assert tokened.token.seen[-1] == (
        f"/token?service=policygen-test&scope=repository%3Ainfra%2Fscraper%3Apull&account={USER}",
        True,
    )


@pytest.fixture
def liar() -> Iterator[str]:
    """A registry whose HEAD gives no digest and whose GET serves a manifest
    that does not hash to the digest it claims."""
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
    )

    class H(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.end_headers()

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Docker-Content-Digest", "sha256:" + "1" * 64)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_registry_that_lies_about_the_digest(liar: str, tmp_path: Path) -> None:
    path, lock = tmp_path / "p.yaml", tmp_path / "images.lock"
    path.write_text(pod(f"{liar}/team/app:1"))
    code, out, err = pin("--lock", str(lock), str(path))
    served = hashlib.sha256(
        json.dumps(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
        ).encode()
    ).hexdigest()
    assert (code, out) == (2, "")
    assert err == (
        f"policygen: {path}:7: {liar}/team/app:1: the registry says the manifest is "
        f"sha256:{'1' * 64} but what it served hashes to sha256:{served}\n"
    )
    assert path.read_text() == pod(f"{liar}/team/app:1")
    assert not lock.exists()


def test_an_unreachable_registry_leaves_the_lock_untouched(tmp_path: Path) -> None:
    path, lock = tmp_path / "p.yaml", tmp_path / "images.lock"
    path.write_text(pod("127.0.0.1:9/x:1"))
    lock.write_text("version: 1\nimages: []\n")
    code, out, err = pin("--lock", str(lock), str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"policygen: {path}:7: 127.0.0.1:9/x:1: cannot reach 127.0.0.1:9: ")
    assert path.read_text() == pod("127.0.0.1:9/x:1")
    assert lock.read_text() == "version: 1\nimages: []\n"


# -- verify and lock ----------------------------------------------------------


def test_verify_catches_an_overwritten_tag(registry: Registry, tmp_path: Path) -> None:
    old = registry.push("infra/scraper", "27.15", b"scraper build 1")
    path = tmp_path / "p.yaml"
    path.write_text(pod(f"{registry.host}/infra/scraper:27.15"))
    assert pin(str(path))[0] == 0
    assert pin("--verify", str(path)) == (
        0,
        "verified 1 pinned tags: 1 ok, 0 moved, 0 errors\n",
        "",
    )
    pinned = path.read_text()
    new = registry.push("infra/scraper", "27.15", b"scraper build 2")  # the incident
    assert new != old
    code, out, err = pin("--verify", str(path))
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        f"{path}:7: {registry.host}/infra/scraper:27.15: pinned {old}, "
        f"but the tag now points to {new}",
        "verified 1 pinned tags: 0 ok, 1 moved, 0 errors",
    ]
    assert path.read_text() == pinned  # verify writes nothing
    code, out, _ = pin("--verify", "--format", "json", str(path))
    assert code == 1
    assert json.loads(out) == {
        "results": [
            {
                "source": str(path),
                "line": 7,
                "container": "c",
                "image": f"{registry.host}/infra/scraper:27.15@{old}",
                "pinned": old,
                "current": new,
                "status": "moved",
                "message": None,
            }
        ],
        "problems": [],
        "summary": {"checked": 1, "ok": 0, "moved": 1, "unlocked": 0, "errors": 0},
    }


def test_verify_errors_are_exit_2_and_a_move_is_exit_1(registry: Registry, tmp_path: Path) -> None:
    registry.push("team-a/app", "1.0", b"app")
    moved = tmp_path / "moved.yaml"
    moved.write_text(pod(f"{registry.host}/team-a/app:1.0@sha256:{'2' * 64}"))
    gone = tmp_path / "gone.yaml"
    gone.write_text(pod(f"{registry.host}/team-a/app:nope@sha256:{'3' * 64}"))
    code, out, err = pin("--verify", str(gone))
    assert (code, out) == (2, "verified 1 pinned tags: 0 ok, 0 moved, 1 errors\n")
    assert err == (
        f"policygen: {gone}:7: {registry.host}/team-a/app:nope@sha256:{'3' * 64}: "
        "no such image or tag on "
        f"{registry.host}\n"
    )
    code, out, _ = pin("--verify", str(gone), str(moved))
    assert code == 1
    assert out.endswith("verified 2 pinned tags: 0 ok, 1 moved, 1 errors\n")


def test_the_lock_file_is_written_and_verified(registry: Registry, tmp_path: Path) -> None:
    old = registry.push("team-a/locked", "3", b"locked 1")
    path, lock = tmp_path / "p.yaml", tmp_path / "images.lock"
    path.write_text(pod(f"{registry.host}/team-a/locked:3"))
    code, out, _ = pin("--lock", str(lock), "--lock-only", str(path))
    assert code == 0
    assert out == f"{path}:7: would pin c: {registry.host}/team-a/locked:3@{old}\n"
    assert path.read_text() == pod(f"{registry.host}/team-a/locked:3")  # tags kept
    text = lock.read_text()
    assert re.fullmatch(
        "# Written by `policygen pin --lock`; checked by `policygen pin --verify --lock`.\n"
        "# The digest each tag resolved to, and when. Edit with policygen, not by hand.\n"
        "version: 1\n"
        "images:\n"
        f'- image: "{re.escape(registry.host)}/team-a/locked"\n'
        '  tag: "3"\n'
        f'  digest: "{old}"\n'
        '  resolvedAt: "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ"\n',
        text,
    )
    assert pin("--lock", str(lock), "--lock-only", str(path))[0] == 0
    assert lock.read_text() == text  # the same digest: the file does not churn
    assert pin("--verify", "--lock", str(lock), str(path))[0] == 0
    new = registry.push("team-a/locked", "3", b"locked 2")
    code, out, _ = pin("--verify", "--lock", str(lock), str(path))
    assert code == 1
    assert out.splitlines()[0] == (
        f"{lock}:5: {registry.host}/team-a/locked:3: pinned {old}, but the tag now points to {new}"
    )
    # pinning again records the new digest; the lock alone can be verified
    assert pin("--lock", str(lock), "--lock-only", str(path))[0] == 0
    assert f'digest: "{new}"' in lock.read_text()
    assert pin("--verify", "--lock", str(lock)) == (
        0,
        "verified 1 pinned tags: 1 ok, 0 moved, 0 errors\n",
        "",
    )
    # a tag added to a manifest but not to the lock is stale
    other = tmp_path / "other.yaml"
    other.write_text(pod(f"{registry.host}/team-a/locked:4"))
    code, out, _ = pin("--verify", "--lock", str(lock), str(path), str(other))
    assert code == 1
    assert out.splitlines() == [
        f"{other}:7: {registry.host}/team-a/locked:4: not in the lock file",
        "verified 2 pinned tags: 1 ok, 0 moved, 1 not in the lock file, 0 errors",
    ]


def test_bad_lock_files_are_clear_errors(tmp_path: Path) -> None:
    lock = tmp_path / "images.lock"
    cases = {
        "version: 2\nimages: []\n": f"{lock}:1: version: policygen reads lock files of version 1",
        "version: 1\nimages:\n- image: a\n": f"{lock}:3: images: an entry needs tag, digest, "
        "resolvedAt",
        "version: 1\nimages: [{image: nginx, tag: '1', digest: sha256:ab, resolvedAt: x}]\n": (
            f"{lock}:2: image: nginx:1 is not a normalised image"
        ),
        "images: [\n": f"{lock}:2: the lock file is not valid YAML",
    }
    manifest = tmp_path / "p.yaml"
    manifest.write_text(pod("127.0.0.1:9/x:1"))
    for text, message in cases.items():
        lock.write_text(text)
        assert pin("--verify", "--lock", str(lock), str(tmp_path)) == (
            2,
            "",
            f"policygen: {message}\n",
        )
        # pin reads the lock before it resolves or writes anything
        assert pin("--lock", str(lock), str(manifest)) == (2, "", f"policygen: {message}\n")
        assert lock.read_text() == text
        assert manifest.read_text() == pod("127.0.0.1:9/x:1")


def test_an_unusable_lock_file_path_stops_pin_before_it_writes(
    registry: Registry, tmp_path: Path
) -> None:
    registry.push("team-a/app", "1.0", b"app")
    path = tmp_path / "p.yaml"
    path.write_text(pod(f"{registry.host}/team-a/app:1.0"))
    lock = tmp_path / "not-a-folder" / "images.lock"
    (tmp_path / "not-a-folder").write_text("a file")
    assert pin("--lock", str(lock), str(path)) == (
        2,
        "",
        f"policygen: {lock}: cannot read the lock file: Not a directory\n",
    )
    assert path.read_text() == pod(f"{registry.host}/team-a/app:1.0")


def test_a_lock_file_that_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from policygen import atomic, pinlock

    def full(path: Path, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "write_text", full)
    lock = tmp_path / "images.lock"
    entry = pinlock.Entry("127.0.0.1:5000/a", "1", "sha256:" + "a" * 64, "2026-12-01T00:00:00Z")
    with pytest.raises(PolicygenError) as info:
        pinlock.update(lock, [], [entry])
    assert str(info.value) == f"{lock}: cannot write the lock file: No space left on device"
    assert not lock.exists()


def test_pin_with_a_lock_rewrites_and_records(registry: Registry, tmp_path: Path) -> None:
    digest = registry.push("team-a/app", "1.0", b"app")
    path, lock = tmp_path / "p.yaml", tmp_path / "images.lock"
    path.write_text(pod(f"{registry.host}/team-a/app:1.0"))
    assert pin("--dry-run", "--lock", str(lock), str(path))[0] == 0
    assert not lock.exists()  # a dry run writes nothing, the lock neither
    assert pin("--lock", str(lock), str(path))[0] == 0
    assert path.read_text() == pod(f"{registry.host}/team-a/app:1.0@{digest}")
    assert f'  digest: "{digest}"\n' in lock.read_text()
    # the manifest's pin and the lock's entry are both checked
    assert pin("--verify", "--lock", str(lock), str(path)) == (
        0,
        "verified 2 pinned tags: 2 ok, 0 moved, 0 errors\n",
        "",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--verify", "--dry-run", "x"],
            "--verify writes nothing: it takes no --dry-run or --lock-only",
        ),
        (["--lock-only", "x"], "--lock-only needs --lock FILE"),
        (["--verify"], "give the manifest files or folders to pin"),
        (["--format", "sarif", "x"], "--format: 'sarif' is not table or json"),
        (
            ["--username", "u", "--password-stdin", "x"],
            "explicit credentials need --registry HOST: "
            "they are sent only to the registry they belong to",
        ),
        (["--password-stdin", "x"], "--password-stdin needs --username"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    assert pin(*args, stdin="pw") == (2, "", f"policygen: {message}\n")
