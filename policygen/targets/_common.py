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


def tenant_index(config: Config) -> dict[str, Any]:
    """Tenants as the Gatekeeper templates read them: indexed, so that a
    review finds the few tenants owning its namespace by object lookups,
    never by walking every tenant. A real Gatekeeper pays what the Rego
    costs per request: with one regex per tenant, 1,000 tenants cost 1,000
    matches per review (and OPA's cache keeps only 100 compiled regexes).

    - ``ownersByNamespace``: a literal namespace glob → its tenants.
    - ``ownersByPrefix`` / ``ownersBySuffix``: a glob's literal text before
      its first (after its last) wildcard → ``{"tenant"}`` when that is the
      whole test (``team-a-*``), else ``{"tenant", "regex"}`` to confirm
      (``team-?-prod``); ``prefixLengths`` / ``suffixLengths``: the key
      lengths to try, so a lookup costs one per distinct length. A glob
      with a literal prefix is indexed by it, else by its suffix.
    - ``ownersByPattern``: globs with neither (``*``, ``*x*``), tested one
      by one.
    - ``tenantRegistries``: each tenant's own entries as one regex (the
      shared ones are tested once, apart).
    - ``selectors``: each tenant chosen by labels, its selector;
      ``selectorsByLabel``: label key → value → the tenants whose
      ``matchLabels`` require that pair (one pair per tenant, its first
      key), ``selectorsUnindexed`` the rest, whose selectors are tested one
      by one.

    Glob semantics stay ``globs.to_regex``'s: a key only narrows the
    candidates, ``regex`` decides where the key alone cannot."""
    by_ns: dict[str, list[str]] = {}
    by_prefix: dict[str, list[dict[str, str]]] = {}
    by_suffix: dict[str, list[dict[str, str]]] = {}
    by_pattern: list[dict[str, str]] = []
    registries: dict[str, str] = {}
    selectors: dict[str, Any] = {}
    by_label: dict[str, dict[str, list[str]]] = {}
    unindexed: list[str] = []
    for t in config.spec.tenants:
        registries[t.name] = prefix_regex(list(t.registries))
        for glob in t.namespaces:
            kind, key, entry = glob_key(glob, t.name)
            if kind == "exact":
                owners = by_ns.setdefault(key, [])
                if t.name not in owners:
                    owners.append(t.name)
            elif kind == "prefix":
                by_prefix.setdefault(key, []).append(entry)
            elif kind == "suffix":
                by_suffix.setdefault(key, []).append(entry)
            else:
                by_pattern.append(entry)
        if t.namespaceSelector is not None:
            selector = t.namespaceSelector.model_dump(exclude_defaults=True)
            selectors[t.name] = selector
            pairs = sorted((selector.get("matchLabels") or {}).items())
            if pairs and pairs[0][1] != "":
                k, v = pairs[0]
                by_label.setdefault(k, {}).setdefault(v, []).append(t.name)
            else:
                unindexed.append(t.name)
    return {
        "ownersByNamespace": by_ns,
        "ownersByPrefix": by_prefix,
        "prefixLengths": sorted({len(k) for k in by_prefix}),
        "ownersBySuffix": by_suffix,
        "suffixLengths": sorted({len(k) for k in by_suffix}),
        "ownersByPattern": by_pattern,
        "tenantRegistries": registries,
        "selectors": selectors,
        "selectorsByLabel": by_label,
        "selectorsUnindexed": unindexed,
    }


def glob_key(glob: str, tenant: str) -> tuple[str, str, dict[str, str]]:
    """How ``tenant_index`` files one namespace glob: ("exact", glob),
    ("prefix", literal head), ("suffix", literal tail) or ("pattern", ""),
    with the entry the index holds."""
    wild = [i for i, ch in enumerate(glob) if ch in "*?"]
    if not wild:
        return "exact", glob, {}
    head, tail = glob[: wild[0]], glob[wild[-1] + 1 :]
    entry = {"tenant": tenant, "regex": globs.to_regex(glob)}
    if head:
        if glob[len(head) :] == "*":  # the head is the whole test
            del entry["regex"]
        return "prefix", head, entry
    if tail:
        if glob[: -len(tail)] == "*":
            del entry["regex"]
        return "suffix", tail, entry
    return "pattern", "", entry


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
