"""scan --format policyreport: wgpolicyk8s.io/v1alpha2 reports that the real
CRDs accept (tests/schemas, from Kyverno v1.19.0), with exact results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from policygen.cli import app
from tests import golden
from tests.conftest import EXAMPLE
from tests.support.crd import crd_validator

SCHEMAS = Path(__file__).parent.parent / "schemas"
GITOPS = Path(__file__).parent.parent / "fixtures" / "gitops"
VALIDATORS = {
    kind: (api, v)
    for api, kind, v in (
        crd_validator(SCHEMAS / "wgpolicyk8s.io_policyreports.yaml", "v1alpha2"),
        crd_validator(SCHEMAS / "wgpolicyk8s.io_clusterpolicyreports.yaml", "v1alpha2"),
    )
}
TIMESTAMP = {"seconds": 1795824000, "nanos": 0}  # 2026-11-28T00:00:00Z


def reports(*args: str, cfg: Path = EXAMPLE) -> tuple[int, list[dict[str, Any]]]:
    argv = ["scan", *args, "--format", "policyreport", "-c", str(cfg), "--now", "2026-11-28"]
    result = CliRunner().invoke(app, argv)
    docs = [d for d in yaml.safe_load_all(result.stdout) if d is not None]
    for doc in docs:
        api, validator = VALIDATORS[doc["kind"]]
        assert doc["apiVersion"] == api
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert errors == [], doc
        assert ("namespace" in doc["metadata"]) is (doc["kind"] == "PolicyReport")
        counts = {o: sum(r["result"] == o for r in doc["results"]) for o in doc["summary"]}
        assert counts == doc["summary"]
    return result.exit_code, docs


def test_the_checker_rejects_what_the_api_server_would() -> None:
    _, validator = VALIDATORS["PolicyReport"]
    bad = {
        "apiVersion": "wgpolicyk8s.io/v1alpha2",
        "kind": "PolicyReport",
        "metadata": {"name": "x", "namespace": "a"},
        "results": [{"policy": "p", "result": "denied", "extra": 1}],
    }
    assert sorted(e.message for e in validator.iter_errors(bad)) == [
        "'denied' is not one of ['pass', 'fail', 'warn', 'error', 'skip']",
        "Additional properties are not allowed ('extra' was unexpected)",
    ]


def test_a_gitops_repository_as_policy_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GITOPS)
    code, docs = reports(".", cfg=GITOPS / "policygen.yaml")
    assert code == 1
    assert [(d["kind"], d["metadata"]["namespace"], d["summary"]) for d in docs] == [
        ("PolicyReport", "logging", {"pass": 2, "fail": 1, "warn": 0, "error": 0, "skip": 0}),
        ("PolicyReport", "team-a", {"pass": 3, "fail": 0, "warn": 0, "error": 0, "skip": 0}),
        ("PolicyReport", "team-b", {"pass": 2, "fail": 1, "warn": 0, "error": 0, "skip": 0}),
    ]
    (fail,) = [r for r in docs[2]["results"] if r["result"] == "fail"]
    assert fail == {
        "source": "policygen",
        "policy": "acme-require-image-digest",
        "rule": "digest",
        "category": "Supply Chain Security",
        "result": "fail",
        "scored": True,
        "message": 'container "api" image "ghcr.io/acme-team-b/api:2.4" must be pinned by digest (@sha256:<64 hex>)',
        "timestamp": TIMESTAMP,
        "severity": "high",
        "resources": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "team-b", "name": "api"}
        ],
        "properties": {
            "source": "apps/team-b/api.yaml#2",
            "engines": "model",
            "container": "api",
            "image": "ghcr.io/acme-team-b/api:2.4",
        },
    }
    assert docs[0]["metadata"] == {
        "name": "policygen",
        "namespace": "logging",
        "labels": {
            "app.kubernetes.io/managed-by": "policygen",
            "app.kubernetes.io/version": "0.1.0",
        },
    }


def test_warn_skip_error_and_unreadable_files(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    text = EXAMPLE.read_text()
    old = "central decision.\n      action: deny"
    assert old in text
    cfg.write_text(text.replace(old, "central decision.\n      action: warn"))
    pods = tmp_path / "pods.yaml"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team-a", "uid": "0b9e-1"},
        "spec": {
            "containers": [
                {"name": "c", "image": "harbor.corp.example/team-a/c@sha256:" + "a" * 64}
            ]
        },
    }
    system = {**pod, "metadata": {"name": "q", "namespace": "kube-system"}}
    pods.write_text(yaml.safe_dump_all([pod, system]))
    (tmp_path / "broken.yaml").write_text("a: [\n")
    code, docs = reports(str(pods), str(tmp_path / "broken.yaml"), cfg=cfg)
    assert code == 2  # nothing denied; a file could not be read
    kinds = [(d["kind"], d["metadata"].get("namespace")) for d in docs]
    assert kinds == [
        ("PolicyReport", "kube-system"),
        ("PolicyReport", "team-a"),
        ("ClusterPolicyReport", None),
    ]
    system_results, team_results, errors = (d["results"] for d in docs)
    assert {(r["rule"], r["result"]) for r in system_results} == {
        ("digest", "skip"),
        ("pullPolicy", "skip"),
        ("registries", "skip"),
    }
    assert [(r["rule"], r["result"], r.get("severity")) for r in team_results] == [
        ("pullPolicy", "warn", "medium"),  # the API server defaults IfNotPresent for a digest
        ("digest", "pass", None),
        ("registries", "pass", None),
    ]
    assert team_results[0]["resources"][0]["uid"] == "0b9e-1"
    assert [(r["policy"], r["rule"], r["result"], r["message"]) for r in errors] == [
        ("acme-read-manifests", "read", "error", "invalid YAML: did not find expected node content")
    ]
    assert errors[0]["properties"] == {"source": f"{tmp_path}/broken.yaml:2:1"}


def test_an_unknown_namespace_is_an_error_result(tmp_path: Path) -> None:
    pods = tmp_path / "pods.yaml"
    pods.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: prod-a}\n"
        "spec: {containers: [{name: a, image: ghcr.io/blue/a:1}]}\n"
    )
    code, docs = reports(str(pods), "--engine", "kyverno", cfg=golden.cases()["mutate-selectors"])
    assert code == 1  # an unknown namespace is a denial, as in the other formats
    (report,) = docs
    assert [
        (r["policy"], r["rule"], r["result"], r["properties"]["engines"]) for r in report["results"]
    ] == [("beta-scope", "scope", "error", "kyverno")]
