"""Kyverno's CEL policies: one ``policies.kyverno.io/v1`` ValidatingPolicy per
rule (Kyverno 1.17 and later; the registries rule: per group of tenants),
with the CEL of ``targets/_cel.py``.

Scope globs, exclusions and digest opt-in namespaces are matchConditions,
the scope selector is the matchConstraints' namespaceSelector, tenants and
exemptions are data in variables (a ValidatingPolicy has no parameters;
the registries rule is a policy per group of tenants). The CEL parses images
with the distribution grammar rather than Kyverno's ``parseImageReference``,
which follows go-containerregistry (``index.docker.io``, and references the
API server refuses).

Exemptions are ``policies.kyverno.io/v1`` PolicyExceptions (Kyverno 1.19
and later, started with ``--enablePolicyException``), one per exemption:
it names the policies of its rules, matches the request's namespace in its
matchConditions and lists its image regex in ``images``, which the
policy's CEL reads as ``exceptions.allowedImages`` to pass the exempt
containers alone (vpol/compiler/policy.go: an exception without images
would skip the whole workload). ``expiresAt`` is where Kyverno says an
exception lapses, but Kyverno reads it only when it compiles the policy
(pkg/cel/engine/exception.go ``ListExceptions``, from the reconciler), so
a matchCondition ``time.now() <= timestamp(expiresAt)`` (kyverno/sdk's
time library, Kyverno 1.17 and later) lapses it at the instant itself.

``pullPolicy: mutate`` adds a ``policies.kyverno.io/v1`` MutatingPolicy with
the same apply configuration as the vap target's MutatingAdmissionPolicy:
Kyverno's mutating webhook runs before its validating one, so the
pull-policy ValidatingPolicy then denies only what the mutation cannot
reach (ephemeral containers, image volumes).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from policygen import globs
from policygen.config import Config, CrossProblem
from policygen.render import render
from policygen.rules import NAMES as RULES
from policygen.targets import Capabilities
from policygen.targets._cel import policy_names, q, render_mutation, render_policies
from policygen.targets._common import active_rules, alternation, exemptions_for

MUTATING_POLICY_API_VERSION = "policies.kyverno.io/v1"
#: Where the PolicyExceptions live: Kyverno's own namespace, as its Helm
#: chart installs it. Kyverno reads them with ``--enablePolicyException``,
#: from every namespace or, with ``--exceptionNamespace``, from that one
#: alone (cmd/internal/flag.go); since its chart lets the ``admin`` role
#: create them, only the latter keeps tenants from exempting themselves.
EXCEPTION_NAMESPACE = "kyverno"

if TYPE_CHECKING:
    from policygen.engines import EngineOptions, Evaluator


class KyvernoCelTarget:
    name = "kyverno-cel"
    description = "Kyverno CEL policies (policies.kyverno.io/v1)"
    clock: str | None = (
        "PolicyException expiresAt and a matchCondition time.now() <= expiresAt "
        "(Kyverno started with --enablePolicyException --exceptionNamespace=kyverno)"
    )

    capabilities = Capabilities(
        scope_globs=globs.ANY,  # matchConditions: request.namespace.matches()
        selection_globs=globs.ANY,
        mutates=True,  # a MutatingPolicy
        kinds=(
            ("policies.kyverno.io/v1", "ValidatingPolicy"),
            (MUTATING_POLICY_API_VERSION, "MutatingPolicy"),
            ("policies.kyverno.io/v1", "PolicyException"),
        ),
    )

    def problems(self, config: Config) -> list[CrossProblem]:
        return []

    def render(self, config: Config, now: dt.date) -> dict[str, str]:
        files = render_policies(config, "kyverno-cel/policy.yaml.j2", exceptions=True)
        exceptions = policy_exceptions(config)
        if exceptions:
            files["exceptions.yaml"] = "---\n".join(
                render("kyverno-cel/exception.yaml.j2", **e, namespace=EXCEPTION_NAMESPACE)
                for e in exceptions
            )
        if config.spec.rules.pullPolicy.action == "mutate":
            files["mutate-pull-policy.yaml"] = render_mutation(
                config, "kyverno-cel/mutating.yaml.j2", MUTATING_POLICY_API_VERSION
            )
        return files

    def evaluator(self, options: EngineOptions) -> Evaluator:
        from policygen.engines.kyverno_cel import KyvernoCelEngine

        return KyvernoCelEngine(fast=options.fast)


def policy_exceptions(config: Config) -> list[dict[str, Any]]:
    """One PolicyException per exemption that lifts an active rule, naming
    the ValidatingPolicies of those rules."""
    out = []
    active = active_rules(config)
    for e in config.spec.exemptions:
        rules = [r for r in RULES if r in e.rules and r in active]
        if not rules:
            continue
        [data] = [d for d in exemptions_for(config, rules[0]) if d["name"] == e.name]
        properties = [("owner", e.owner), ("reason", e.reason)]
        if e.ticket:
            properties.append(("ticket", e.ticket))
        out.append(
            {
                "name": f"{config.name}-{e.name}",
                "exemption": e.name,
                "policies": [p for r in rules for p in policy_names(config, r)],
                "namespaces": f"request.namespace.matches({q(alternation(data['namespaces']))})",
                "not_expired": f"time.now() <= timestamp({q(data['expiresAt'])})",
                "images": alternation(data["images"]),
                "expires_at": data["expiresAt"],
                "properties": properties,
            }
        )
    return out


TARGET = KyvernoCelTarget()
