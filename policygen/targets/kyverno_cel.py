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
from policygen.targets._cel import render_policies


class KyvernoCelTarget:
    name = "kyverno-cel"
    description = "Kyverno ValidatingPolicies (policies.kyverno.io/v1, CEL)"

    def unsupported(self, config: Config) -> str | None:
        if config.spec.rules.pullPolicy.action == "mutate":
            return "cannot mutate (policygen does not emit MutatingPolicy yet)"
        return None

    def render(self, config: Config, now: dt.date) -> dict[str, str]:
        return render_policies(config, "kyverno-cel/policy.yaml.j2")


TARGET = KyvernoCelTarget()
