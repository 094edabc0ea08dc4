"""Kyverno's rule results as policygen's violations: a rendered policy's
name says which config rule it enforces."""

from __future__ import annotations

from policygen.engines.kyverno.api import Outcome
from policygen.rules import NAMES, TABLE
from policygen.violations import Violation


def rule_of(policy: str) -> str:
    """The config rule a rendered policy enforces, by its name
    (``<config>-<policy>``, the rule table's ``policy``, as the kyverno
    target names it); another policy's own name."""
    for rule in NAMES:
        if policy.endswith(f"-{TABLE[rule].policy}"):
            return rule
    return policy


def to_violations(outcome: Outcome) -> list[Violation]:
    out = set()
    for r in outcome.results:
        if r.status == "error":
            # a rule that could not be matched at all (an unknown namespace)
            # or not evaluated: say which rule it was
            out.add(Violation(rule_of(r.policy), "", "", r.message, "deny"))
        elif r.status == "fail":
            element = r.element or {}
            image = element.get("image", "")
            if isinstance(image, dict):  # an image volume's source
                image = image.get("reference", "")
            out.add(
                Violation(
                    rule_of(r.policy),
                    str(element.get("name", "")),
                    str(image),
                    r.message,
                    r.action,
                )
            )
    return sorted(out)
