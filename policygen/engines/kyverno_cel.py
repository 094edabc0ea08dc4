"""The Kyverno CEL policy evaluator: ``policies.kyverno.io`` ValidatingPolicies
run by the vap evaluator's CEL runtime and API-server match rules.

A ValidatingPolicy is a ValidatingAdmissionPolicy with its binding folded in
(``validationActions`` on the policy) plus Kyverno's own fields
(notes/kyverno.md §3.4, §3.7). Each is taken apart into that policy and
binding; Kyverno behaviour this evaluator does not implement (Pod-controller
autogen, the ValidatingAdmissionPolicy copy, evaluation off admission,
other policy kinds, PolicyException) is refused rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policygen.engines import PolicyCache
from policygen.engines.vap import POLICY_FIELDS, PolicySet, VapEngine
from policygen.errors import UnsupportedConstruct

ENGINE = "kyverno-cel"
GROUP = "policies.kyverno.io/"
#: Kyverno's fields beyond a ValidatingAdmissionPolicy's, all handled below.
KYVERNO_FIELDS = {"validationActions", "autogen", "evaluation", "webhookConfiguration"}
MATCH_FIELDS = {
    "resourceRules",
    "excludeResourceRules",
    "namespaceSelector",
    "objectSelector",
    "matchPolicy",
}


class ValidatingPolicySet(PolicySet):
    ENGINE = ENGINE
    KIND = "ValidatingPolicy"

    @classmethod
    def load(cls, documents: Sequence[Mapping[str, Any]]) -> PolicySet:
        return super().load([part for doc in documents for part in as_policy_and_binding(doc)])


def as_policy_and_binding(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy and binding a ValidatingPolicy amounts to."""
    kind = str(doc.get("kind", ""))
    meta = doc.get("metadata") or {}
    name = str(meta.get("name", ""))
    if not str(doc.get("apiVersion", "")).startswith(GROUP) or kind != "ValidatingPolicy":
        raise UnsupportedConstruct(ENGINE, f"{kind}/{name}", "only ValidatingPolicy")
    spec = doc.get("spec") or {}
    extra = set(spec) - POLICY_FIELDS - KYVERNO_FIELDS
    if extra:
        raise UnsupportedConstruct(ENGINE, f"{name}.spec.{sorted(extra)[0]}", "field")
    match = spec.get("matchConstraints") or {}
    extra = set(match) - MATCH_FIELDS
    if extra:
        raise UnsupportedConstruct(ENGINE, f"{name}.spec.matchConstraints.{sorted(extra)[0]}", "")
    actions = list(spec.get("validationActions") or [])
    if not actions or not set(actions) <= {"Deny", "Warn", "Audit"}:
        raise UnsupportedConstruct(ENGINE, f"{name}.spec.validationActions", str(actions))
    if {"Deny", "Warn"} <= set(actions):
        raise UnsupportedConstruct(
            ENGINE, f"{name}.spec.validationActions", "Deny and Warn must not be combined"
        )
    _check_autogen(name, spec)
    _check_evaluation(name, spec)
    return [
        {
            "kind": "ValidatingAdmissionPolicy",
            "metadata": meta,
            "spec": {k: v for k, v in spec.items() if k in POLICY_FIELDS},
        },
        {
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {"policyName": name, "validationActions": actions},
        },
    ]


def _check_autogen(name: str, spec: Mapping[str, Any]) -> None:
    autogen = spec.get("autogen") or {}
    controllers = (autogen.get("podControllers") or {}).get("controllers")
    if controllers is None and can_autogen(spec.get("matchConstraints") or {}):
        controllers = ["all"]  # Kyverno's default: every Pod controller
    if controllers:
        raise UnsupportedConstruct(
            ENGINE, f"{name}.spec.autogen.podControllers", "Pod-controller autogen"
        )
    if (autogen.get("validatingAdmissionPolicy") or {}).get("enabled"):
        raise UnsupportedConstruct(
            ENGINE, f"{name}.spec.autogen.validatingAdmissionPolicy", "use the vap target"
        )


def can_autogen(match: Mapping[str, Any]) -> bool:
    """Kyverno's ``CanAutoGen`` (pkg/cel/autogen/support.go): one rule for
    exactly core/v1 pods, and nothing that autogen could not carry over."""
    rules = match.get("resourceRules") or []
    if match.get("objectSelector") or match.get("excludeResourceRules") or len(rules) != 1:
        return False
    rule = rules[0]
    return (
        not rule.get("resourceNames")
        and rule.get("apiGroups") == [""]
        and rule.get("apiVersions") == ["v1"]
        and rule.get("resources") == ["pods"]
    )


def _check_evaluation(name: str, spec: Mapping[str, Any]) -> None:
    evaluation = spec.get("evaluation") or {}
    if (evaluation.get("admission") or {}).get("enabled", True) is not True:
        raise UnsupportedConstruct(ENGINE, f"{name}.spec.evaluation.admission", "background only")
    if evaluation.get("mode", "Kubernetes") != "Kubernetes":
        raise UnsupportedConstruct(ENGINE, f"{name}.spec.evaluation.mode", evaluation["mode"])


class KyvernoCelEngine(VapEngine):
    name = ENGINE
    per_rule = True  # a policy's message names its first offending container

    def __init__(self) -> None:
        self._cache = PolicyCache(ENGINE, ValidatingPolicySet.load, lambda _: None)
