"""policygen diff: the policies exported from a cluster against the bundle,
after what the API server, the engines' CRDs and GitOps tools add."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from policygen import diff
from policygen.cli import app
from tests.conftest import EXAMPLE, ROOT

BUNDLE = ROOT / "policies"


def bundle_objects(target: str) -> list[dict[str, Any]]:
    return [o.obj for o in diff.read_bundle(BUNDLE) if o.target == target]


def as_served(obj: dict[str, Any], n: int) -> dict[str, Any]:
    """``obj`` as `kubectl get -o yaml` returns it once Argo CD applied it:
    server-set metadata and status, kubectl's and Argo CD's annotations, and
    the defaults the API server and the kind's CRD fill in."""
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    meta.setdefault("annotations", {})
    meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(obj)
    meta["annotations"]["argocd.argoproj.io/tracking-id"] = f"policies:{obj['kind']}/{meta['name']}"
    meta["labels"] = {**meta.get("labels", {}), "app.kubernetes.io/instance": "image-policies"}
    meta |= {
        "uid": f"00000000-0000-4000-8000-{n:012d}",
        "resourceVersion": str(1000 + n),
        "generation": 2,
        "creationTimestamp": "2026-11-20T08:00:00Z",
        "managedFields": [{"manager": "argocd-controller", "operation": "Apply"}],
    }
    spec = out["spec"]
    if obj["kind"] == "ClusterPolicy":
        for key, value in (("admission", True), ("background", True), ("emitWarning", False)):
            spec.setdefault(key, value)
        for rule in spec["rules"]:
            rule.setdefault("skipBackgroundRequests", True)
        out["status"] = {"ready": True, "rulecount": {"validate": len(spec["rules"])}}
    if obj["kind"] == "MutatingAdmissionPolicy":
        spec.setdefault("failurePolicy", "Fail")
        spec.setdefault("reinvocationPolicy", "Never")
        match = spec.setdefault("matchConstraints", {})
        match.setdefault("matchPolicy", "Equivalent")
        match.setdefault("namespaceSelector", {})
        match.setdefault("objectSelector", {})
        for rule in match.get("resourceRules", []):
            rule.setdefault("scope", "*")
    if obj["kind"] == "ValidatingAdmissionPolicy":
        spec.setdefault("failurePolicy", "Fail")
        match = spec.setdefault("matchConstraints", {})
        match.setdefault("matchPolicy", "Equivalent")
        match.setdefault("namespaceSelector", {})
        match.setdefault("objectSelector", {})
        for rule in match.get("resourceRules", []):
            rule.setdefault("scope", "*")
        out["status"] = {"observedGeneration": 2, "typeChecking": {}}
    if obj["kind"].endswith("AdmissionPolicyBinding") and "matchResources" in spec:
        # defaulted only when set: the field is a pointer the server leaves nil
        match = spec["matchResources"]
        match.setdefault("matchPolicy", "Equivalent")
        match.setdefault("objectSelector", {})
        match.setdefault("namespaceSelector", {})
    return out


def export(tmp_path: Path, objects: list[dict[str, Any]]) -> str:
    path = tmp_path / "exported.yaml"
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": objects,
        "metadata": {"resourceVersion": ""},
    }
    path.write_text(yaml.safe_dump(listing, sort_keys=True))
    return str(path)


def run(*args: str) -> tuple[int, str, str]:
    argv = ["diff", *args, "-c", str(EXAMPLE), "--bundle", str(BUNDLE), "--now", "2026-11-28"]
    result = CliRunner().invoke(app, argv)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("target", ["kyverno", "vap"])
def test_a_cluster_running_the_bundle_has_no_drift(tmp_path: Path, target: str) -> None:
    served = [as_served(o, i) for i, o in enumerate(bundle_objects(target))]
    code, out, _ = run(export(tmp_path, served))
    assert (code, out.splitlines()[-1]) == (
        0,
        f"{len(served)} objects compared (targets: {target}): no drift",
    )


@pytest.mark.parametrize("target", ["vap", "kyverno-cel"])
def test_mutating_policies_as_served_have_no_drift(tmp_path: Path, target: str) -> None:
    from tests import golden

    bundle = golden.GOLDEN / "mutate-selectors"
    objects = [o.obj for o in diff.read_bundle(bundle) if o.target == target]
    assert any(o["kind"].startswith("Mutating") for o in objects)
    served = [as_served(o, i) for i, o in enumerate(objects)]
    argv = ["diff", export(tmp_path, served), "-c", str(golden.cases()["mutate-selectors"])]
    result = CliRunner().invoke(app, [*argv, "--bundle", str(bundle), "--now", "2026-11-28"])
    assert (result.exit_code, result.stdout.splitlines()[-1]) == (
        0,
        f"{len(served)} objects compared (targets: {target}): no drift",
    )


