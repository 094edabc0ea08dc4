"""Reading manifests: a bad document costs only itself, every problem is located."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from policygen import manifests, yamlsafe
from policygen.manifests import Document, FileProblem
from tests.test_yamlsafe import bomb

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec: {containers: [{name: c, image: x}]}\n"


def read(path: Path) -> list[str]:
    out = []
    for item in manifests.read([str(path)]):
        if isinstance(item, Document):
            out.append(f"{item.source} {item.obj['metadata']['name']} @{item.line}")
        else:
            out.append(str(item))
    return out


def test_a_bad_byte_costs_only_its_document(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(
        (POD % "one").encode()
        + b"---\n"
        + (POD % "two").encode().replace(b"image: x", b"image: \xff")
        + b"---\n"
        + (POD % "three").encode()
    )
    assert read(path) == [
        f"{path}#1 one @1",
        f"{path}:9:38: byte 0xff is not UTF-8",
        f"{path}#3 three @11",
    ]


def test_a_syntax_error_costs_only_its_document(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(POD % "one" + "---\nkind: [\n---\n" + POD % "three")
    assert read(path) == [
        f"{path}#1 one @1",
        f"{path}:7:1: invalid YAML: did not find expected node content",
        f"{path}#3 three @8",
    ]


def test_limits_and_tags_are_per_document(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        bomb(9)
        + "---\n"
        + POD % "one"
        + "---\na: !!int abc\n---\na: 1\na: 2\n"
        + "---\n"
        + POD % "two"
    )
    assert read(path) == [
        f"{path}:4:22: document contains excessive aliasing (the API server's limit): "
        "4,167 of 4,208 values would come from aliases",
        f"{path}#2 one @11",
        f"{path}:16:4: 'abc' is not an integer (!!int)",
        f"{path}:19:1: a: duplicate key",
        f"{path}#5 two @21",
    ]


def test_a_document_over_the_limit_is_reported_and_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamlsafe, "MAX_DOCUMENT_BYTES", 1000)
    path = tmp_path / "m.yaml"
    path.write_text("a: " + "x" * 2000 + "\n---\n" + POD % "one")
    assert read(path) == [
        f"{path}:1: document 1 is larger than 1,000 bytes, not read",
        f"{path}#2 one @3",
    ]


def test_a_stream_over_the_limit_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests, "MAX_FILE_BYTES", 200)
    data = ((POD % "one") + "---\n" + (POD % "two") + "---\n" + (POD % "three")).encode()
    items = list(manifests._documents(io.BytesIO(data), "<stdin>"))
    assert [getattr(i, "source", None) for i in items[:2]] == ["<stdin>#1", "<stdin>#2"]
    assert str(items[2]) == "<stdin>:10: more than 200 bytes, the rest is not read"
    assert len(items) == 3


def test_a_file_over_the_limit_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests, "MAX_FILE_BYTES", 200)
    path = tmp_path / "m.yaml"
    path.write_text((POD % "one") * 3)
    assert read(path) == [f"{path}: larger than 200 bytes, not read"]


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ("apiVersion: v1\nkind: [Pod]\n", "kind: a string is required"),
        ("apiVersion: 1\nkind: Pod\n", "apiVersion: a string is required"),
        ("apiVersion: v1\nkind: Pod\nmetadata: x\n", "metadata: a mapping is required"),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: [a]}\n",
            "metadata.name: a string is required",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: [x]}\n",
            "metadata.labels: a mapping is required",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {x: 1}}\n",
            "metadata.labels.x: a string is required",
        ),
    ],
)
def test_wrongly_typed_type_meta_and_metadata(tmp_path: Path, doc: str, why: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(doc)
    assert read(path) == [f"{path}#1: {why} (the API server would reject it), skipped"]


def test_list_items_are_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: Pod, metadata: 3}\n"
    )
    assert read(path) == [
        f"{path}#1.items[0]: metadata: a mapping is required (the API server would reject it), skipped"
    ]


def test_utf16_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes((POD % "one").encode("utf-16"))
    (problem,) = manifests.read([str(path)])
    assert isinstance(problem, FileProblem)
    assert problem.message == (
        "UTF-16 text: policygen reads UTF-8; convert it, e.g. with iconv -f UTF-16 -t UTF-8"
    )


def test_unreadable_entries_and_symlink_loops_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "apps"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "up").symlink_to("..")  # a loop back into the walk
    (folder / "self.yaml").symlink_to("self.yaml")  # ELOOP
    (folder / "gone.yaml").symlink_to("nowhere.yaml")  # dangling
    (folder / "pod.yaml").write_text(POD % "one")
    (folder / "elsewhere").symlink_to(tmp_path / "other")  # a followed link
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "two.yaml").write_text(POD % "two")
    assert read(folder) == [
        f"{folder}/elsewhere/two.yaml#1 two @1",
        f"{folder}/gone.yaml: cannot read: No such file or directory",
        f"{folder}/pod.yaml#1 one @1",
        f"{folder}/self.yaml: cannot read: Too many levels of symbolic links",
        f"{folder}/sub/up: symlink loop (back to {folder}), not followed",
    ]


def test_an_unreadable_folder_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    folder = tmp_path / "apps"
    (folder / "locked").mkdir(parents=True)
    real = os.scandir

    def scandir(path: Any) -> Any:
        if str(path).endswith("locked"):  # chmod 000 does not stop root
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert read(folder) == [f"{folder}/locked: cannot read the folder: Permission denied"]
