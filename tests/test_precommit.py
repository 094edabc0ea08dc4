"""The pre-commit hooks are valid manifests whose commands work as hooks."""

from __future__ import annotations

import shlex

import pytest
from pre_commit.clientlib import load_manifest
from typer.testing import CliRunner

from policygen.cli import app
from tests.conftest import CORPUS, ROOT


def hooks() -> dict[str, dict]:
    return {h["id"]: h for h in load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))}


def entry(hook_id: str, *files: str) -> tuple[int, str]:
    argv = shlex.split(hooks()[hook_id]["entry"])
    assert argv[0] == "policygen"
    result = CliRunner().invoke(app, [*argv[1:], "--now", "2026-11-28", *files])
    return result.exit_code, result.stdout


def test_manifest_is_valid() -> None:
    assert set(hooks()) == {"policygen-build-check", "policygen-test", "policygen-scan"}


def test_build_check_hook_passes_on_a_current_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # hooks run at the repository root
    code, out = entry("policygen-build-check")
    assert (code, out.splitlines()[-1]) == (0, "policies: up to date (22 files)")


def test_test_hook_proves_the_committed_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out = entry("policygen-test")
    assert code == 0, out


def test_scan_hook_fails_on_a_denied_manifest() -> None:
    code, _ = entry("policygen-scan", str(CORPUS / "scraper.yaml"))
    assert code == 1
