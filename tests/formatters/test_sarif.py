"""SARIF that GitHub code scanning accepts and keeps stable across runs.

``github_problems`` checks what GitHub documents in "SARIF support for code
scanning" (docs.github.com/en/code-security/code-scanning/
integrating-with-code-scanning/sarif-support-for-code-scanning), in our words:
the properties it requires, the limits it enforces on upload, that a
result's ruleId is a rule of the driver, that locations are relative to the
repository root, and that every result carries partialFingerprints (without
them, results uploaded through the API are shown as duplicates)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from policygen.cli import app
from policygen.formatters.sarif import repository_root
from tests.conftest import CORPUS, EXAMPLE, ROOT

SCHEMA = json.loads((Path(__file__).parent.parent / "schemas" / "sarif-2.1.0.json").read_text())
FINGERPRINT = "policygen/finding/v2"

# GitHub's upload limits (same page, "Validating your SARIF file").
MAX_RUNS = 20
MAX_RESULTS_PER_RUN = 25_000
MAX_RULES_PER_RUN = 25_000
MAX_LOCATIONS_PER_RESULT = 1_000
MAX_TAGS_PER_RULE = 20


def github_problems(log: dict[str, Any]) -> list[str]:
    out = []
    if log.get("version") != "2.1.0":
        out.append("version must be 2.1.0")
    if "$schema" not in log:
        out.append("$schema is required")
    runs = log.get("runs") or []
    if not runs or len(runs) > MAX_RUNS:
        out.append("runs: 1 to 20 runs")
    for r, run in enumerate(runs):
        driver = (run.get("tool") or {}).get("driver") or {}
        if not driver.get("name"):
            out.append(f"runs[{r}].tool.driver.name is required")
        rules = driver.get("rules")
        if not isinstance(rules, list) or len(rules) > MAX_RULES_PER_RUN:
            out.append(f"runs[{r}].tool.driver.rules is required")
            rules = []
        ids = [rule.get("id") for rule in rules]
        for i, rule in enumerate(rules):
            for key in ("id", "shortDescription", "fullDescription", "help"):
                if not rule.get(key) or (key != "id" and not rule[key].get("text")):
                    out.append(f"runs[{r}].rules[{i}].{key} is required")
            if len((rule.get("properties") or {}).get("tags", [])) > MAX_TAGS_PER_RULE:
                out.append(f"runs[{r}].rules[{i}]: at most {MAX_TAGS_PER_RULE} tags")
        results = run.get("results")
        if not isinstance(results, list) or len(results) > MAX_RESULTS_PER_RUN:
            out.append(f"runs[{r}].results is required (at most {MAX_RESULTS_PER_RUN})")
            results = []
        bases = run.get("originalUriBaseIds") or {}
        for n, res in enumerate(results):
            at = f"runs[{r}].results[{n}]"
            if res.get("ruleId") not in ids:
                out.append(f"{at}.ruleId is not a rule of tool.driver.rules")
            elif "ruleIndex" in res and ids[res["ruleIndex"]] != res["ruleId"]:
                out.append(f"{at}.ruleIndex does not point at its ruleId")
            if not (res.get("message") or {}).get("text"):
                out.append(f"{at}.message.text is required")
            if res.get("level", "warning") not in ("error", "warning", "note", "none"):
                out.append(f"{at}.level is not a SARIF level")
            if not res.get("partialFingerprints"):
                out.append(f"{at}.partialFingerprints is required")
            locations = res.get("locations") or []
            if not locations or len(locations) > MAX_LOCATIONS_PER_RESULT:
                out.append(f"{at}.locations: 1 to {MAX_LOCATIONS_PER_RESULT}")
            for loc in locations:
                physical = loc.get("physicalLocation") or {}
                uri = (physical.get("artifactLocation") or {}).get("uri", "")
                base = (physical.get("artifactLocation") or {}).get("uriBaseId")
                if not uri or uri.startswith(("/", "file:", "./", "../")):
                    out.append(f"{at}: uri '{uri}' is not relative to the repository root")
                if base is not None and base not in bases:
                    out.append(f"{at}: uriBaseId '{base}' is not in run.originalUriBaseIds")
                if (physical.get("region") or {}).get("startLine", 0) < 1:
                    out.append(f"{at}: region.startLine is required (1-based)")
    return out


def sarif(*args: str, cfg: Path = EXAMPLE) -> dict[str, Any]:
    argv = ["scan", *args, "--format", "sarif", "-c", str(cfg), "--now", "2026-11-28"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code in (0, 1), result.stderr
    log: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(log, SCHEMA)
    return log


def results(log: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = log["runs"][0]["results"]
    return found


def test_the_checker_catches_what_github_rejects() -> None:
    log = sarif(str(CORPUS / "scraper.yaml"))
    assert github_problems(log) == []
    broken = copy.deepcopy(log)
    first = broken["runs"][0]["results"][0]
    del first["partialFingerprints"]
    first["ruleId"] = "nope"
    first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "/abs/x.yaml"
    first["locations"][0]["physicalLocation"]["region"] = {}
    assert github_problems(broken) == [
        "runs[0].results[0].ruleId is not a rule of tool.driver.rules",
        "runs[0].results[0].partialFingerprints is required",
        "runs[0].results[0]: uri '/abs/x.yaml' is not relative to the repository root",
        "runs[0].results[0]: region.startLine is required (1-based)",
    ]


def test_engine_all_gives_one_result_per_finding_with_its_engines() -> None:
    alone = results(sarif(str(CORPUS)))
    every = results(sarif(str(CORPUS), "--engine", "all"))
    assert github_problems(sarif(str(CORPUS), "--engine", "all")) == []
    key = [(r["ruleId"], r["partialFingerprints"][FINGERPRINT]) for r in alone]
    assert [(r["ruleId"], r["partialFingerprints"][FINGERPRINT]) for r in every] == key
    assert len({f for _, f in key}) == len(key)  # one fingerprint per finding
    engines = {tuple(r["properties"]["engines"]) for r in every}
    # every engine agrees on every finding of the corpus, except where an
    # engine reports a rule at its first failing container (Kyverno, the CEL
    # of vap, kyverno-cel and Gatekeeper's K8sNativeValidation entry) and
    # only the model and the Rego name each container; the example's digest
    # template is Rego only (the rule has an exemption), so Gatekeeper names
    # each container there in both modes
    every_engine = ("model", "kyverno", "kyverno-cel", "gatekeeper", "gatekeeper-rego", "vap")
    assert every_engine in engines
    assert ("model", "gatekeeper-rego") in engines
    assert ("model", "gatekeeper", "gatekeeper-rego") in engines
    assert engines <= {
        every_engine,
        ("model", "kyverno-cel", "gatekeeper", "gatekeeper-rego", "vap"),
        ("model", "gatekeeper-rego"),
        ("model", "gatekeeper", "gatekeeper-rego"),
    }


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: team-a
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: harbor.corp.example/team-a/migrate:1
      containers:
        - name: api
          imagePullPolicy: Always
          image: harbor.corp.example/team-a/api:2.4
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: team-a}\n---\n"


def test_fingerprints_survive_an_object_inserted_above_and_a_retag(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # the repository root
    path = tmp_path / "apps" / "api.yaml"
    path.parent.mkdir()
    path.write_text(DEPLOYMENT)
    before = results(sarif(str(path)))
    path.write_text("# the API\n" + CONFIGMAP + DEPLOYMENT.replace("api:2.4", "api:2.5"))
    after = results(sarif(str(path)))

    def ident(rs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return [
            (r["ruleId"], r["properties"]["container"], r["partialFingerprints"][FINGERPRINT])
            for r in rs
        ]

    assert ident(after) == ident(before)
    assert [(r["ruleId"], r["properties"]["container"]) for r in before] == [
        ("digest", "api"),
        ("digest", "migrate"),
        ("pullPolicy", "migrate"),
    ]
    # regions move with the images: the image of each container
    lines = [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in before]
    assert lines == [15, 11, 11]
    lines = [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in after]
    assert lines == [20, 16, 16]


def test_fingerprints_differ_by_file_object_rule_and_container(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    one = tmp_path / "one.yaml"
    one.write_text(DEPLOYMENT)
    shutil.copy(one, tmp_path / "two.yaml")
    (tmp_path / "four.yaml").write_text(
        DEPLOYMENT.replace("namespace: team-a", "namespace: team-a-dev")
    )
    prints = [
        r["partialFingerprints"][FINGERPRINT]
        for name in ("one", "two", "four")
        for r in results(sarif(str(tmp_path / f"{name}.yaml")))
    ]
    assert len(prints) == len(set(prints)) == 9


def test_uris_are_relative_to_the_git_work_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "a b.yaml").write_text(DEPLOYMENT)
    monkeypatch.chdir(tmp_path / "deep")
    log = sarif("er")
    assert repository_root() == tmp_path
    (first, *_) = results(log)
    assert first["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "deep/er/a%20b.yaml",
        "uriBaseId": "%SRCROOT%",
    }
    assert log["runs"][0]["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tmp_path.as_uri() + "/"}}
    assert github_problems(log) == []


def test_the_repository_itself_is_found_from_below() -> None:
    assert repository_root(ROOT / "tests" / "fixtures") == ROOT


def test_a_result_names_its_object() -> None:
    (first, *_) = results(sarif(str(CORPUS / "scraper.yaml")))
    assert first["locations"][0]["logicalLocations"] == [
        {
            "name": "monitoring/log-scraper",
            "fullyQualifiedName": "apps/v1/DaemonSet/monitoring/log-scraper",
            "kind": "object",
        }
    ]
    assert first["properties"] == {
        "engines": ["model"],
        "container": "scraper",
        "image": "harbor.corp.example/infra/scraper:27.15",
    }


def test_an_image_volume_is_located_at_its_reference(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    path = tmp_path / "pod.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: team-a}\nspec:\n"
        "  containers:\n    - name: c\n"
        "      image: harbor.corp.example/team-a/c@sha256:" + "a" * 64 + "\n"
        "      imagePullPolicy: Always\n"
        "  volumes:\n    - name: data\n      image:\n        pullPolicy: Always\n"
        "        reference: harbor.corp.example/team-a/data:1\n"
    )
    (only,) = results(sarif(str(path)))
    assert (only["ruleId"], only["properties"]["container"]) == ("digest", "data")
    assert only["locations"][0]["physicalLocation"]["region"] == {"startLine": 13}
