"""The vap target: shape of the policies and bindings, and config limits."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from policygen import config
from policygen.errors import ConfigError
from policygen.targets import vap
from tests.conftest import EXAMPLE, NOW


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


def test_mutate_is_refused_for_vap() -> None:
    text = EXAMPLE.read_text().replace(
        "      action: deny\n    registries", "      action: mutate\n    registries"
    )
    with pytest.raises(ConfigError) as info:
        config.parse(text, "c.yaml", today=NOW)
    assert "target vap cannot mutate (MutatingAdmissionPolicy is not GA)" in str(info.value)


def test_every_expression_compiles_without_tenants_or_exemptions() -> None:
    """Found by the differential test: an empty tenant list once made `()`."""
    from policygen.engines.vap import PolicySet

    text = EXAMPLE.read_text()
    text = text[: text.index("  tenants:")]
    PolicySet.load(docs(config.parse(text, "c.yaml", today=NOW)))  # compiles every expression
