"""Whether an engine's answer agrees with the reference model's.

Gatekeeper reports one result per container, as the model does. Kyverno
stops a rule at its first failing foreach element, so it reports one result
per rule: it agrees when it fails exactly the rules the model fails, with
the same action, and each finding it reports is one the model reports too.
A finding that a Namespace is unknown offline (so a selector could not be
evaluated) is compared by presence only: engines report it in their own
words, and in a cluster it cannot happen. A rule an engine could not
evaluate at all for that reason (Kyverno cannot match a rule whose selector
it cannot read; ``scope`` means none could be) is left out of the comparison.
"""

from __future__ import annotations

import re
from functools import lru_cache

from policygen import rules
from policygen.violations import Violation

EXPANSION_PREFIX = re.compile(r"^\[Implied by [^\]]+\] ")


def _unknown_namespace() -> re.Pattern[str]:
    """The scope message as a pattern, from the table as it is now."""
    return _pattern_of(rules.TABLE["scope"].message)


@lru_cache(maxsize=8)
def _pattern_of(message: str) -> re.Pattern[str]:
    # kept by the message's text: escaping it was a third of the cost of
    # comparing a proof's answers (every violation of every engine asks)
    shape = re.escape(message)
    return re.compile("^" + shape.replace(r"\{namespace\}", ".*").replace(r"\{what\}", ".*") + "$")


def is_unknown_namespace(v: Violation) -> bool:
    return (
        v.rule == "scope"
        or _unknown_namespace().match(EXPANSION_PREFIX.sub("", v.message)) is not None
    )


def one_line(message: str) -> str:
    """A message with each line break written ``\\n``, as a CEL policy
    must give it: the API server drops a messageExpression result that
    holds a line break (apiserver ``policy/validating/validator.go``), so
    the Gatekeeper CEL writes an image's line break so, where the model and
    the Rego quote it as it is."""
    return message.replace("\n", "\\n")


def normalised(v: Violation) -> Violation:
    """Drop the ``[Implied by …]`` prefix Gatekeeper puts on expanded
    objects; line breaks as ``one_line`` writes them."""
    message = one_line(EXPANSION_PREFIX.sub("", v.message))
    return Violation(v.rule, v.container, v.image, message, v.action)


def disagreements(
    model: list[Violation],
    got: list[Violation],
    *,
    per_rule: bool,
    namespace_known: bool = True,
) -> list[str]:
    """What differs, in words; empty when the engine agrees. Only when the
    Namespace object is missing may an engine report rules it could not
    evaluate; when the model reports that, the engine must too."""
    undecided = {v.rule for v in got if is_unknown_namespace(v)}
    if "scope" in undecided:
        undecided |= {v.rule for v in model} | {v.rule for v in got}

    def decided(v: Violation) -> bool:
        return not is_unknown_namespace(v) and (v.rule not in undecided or not per_rule)

    want = {normalised(v) for v in model if decided(v)}
    have = {normalised(v) for v in got if decided(v)}
    out = []
    want_unknown = any(is_unknown_namespace(v) for v in model)
    have_unknown = any(is_unknown_namespace(v) for v in got)
    if want_unknown and not have_unknown:
        out.append("scope: the model reports an unknown namespace, the engine does not")
    if have_unknown and namespace_known:
        out.append("scope: the engine reports an unknown namespace, but the Namespace is known")
    if not per_rule:
        out.extend(f"missing: {_describe(v)}" for v in sorted(want - have))
        out.extend(f"extra: {_describe(v)}" for v in sorted(have - want))
        return out
    want_rules = {(v.rule, v.action) for v in want}
    have_rules = {(v.rule, v.action) for v in have}
    out.extend(f"missing: rule {r} ({a})" for r, a in sorted(want_rules - have_rules))
    out.extend(f"extra: rule {r} ({a})" for r, a in sorted(have_rules - want_rules))
    # Per-rule engines name the first failing container in the message; what
    # they say must be something the model says, under the same rule.
    said = {(v.rule, v.message, v.action) for v in want}
    out.extend(
        f"not in the model: {_describe(v)}"
        for v in sorted(have)
        if (v.rule, v.message, v.action) not in said
    )
    return out


def _describe(v: Violation) -> str:
    return f"{v.rule} {v.action} {v.container or '-'}: {v.message}"
