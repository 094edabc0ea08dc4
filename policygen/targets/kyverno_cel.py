"""Kyverno's CEL policies: one ``policies.kyverno.io/v1`` ValidatingPolicy per
rule (Kyverno 1.17 and later), with the CEL of ``targets/_cel.py``.

Scope globs, exclusions and digest opt-in namespaces are matchConditions,
the scope selector is the matchConstraints' namespaceSelector, tenants and
exemptions are written into the CEL. The CEL parses images with the
distribution grammar rather than Kyverno's ``parseImageReference``, which
follows go-containerregistry (``index.docker.io``, and references the API
server refuses). ``pullPolicy: mutate`` is refused by the config for this
target: policygen does not emit MutatingPolicy yet.
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


class KyvernoCelTarget:
    name = "kyverno-cel"
    description = "Kyverno ValidatingPolicies (policies.kyverno.io/v1, CEL)"

    def render(self, config: Config, now: dt.date) -> dict[str, str]:
        files = {}
        selector = config.spec.scope.namespaceSelector
        for rule in active_rules(config):
            files[f"{POLICY_NAMES[rule]}.yaml"] = render(
                "kyverno-cel/policy.yaml.j2",
                name=f"{config.name}-{POLICY_NAMES[rule]}",
                rule=rule,
                action=VALIDATION_ACTIONS[config.spec.rules.action(rule)],
                resource_rules=dump(RESOURCE_RULES),
                namespace_selector=""
                if selector.empty
                else dump(selector.model_dump(exclude_defaults=True)),
                match_conditions=dump(match_conditions(config, rule)),
                variables=dump(rule_variables(config, rule)),
                message=message(rule, config),
            )
        return files


TARGET = KyvernoCelTarget()
