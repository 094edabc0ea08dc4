"""When an engine's answer counts as agreeing with the model's."""

from __future__ import annotations

from policygen.agreement import disagreements
from policygen.rules import MESSAGES
from policygen.violations import Violation

A = Violation(
    "digest", "a", "nginx", 'container "a" image "nginx" must be pinned by digest (x)', "deny"
)
B = Violation(
    "digest", "b", "redis", 'container "b" image "redis" must be pinned by digest (x)', "deny"
)
UNKNOWN = MESSAGES["unknownNamespace"].format(namespace="ns", what="the tenants' namespaceSelector")


def test_per_container_engines_must_match_exactly() -> None:
    assert disagreements([A, B], [A, B], per_rule=False) == []
    assert disagreements([A, B], [A], per_rule=False) == [f"missing: digest deny b: {B.message}"]
    prefixed = Violation(
        A.rule, A.container, A.image, "[Implied by x-expand] " + A.message, A.action
    )
    assert disagreements([A], [prefixed], per_rule=False) == []


def test_per_rule_engines_report_one_of_the_models_findings() -> None:
    assert (
        disagreements([A, B], [Violation("digest", "", "", B.message, "deny")], per_rule=True) == []
    )
    assert disagreements([A, B], [], per_rule=True) == ["missing: rule digest (deny)"]
    warn = Violation("digest", "b", "redis", B.message, "warn")
    assert disagreements([A, B], [warn], per_rule=True) == [
        "missing: rule digest (deny)",
        "extra: rule digest (warn)",
        f"not in the model: digest warn b: {B.message}",
    ]


def test_unknown_namespaces() -> None:
    unknown = Violation("registries", "a", "nginx", UNKNOWN, "deny")
    # an engine that cannot evaluate the rule at all leaves it undecided...
    assert (
        disagreements(
            [unknown, A],
            [Violation("registries", "", "", UNKNOWN, "deny"), A],
            per_rule=True,
            namespace_known=False,
        )
        == []
    )
    # ...but must say so when the model does
    assert disagreements([unknown], [], per_rule=True, namespace_known=False) == [
        "scope: the model reports an unknown namespace, the engine does not"
    ]
    # and may not claim it when the Namespace is known
    assert disagreements([A], [A, unknown], per_rule=False) == [
        "scope: the engine reports an unknown namespace, but the Namespace is known"
    ]
