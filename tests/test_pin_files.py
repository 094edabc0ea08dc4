"""pin's side of the file system: what it reads is read as scan reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from policygen.pin import pin_paths
from tests.test_yamlsafe import bomb

DIGEST = "sha256:" + "a" * 64


def test_duplicate_keys_and_alias_bombs_are_errors_as_in_scan(tmp_path: Path) -> None:
    twice = tmp_path / "twice.yaml"
    twice.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        "    - name: a\n      image: nginx:1\n      image: redis:2\n"
    )
    bombed = tmp_path / "bomb.yaml"
    bombed.write_text(bomb(9))
    before = twice.read_bytes()
    report = pin_paths([str(twice), str(bombed)], lambda ref: DIGEST)
    assert report.problems == [
        f"{twice}:8:7: spec.containers[0].image: duplicate key",
        f"{bombed}:4:22: document contains excessive aliasing (the API server's limit): "
        "4,167 of 4,208 values would come from aliases",
    ]
    assert twice.read_bytes() == before


POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx:1}]\n"


def test_pin_writes_through_a_symlink_and_keeps_the_mode(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text(POD)
    real.chmod(0o640)
    link = tmp_path / "pod.yaml"
    link.symlink_to(real)
    report = pin_paths([str(link)], lambda ref: DIGEST)
    assert report.problems == [] and report.files_written == [str(link)]
    assert link.is_symlink()
    assert real.read_text() == POD.replace("nginx:1", f"nginx:1@{DIGEST}")
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pod.yaml", "real.yaml"]


def test_a_refused_write_is_a_problem_of_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    path = tmp_path / "pod.yaml"
    path.write_text(POD)

    def read_only(fd: int) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "fsync", read_only)
    report = pin_paths([str(path)], lambda ref: DIGEST)
    assert report.problems == [f"{path}: cannot write: Read-only file system; left as it was"]
    assert report.changes == [] and path.read_text() == POD