def test_a_weakened_policy_is_drift(tmp_path: Path) -> None:
    served = [as_served(o, i) for i, o in enumerate(bundle_objects("kyverno"))]
    digest = next(o for o in served if o["metadata"]["name"] == "acme-require-image-digest")
    rule = digest["spec"]["rules"][0]
    rule["validate"]["failureAction"] = "Audit"
    rule["exclude"]["any"][0]["resources"]["namespaces"].append("team-a")
    digest["spec"]["webhookConfiguration"] = {"timeoutSeconds": 30}
    code, out, _ = run(export(tmp_path, served))
    assert code == 1
    n = len(rule["exclude"]["any"][0]["resources"]["namespaces"]) - 1
    assert out.splitlines() == [
        "DRIFT ClusterPolicy.kyverno.io acme-require-image-digest",
        f'      spec.rules[0].exclude.any[0].resources.namespaces[{n}]: added in the cluster: "team-a"',
        '      spec.rules[0].validate.failureAction: "Enforce" in the bundle, "Audit" in the cluster',
        '      spec.webhookConfiguration: added in the cluster: {"timeoutSeconds": 30}',
        f"{len(served)} objects compared (targets: kyverno): 1 differ",
    ]


def test_a_value_the_crd_would_default_differently_is_drift(tmp_path: Path) -> None:
    served = [as_served(o, i) for i, o in enumerate(bundle_objects("kyverno"))]
    served[0]["spec"]["emitWarning"] = True  # the CRD's default is false
    code, out, _ = run(export(tmp_path, served))
    assert code == 1
    assert "      spec.emitWarning: added in the cluster: true" in out.splitlines()


def test_missing_and_extra_policies(tmp_path: Path) -> None:
    served = [as_served(o, i) for i, o in enumerate(bundle_objects("kyverno"))]
    gone = served.pop(1)
    left_over = copy.deepcopy(served[0])
    left_over["metadata"]["name"] = "acme-require-signed-images"
    someone_elses = copy.deepcopy(served[0])
    someone_elses["metadata"]["name"] = "disallow-latest-tag"  # not ours: not compared
    code, out, _ = run(export(tmp_path, [*served, left_over, someone_elses]))
    assert code == 1
    assert out.splitlines() == [
        f"MISSING ClusterPolicy.kyverno.io {gone['metadata']['name']}: in the bundle, not in the cluster",
        "EXTRA ClusterPolicy.kyverno.io acme-require-signed-images: in the cluster, not in the bundle",
        f"{len(served)} objects compared (targets: kyverno): 2 differ",
    ]


def test_the_targets_compared_can_be_named(tmp_path: Path) -> None:
    served = [as_served(o, i) for i, o in enumerate(bundle_objects("kyverno"))]
    code, out, _ = run(export(tmp_path, served), "--target", "kyverno", "--target", "vap")
    vap = len(bundle_objects("vap"))
    assert code == 1
    assert out.count("MISSING ") == vap
    assert (
        out.splitlines()[-1]
        == f"{len(served)} objects compared (targets: kyverno, vap): {vap} differ"
    )
    code, _, err = run(export(tmp_path, served), "--target", "istio")
    assert (code, err) == (
        2,
        "policygen: --target: istio not in the bundle (gatekeeper, kyverno, kyverno-cel, vap)\n",
    )


def test_an_export_with_none_of_the_bundle_is_not_a_pass(tmp_path: Path) -> None:
    code, out, _ = run(export(tmp_path, []))
    assert (code, out) == (
        1,
        "0 objects compared (targets: none: no bundle object is in the export): no drift\n",
    )


def test_a_bundle_that_does_not_match_its_lock_proves_nothing(tmp_path: Path) -> None:
    bundle = tmp_path / "policies"
    shutil.copytree(BUNDLE, bundle)
    edited = bundle / "kyverno" / "require-pull-always.yaml"
    edited.write_text(edited.read_text().replace("Enforce", "Audit"))
    result = CliRunner().invoke(
        app,
        [
            "diff",
            export(tmp_path, []),
            "-c",
            str(EXAMPLE),
            "--bundle",
            str(bundle),
            "--now",
            "2026-11-28",
        ],
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"policygen: {bundle}: the bundle does not match bundle.lock "
        "(kyverno/require-pull-always.yaml does not match its sha256); run `policygen build --check`\n"
    )


def test_normalise_strips_only_what_servers_and_tools_set() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "c",
            "uid": "u",
            "resourceVersion": "1",
            "generation": 1,
            "creationTimestamp": "t",
            "managedFields": [],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "a"},
            "labels": {"kustomize.toolkit.fluxcd.io/name": "x"},
        },
        "status": {"x": 1},
        "data": {"k": "v"},
    }
    assert diff.normalise(obj) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "annotations": {"team": "a"}},
        "data": {"k": "v"},
    }


def test_numbers_compare_by_value_not_type() -> None:
    ident = ("", "X", "", "x")
    assert list(diff.differences(ident, {"a": 30}, {"a": 30.0})) == []
    assert list(diff.differences(ident, {"a": True}, {"a": 1})) == [
        "a: true in the bundle, 1 in the cluster"
    ]
