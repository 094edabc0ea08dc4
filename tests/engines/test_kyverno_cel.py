"""The Kyverno CEL policy evaluator: what it adds to the vap evaluator (whose
agreement tests run it too): actions on the policy, and refusing the Kyverno
behaviour it does not implement."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policygen import config
from policygen.engines import EvalContext, policy_documents
from policygen.engines.kyverno_cel import ValidatingPolicySet
from policygen.errors import UnsupportedConstruct
from policygen.violations import Violation
from tests.conftest import NOW
from tests.engines.test_gatekeeper import SELECTOR_NAMESPACES, pod
from tests.engines.test_vap import run, selectors_config


def test_exact_messages_and_actions() -> None:
    cfg = selectors_config("kyverno-cel")
    obj = pod("prod-payments", {"name": "a", "image": "nginx:1", "imagePullPolicy": "IfNotPresent"})
    got = run(cfg, obj, SELECTOR_NAMESPACES, engine="kyverno-cel")
    assert [v for v in got if v.rule == "pullPolicy"] == [
        Violation(
            "pullPolicy",
            "",
            "",
            'container "a" must set imagePullPolicy: Always, not IfNotPresent',
            "warn",
        )
    ]


def _policy(example: config.Config) -> dict[str, Any]:
    return copy.deepcopy(policy_documents("kyverno-cel", example, EvalContext(NOW))[0])


def _refused(doc: dict[str, Any], where: str) -> None:
    with pytest.raises(
        UnsupportedConstruct, match=f"^unsupported kyverno-cel construct at {where}"
    ):
        ValidatingPolicySet.load([doc])


def test_pod_controller_autogen_is_refused(example: config.Config) -> None:
    doc = _policy(example)
    del doc["spec"]["autogen"]
    # one rule for exactly core/v1 pods: Kyverno would autogen controller rules
    doc["spec"]["matchConstraints"]["resourceRules"] = [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
    ]
    _refused(doc, r"acme-digest\.spec\.autogen\.podControllers: Pod-controller autogen")
    # with the subresource listed too, Kyverno does not autogen (CanAutoGen)
    doc["spec"]["matchConstraints"]["resourceRules"][0]["resources"].append(
        "pods/ephemeralcontainers"
    )
    assert list(ValidatingPolicySet.load([doc]).policies) == ["acme-digest"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            {"autogen": {"validatingAdmissionPolicy": {"enabled": True}}},
            r"acme-digest\.spec\.autogen\.validatingAdmissionPolicy",
        ),
        ({"evaluation": {"admission": {"enabled": False}}}, r"acme-digest\.spec\.evaluation"),
        ({"evaluation": {"mode": "Envoy"}}, r"acme-digest\.spec\.evaluation\.mode"),
        ({"validationActions": ["Deny", "Warn"]}, r"acme-digest\.spec\.validationActions"),
        ({"validationActions": []}, r"acme-digest\.spec\.validationActions"),
        ({"auditAnnotations": []}, r"acme-digest\.spec\.auditAnnotations"),
        (
            {"validations": [{"expression": "image.GetMetadata('x') != null"}]},
            "ValidatingPolicy/acme-digest: CEL does not compile",
        ),
    ],
)
def test_what_it_does_not_implement_is_refused(
    example: config.Config, change: dict[str, Any], where: str
) -> None:
    doc = _policy(example)
    doc["spec"].update(change)
    _refused(doc, where)


def test_other_kyverno_policy_kinds_are_refused() -> None:
    doc = {
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "PolicyException",
        "metadata": {"name": "x"},
    }
    _refused(doc, "PolicyException/x: only ValidatingPolicy")
