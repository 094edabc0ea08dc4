"""Structural checks of the rendered Kyverno bundle against Kyverno's own CRD
models, plus the autogen-preserving shape the notes require."""

from __future__ import annotations

import pytest
import yaml
from cloudcoil.models.kyverno import v1

from policygen import config
from policygen.targets import kyverno
from tests import golden
from tests.conftest import NOW


def policies(name: str) -> list[dict]:
    files = kyverno.TARGET.render(config.load(golden.cases()[name], today=NOW), NOW)
    return [yaml.safe_load(t) for _, t in sorted(files.items())]


@pytest.mark.parametrize("name", list(golden.cases()))
def test_validates_against_kyverno_crd_models(name: str) -> None:
    for doc in policies(name):
        v1.ClusterPolicy.model_validate(doc)


@pytest.mark.parametrize("name", list(golden.cases()))
def test_autogen_stays_on(name: str) -> None:
    for doc in policies(name):
        assert "pod-policies.kyverno.io/autogen-controllers" not in doc["metadata"]["annotations"]
        for rule in doc["spec"]["rules"]:
            for block in ("match", "exclude"):
                for entry in rule.get(block, {}).get("any", []):
                    res = entry["resources"]
                    assert not {"name", "names", "selector", "annotations"} & set(res)
                    assert res.get("kinds", ["Pod"]) == ["Pod"]
            if "validate" in rule:
                assert rule["validate"]["allowExistingViolations"] is False
                assert rule["validate"]["failureAction"] in ("Enforce", "Audit")


def test_mutate_uses_strategic_merge_not_json6902() -> None:
    (pull,) = [
        d
        for d in policies("mutate-selectors")
        if d["metadata"]["name"] == "beta-require-pull-always"
    ]
    mutate = pull["spec"]["rules"][0]["mutate"]
    assert [f["list"] for f in mutate["foreach"]] == [
        "request.object.spec.containers || `[]`",
        "request.object.spec.initContainers || `[]`",
    ]
    assert "patchesJson6902" not in str(mutate)
