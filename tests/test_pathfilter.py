"""Ignore globs, folder walks, and the files of a GitOps repository that are
not manifests yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from policygen.pathfilter import Entry, Ignore, Pattern, entries


@pytest.mark.parametrize(
    ("glob", "path", "is_dir", "hit"),
    [
        # no slash: a name at any depth, and everything below a folder of that name
        ("values.yaml", "charts/web/values.yaml", False, True),
        ("values.yaml", "values.yaml", False, True),
        ("values.yaml", "my-values.yaml", False, False),
        ("*.sops.yaml", "apps/db.sops.yaml", False, True),
        ("vendor", "vendor/x/y.yaml", False, True),
        ("vendor", "apps/vendor", True, True),
        # a slash anchors at the base
        ("apps/*.yaml", "apps/a.yaml", False, True),
        ("apps/*.yaml", "apps/team/a.yaml", False, False),
        ("apps/*.yaml", "x/apps/a.yaml", False, False),
        ("/apps", "apps/a.yaml", False, True),
        # ** spans folders
        ("charts/**/values.yaml", "charts/values.yaml", False, True),
        ("charts/**/values.yaml", "charts/a/b/values.yaml", False, True),
        ("**/test-*.yaml", "a/b/test-1.yaml", False, True),
        ("apps/**", "apps/a/b.yaml", False, True),
        # a trailing slash: folders only
        ("vendor/", "vendor", True, True),
        ("vendor/", "vendor/a.yaml", False, True),
        ("vendor/", "vendor", False, False),
        ("?.yaml", "a.yaml", False, True),
        ("?.yaml", "ab.yaml", False, False),
    ],
)
def test_globs(tmp_path: Path, glob: str, path: str, is_dir: bool, hit: bool) -> None:
    assert Pattern.compile(glob, tmp_path).matches(tmp_path / path, is_dir) is hit


def tree(root: Path, *files: str) -> None:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("a: 1\n")


def walk(root: Path, *globs: str, paths: list[str] | None = None) -> list[Entry]:
    got = entries(paths or [str(root)], Ignore.of((globs, root)))
    return [Entry(str(Path(e.path).relative_to(root)), e.skip, e.detail) for e in got]


def test_a_walk_is_sorted_prunes_ignored_folders_and_never_enters_git(tmp_path: Path) -> None:
    tree(
        tmp_path,
        "b.yaml",
        "a.yml",
        "c.json",
        "notes.txt",
        ".git/config.yaml",
        "vendor/x.yaml",
        "vendor/deep/y.yaml",
        "apps/z.yaml",
    )
    assert walk(tmp_path, "vendor/") == [
        Entry("a.yml"),
        Entry("apps/z.yaml"),
        Entry("b.yaml"),
        Entry("c.json"),
        Entry("vendor", "ignored", "vendor/"),
    ]


def test_files_named_explicitly_are_filtered_too(tmp_path: Path) -> None:
    # pre-commit passes file names, not folders
    tree(tmp_path, "apps/a.yaml", "vendor/b.yaml")
    named = [str(tmp_path / "apps/a.yaml"), str(tmp_path / "vendor/b.yaml")]
    assert walk(tmp_path, "vendor/", paths=named) == [
        Entry("apps/a.yaml"),
        Entry("vendor/b.yaml", "ignored", "vendor/"),
    ]


def test_helm_chart_templates_are_not_read(tmp_path: Path) -> None:
    tree(
        tmp_path,
        "charts/web/Chart.yaml",
        "charts/web/values.yaml",
        "charts/web/templates/deployment.yaml",
        "charts/web/templates/tests/job.yaml",
        "other/templates/pod.yaml",  # no Chart.yaml above it: a plain folder
    )
    got = walk(tmp_path)
    chart = str(tmp_path / "charts/web")
    assert [(e.path, e.skip) for e in got] == [
        ("charts/web/Chart.yaml", None),
        ("charts/web/templates/deployment.yaml", "helm-template"),
        ("charts/web/templates/tests/job.yaml", "helm-template"),
        ("charts/web/values.yaml", None),
        ("other/templates/pod.yaml", None),
    ]
    assert got[1].detail == chart  # written as the path was given


def test_kustomize_patches_are_not_read(tmp_path: Path) -> None:
    tree(tmp_path, "base/deploy.yaml", "prod/a.yaml", "prod/p/b.yaml", "prod/c.yaml", "prod/d.yaml")
    (tmp_path / "prod/kustomization.yaml").write_text(
        "resources: [../base, d.yaml]\n"
        "patches:\n  - path: a.yaml\n  - patch: |-\n      - op: remove\n"
        "patchesStrategicMerge:\n  - p/b.yaml\n  - |-\n    kind: Deployment\n"
        "patchesJson6902:\n  - path: c.yaml\n    target: {kind: Deployment, name: x}\n"
    )
    got = {e.path: (e.skip, e.detail) for e in walk(tmp_path)}
    assert got["prod/a.yaml"] == (
        "kustomize",
        f"a patch listed in {tmp_path}/prod/kustomization.yaml",
    )
    assert got["prod/p/b.yaml"][0] == "kustomize"
    assert got["prod/c.yaml"][0] == "kustomize"
    assert got["prod/d.yaml"] == (None, "")  # a resource, not a patch
    assert got["base/deploy.yaml"] == (None, "")
    assert got["prod/kustomization.yaml"] == ("kustomize", "a kustomization")


def test_an_unreadable_kustomization_lists_no_patches(tmp_path: Path) -> None:
    tree(tmp_path, "a.yaml")
    (tmp_path / "kustomization.yaml").write_text("patches: [\n")
    assert [(e.path, e.skip) for e in walk(tmp_path)] == [
        ("a.yaml", None),
        ("kustomization.yaml", "kustomize"),
    ]


def test_relative_paths_stay_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, "c/Chart.yaml", "c/templates/a.yaml")
    monkeypatch.chdir(tmp_path)
    assert list(entries(["c"])) == [
        Entry("c/Chart.yaml"),
        Entry("c/templates/a.yaml", "helm-template", "c"),
    ]


def test_stdin_is_never_filtered(tmp_path: Path) -> None:
    assert list(entries(["-"], Ignore.of((["*"], tmp_path)))) == [Entry("-")]
