"""pin's side of the file system: what it reads is read as scan reads it."""

from __future__ import annotations

from pathlib import Path

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
