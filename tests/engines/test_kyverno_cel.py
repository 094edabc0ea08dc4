"""The Kyverno CEL policy evaluator: ValidatingPolicies through a real CEL
runtime, in agreement with the model, refusing what it does not implement."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policygen import config, model
from policygen.agreement import disagreements
from policygen.engines import EvalContext, Review, create, policy_documents
from policygen.engines.kyverno_cel import ValidatingPolicySet
from policygen.errors import UnsupportedConstruct
from policygen.model import namespace_of
from policygen.violations import Violation
from tests import golden
from tests.conftest import NOW
from tests.corpus import case_id, cases
from tests.engines.test_gatekeeper import SELECTOR_NAMESPACES, SELECTOR_OBJECTS, pod

ENGINE = create("kyverno-cel")


def run(
    cfg: config.Config, obj: dict[str, Any], namespaces: dict[str, Any] | None = None
) -> list[Violation]:
    ctx = EvalContext(NOW, namespaces or {})
    return ENGINE.evaluate(cfg, [Review(obj, namespace_of(obj, "default"))], ctx)[0]


@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_corpus_agrees_with_model(example: config.Config, case: Any) -> None:
    expected = model.evaluate(example, case.obj, model.Context(now=NOW, namespaces={}))
    assert disagreements(expected, run(example, case.obj), per_rule=True) == []


@pytest.mark.parametrize("index", range(len(SELECTOR_OBJECTS)))
def test_selectors_agree(index: int) -> None:
    text = (
        golden.cases()["mutate-selectors"]
        .read_text()
        .replace("pullPolicy: {action: mutate}", "pullPolicy: {action: warn}")
        .replace("targets: [gatekeeper, kyverno]", "targets: [kyverno-cel]")
    )
    cfg = config.parse(text, "c.yaml", today=NOW)
    obj = SELECTOR_OBJECTS[index]
    expected = model.evaluate(cfg, obj, model.Context(now=NOW, namespaces=SELECTOR_NAMESPACES))
    known = obj["metadata"]["namespace"] in SELECTOR_NAMESPACES
    got = run(cfg, obj, SELECTOR_NAMESPACES)
    assert disagreements(expected, got, per_rule=True, namespace_known=known) == []


def test_exact_messages_and_actions(example: config.Config) -> None:
    cfg = config.parse(
        golden.cases()["mutate-selectors"]
        .read_text()
        .replace("pullPolicy: {action: mutate}", "pullPolicy: {action: warn}")
        .replace("targets: [gatekeeper, kyverno]", "targets: [kyverno-cel]"),
        "c.yaml",
        today=NOW,
    )
    obj = pod("prod-payments", {"name": "a", "image": "nginx:1", "imagePullPolicy": "IfNotPresent"})
    got = run(cfg, obj, SELECTOR_NAMESPACES)
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
