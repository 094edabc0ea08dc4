"""The Kyverno evaluator, ported from Kyverno's pkg/engine, one module per
part of Kyverno's own layout:

- engine.py: admission (mutate rules, then validate rules); api.py: types;
- policies.py, autogen.py, exceptions.py: what policies, controllers' rules
  and PolicyExceptions load as;
- match.py: match and exclude; context.py: a rule's context;
- variables.py and functions.py: ``{{ }}`` and JMESPath; conditions.py and
  operator.py: conditions; values.py: Go's value formats;
- anchor.py, validate.py, pattern.py, wildcards.py: patterns;
- validation.py, mutation.py and patch.py: the rule handlers and patches;
- images.py: the ``images`` variable; reads.py: what a rule reads (memo);
- results.py: rule results as policygen's violations.

This module is the policygen engine: rendered documents in, violations out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policygen.config import Config
from policygen.engines import DocumentEngine, EvalContext
from policygen.engines.kyverno.api import Outcome, Request, RuleResult
from policygen.engines.kyverno.engine import PolicySet
from policygen.engines.kyverno.images import image_info
from policygen.engines.kyverno.policies import POLICY_APIS
from policygen.engines.kyverno.results import rule_of, to_violations

__all__ = [
    "POLICY_APIS",
    "KyvernoEngine",
    "Outcome",
    "PolicySet",
    "Request",
    "RuleResult",
    "image_info",
    "rule_of",
    "to_violations",
]


class KyvernoEngine(DocumentEngine[PolicySet]):
    name = "kyverno"
    target = "kyverno"
    per_rule = True

    def load(self, documents: Sequence[Mapping[str, Any]]) -> PolicySet:
        return PolicySet.load(documents, fast=self.fast)

    def policy_set(self, config: Config, ctx: EvalContext) -> PolicySet:
        policies = super().policy_set(config, ctx)
        policies.now = ctx.instant  # what Kyverno's time functions read
        return policies
