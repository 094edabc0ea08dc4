"""Kyverno's CEL policies: one ``policies.kyverno.io/v1`` ValidatingPolicy per
rule (Kyverno 1.17 and later; ``v1beta1``/``v1alpha1`` for older releases
named in ``spec.versions``; the registries rule: per group of tenants), with
the CEL of ``targets/_cel.py``.

Scope globs, exclusions and digest opt-in namespaces are matchConditions,
the scope selector is the matchConstraints' namespaceSelector, tenants and
exemptions are data in variables (a ValidatingPolicy has no parameters;
the registries rule is a policy per group of tenants). The CEL parses images
with the distribution grammar rather than Kyverno's ``parseImageReference``,
which follows go-containerregistry (``index.docker.io``, and references the
API server refuses).

Exemptions are ``policies.kyverno.io`` PolicyExceptions (Kyverno 1.17 and
later, started with ``--enablePolicyException``), one per exemption:
it names the policies of its rules, matches the request's namespace in its
matchConditions and lists its image regex in ``images``, which the
policy's CEL reads as ``exceptions.allowedImages`` to pass the exempt
containers alone (vpol/compiler/policy.go: an exception without images
would skip the whole workload). ``expiresAt`` is where Kyverno says an
exception lapses, but Kyverno reads it only when it compiles the policy
(pkg/cel/engine/exception.go ``ListExceptions``, from the reconciler), so
a matchCondition ``time.now() <= timestamp(expiresAt)`` (kyverno/sdk's
time library, Kyverno 1.17 and later) lapses it at the instant itself;
before 1.19 the CRD has no ``expiresAt`` and the condition alone does.

``pullPolicy: mutate`` adds a ``policies.kyverno.io/v1`` MutatingPolicy with
the same apply configuration as the vap target's MutatingAdmissionPolicy:
Kyverno's mutating webhook runs before its validating one, so the
pull-policy ValidatingPolicy then denies only what the mutation cannot
reach (ephemeral containers, image volumes).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from policygen import globs, versions
from policygen.config import Config, CrossProblem
from policygen.render import render
from policygen.rules import NAMES as RULES
from policygen.targets import Capabilities
from policygen.targets._cel import policy_names, q, render_mutation, render_policies
from policygen.targets._common import active_rules, alternation, exemptions_for

#: Where the PolicyExceptions live: Kyverno's own namespace, as its Helm
#: chart installs it. Kyverno reads them with ``--enablePolicyException``,
#: from every namespace or, with ``--exceptionNamespace``, from that one
#: alone (cmd/internal/flag.go); since its chart lets the ``admin`` role
#: create them, only the latter keeps tenants from exempting themselves.
EXCEPTION_NAMESPACE = "kyverno"
#: The PolicyExceptions need ``images`` (exceptions.allowedImages, Kyverno
#: 1.16) and ``time.now()`` in their matchConditions (kyverno/sdk's time
#: library in the vpol compiler, 1.17). Before that Kyverno's CEL has no
#: clock: exemptions are written into the policies, as for vap, and hold
#: until the bundle is rebuilt without them.
EXCEPTIONS_SINCE: versions.Version = (1, 17)
#: ``expiresAt`` and ``properties`` are in the PolicyException CRD from
#: Kyverno 1.19 (each tag's config/crds); before it strict field validation
#: would refuse them: the matchCondition alone lapses the exception at the
#: same instant, and owner, reason and ticket are annotations.
EXPIRES_AT_SINCE: versions.Version = (1, 19)

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
        # each in the apiVersion the config's Kyverno serves (spec.versions)
        kinds=versions.kinds("ValidatingPolicy", "MutatingPolicy", "PolicyException"),
        needs=("ValidatingPolicy",),
        needs_to_mutate=("MutatingPolicy",),
        clock_since=("kyverno", EXCEPTIONS_SINCE),
    )

    def problems(self, config: Config) -> list[CrossProblem]:
        return []

    def render(self, config: Config, now: dt.date) -> dict[str, str]:
        files = render_policies(
            config,
            "kyverno-cel/policy.yaml.j2",
            versions.api_version(config, "ValidatingPolicy"),
            exceptions=with_exceptions(config),
        )
        exceptions = policy_exceptions(config) if with_exceptions(config) else []
        if exceptions:
            api_version = versions.api_version(config, "PolicyException")
            expires = versions.of(config, "kyverno") >= EXPIRES_AT_SINCE
            files["exceptions.yaml"] = "---\n".join(
                render(
                    "kyverno-cel/exception.yaml.j2",
                    **e,
                    namespace=EXCEPTION_NAMESPACE,
                    api_version=api_version,
                    with_expires_at=expires,
                )
                for e in exceptions
            )
        if config.spec.rules.pullPolicy.action == "mutate":
            files["mutate-pull-policy.yaml"] = render_mutation(
                config,
                "kyverno-cel/mutating.yaml.j2",
                versions.api_version(config, "MutatingPolicy"),
            )
        return files

    def evaluator(self, options: EngineOptions) -> Evaluator:
        from policygen.engines.kyverno_cel import KyvernoCelEngine

        return KyvernoCelEngine(fast=options.fast)


def with_exceptions(config: Config) -> bool:
    """Whether the config's Kyverno reads exemptions as PolicyExceptions
    that lapse by its clock, rather than from the policies' variables."""
    return versions.of(config, "kyverno") >= EXCEPTIONS_SINCE


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
