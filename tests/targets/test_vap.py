"""The vap target: shape of the policies and bindings, config limits, and a
CEL image parser that agrees with policygen.imageref (kyverno-cel shares it)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from policygen import config, imageref
from policygen.engines.vap import Cel
from policygen.targets import vap
from policygen.targets._cel import parse_stages
from tests.conftest import EXAMPLE, NOW
from tests.test_imageref import IMAGE_CASES, references


def docs(cfg: config.Config) -> list[dict[str, Any]]:
    return [d for text in vap.TARGET.render(cfg, NOW).values() for d in yaml.safe_load_all(text)]


def test_a_policy_and_a_binding_per_rule(example: config.Config) -> None:
    found = docs(example)
    assert [(d["kind"], d["metadata"]["name"]) for d in found] == [
        ("ValidatingAdmissionPolicy", "acme-digest"),
        ("ValidatingAdmissionPolicyBinding", "acme-digest"),
        ("ValidatingAdmissionPolicy", "acme-pull-policy"),
        ("ValidatingAdmissionPolicyBinding", "acme-pull-policy"),
        ("ValidatingAdmissionPolicy", "acme-registries"),
        ("ValidatingAdmissionPolicyBinding", "acme-registries"),
    ]
    policy = found[0]["spec"]
    assert policy["failurePolicy"] == "Fail"
    resources = {
        r for rule in policy["matchConstraints"]["resourceRules"] for r in rule["resources"]
    }
    # the subresource is matched only when listed (unlike Kyverno)
    assert {
        "pods",
        "pods/ephemeralcontainers",
        "deployments",
        "cronjobs",
        "replicationcontrollers",
    } <= resources
    assert [v["name"] for v in policy["variables"]] == [
        "spec",
        "containers",
        "parts",
        "names",
        "firsts",
        "domains",
        "refs",
        "images",
        "exemptions",
        "bad",
    ]
    assert found[1]["spec"]["validationActions"] == ["Deny"]


def test_actions_and_scope_selector() -> None:
    text = EXAMPLE.read_text().replace(
        "    digest:\n      action: deny", "    digest:\n      action: warn"
    )
    text = text.replace(
        '    namespaces: ["*"]\n',
        '    namespaces: ["*"]\n    namespaceSelector: {matchLabels: {tier: prod}}\n',
    )
    found = docs(config.parse(text, "c.yaml", today=NOW))
    binding = found[1]["spec"]
    assert binding["validationActions"] == ["Warn"]
    assert binding["matchResources"]["namespaceSelector"] == {"matchLabels": {"tier": "prod"}}


def test_only_selector_tenants_read_the_namespace_object(example: config.Config) -> None:
    assert "namespaceObject" not in yaml.safe_dump(docs(example))


def mutate_config() -> config.Config:
    text = EXAMPLE.read_text().replace(
        "      action: deny\n    registries", "      action: mutate\n    registries"
    )
    return config.parse(text, "c.yaml", today=NOW)


def test_mutate_adds_a_mutating_admission_policy_and_binding() -> None:
    found = docs(mutate_config())
    assert [(d["apiVersion"], d["kind"], d["metadata"]["name"]) for d in found][-2:] == [
        ("admissionregistration.k8s.io/v1", "MutatingAdmissionPolicy", "acme-pull-always"),
        ("admissionregistration.k8s.io/v1", "MutatingAdmissionPolicyBinding", "acme-pull-always"),
    ]
    policy, binding = found[-2]["spec"], found[-1]["spec"]
    # what the mutation cannot reach is still denied by the validation
    pull = next(
        d
        for d in found
        if (d["kind"], d["metadata"]["name"])
        == ("ValidatingAdmissionPolicyBinding", "acme-pull-policy")
    )
    assert pull["spec"]["validationActions"] == ["Deny"]
    assert policy["failurePolicy"] == "Fail"
    assert policy["reinvocationPolicy"] == "IfNeeded"
    resources = {
        r for rule in policy["matchConstraints"]["resourceRules"] for r in rule["resources"]
    }
    # ephemeral containers are not mutated (model.MUTATED_LISTS)
    assert "pods/ephemeralcontainers" not in resources
    assert {"pods", "deployments", "cronjobs"} <= resources
    assert [c["name"] for c in policy["matchConditions"]] == ["in-scope", "not-excluded"]
    (mutation,) = policy["mutations"]
    assert mutation["patchType"] == "ApplyConfiguration"
    expression = mutation["applyConfiguration"]["expression"]
    assert "ephemeralContainers" not in expression and "volumes" not in expression
    assert binding == {"policyName": "acme-pull-always"}


def test_the_mutating_api_version_is_a_parameter_of_rendering() -> None:
    beta = vap.VapTarget("admissionregistration.k8s.io/v1beta1")
    found = [d for t in beta.render(mutate_config(), NOW).values() for d in yaml.safe_load_all(t)]
    assert {d["apiVersion"] for d in found if d["kind"].startswith("Mutating")} == {
        "admissionregistration.k8s.io/v1beta1"
    }
    from policygen import apicheck

    # v1beta1 is served from 1.34 (behind a feature gate until 1.36)
    assert all(apicheck.object_errors(d) == [] for d in found)
    with pytest.raises(ValueError, match="no MutatingAdmissionPolicy in admissionregistration"):
        vap.VapTarget("admissionregistration.k8s.io/v2")


def test_every_expression_compiles_without_tenants_or_exemptions() -> None:
    """Found by the differential test: an empty tenant list once made `()`."""
    from policygen.engines.vap import PolicySet

    text = EXAMPLE.read_text()
    text = text[: text.index("  tenants:")]
    PolicySet.load(docs(config.parse(text, "c.yaml", today=NOW)))  # compiles every expression


# -- the CEL parses images as policygen.imageref does --------------------------

EDGES = [
    "a/b:" + "t" * 128,  # the longest tag
    "a/b:" + "t" * 129,
    "a/b@sha256:" + "a" * 32,  # the shortest digest hex the grammar takes
    "a/b@sha256:" + "a" * 31,
    "a/b:" + "t" * 128 + "@sha256:" + "a" * 32,
    "localhost:5000/a:1@sha256:" + "a" * 64,
    "[::1]:5000/app:" + "t" * 129,
]


def cel_parse(image: str) -> dict[str, Any]:
    cel = Cel()
    container = {"kind": "container", "name": "c", "image": image, "policy": "Always"}
    activation: dict[str, Any] = {"variables": {"containers": [container]}}
    for stage in parse_stages():
        value = cel.eval(stage["expression"], activation, stage["name"])
        activation["variables"][stage["name"]] = value
    record: dict[str, Any] = activation["variables"]["images"][0]
    return record


def agrees(image: str) -> None:
    record = cel_parse(image)
    ref = imageref.try_parse(image)
    assert record["valid"] == ("yes" if ref else "no"), image
    if ref is not None:
        assert (record["ref"], record["key"]) == (ref.name, ref.normalized)


@pytest.mark.parametrize("image", IMAGE_CASES + EDGES)
def test_cel_parse_cases(image: str) -> None:
    agrees(image)


@settings(max_examples=60)
@given(st.one_of(references(), st.text(max_size=30)))
def test_cel_parse_agrees_with_imageref(image: str) -> None:
    agrees(image)
