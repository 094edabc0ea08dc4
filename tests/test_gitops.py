"""A repository shaped like a real GitOps one (tests/fixtures/gitops), scanned
as CI and pre-commit scan it: quiet about what is not a manifest, right about
what is."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from policygen.cli import app
from tests.conftest import ROOT

GITOPS = Path(__file__).parent / "fixtures" / "gitops"


def scan(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["scan", *args, "--now", "2026-11-28"])
    return result.exit_code, result.stdout, result.stderr


def test_a_gitops_repository_scans_quietly_and_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GITOPS)
    code, out, err = scan(".", "--format", "json")
    data = json.loads(out)
    assert (code, err) == (1, "")  # two denials, no errors
    assert [(r["source"], r["verdict"]) for r in data["results"]] == [
        ("apps/base/deployment.yaml#1", "allow"),
        ("apps/team-b/api.yaml#2", "deny"),
        # the bare `=` and `22:22` in its args are read as strings, and the
        # documents after it in the file are read too
        ("infra/monitoring/stack.yaml#2", "deny"),
    ]
    assert data["errors"] == []
    assert data["summary"] == {
        "objects": 3,
        "deny": 2,
        "warn": 0,
        "audit": 0,
        "allow": 1,
        "errors": 0,
        # ConfigMap, two CRDs, Namespace, Service, the policygen config
        "other": 6,
        # workflow, pre-commit config, Chart.yaml, values.yaml, renovate.json,
        # two kustomizations, two kustomize patches, a chart template
        "skipped": 10,
        # vendor/ and *.sops.yaml from spec.scan.ignore
        "ignored": 2,
    }


def test_ignore_on_the_command_line_adds_to_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GITOPS)
    code, out, _ = scan(".", "--format", "json", "--ignore", "apps/team-b/", "--ignore", "infra")
    data = json.loads(out)
    assert code == 0
    assert [r["source"] for r in data["results"]] == ["apps/base/deployment.yaml#1"]
    assert data["summary"]["ignored"] == 3  # vendor, apps/team-b (its .sops.yaml inside), infra


def test_without_the_config_ignore_the_vendored_file_is_an_error(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(GITOPS, repo)
    cfg = repo / "policygen.yaml"
    cfg.write_text(cfg.read_text().split("  scan:\n")[0])
    code, _, err = scan(str(repo / "vendor"), "-c", str(cfg))
    assert code == 2
    assert err == (
        f"policygen: {repo}/vendor/upstream-chart/broken.yaml:4:1: invalid YAML: "
        "did not find expected ',' or ']'\n"
    )


def test_config_ignore_globs_are_relative_to_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the repository
    code, out, _ = scan(
        str(GITOPS / "vendor"), "-c", str(GITOPS / "policygen.yaml"), "--format", "json"
    )
    assert code == 0
    assert json.loads(out)["summary"]["ignored"] == 1


# -- through the real pre-commit ---------------------------------------------


def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(GITOPS, repo)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def pre_commit(repo: Path, hooks: list[dict], *args: str) -> subprocess.CompletedProcess[str]:
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": hooks}))
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    env = {
        **os.environ,
        # the hooks' `policygen` is this environment's
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home"),
    }
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def local_hook(hook_id: str, *args: str) -> dict:
    """A hook of .pre-commit-hooks.yaml as it is published (files, types,
    exclude, serial), run with this checkout's policygen instead of an
    environment pre-commit installs."""
    (hook,) = [
        h
        for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
        if h["id"] == hook_id
    ]
    return {"repo": "local", "hooks": [{**hook, "language": "system", "args": list(args)}]}


def test_the_scan_hook_on_a_gitops_repository(tmp_path: Path) -> None:
    repo = git_repo(tmp_path)
    run = pre_commit(
        repo,
        [local_hook("policygen-scan", "--now", "2026-11-28", "--format", "json")],
        "--all-files",
    )
    assert run.returncode == 1, run.stdout + run.stderr
    # pre-commit prints the hook's output after its status lines
    report = json.loads(run.stdout[run.stdout.index("{") : run.stdout.rindex("}") + 1])
    assert [(r["source"], r["verdict"]) for r in report["results"]] == [
        ("apps/base/deployment.yaml#1", "allow"),
        ("apps/team-b/api.yaml#2", "deny"),
        ("infra/monitoring/stack.yaml#2", "deny"),
    ]
    # pre-commit passes YAML files only (not renovate.json) and never
    # policygen.yaml; the ignored ones are passed and left out by the config
    assert report["summary"] | {"other": 5, "skipped": 9, "ignored": 2} == report["summary"]


def test_the_scan_hook_passes_once_the_findings_are_fixed(tmp_path: Path) -> None:
    repo = git_repo(tmp_path)
    api = repo / "apps/team-b/api.yaml"
    api.write_text(api.read_text().replace("api:2.4", "api:2.4@sha256:" + "b" * 64))
    stack = repo / "infra/monitoring/stack.yaml"
    stack.write_text(stack.read_text().replace("IfNotPresent", "Always"))
    run = pre_commit(repo, [local_hook("policygen-scan", "--now", "2026-11-28")], "--all-files")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "policygen scan of changed manifests" in run.stdout
    assert "Passed" in run.stdout


def test_the_published_hook_installs_and_runs(tmp_path: Path) -> None:
    """pre-commit installs policygen from this repository as it installs it
    for users (`language: python`, only the declared dependencies)."""
    source = tmp_path / "policygen"
    # this working tree, uncommitted changes included, as a repository
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    git = ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(source)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], check=True)
    rev = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    repo = git_repo(tmp_path)
    hook = {
        "repo": str(source),
        "rev": rev,
        "hooks": [{"id": "policygen-scan", "args": ["--now", "2026-11-28"]}],
    }
    run = pre_commit(repo, [hook], "--all-files")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "- exit code: 1" in run.stdout
    lines = run.stdout.splitlines()
    assert "DENY  Deployment team-b/api (apps/team-b/api.yaml#2)" in lines
    # pre-commit passes only YAML files (not renovate.json), never policygen.yaml
    assert "3 workloads: 2 deny, 1 allow; also 5 other objects, 9 skipped, 2 ignored" in lines
