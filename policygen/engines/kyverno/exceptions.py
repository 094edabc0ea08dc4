"""Kyverno's PolicyExceptions (``kyverno.io/v2``; pkg/engine/exceptions.go):
loaded, and asked whether one lifts a rule for a request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policygen.engines import NamespaceUnknown
from policygen.engines.kyverno.api import Request, Rule
from policygen.engines.kyverno.conditions import conditions_hold
from policygen.engines.kyverno.match import admission, matches
from policygen.engines.kyverno.wildcards import wildcard
from policygen.errors import UnsupportedConstruct


@dataclass
class Exception_:
    name: str
    targets: list[tuple[str, list[str]]]
    match: Mapping[str, Any]
    conditions: Mapping[str, Any] | None


def load_exception(doc: Mapping[str, Any]) -> Exception_:
    spec = doc.get("spec") or {}
    if spec.get("podSecurity"):
        raise UnsupportedConstruct(
            "kyverno", f"PolicyException/{doc['metadata']['name']}", "podSecurity"
        )
    targets = [
        (
            str(e.get("policyName", "")).rsplit("/", 1)[-1],
            [str(r) for r in e.get("ruleNames") or []],
        )
        for e in spec.get("exceptions") or []
    ]
    return Exception_(
        str(doc["metadata"]["name"]), targets, spec.get("match") or {}, spec.get("conditions")
    )


def excepted(
    exceptions: Sequence[Exception_],
    rule: Rule,
    obj: Mapping[str, Any],
    req: Request,
    data: dict[str, Any],
) -> bool:
    """Whether a PolicyException names the rule, matches the request and
    its conditions hold (pkg/engine/exceptions.go)."""
    adm = admission(obj, req)
    for exc in exceptions:
        named = any(
            wildcard(policy, rule.policy) and any(wildcard(r, rule.name) for r in rules)
            for policy, rules in exc.targets
        )
        try:
            if not named or not matches(exc.match, adm, f"PolicyException/{exc.name}.match"):
                continue
        except NamespaceUnknown:
            continue  # an exception that cannot be shown to apply does not

        if exc.conditions is None or conditions_hold(exc.conditions, data, exc.name):
            return True
    return False
