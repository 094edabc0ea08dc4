"""Native ``admissionregistration.k8s.io/v1`` admission policies.

One ValidatingAdmissionPolicy and one binding per rule (the registries rule:
per group of tenants, see ``targets/_cel.py``), with the CEL of
``targets/_cel.py``. Scope globs, exclusions and digest opt-in namespaces
are matchConditions; the scope selector is the binding's namespaceSelector;
tenants and exemptions are data in variables. Policies match
``pods/ephemeralcontainers`` only when it is listed.

``pullPolicy: mutate`` adds a MutatingAdmissionPolicy and binding
(``admissionregistration.k8s.io/v1``, stable in Kubernetes 1.36, KEP-3962)
that sets ``imagePullPolicy: Always`` on containers and init containers
with an apply configuration; the API server runs it before validation, so
the pull-policy ValidatingAdmissionPolicy then denies only what it cannot
reach (ephemeral containers, image volumes), as the model does.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from policygen import globs, versions
from policygen.config import Config, CrossProblem
from policygen.targets import Capabilities
from policygen.targets._cel import (
    MUTATING_API_VERSIONS,
    one_line,
    render_mutation,
    render_policies,
)

if TYPE_CHECKING:
    from policygen.engines import EngineOptions, Evaluator


class VapTarget:
    name = "vap"
    description = "Kubernetes admission policies (admissionregistration.k8s.io/v1)"
    clock: str | None = None  # Kubernetes CEL has no clock (apiserver pkg/cel/environment)

    def __init__(self, mutating_api_version: str | None = None) -> None:
        if mutating_api_version is not None and mutating_api_version not in MUTATING_API_VERSIONS:
            raise ValueError(f"no MutatingAdmissionPolicy in {mutating_api_version}")
        #: the MutatingAdmissionPolicy version to emit; None: the one the
        #: config's Kubernetes serves (spec.versions: v1beta1 for 1.34–1.35)
        self.mutating_api_version = mutating_api_version

    capabilities = Capabilities(
        scope_globs=globs.ANY,  # matchConditions: request.namespace.matches()
        selection_globs=globs.ANY,
        mutates=True,  # MutatingAdmissionPolicy (Kubernetes 1.36; v1beta1 for 1.34-1.35)
        # each in the apiVersion the config's Kubernetes serves (spec.versions)
        kinds=versions.kinds(
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "MutatingAdmissionPolicy",
            "MutatingAdmissionPolicyBinding",
        ),
        needs=("ValidatingAdmissionPolicy",),
        needs_to_mutate=("MutatingAdmissionPolicy",),
    )

    def problems(self, config: Config) -> list[CrossProblem]:
        return []

    def render(self, config: Config, now: dt.date) -> dict[str, str]:
        files = render_policies(
            config,
            "vap/policy.yaml.j2",
            versions.api_version(config, "ValidatingAdmissionPolicy"),
            text=one_line,
        )
        if config.spec.rules.pullPolicy.action == "mutate":
            files["mutate-pull-policy.yaml"] = render_mutation(
                config,
                "vap/mutating.yaml.j2",
                self.mutating_api_version
                or versions.api_version(config, "MutatingAdmissionPolicy"),
            )
        return files

    def evaluator(self, options: EngineOptions) -> Evaluator:
        from policygen.engines.vap import VapEngine

        return VapEngine(fast=options.fast)


TARGET = VapTarget()
