"""policygen test: engines against the model, the model against fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from policygen import config
from policygen.cli import app
from policygen.fixtures import builtin_corpus, parse_expect
from tests.conftest import CORPUS, EXAMPLE, ROOT


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["test", "--now", "2026-11-28", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_example_bundle_agrees_everywhere() -> None:
    code, out, _ = run("-c", str(EXAMPLE))
    assert code == 0, out
    assert (
        out.splitlines()[-1] == "891 objects × 6 engines (model, kyverno, kyverno-cel, "
        "gatekeeper (Rego: opa), gatekeeper-rego (Rego: opa), vap): all agree"
    )


def test_the_rego_engine_in_use_is_named() -> None:
    code, out, _ = run(
        "-c", str(EXAMPLE), "--no-builtin", "--fixtures", str(CORPUS), "--rego-engine", "regorus"
    )
    assert code == 0, out
    assert out.splitlines()[-1] == (
        "25 objects × 6 engines (model, kyverno, kyverno-cel, "
        "gatekeeper (Rego: regorus), gatekeeper-rego (Rego: regorus), vap): all agree"
    )


def test_declared_expectations_are_checked() -> None:
    code, out, _ = run("-c", str(EXAMPLE), "--no-builtin", "--fixtures", str(CORPUS))
    assert code == 0, out
    assert (
        out.splitlines()[-1] == "25 objects × 6 engines (model, kyverno, kyverno-cel, "
        "gatekeeper (Rego: opa), gatekeeper-rego (Rego: opa), vap): all agree"
    )


def test_a_wrong_expectation_names_object_container_and_rule(tmp_path: Path) -> None:
    fixture = tmp_path / "f.yaml"
    fixture.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "x",
                    "namespace": "team-a",
                    "annotations": {"policygen.dev/expect": "pullPolicy:app"},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "harbor.corp.example/team-a/app:1",
                            "imagePullPolicy": "Always",
                        }
                    ]
                },
            }
        )
    )
    code, out, _ = run("-c", str(EXAMPLE), "--no-builtin", "--fixtures", str(fixture))
    assert code == 1
    assert f"DISAGREE {fixture}#1 (Pod team-a/x)" in out
    assert "  model: expected pullPolicy on container 'app', not reported" in out
    assert (
        "  model: digest on container 'app' not expected: container \"app\" image "
        '"harbor.corp.example/team-a/app:1" must be pinned by digest (@sha256:<64 hex>)'
    ) in out
    assert "verdict matrix" in out


def tampered(tmp_path: Path, target: str, old: str, new: str) -> Path:
    bundle = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", bundle)
    files = list((bundle / target).glob("*.yaml"))
    hits = [f for f in files if old in f.read_text()]
    assert hits, old
    for f in hits:
        f.write_text(f.read_text().replace(old, new))
    return bundle


@pytest.mark.parametrize(
    ("target", "old", "new", "engine_line"),
    [
        # a tenant's registry quietly widened in the Gatekeeper constraint
        (
            "gatekeeper",
            "harbor\\.corp\\.example/team\\-a)",
            "harbor\\.corp\\.example)",
            "gatekeeper: missing: rule registries (deny)",  # the CEL entry; the Rego too
        ),
        # a Kyverno rule that forgot the init containers
        (
            "kyverno",
            "request.object.spec.initContainers",
            "request.object.spec.nothing",
            "kyverno: missing: rule",
        ),
    ],
)
def test_a_tampered_bundle_is_caught(
    tmp_path: Path, target: str, old: str, new: str, engine_line: str
) -> None:
    bundle = tampered(tmp_path, target, old, new)
    # the example with only the tampered target: the others' folders are
    # the committed ones, which test_the_committed_bundle_agrees proves
    cfg = tmp_path / "policygen.yaml"
    cfg.write_text(
        EXAMPLE.read_text().replace(
            "targets: [kyverno, kyverno-cel, gatekeeper, vap]", f"targets: [{target}]"
        )
    )
    code, out, _ = run("-c", str(cfg), "--bundle", str(bundle), "--show", "none")
    assert code == 1
    assert engine_line in out
    # gatekeeper's Rego entries are proven on their own too (gatekeeper-rego)
    engines = 3 if target == "gatekeeper" else 2
    assert out.splitlines()[-1].startswith(f"891 objects × {engines} engines (model, ")
    assert "disagree" in out.splitlines()[-1]


def test_the_committed_bundle_agrees() -> None:
    code, out, _ = run("-c", str(EXAMPLE), "--bundle", str(ROOT / "policies"))
    assert code == 0, out


def test_bad_expect_annotation_is_located(tmp_path: Path) -> None:
    fixture = tmp_path / "f.yaml"
    fixture.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  annotations: {policygen.dev/expect: digest}\n"
        "spec: {containers: [{name: a, image: nginx}]}\n"
    )
    code, _, err = run("-c", str(EXAMPLE), "--no-builtin", "--fixtures", str(fixture))
    assert code == 2
    assert (
        f"{fixture}:1:0: metadata.annotations.policygen.dev/expect: 'digest' is not rule:container"
        in err
    )


def test_nothing_to_test() -> None:
    code, _, err = run("-c", str(EXAMPLE), "--no-builtin")
    assert (code, err) == (2, "policygen: nothing to test: no fixtures (and --no-builtin)\n")


def test_every_target_has_an_evaluator_by_its_name() -> None:
    from policygen.engines import create, names
    from policygen.targets import registry

    assert names() == ("model", "kyverno", "kyverno-cel", "gatekeeper", "gatekeeper-rego", "vap")
    for name, target in registry().items():
        assert target.name == name
        assert create(name).name == name  # prove evaluates a target by its name
        for variant in target.capabilities.variants:  # and its variants by theirs
            assert create(f"{name}-{variant}").name == f"{name}-{variant}"


def test_builtin_corpus_reaches_every_part_of_the_config(example: config.Config) -> None:
    fixtures, namespaces = builtin_corpus(example)
    assert set(namespaces) >= {"team-a", "team-a-x", "team-b", "payments", "logging", "kube-system"}
    kinds = {f.obj["kind"] for f in fixtures}
    assert kinds == {
        "Pod",
        "Deployment",
        "CronJob",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "ReplicaSet",
        "ReplicationController",
    }
    images = {c["image"] for f in fixtures for c in _containers(f.obj)}
    assert "harbor.corp.example/infra/scraper:x" in images  # the exemption's glob
    assert "harbor.corp.example/team-a-lookalike/app@sha256:" + "0123456789abcdef" * 4 in images
    assert len(fixtures) == len({f.source for f in fixtures})


def _containers(obj: dict) -> list[dict]:
    from policygen.workloads import containers

    return [{"image": c.image} for c in containers(obj)]


def test_parse_expect() -> None:
    assert parse_expect("digest:a, pullPolicy:b") == {("digest", "a"), ("pullPolicy", "b")}
    assert parse_expect("none") == frozenset()
    with pytest.raises(ValueError, match="'x' is not rule:container"):
        parse_expect("x")
