"""Whether an engine's answer agrees with the reference model's.

Gatekeeper reports one result per container, as the model does. Kyverno
stops a rule at its first failing foreach element, so it reports one result
per rule: it agrees when it fails exactly the rules the model fails, with
the same action, and each finding it reports is one the model reports too.
A ``scope`` finding (Namespace unknown offline) is compared by rule only,
since each engine names the selector it could not evaluate in its own words.
"""

from __future__ import annotations

import re

from policygen.violations import Violation

EXPANSION_PREFIX = re.compile(r"^\[Implied by [^\]]+\] ")


def normalised(v: Violation) -> Violation:
    """Drop the ``[Implied by …]`` prefix Gatekeeper puts on expanded objects."""
    return Violation(v.rule, v.container, v.image, EXPANSION_PREFIX.sub("", v.message), v.action)


def disagreements(model: list[Violation], got: list[Violation], *, per_rule: bool) -> list[str]:
    """What differs, in words; empty when the engine agrees."""
    want = {normalised(v) for v in model if v.rule != "scope"}
    have = {normalised(v) for v in got if v.rule != "scope"}
    out = []
    want_scope = any(v.rule == "scope" for v in model)
    have_scope = any(v.rule == "scope" for v in got)
    if want_scope != have_scope:
        out.append(
            f"scope: model {'reports' if want_scope else 'does not report'} an unknown namespace"
        )
    if not per_rule:
        out.extend(f"missing: {_describe(v)}" for v in sorted(want - have))
        out.extend(f"extra: {_describe(v)}" for v in sorted(have - want))
        return out
    want_rules = {(v.rule, v.action) for v in want}
    have_rules = {(v.rule, v.action) for v in have}
    out.extend(f"missing: rule {r} ({a})" for r, a in sorted(want_rules - have_rules))
    out.extend(f"extra: rule {r} ({a})" for r, a in sorted(have_rules - want_rules))
    out.extend(f"not in the model: {_describe(v)}" for v in sorted(have - want))
    return out


def _describe(v: Violation) -> str:
    return f"{v.rule} {v.action} {v.container or '-'}: {v.message}"
