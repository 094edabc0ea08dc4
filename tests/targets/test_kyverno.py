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
def test_every_workload_shape_has_its_own_rules(name: str) -> None:
    """Autogen is off and the controller rules are written out: Kyverno's
    autogen drops emitWarning (see test_engines/test_kyverno for the effect)."""
    for doc in policies(name):
        assert (
            doc["metadata"]["annotations"]["pod-policies.kyverno.io/autogen-controllers"] == "none"
        )
        names = [r["name"] for r in doc["spec"]["rules"]]
        bases = [n for n in names if not n.endswith(("-controllers", "-cronjobs"))]
        assert names == [n for b in bases for n in (b, f"{b}-controllers", f"{b}-cronjobs")] or (
            # mutate and validate rules alternate per shape in the pull-policy policy
            sorted(names)
            == sorted(n for b in bases for n in (b, f"{b}-controllers", f"{b}-cronjobs"))
        )
        for rule in doc["spec"]["rules"]:
            kinds = {k for e in rule["match"]["any"] for k in e["resources"]["kinds"]}
            if rule["name"].endswith("-cronjobs"):
                assert kinds == {"CronJob"}
            elif rule["name"].endswith("-controllers"):
                assert kinds == {
                    "DaemonSet",
                    "Deployment",
                    "Job",
                    "ReplicaSet",
                    "ReplicationController",
                    "StatefulSet",
                }
            else:
                assert kinds == {"Pod"}
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
