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
- images.py: the ``images`` variable; reads.py: what a rule reads (memo).

This module is the policygen evaluator interface: results as violations."""

from __future__ import annotations

from collections.abc import Sequence

from policygen.config import Config
from policygen.engines import EvalContext, PolicyCache, Review
from policygen.engines.kyverno.api import Outcome, Request, RuleResult
from policygen.engines.kyverno.engine import PolicySet
from policygen.engines.kyverno.images import image_info
from policygen.engines.kyverno.policies import POLICY_APIS
from policygen.violations import Violation
from policygen.workloads import namespace_labels

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


def rule_of(policy: str, config_name: str) -> str:
    from policygen.targets.kyverno import POLICY_NAMES

    for rule, suffix in POLICY_NAMES.items():
        if policy == f"{config_name}-{suffix}":
            return rule
    return policy


def to_violations(outcome: Outcome, config_name: str) -> list[Violation]:
    out = set()
    for r in outcome.results:
        if r.status == "error" and r.message.startswith("namespace "):
            # the rule could not be matched at all: say which rule it was
            out.add(Violation(rule_of(r.policy, config_name), "", "", r.message, "deny"))
        elif r.status == "error":
            out.add(Violation(rule_of(r.policy, config_name), "", "", r.message, "deny"))
        elif r.status == "fail":
            element = r.element or {}
            image = element.get("image", "")
            if isinstance(image, dict):  # an image volume's source
                image = image.get("reference", "")
            out.add(
                Violation(
                    rule_of(r.policy, config_name),
                    str(element.get("name", "")),
                    str(image),
                    r.message,
                    r.action,
                )
            )
    return sorted(out)


class KyvernoEngine:
    name = "kyverno"
    per_rule = True

    def __init__(self) -> None:
        self._cache = PolicyCache("kyverno", PolicySet.load, lambda _: None)

    def policy_set(self, config: Config, ctx: EvalContext) -> PolicySet:
        return self._cache.get(config, ctx)

    def evaluate(
        self, config: Config, reviews: Sequence[Review], ctx: EvalContext
    ) -> list[list[Violation]]:
        policies = self.policy_set(config, ctx)
        out = []
        for review in reviews:
            ns_obj = ctx.namespaces.get(review.namespace)
            labels = None if ns_obj is None else namespace_labels(ns_obj, review.namespace)
            req = Request(
                review.obj, review.namespace, labels, review.operation, review.subresource
            )
            out.append(to_violations(policies.review(req), config.name))
        return out
