"""The bundle at issue #21's envelope: 1,000 tenants, each with two
namespace globs and two registries, plus 200 exemptions. Kyverno and
Gatekeeper objects stay small (tenants are data, not rules); the CEL
targets split the registries rule into a policy per group of tenants, each
holding its tenants as data. A config past what the API server takes is
refused with the object, its size and the limit."""

from __future__ import annotations

import pytest
import yaml

from policygen import apicheck
from policygen.apicheck import ObjectTooLarge
from policygen.config import Config
from policygen.targets import _cel, registry
from tests import scale
from tests.conftest import NOW


@pytest.fixture(scope="module")
def large() -> Config:
    return scale.load(scale.config_text(1000, 200), NOW)


@pytest.fixture(scope="module")
def small() -> Config:
    return scale.load(scale.config_text(3, 3), NOW)


def sizes(cfg: Config, target: str) -> dict[str, int]:
    files = registry()[target].render(cfg, NOW)
    return {
        f"{rel}#{i}": apicheck.compact_size(d)
        for rel, text in files.items()
        for i, d in enumerate(yaml.safe_load_all(text))
        if d
    }


@pytest.mark.parametrize("target", ["kyverno", "kyverno-cel", "gatekeeper", "vap"])
def test_every_object_fits_at_a_thousand_tenants(large: Config, target: str) -> None:
    for name, size in sizes(large, target).items():
        assert size < apicheck.SIZE_LIMIT, name


def test_kyverno_grows_by_bytes_per_tenant_not_kilobytes(large: Config, small: Config) -> None:
    big, little = sizes(large, "kyverno"), sizes(small, "kyverno")
    registries = "restrict-image-registries.yaml#0"
    # 997 tenants and 197 exemptions more: one data entry each
    per_entry = (big[registries] - little[registries]) / (997 + 197 // 3)
    assert per_entry < 200
    for name in big:
        if name != registries:
            assert big[name] - little[name] < 200 * (197 // 3 + 1), name


@pytest.mark.parametrize("target", ["vap", "kyverno-cel"])
def test_the_cel_targets_hold_a_hundred_tenants_a_policy(large: Config, target: str) -> None:
    files = registry()[target].render(large, NOW)
    policies = [
        d for d in yaml.safe_load_all(files["registries.yaml"]) if "Binding" not in d["kind"]
    ]
    names = [p["metadata"]["name"] for p in policies]
    # the namespaces of no tenant, then ten groups of a hundred tenants
    assert names == ["scale-registries", *(f"scale-registries-{k:02d}" for k in range(1, 11))]
    conditions = [c["name"] for c in policies[0]["spec"]["matchConditions"]]
    assert conditions[2:] == [f"not-tenants-{k:02d}" for k in range(1, 11)]
    first = {v["name"]: v["expression"] for v in policies[1]["spec"]["variables"]}
    assert first["byName"].count("request.namespace.matches(") == 100
    assert "t0099" in first["byName"] and "t0100" not in first["byName"]
    if target == "vap":
        bindings = [
            d for d in yaml.safe_load_all(files["registries.yaml"]) if "Binding" in d["kind"]
        ]
        assert [b["spec"]["policyName"] for b in bindings] == names
    # the other rules do not read tenants: one policy each, the same size
    for rule in ("digest.yaml", "pull-policy.yaml"):
        assert len([d for d in yaml.safe_load_all(files[rule]) if "Binding" not in d["kind"]]) == 1


def test_past_64_groups_the_policy_of_no_tenant_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 6,200 tenants at a hundred a group, made cheap by smaller groups
    monkeypatch.setattr(_cel, "TENANTS_PER_POLICY", 2)
    cfg = scale.load(scale.config_text(124, 0, targets=("vap",)), NOW)
    registry()["vap"].render(cfg, NOW)  # 62 groups and 2 scope conditions fit
    cfg = scale.load(scale.config_text(125, 0, targets=("vap",)), NOW)
    with pytest.raises(ObjectTooLarge, match="65 matchConditions, over the API server's 64"):
        registry()["vap"].render(cfg, NOW)
