"""Auditing a running cluster: `kubectl get … -A -o yaml | policygen scan -`
on an export shaped like kubectl's (tests/fixtures/cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from policygen.cli import app

CLUSTER = Path(__file__).parent / "fixtures" / "cluster"
EXPORT = (CLUSTER / "kubectl-get.yaml").read_text()


def scan(stdin: str, *args: str) -> tuple[int, str]:
    argv = ["scan", "-", "-c", str(CLUSTER / "policygen.yaml"), "--now", "2026-11-28", *args]
    result = CliRunner().invoke(app, argv, input=stdin)
    return result.exit_code, result.stdout


def test_a_kubectl_list_of_mixed_kinds() -> None:
    code, out = scan(EXPORT)
    assert code == 1
    assert out == (
        "DENY  Deployment prod-a/api (<stdin>#1.items[2])\n"
        '  digest      container "api" image "ghcr.io/red/api:1.8" must be pinned by\n'
        "              digest (@sha256:<64 hex>)\n"
        '  pullPolicy  container "api" must set imagePullPolicy: Always, not IfNotPresent\n'
        "DENY  Pod prod-a/api-7c9f6d5b8-x2k4q (<stdin>#1.items[4])\n"
        '  digest      container "api" image "ghcr.io/red/api:1.8" must be pinned by\n'
        "              digest (@sha256:<64 hex>)\n"
        '  digest      container "debug" image "docker.io/nicolaka/netshoot:v0.13" must\n'
        "              be pinned by digest (@sha256:<64 hex>)\n"
        '  pullPolicy  container "api" must set imagePullPolicy: Always, not IfNotPresent\n'
        '  pullPolicy  container "debug" must set imagePullPolicy: Always, not\n'
        "              IfNotPresent\n"
        '  registries  container "debug" image "docker.io/nicolaka/netshoot:v0.13" is not\n'
        '              from a registry allowed in namespace "prod-a"\n'
        "DENY  Deployment prod-b/web (<stdin>#1.items[6])\n"
        '  scope       namespace "prod-b" is not known, so scope.namespaceSelector cannot\n'
        "              be evaluated; include the Namespace object\n"
        "4 workloads: 3 deny, 1 allow; also 3 other objects\n"
    )


def test_the_namespace_objects_decide_scope_and_tenant() -> None:
    # prod-a's tenant label makes ghcr.io/red an allowed registry there, and
    # prod-legacy's skip label takes it out of scope: without the Namespace
    # objects, neither is known.
    listing = yaml.safe_load(EXPORT)
    listing["items"] = [i for i in listing["items"] if i["kind"] != "Namespace"]
    code, out = scan(json.dumps(listing), "--format", "json")
    results = {r["name"]: {v["rule"] for v in r["violations"]} for r in json.loads(out)["results"]}
    assert code == 1
    assert results == {
        "api": {"scope"},
        "batch": {"scope"},
        "api-7c9f6d5b8-x2k4q": {"scope"},
        "web": {"scope"},
    }


def test_live_objects_keep_their_uid_in_policy_reports() -> None:
    code, out = scan(EXPORT, "--format", "policyreport")
    assert code == 1

    (report, *_) = [d for d in yaml.safe_load_all(out) if d]
    assert report["metadata"]["namespace"] == "prod-a"
    uids = {r["resources"][0]["uid"] for r in report["results"]}
    assert uids == {"1d7e0c55-2b8c-4a07-9d0e-3f4a5b6c7d03", "3a2b1c0d-9e8f-4a7b-6c5d-4e3f2a1b0c06"}
