"""The bundle at issue #21's envelope: 1,000 tenants, each with two
namespace globs and two registries, plus 200 exemptions. Kyverno and
Gatekeeper objects stay small (tenants are data, not rules); the CEL
targets are refused with the object, its size and the limit until they
carry tenants as parameters or policies of their own."""

from __future__ import annotations

import pytest
import yaml

from policygen import apicheck, bundle
from policygen.apicheck import ObjectTooLarge
from policygen.config import Config
from policygen.targets import registry
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


@pytest.mark.parametrize("target", ["kyverno", "gatekeeper"])
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
def test_the_cel_targets_are_refused_with_size_and_limit(large: Config, target: str) -> None:
    files = registry()[target].render(large, NOW)
    docs = {f"{target}/{rel}": list(yaml.safe_load_all(text)) for rel, text in files.items()}
    with pytest.raises(ObjectTooLarge) as info:
        apicheck.check_documents({k: [d for d in v if d] for k, v in docs.items()})
    kind = "ValidatingAdmissionPolicy" if target == "vap" else "ValidatingPolicy"
    assert f"{target}/registries.yaml: {kind}/scale-registries is " in str(info.value)
    assert "over the 204,800-byte limit" in str(info.value)


def test_build_refuses_rather_than_write(large: Config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "scale.yaml"
    path.write_text(scale.config_text(1000, 200))
    with pytest.raises(ObjectTooLarge, match=r"kyverno-cel/registries\.yaml"):
        bundle.render_bundle(large, path, NOW)
