"""Structural checks of the rendered Kyverno bundle against Kyverno's own CRD
models, plus the autogen-preserving shape the notes require."""

from __future__ import annotations

import pytest
import yaml
from cloudcoil.models.kyverno import v1

from policygen import config
from policygen.engines.kyverno.autogen import POD_CONTROLLERS, autogen_controllers, autogen_rules
from policygen.targets import kyverno
from tests import golden, scale
from tests.conftest import NOW


def policies(name: str) -> list[dict]:
    files = kyverno.TARGET.render(config.load(golden.cases()[name], today=NOW), NOW)
    return [yaml.safe_load(t) for _, t in sorted(files.items())]


@pytest.mark.parametrize("name", list(golden.cases()))
def test_validates_against_kyverno_crd_models(name: str) -> None:
    for doc in policies(name):
        v1.ClusterPolicy.model_validate(doc)


@pytest.mark.parametrize("name", list(golden.cases()))
def test_rules_match_pods_and_autogen_covers_controllers(name: str) -> None:
    """Every rule matches Pods only, nothing switches Kyverno's autogen off
    (no annotation, no names or label selectors), so each rule gets its
    autogen-… and autogen-cronjob-… twins (pkg/autogen/v1)."""
    for doc in policies(name):
        assert "pod-policies.kyverno.io/autogen-controllers" not in doc["metadata"]["annotations"]
        assert sorted(autogen_controllers(doc)) == sorted(POD_CONTROLLERS)
        for rule in doc["spec"]["rules"]:
            kinds = {k for e in rule["match"]["any"] for k in e["resources"]["kinds"]}
            assert kinds == {"Pod"}
            generated = [r["name"] for r in autogen_rules(doc, rule)]
            assert generated == [f"autogen-{rule['name']}", f"autogen-cronjob-{rule['name']}"]
            if "validate" in rule:
                assert rule["validate"]["allowExistingViolations"] is False
                assert rule["validate"]["failureAction"] in ("Enforce", "Audit")


def test_tenants_and_exemptions_are_data_not_rules() -> None:
    """One registries rule whatever the number of glob tenants; each tenant
    and exemption is one entry of a context variable."""
    for tenants, exemptions in [(3, 3), (40, 30)]:
        cfg = scale.load(scale.config_text(tenants, exemptions, targets=("kyverno",)), NOW)
        files = kyverno.TARGET.render(cfg, NOW)
        docs = {n: yaml.safe_load(t) for n, t in files.items()}
        (rule,) = docs["restrict-image-registries.yaml"]["spec"]["rules"]
        context = {c["name"]: c["variable"] for c in rule["context"]}
        index = context["tenantRegistries"]["value"]
        assert len(index["heads"]) == tenants and index["names"] == {}
        # t0001 and t0001-*: filed once, under the text both globs start with
        assert index["heads"]["t0001"] == [
            [
                "^(?:t0001|t0001\\-.*)$",
                "^(?:harbor\\.corp\\.example/t0001|registry\\.t0001\\.example:5000/apps)(?:/|$)",
            ]
        ]
        assert len(context["exemptImages"]["value"]) == len(
            [i for i in range(exemptions) if i % 3 == 2]
        )
        for doc in docs.values():
            assert len(doc["spec"]["rules"]) <= 2  # the pull-policy one may mutate too


def test_tenants_chosen_by_labels_get_a_rule_each() -> None:
    cfg = scale.load(scale.config_text(6, 0, targets=("kyverno",), selectors=True), NOW)
    doc = yaml.safe_load(kyverno.TARGET.render(cfg, NOW)["restrict-image-registries.yaml"])
    names = [r["name"] for r in doc["spec"]["rules"]]
    assert names == ["tenant-registries", "shared-registries", "tenant-t0000", "tenant-t0003"]
    shared = doc["spec"]["rules"][1]
    assert shared["exclude"]["any"][1:] == [
        {"resources": {"namespaceSelector": {"matchLabels": {"tenant": "t0000"}}}},
        {"resources": {"namespaceSelector": {"matchLabels": {"tenant": "t0003"}}}},
    ]
    t0 = doc["spec"]["rules"][2]["match"]["any"][0]["resources"]["namespaceSelector"]
    assert t0 == {
        "matchLabels": {"tenant": "t0000"},
        "matchExpressions": [{"key": "policygen.dev/skip", "operator": "DoesNotExist"}],
    }


def test_mutate_uses_strategic_merge_not_json6902() -> None:
    (pull,) = [
        d
        for d in policies("mutate-selectors")
        if d["metadata"]["name"] == "beta-require-pull-always"
    ]
    assert [r["name"] for r in pull["spec"]["rules"]] == ["set-pull-always", "require-pull-always"]
    mutate = pull["spec"]["rules"][0]["mutate"]
    assert [f["list"] for f in mutate["foreach"]] == [
        "request.object.spec.containers || `[]`",
        "request.object.spec.initContainers || `[]`",
    ]
    assert "patchesJson6902" not in str(mutate)


def test_each_exemption_carries_the_instant_after_which_it_lapses() -> None:
    """kyverno.io/v2 PolicyExceptions have no expiry, so the exemption's
    context entry holds its expiresAt and the path drops it once Kyverno's
    time_now_utc() is after it (pkg/engine/jmespath/time.go)."""
    [doc] = [d for d in policies("example") if d["metadata"]["name"].endswith("-digest")]
    (rule,) = doc["spec"]["rules"]
    context = {c["name"]: c["variable"] for c in rule["context"]}
    assert context["exemptImages"] == {
        "jmesPath": "[?regex_match(@[0], '{{request.namespace}}') "
        "&& !time_after(time_now_utc(), @[2])][1] | join('|', @)",
        "value": [
            [
                "^(?:logging)$",
                "^(?:harbor\\.corp\\.example/infra/scraper:.*)$",
                "2027-03-31T23:59:59Z",
            ]
        ],
    }
