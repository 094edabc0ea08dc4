"""The ready-made Flux example (examples/flux/gatekeeper.yaml): two Flux
Kustomizations over the Gatekeeper bundle, templates first, then, once
Gatekeeper has created their CRDs, the Constraints. Each step is built
with the real kustomize (kubectl's, as Flux's kustomize-controller builds a
Kustomization's path with its ``spec.patches``), over the committed bundle
of the example config."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "flux" / "gatekeeper.yaml"
BUNDLE = ROOT / "policies" / "gatekeeper"


def steps() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d]


def bundle_objects() -> list[dict[str, Any]]:
    return [
        d
        for path in sorted(BUNDLE.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for d in yaml.safe_load_all(path.read_text())
        if d
    ]


def kustomize(tmp_path: Path, patches: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The objects a Flux Kustomization with ``patches`` applies from the
    bundle, built as kustomize-controller builds it."""
    kubectl = shutil.which("kubectl")
    # kubectl (kustomize v5) is part of this machine image (installed-python.txt)
    assert kubectl is not None, "kubectl is needed to build the Flux steps with kustomize"
    root = tmp_path / "repo"
    if not root.exists():
        shutil.copytree(BUNDLE, root / "policies" / "gatekeeper")
    step = root / f"step{len(list(root.glob('step*')))}"
    step.mkdir()
    (step / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["../policies/gatekeeper"],
                "patches": patches,
            }
        )
    )
    out = subprocess.run(
        [kubectl, "kustomize", str(step)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return sorted((d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(out.stdout) if d)


def test_templates_first_then_constraints() -> None:
    first, second = steps()
    assert [s["kind"] for s in (first, second)] == ["Kustomization"] * 2
    assert {s["apiVersion"] for s in (first, second)} == {"kustomize.toolkit.fluxcd.io/v1"}
    assert second["spec"]["dependsOn"] == [{"name": first["metadata"]["name"]}]
    assert "dependsOn" not in first["spec"]
    for step in (first, second):
        spec = step["spec"]
        assert (ROOT / spec["path"] / "kustomization.yaml").is_file()
        assert spec["path"] == "./policies/gatekeeper"
        assert spec["prune"] is True
        assert spec["sourceRef"] == first["spec"]["sourceRef"]
    # the constraints are ready once applied; the templates once their CRDs are
    assert second["spec"]["wait"] is True


def test_the_templates_step_waits_for_the_crds_gatekeeper_creates() -> None:
    first, _ = steps()
    templates = [d for d in bundle_objects() if d["kind"] == "ConstraintTemplate"]
    # Gatekeeper names a template's CRD by its kind in lower case
    crds = sorted(
        f"{t['spec']['crd']['spec']['names']['kind'].lower()}.constraints.gatekeeper.sh"
        for t in templates
    )
    checks = first["spec"]["healthChecks"]
    assert sorted(c["name"] for c in checks) == crds
    assert {(c["apiVersion"], c["kind"]) for c in checks} == {
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    }
    assert "wait" not in first["spec"]  # wait would replace the health checks


def test_each_step_applies_its_half_of_the_bundle(tmp_path: Path) -> None:
    first, second = steps()
    everything = sorted((d["kind"], d["metadata"]["name"]) for d in bundle_objects())
    constraints = sorted(
        (d["kind"], d["metadata"]["name"])
        for d in bundle_objects()
        if d["apiVersion"].startswith("constraints.gatekeeper.sh/")
    )
    templates = kustomize(tmp_path, first["spec"]["patches"])
    later = kustomize(tmp_path, second["spec"]["patches"])
    assert later == constraints
    assert constraints  # something is held back
    assert sorted(templates + later) == everything
    assert ("ConstraintTemplate", "acmeimagedigest") in templates


@pytest.mark.parametrize("kind", ["ConstraintTemplate", "ExpansionTemplate"])
def test_the_constraints_step_never_prunes_what_the_first_applies(kind: str) -> None:
    # Two Kustomizations applying one object would fight over it (and each
    # prune it from the other).
    _, second = steps()
    groups = {p["target"]["group"] for p in second["spec"]["patches"]}
    (obj,) = [d for d in bundle_objects() if d["kind"] == kind][:1]
    assert obj["apiVersion"].split("/")[0] in groups
