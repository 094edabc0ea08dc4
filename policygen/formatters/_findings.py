"""One finding per object, rule and container, whichever engines found it.

``--engine all`` asks every engine; reports that a person or a code-scanning
service reads (SARIF, PolicyReport, the table) show each finding once, with
the engines that reported it, rather than once per engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from policygen.agreement import is_unknown_namespace, normalised
from policygen.scan import ObjectResult
from policygen.violations import ACTION_STRENGTH, Action, Violation


@dataclass(frozen=True)
class Finding:
    #: digest | pullPolicy | registries, or scope when the Namespace was
    #: unknown (each engine says so in its own words, for its own rules)
    rule: str
    container: str
    image: str
    #: the first reporting engine's words (the reference model's, when it is
    #: among them), without Gatekeeper's ``[Implied by …]`` prefix
    message: str
    action: Action
    engines: tuple[str, ...]


def _same_rule(grouped: dict[tuple[str, str], Finding], v: Violation) -> tuple[str, str] | None:
    """Where a per-rule engine's finding belongs. The CEL engines name no
    container (a policy's message names its first offending one): the
    finding with the same words, else the rule's first."""
    same = [k for k, f in grouped.items() if k[0] == v.rule]
    return next((k for k in same if grouped[k].message == v.message), same[0] if same else None)


def findings(r: ObjectResult) -> list[Finding]:
    grouped: dict[tuple[str, str], Finding] = {}
    for engine, violations in r.by_engine.items():
        for raw in violations:
            v = normalised(raw)
            key = ("scope", "") if is_unknown_namespace(v) else (v.rule, v.container)
            if not key[1] and key[0] != "scope":
                key = _same_rule(grouped, v) or key
            seen = grouped.get(key)
            if seen is None:
                grouped[key] = Finding(key[0], key[1], v.image, v.message, v.action, (engine,))
                continue
            action = (
                v.action
                if ACTION_STRENGTH[v.action] > ACTION_STRENGTH[seen.action]
                else seen.action
            )
            engines = seen.engines if engine in seen.engines else (*seen.engines, engine)
            grouped[key] = Finding(
                seen.rule, seen.container, seen.image, seen.message, action, engines
            )
    return list(grouped.values())
