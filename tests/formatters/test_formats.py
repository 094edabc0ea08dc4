"""scan --format table|json|sarif|junit: shapes readers accept, exact content."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from policygen.cli import app
from tests.conftest import CORPUS, EXAMPLE

SCHEMA = json.loads((Path(__file__).parent.parent / "schemas" / "sarif-2.1.0.json").read_text())


def scan(*args: str, input: str | None = None) -> tuple[int, str, str]:
    argv = ["scan", *args, "-c", str(EXAMPLE), "--now", "2026-11-28"]
    result = CliRunner().invoke(app, argv, input=input)
    return result.exit_code, result.stdout, result.stderr


def test_sarif_is_valid_and_has_what_github_needs(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("a: [\n")
    code, out, _ = scan(
        str(CORPUS / "scraper.yaml"), str(tmp_path / "broken.yaml"), "--format", "sarif"
    )
    assert code == 1
    log = json.loads(out)
    jsonschema.validate(log, SCHEMA)
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "policygen"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        "digest",
        "pullPolicy",
        "registries",
        "scope",
    ]
    first = run["results"][0]
    assert first["ruleId"] == "digest"
    assert first["level"] == "error"
    assert first["message"]["text"] == (
        'DaemonSet monitoring/log-scraper: container "scraper" image '
        '"harbor.corp.example/infra/scraper:27.15" must be pinned by digest (@sha256:<64 hex>)'
    )
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {
        "uri": "tests/fixtures/corpus/scraper.yaml",
        "uriBaseId": "%SRCROOT%",
    }
    assert location["region"]["startLine"] == 16  # the line of the container's image
    assert len({r["partialFingerprints"]["policygen/finding/v2"] for r in run["results"]}) == len(
        run["results"]
    )
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert notes[0]["message"]["text"].endswith(
        "broken.yaml:2:1: invalid YAML: did not find expected node content"
    )


def test_sarif_levels_follow_actions(tmp_path: Path) -> None:
    cfg = EXAMPLE.read_text().replace(
        "    digest:\n      action: deny", "    digest:\n      action: warn"
    )
    (tmp_path / "c.yaml").write_text(cfg)
    result = CliRunner().invoke(
        app,
        [
            "scan",
            str(CORPUS / "scraper.yaml"),
            "--format",
            "sarif",
            "-c",
            str(tmp_path / "c.yaml"),
            "--now",
            "2026-11-28",
        ],
    )
    levels = {(r["ruleId"], r["level"]) for r in json.loads(result.stdout)["runs"][0]["results"]}
    assert levels == {("digest", "warning"), ("pullPolicy", "error")}


def test_junit_counts_failures_and_errors(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"\0\1")
    code, out, _ = scan(
        str(CORPUS / "scraper.yaml"), str(tmp_path / "bin.yaml"), "--format", "junit"
    )
    assert code == 1
    root = ET.fromstring(out)
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "3", "1")
    cases = [c for c in suite.findall("testcase") if c.get("classname") != "file"]
    assert cases[0].get("name") == "DaemonSet monitoring/log-scraper"
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message") == (
        'model: deny: [digest] container "scraper" image "harbor.corp.example/infra/scraper:27.15" '
        "must be pinned by digest (@sha256:<64 hex>)"
    )
    assert cases[2].find("failure") is None  # the fixed DaemonSet
    (unreadable,) = [c for c in suite.findall("testcase") if c.get("classname") == "file"]
    error = unreadable.find("error")
    assert error is not None and error.get("message") == "binary file, not a manifest"


def test_json_streams_the_promised_shape() -> None:
    code, out, _ = scan(str(CORPUS), "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert list(data) == ["engine", "results", "errors", "summary"]
    assert data["summary"] == {
        "objects": 25,
        "deny": 21,
        "warn": 0,
        "audit": 0,
        "allow": 4,
        "errors": 0,
        "other": 1,  # the corpus' Namespace
        "skipped": 0,
        "ignored": 0,
    }
    assert set(data["results"][0]) == {
        "source",
        "kind",
        "namespace",
        "name",
        "verdict",
        "violations",
    }


def test_json_with_no_objects() -> None:
    code, out, _ = scan("-", "--format", "json", input="")
    assert code == 0
    assert json.loads(out) == {
        "engine": "model",
        "results": [],
        "errors": [],
        "summary": {
            "objects": 0,
            "deny": 0,
            "warn": 0,
            "audit": 0,
            "allow": 0,
            "errors": 0,
            "other": 0,
            "skipped": 0,
            "ignored": 0,
        },
    }


def test_engine_all_reports_each_engine_and_agreement() -> None:
    code, out, err = scan(str(CORPUS), "--engine", "all", "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert data["summary"]["disagreements"] == 0
    first = data["results"][0]
    assert list(first["engines"]) == [
        "model",
        "kyverno",
        "kyverno-cel",
        "gatekeeper",
        "gatekeeper-rego",
        "vap",
    ]
    assert first["disagreements"] == {}
    assert "disagree" not in err


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit"])
def test_progress_never_reaches_stdout(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bar draws (rich is told the terminal is interactive, as stderr is
    when a person watches), on stderr, and stdout is the report alone. The
    test once looked for "scanned 25 objects", text the bar never wrote."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich >= 14: write terminal codes
    monkeypatch.setenv("TTY_INTERACTIVE", "1")  # and draw live displays
    code, out, err = scan(str(CORPUS), "--format", fmt, "--progress")
    quiet = scan(str(CORPUS), "--format", fmt, "--no-progress")
    assert code == 1
    bar = re.compile(r"scanned [0-9]+ workloads")
    assert re.search(r"scanned [1-9][0-9]* workloads", err), err
    assert (bar.search(out), bar.search(quiet[2])) == (None, None)
    assert out == quiet[1]
    json.loads(out) if fmt != "junit" else ET.fromstring(out)
