"""What every target derives from a config the same way: names, scope,
exemptions and messages as plain data for templates."""

from __future__ import annotations

import re
from typing import Any

from policygen import clock, globs, imageref, rules
from policygen.config import Config


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def active_rules(config: Config) -> list[str]:
    return [r for r in rules.NAMES if config.spec.rules.action(r) != "off"]


def exemptions_for(config: Config, rule: str) -> list[dict[str, Any]]:
    """The exemptions that lift ``rule``, with globs compiled to RE2 regexes
    and the RFC 3339 instant after which each lapses (``policygen.clock``)."""
    return [
        {
            "name": e.name,
            "namespaces": [globs.to_regex(n) for n in e.namespaces],
            "images": [globs.to_regex(i) for i in e.images],
            "expiresAt": clock.rfc3339(clock.expires_at(e.expires)),
        }
        for e in config.spec.exemptions
        if rule in e.rules
    ]


def tenant_data(config: Config) -> list[dict[str, Any]]:
    """Tenants as the Gatekeeper templates read them: one regex for the
    namespace globs, one for the tenant's own registries (the shared entries
    are tested once, apart), the label selector only when there is one; at
    1,000 tenants these parameters are most of a Constraint's size."""
    out: list[dict[str, Any]] = []
    for t in config.spec.tenants:
        entry: dict[str, Any] = {
            "name": t.name,
            # One regex per tenant: each costs the policy a match per review.
            "namespaceRegex": alternation([globs.to_regex(n) for n in t.namespaces]),
            "allowedRegex": prefix_regex(list(t.registries)),
        }
        if t.namespaceSelector is not None:
            entry["selector"] = t.namespaceSelector.model_dump(exclude_defaults=True)
        out.append(entry)
    return out


def digest_data(config: Config) -> dict[str, Any]:
    rule = config.spec.rules.digest
    algorithms = list(rule.algorithms)
    return {
        # A valid reference pinned by an accepted digest, as one regex over
        # the raw image: the templates test it before anything costlier.
        "pinnedRegex": pinned_regex(config),
        "digestHint": imageref.digest_hint(algorithms),
        "namespaces": [globs.to_regex(n) for n in rule.namespaces],
    }


def common_data(config: Config) -> dict[str, Any]:
    return {
        "config": config,
        "name": config.name,
        "messages": rules.MESSAGES,
        "unset_policy": rules.TABLE["pullPolicy"].unset,
        "reference_regex": imageref.REFERENCE_RE,
        "identifier_regex": imageref.IDENTIFIER_RE,
        "name_max": imageref.NAME_TOTAL_LENGTH_MAX,
        "library_length": len(imageref.OFFICIAL_REPO_PREFIX),
    }


#: An RE2 regex that matches no string (RE2 has no lookaround).
NOTHING = "^$a"


def alternation(regexes: list[str]) -> str:
    """One anchored regex matching any of several anchored ones (none: nothing)."""
    if not regexes:
        return NOTHING
    bodies = [r.removeprefix("^").removesuffix("$") for r in regexes]
    return "^(?:" + "|".join(bodies) + ")$"


def prefix_regex(entries: list[str]) -> str:
    """RE2 regex: a normalised name equal to an entry or under it on a
    path-segment boundary."""
    if not entries:
        return NOTHING
    return "^(?:" + "|".join(re.escape(e) for e in entries) + ")(?:/|$)"


def pinned_regex(config: Config) -> str:
    """RE2 regex for a raw image string that is a valid reference pinned by an
    allowed digest (strict algorithm and length, lowercase hex)."""
    allowed = imageref.digest_regex(list(config.spec.rules.digest.algorithms))
    digest = allowed.removeprefix("^").removesuffix("$")
    return f"^({imageref.NAME})(?::({imageref.TAG}))?@{digest}$"
