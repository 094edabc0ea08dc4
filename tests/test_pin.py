"""policygen pin against a real registry (docker-registry, images pushed by skopeo)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policygen.cli import app
from tests.support.registry import Registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = Registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


def pin(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["pin", *args])
    return result.exit_code, result.stdout, result.stderr


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
    assert (
        lines[0]
        == f"policygen: {broken}:2:1: invalid YAML: expected the node content, but found '<stream end>'"
    )
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
