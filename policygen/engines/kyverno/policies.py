"""ClusterPolicy and Policy documents loaded as rules: the fields a rule may
have, its failure action, and the autogen rules beside it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from policygen.engines.kyverno.api import Policy, Rule
from policygen.engines.kyverno.autogen import autogen_rules
from policygen.engines.kyverno.functions import CLOCK_FUNCTIONS
from policygen.engines.kyverno.match import possible_kinds
from policygen.engines.kyverno.reads import rule_inputs
from policygen.errors import UnsupportedConstruct
from policygen.violations import Action

#: kyverno.io/v2beta1 serves the same policies (deprecated; match by any/all only)
POLICY_APIS = ("kyverno.io/v1", "kyverno.io/v2beta1")


RULE_FIELDS = {
    "name",
    "match",
    "exclude",
    "context",
    "preconditions",
    "validate",
    "mutate",
    "skipBackgroundRequests",
    "celPreconditions",
}


def load_policy(doc: Mapping[str, Any]) -> Policy:
    name = str(doc["metadata"]["name"])
    spec = doc.get("spec") or {}
    default_action = str(spec.get("validationFailureAction", "Audit"))
    rules: list[Rule] = []
    for raw in spec.get("rules") or []:
        extra = set(raw) - RULE_FIELDS
        if extra:
            raise UnsupportedConstruct(
                "kyverno", f"{name}.rules[{raw.get('name')}].{sorted(extra)[0]}", "rule field"
            )
        if raw.get("celPreconditions") and "cel" not in (raw.get("validate") or {}):
            # Kyverno's policy validation refuses these (kyverno/kyverno#13381):
            # a pattern, mutate or generate rule would otherwise be evaluated
            # as if its preconditions were not there.
            raise UnsupportedConstruct(
                "kyverno",
                f"{name}.rules[{raw.get('name')}].celPreconditions",
                "celPreconditions outside a validate.cel rule (Kyverno rejects the policy)",
            )
        for spec_rule in [raw, *autogen_rules(doc, raw)]:
            kinds = possible_kinds(spec_rule.get("match"))
            inputs = rule_inputs(spec_rule)
            action = _action(spec_rule, default_action, bool(spec.get("emitWarning")))
            # a rule whose functions read the clock: its outcome depends on it
            reads_clock = bool(CLOCK_FUNCTIONS.search(json.dumps(spec_rule)))
            images = inputs is None or any(path[0] == "images" for path in inputs)
            rules.append(Rule(name, spec_rule, action, kinds, inputs, reads_clock, images))
    return Policy(name, rules)


def _action(rule: Mapping[str, Any], default: str, emit_warning: bool) -> Action:
    """``spec.emitWarning`` turns a policy's Audit results into admission
    warnings (pkg/webhooks/resource/handlers.go, auditWarnPolicies); Kyverno
    has no rule-level emitWarning."""
    validate = rule.get("validate") or {}
    failure = str(validate.get("failureAction", default)).lower()
    if failure == "enforce":
        return "deny"
    return "warn" if emit_warning else "audit"
