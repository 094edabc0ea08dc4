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

``pullPolicy: mutate`` adds a ``policies.kyverno.io/v1`` MutatingPolicy with
the same apply configuration as the vap target's MutatingAdmissionPolicy:
Kyverno's mutating webhook runs before its validating one, so the
pull-policy ValidatingPolicy then denies only what the mutation cannot
reach (ephemeral containers, image volumes).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from policygen import globs
from policygen.config import Config, CrossProblem
from policygen.targets import Capabilities
from policygen.targets._cel import render_mutation, render_policies

MUTATING_POLICY_API_VERSION = "policies.kyverno.io/v1"

if TYPE_CHECKING:
    from policygen.engines import EngineOptions, Evaluator


class KyvernoCelTarget:
    name = "kyverno-cel"
    description = "Kyverno CEL policies (policies.kyverno.io/v1)"
    clock: str | None = None

    capabilities = Capabilities(
        scope_globs=globs.ANY,  # matchConditions: request.namespace.matches()
        selection_globs=globs.ANY,
        mutates=True,  # a MutatingPolicy
        kinds=(
            ("policies.kyverno.io/v1", "ValidatingPolicy"),
            (MUTATING_POLICY_API_VERSION, "MutatingPolicy"),
        ),
    )

    def problems(self, config: Config) -> list[CrossProblem]:
        return []

    def render(self, config: Config, now: dt.date) -> dict[str, str]:
        files = render_policies(config, "kyverno-cel/policy.yaml.j2")
        if config.spec.rules.pullPolicy.action == "mutate":
            files["mutate-pull-policy.yaml"] = render_mutation(
                config, "kyverno-cel/mutating.yaml.j2", MUTATING_POLICY_API_VERSION
            )
        return files

    def evaluator(self, options: EngineOptions) -> Evaluator:
        from policygen.engines.kyverno_cel import KyvernoCelEngine

        return KyvernoCelEngine(fast=options.fast)


TARGET = KyvernoCelTarget()
