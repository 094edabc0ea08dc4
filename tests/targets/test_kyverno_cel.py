"""The kyverno-cel target: shape of the ValidatingPolicies, and config limits."""

from __future__ import annotations

from typing import Any

import yaml

from policygen import config
from policygen.targets import kyverno_cel
from tests.conftest import EXAMPLE, NOW


def docs(cfg: config.Config) -> list[dict[str, Any]]:
    rendered = kyverno_cel.TARGET.render(cfg, NOW)
    return [d for text in rendered.values() for d in yaml.safe_load_all(text)]


def test_a_validating_policy_per_rule_with_autogen_off(example: config.Config) -> None:
    found = docs(example)
    assert [(d["apiVersion"], d["kind"], d["metadata"]["name"]) for d in found] == [
        ("policies.kyverno.io/v1", "ValidatingPolicy", "acme-digest"),
        ("policies.kyverno.io/v1", "ValidatingPolicy", "acme-pull-policy"),
        ("policies.kyverno.io/v1", "ValidatingPolicy", "acme-registries"),
        ("policies.kyverno.io/v1", "PolicyException", "acme-scraper-migration"),
    ]
    spec = found[0]["spec"]
    assert spec["validationActions"] == ["Deny"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["autogen"] == {
        "podControllers": {"controllers": []},
        "validatingAdmissionPolicy": {"enabled": False},
    }
    resources = {r for rule in spec["matchConstraints"]["resourceRules"] for r in rule["resources"]}
    assert {"pods", "pods/ephemeralcontainers", "deployments", "cronjobs"} <= resources
    assert spec["variables"][-1]["name"] == "bad"
    assert found[0]["metadata"]["annotations"] == {"policygen.dev/rule": "digest"}


def test_actions_and_scope_selector() -> None:
    text = EXAMPLE.read_text().replace(
        "    digest:\n      action: deny", "    digest:\n      action: audit"
    )
    text = text.replace(
        '    namespaces: ["*"]\n',
        '    namespaces: ["*"]\n    namespaceSelector: {matchLabels: {tier: prod}}\n',
    )
    spec = docs(config.parse(text, "c.yaml", today=NOW))[0]["spec"]
    assert spec["validationActions"] == ["Audit"]
    assert spec["matchConstraints"]["namespaceSelector"] == {"matchLabels": {"tier": "prod"}}


def test_mutate_adds_a_mutating_policy_matching_controllers_directly() -> None:
    text = EXAMPLE.read_text().replace(
        "      action: deny\n    registries", "      action: mutate\n    registries"
    )
    found = docs(config.parse(text, "c.yaml", today=NOW))
    found = [d for d in found if d["kind"] != "PolicyException"]
    assert [(d["apiVersion"], d["kind"], d["metadata"]["name"]) for d in found][-1] == (
        "policies.kyverno.io/v1",
        "MutatingPolicy",
        "acme-pull-always",
    )
    spec = found[-1]["spec"]
    pull = next(d for d in found if d["metadata"]["name"] == "acme-pull-policy")
    assert pull["spec"]["validationActions"] == ["Deny"]
    # autogen would wrap the Pod apply configuration a second time
    assert spec["autogen"] == {
        "podControllers": {"controllers": []},
        "mutatingAdmissionPolicy": {"enabled": False},
    }
    assert spec["reinvocationPolicy"] == "IfNeeded"
    resources = {r for rule in spec["matchConstraints"]["resourceRules"] for r in rule["resources"]}
    assert "pods/ephemeralcontainers" not in resources
    assert {"pods", "deployments", "cronjobs"} <= resources
    (mutation,) = spec["mutations"]
    assert mutation["patchType"] == "ApplyConfiguration"
    # the same apply configuration as the vap target's
    from policygen.targets._cel import apply_pull_always

    assert mutation["applyConfiguration"]["expression"] == apply_pull_always()


def test_an_exemption_is_a_policy_exception_that_lapses_by_itself(
    example: config.Config,
) -> None:
    """One PolicyException per exemption (the real CRD's schema is checked
    with every build): the policies of its rules, its namespaces, its image
    regex for ``exceptions.allowedImages``, ``expiresAt`` and, since Kyverno
    reads ``expiresAt`` only when it compiles the policy, a condition on
    ``time.now()`` that lapses it at the instant itself."""
    [exception] = [d for d in docs(example) if d["kind"] == "PolicyException"]
    assert exception["metadata"] == {
        "name": "acme-scraper-migration",
        "namespace": "kyverno",
        "annotations": {"policygen.dev/exemption": "scraper-migration"},
    }
    assert exception["spec"] == {
        "policyRefs": [{"kind": "ValidatingPolicy", "name": "acme-digest"}],
        "matchConditions": [
            {"name": "namespaces", "expression": 'request.namespace.matches("^(?:logging)$")'},
            {
                "name": "not-expired",
                "expression": 'time.now() <= timestamp("2027-03-31T23:59:59Z")',
            },
        ],
        "images": ["^(?:harbor\\.corp\\.example/infra/scraper:.*)$"],
        "expiresAt": "2027-03-31T23:59:59Z",
        "properties": {
            "owner": "platform@corp.example",
            "reason": "vendor chart pins by tag until 28.0",
            "ticket": "SEC-1234",
        },
    }
    digest = next(d for d in docs(example) if d["metadata"]["name"] == "acme-digest")
    names = [v["name"] for v in digest["spec"]["variables"]]
    assert "exemptions" not in names  # no exemption data in the policy itself
    assert (
        "exceptions.allowedImages.exists(r, c.key.matches(r))"
        in (digest["spec"]["variables"][-1]["expression"])
    )


def test_an_exception_names_every_policy_of_its_rules() -> None:
    """With more tenants than one policy holds, the registries rule is a
    policy per group of tenants: an exemption from it names them all."""
    from tests import scale

    cfg = scale.load(scale.config_text(150, 3, targets=("kyverno-cel",)), NOW)
    found = docs(cfg)
    registries = sorted(
        d["metadata"]["name"]
        for d in found
        if d["kind"] == "ValidatingPolicy"
        and d["metadata"]["annotations"]["policygen.dev/rule"] == "registries"
    )
    assert len(registries) == 3
    named = [
        sorted(r["name"] for r in e["spec"]["policyRefs"] if "registries" in r["name"])
        for e in found
        if e["kind"] == "PolicyException"
    ]
    assert registries in named
    assert all(n in ([], registries) for n in named)
