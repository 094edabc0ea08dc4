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
from policygen.targets._cel import render_policies


class VapTarget:
    name = "vap"
    description = "Kubernetes ValidatingAdmissionPolicies (admissionregistration.k8s.io/v1)"

    def unsupported(self, config: Config) -> str | None:
        if config.spec.rules.pullPolicy.action == "mutate":
            return "cannot mutate (MutatingAdmissionPolicy is not GA)"
        return None

    def render(self, config: Config, now: dt.date) -> dict[str, str]:
        return render_policies(config, "vap/policy.yaml.j2")


TARGET = VapTarget()
