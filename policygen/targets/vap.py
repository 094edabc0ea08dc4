"""Native ``admissionregistration.k8s.io/v1`` ValidatingAdmissionPolicies.

One policy and one binding per rule, with the CEL of ``targets/_cel.py``.
Scope globs, exclusions and digest opt-in namespaces are matchConditions;
the scope selector is the binding's namespaceSelector; tenants and
exemptions are written into the CEL. ``pullPolicy: mutate`` is refused by
the config for this target: MutatingAdmissionPolicy is not GA. Policies
match ``pods/ephemeralcontainers`` only when it is listed.
"""

from __future__ import annotations

import datetime as dt

from policygen.config import Config
from policygen.render import render
from policygen.targets._cel import (
    POLICY_NAMES,
    RESOURCE_RULES,
    VALIDATION_ACTIONS,
    match_conditions,
    message,
    rule_variables,
)
from policygen.targets._common import active_rules
from policygen.yamlio import dump


class VapTarget:
    name = "vap"
    description = "Kubernetes ValidatingAdmissionPolicies (admissionregistration.k8s.io/v1)"

    def render(self, config: Config, now: dt.date) -> dict[str, str]:
        files = {}
        selector = config.spec.scope.namespaceSelector
        for rule in active_rules(config):
            action = config.spec.rules.action(rule)
            name = f"{config.name}-{POLICY_NAMES[rule]}"
            variables = rule_variables(config, rule)
            files[f"{POLICY_NAMES[rule]}.yaml"] = render(
                "vap/policy.yaml.j2",
                name=name,
                rule=rule,
                resource_rules=dump(RESOURCE_RULES),
                match_conditions=dump(match_conditions(config, rule)),
                variables=dump(variables),
                message=message(rule, config),
                action=VALIDATION_ACTIONS[action],
                namespace_selector=dump(selector.model_dump(exclude_defaults=True))
                if not selector.empty
                else "",
            )
        return files


TARGET = VapTarget()
