"""Kyverno ``kyverno.io/v1`` ClusterPolicies.

Facts this shape relies on (../shared/notes/kyverno.md, kyverno sources):
- one policy per rule family, its rules matching Pods only: Kyverno's
  autogen (pkg/autogen/v1) derives ``autogen-…`` rules for Pod controllers
  and ``autogen-cronjob-…`` for CronJobs, keeping failureAction and
  allowExistingViolations, and ``warn`` is the policy's ``spec.emitWarning``,
  which every rule of the policy shares; nothing in match or exclude names
  resources or selects by labels, which would switch autogen off
  (CanAutoGen); a Pod match also covers ``pods/ephemeralcontainers``
  (pkg/utils/match/kind.go);
- per-rule ``failureAction`` and ``allowExistingViolations: false``, since
  ``kubectl debug`` is an UPDATE that would otherwise keep an old violation;
- tenants and exemptions are data: a context variable whose ``value`` is
  the list and whose ``jmesPath`` picks the request namespace's entries
  (pkg/engine/context/loaders/variable.go applies the path to the value,
  after substituting ``{{request.namespace}}``), so a policy grows by one
  entry per tenant, not by rules; an exemption's entry carries its
  ``expiresAt`` and the path keeps it only while ``time_now_utc()`` is not
  after it, so it lapses in the cluster without a rebuild;
- images are read from each foreach element, not through Kyverno's
  ``images`` variable: that holds containers only (its extractors,
  pkg/utils/api/image.go ``BuildStandardExtractors``), never image volumes,
  keeps ``index.docker.io`` as written and adds ``library/`` to one-segment
  paths of every registry; the policy splits and normalises the name as
  distribution's splitDockerDomain does.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from policygen import globs, imageref, rules
from policygen.config import Config, CrossProblem, Tenant
from policygen.render import render
from policygen.targets import Capabilities
from policygen.targets._common import (
    active_rules,
    alternation,
    common_data,
    exemptions_for,
    glob_key,
    pinned_regex,
    prefix_regex,
)
from policygen.workloads import CONTAINER_LISTS, VOLUMES, policy_field
from policygen.yamlio import dump

if TYPE_CHECKING:
    from policygen.engines import EngineOptions, Evaluator

FAILURE_ACTION = {"deny": "Enforce", "warn": "Audit", "audit": "Audit", "mutate": "Enforce"}
PULL_ALWAYS = {"name": "{{ element.name }}", "imagePullPolicy": "Always"}

#: The entries of a [namespace regex, …] list that apply in the request's
#: namespace, their second items joined as one alternation ('' when none).
#: Namespace names are DNS labels, safe inside a JMESPath string literal.
IN_NAMESPACE = "[?regex_match(@[0], '{{request.namespace}}')][1] | join('|', @)"
#: The same for exemptions, of those that have not lapsed by Kyverno's clock
#: (pkg/engine/jmespath/time.go: time_now_utc() is time.Now() in whole
#: seconds, time_after is Go's strict After): one still holds at its
#: expiresAt itself, as a PolicyException's IsExpired has it. kyverno.io/v2
#: PolicyExceptions have no expiry (its CRD), so the clock is in the policy.
LIVE_IN_NAMESPACE = (
    "[?regex_match(@[0], '{{request.namespace}}') && !time_after(time_now_utc(), @[2])][1]"
    " | join('|', @)"
)


#: Kyverno rule names are at most 63 characters, and autogen cuts longer
#: ones; a tenant chosen by labels has a rule ``tenant-<name>``, whose
#: CronJob twin is ``autogen-cronjob-tenant-<name>``.
MAX_TENANT_NAME = 63 - len("autogen-cronjob-tenant-")


class KyvernoTarget:
    name = "kyverno"
    description = "Kyverno ClusterPolicies (kyverno.io/v1)"
    clock: str | None = (
        "JMESPath !time_after(time_now_utc(), expiresAt) in the exemptions' context data"
    )

    capabilities = Capabilities(
        # match.resources.namespaces: Kyverno's wildcard, '*' and '?' anywhere
        # (ext/wildcard: IGLOU-EU/go-wildcard v1.0.3); the rest are regex_match data.
        scope_globs=globs.ANY,
        selection_globs=globs.ANY,
        mutates=True,
        kinds=(("kyverno.io/v1", "ClusterPolicy"),),
        needs=("ClusterPolicy",),  # deprecated on Kyverno 1.19: build warns
    )

    def problems(self, config: Config) -> list[CrossProblem]:
        return [
            (
                ("spec", "tenants", t, "name"),
                f"at most {MAX_TENANT_NAME} characters for a tenant chosen by labels "
                f"with target kyverno: its rule 'autogen-cronjob-tenant-{tenant.name}' must "
                "fit Kyverno's 63",
            )
            for t, tenant in enumerate(config.spec.tenants)
            if tenant.namespaceSelector is not None and len(tenant.name) > MAX_TENANT_NAME
        ]

    def evaluator(self, options: EngineOptions) -> Evaluator:
        from policygen.engines.kyverno import KyvernoEngine

        return KyvernoEngine(fast=options.fast)

    def render(self, config: Config, now: dt.date) -> dict[str, str]:
        files: dict[str, str] = {}
        base = common_data(config)
        hint = imageref.digest_hint(list(config.spec.rules.digest.algorithms))
        for rule in active_rules(config):
            action = config.spec.rules.action(rule)
            entry = rules.TABLE[rule]
            name = entry.policy
            if rule == "registries":
                kyverno_rules = self.registry_rules(config)
            else:
                kyverno_rules = [self.rule(config, rule, name)]
            files[f"{name}.yaml"] = render(
                f"kyverno/{name}.yaml.j2",
                policy_name=f"{config.name}-{name}",
                title=entry.title,
                description=entry.description.format(hint=hint),
                category=entry.category,
                severity=entry.severity,
                message=_message(rule),
                failure_action=FAILURE_ACTION[action],
                emit_warning=action == "warn",
                mutate_rule=(
                    {
                        **kyverno_rules[0],
                        "name": "set-pull-always",
                        "context": [],
                        "preconditions": [],
                    }
                    if action == "mutate"
                    else None
                ),
                patches={lst: dump({"spec": {lst: [PULL_ALWAYS]}}) for lst in CONTAINER_LISTS},
                sources=SOURCES,
                rules=kyverno_rules,
                pinned_regex=pinned_regex(config),
                reference_regex=imageref.REFERENCE_RE,
                hint=hint,
                image_name_jmespath=IMAGE_NAME,
                image_key_jmespath=IMAGE_KEY,
                valid_jmespath=VALID,
                digest_problem=_problem(
                    "digest",
                    rules.TABLE["digest"].message.format(
                        kind="", container="", image="", hint=hint
                    ),
                ),
                registries_problem=_problem(
                    "registries",
                    rules.TABLE["registries"].message.format(
                        kind="", container="", image="", namespace="', request.namespace, '"
                    ),
                    joined=True,
                ),
                **{k: v for k, v in base.items() if k != "reference_regex"},
            )
        return files

    def rule(
        self,
        config: Config,
        rule: str,
        name: str,
        *,
        match: dict[str, Any] | None = None,
        exclude: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A rule's envelope: match, exclude, the exemptions it reads as data,
        the rule-level preconditions."""
        context: list[dict[str, Any]] = []
        preconditions: list[dict[str, str]] = []
        exemptions = exemptions_for(config, rule)
        if exemptions:
            context.append(
                {
                    "name": "exemptImages",
                    "why": "exemptions from this rule: [namespaces, images] regexes, expiresAt "
                    "(it lapses after it)",
                    "jmespath": LIVE_IN_NAMESPACE,
                    "value": [
                        [alternation(e["namespaces"]), alternation(e["images"]), e["expiresAt"]]
                        for e in exemptions
                    ],
                }
            )
        if rule == "digest" and config.spec.rules.digest.namespaces:
            regex = alternation([globs.to_regex(n) for n in config.spec.rules.digest.namespaces])
            preconditions.append(
                {
                    "why": "teams that opted in to digest pinning",
                    "key": f"regex_match('{regex}', request.namespace)",
                }
            )
        return {
            "name": name,
            "match": dump(match or self.match(config)),
            "exclude": _dump_exclude(self.exclude(config, exclude)),
            "context": context,
            "preconditions": preconditions,
            "exempt": bool(exemptions),
        }

    @staticmethod
    def match(
        config: Config, namespaces: list[str] | None = None, selector: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        scope = config.spec.scope
        resources: dict[str, Any] = {"kinds": ["Pod"]}
        ns = namespaces if namespaces is not None else list(scope.namespaces)
        if ns != ["*"]:
            resources["namespaces"] = ns
        scope_selector = (
            {}
            if scope.namespaceSelector.empty
            else scope.namespaceSelector.model_dump(exclude_defaults=True)
        )
        merged = _merge_selectors(scope_selector, selector or {})
        if merged:
            resources["namespaceSelector"] = merged
        return {"any": [{"resources": resources}]}

    @staticmethod
    def exclude(config: Config, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        entries: list[dict[str, Any]] = []
        if config.spec.scope.excludeNamespaces:
            entries.append({"resources": {"namespaces": list(config.spec.scope.excludeNamespaces)}})
        return {"any": entries + (extra or [])}

    def registry_rules(self, config: Config) -> list[dict[str, Any]]:
        """Allowed: the shared entries, plus in a tenant's namespaces that
        tenant's own; a namespace two tenants select must satisfy both.

        Tenants chosen by namespace globs are data (one entry each); globs of
        two tenants never overlap (the config refuses it), so a namespace has
        at most one such owner. Tenants chosen by a label selector cannot be
        data, since a ClusterPolicy sees namespace labels only through
        ``match.namespaceSelector``: each gets a rule. With any of those, the
        shared-only check moves to its own rule that excludes their
        selectors."""
        shared = prefix_regex(list(config.spec.rules.registries.allowed))
        by_glob = [t for t in config.spec.tenants if t.namespaces]
        by_label = [t for t in config.spec.tenants if t.namespaceSelector is not None]
        name = rules.TABLE["registries"].policy
        under_shared = f"regex_match('{shared}', imageName)"
        tenant_data = {
            "name": "tenantRegistries",
            "why": "tenants chosen by namespace, indexed: [confirming regex, own registries]",
            "jmespath": tenant_lookup(by_glob),
            "value": tenant_index(by_glob),
        }
        under_tenant = (
            f"{under_shared} || (tenantRegistries != '' "
            "&& regex_match(tenantRegistries, imageName))"
        )
        if not by_label:
            r = self.rule(config, "registries", name)
            if by_glob:
                r["context"].insert(0, tenant_data)
            r["allowed"] = under_tenant if by_glob else under_shared
            r["description"] = "shared registries, and a tenant's own in its namespaces"
            return [r]
        out = []
        if by_glob:
            r = self.rule(config, "registries", "tenant-registries")
            r["context"].insert(0, tenant_data)
            r["preconditions"].append(
                {"why": "a tenant's namespace", "key": "tenantRegistries != ''"}
            )
            r["allowed"] = under_tenant
            r["description"] = "tenants chosen by namespace: shared registries and their own"
            out.append(r)
        owned = alternation([globs.to_regex(n) for t in by_glob for n in t.namespaces])
        r = self.rule(
            config,
            "registries",
            "shared-registries",
            exclude=[{"resources": {"namespaceSelector": _selector(t)}} for t in by_label],
        )
        if by_glob:
            r["preconditions"].append(
                {
                    "why": "no tenant chooses this namespace by name",
                    "key": f"!regex_match('{owned}', request.namespace)",
                }
            )
        r["allowed"] = under_shared
        r["description"] = "namespaces outside every tenant: shared registries only"
        out.append(r)
        for t in by_label:
            r = self.rule(
                config,
                "registries",
                f"tenant-{t.name}",
                match=self.match(config, selector=_selector(t)),
            )
            own = prefix_regex([*config.spec.rules.registries.allowed, *t.registries])
            r["allowed"] = f"regex_match('{own}', imageName)"
            r["description"] = f"tenant {t.name}, chosen by labels: shared registries and its own"
            out.append(r)
        return out


def tenant_index(tenants: list[Tenant]) -> dict[str, Any]:
    """The tenants chosen by namespace globs, indexed as ``tenant_lookup``
    reads them, each filed once with its own registries as one regex:
    ``names`` by its one literal glob; ``heads`` by the literal text all
    its globs start with (``t1`` for ``[t1, t1-*]``), ``tails`` by the text
    they all end with where they share no head, each to ``[regex,
    registries]`` entries whose regex (the tenant's globs) confirms the key,
    '' where the key alone decides (one glob ``x*`` or ``*x``); ``others``
    the tenants whose globs share neither, always confirmed. So a request
    costs a lookup per key length and a regex per candidate, where a list of
    every tenant cost Kyverno a ``regex_match`` (each compiling its regex)
    per tenant and request; once per tenant, its registries are written
    once, as the list had them (1,000 tenants stay under 200 KiB)."""
    index: dict[str, Any] = {"names": {}, "heads": {}, "tails": {}, "others": []}
    for t in tenants:
        own = prefix_regex(list(t.registries))
        confirm = alternation([globs.to_regex(n) for n in t.namespaces])
        if len(t.namespaces) == 1:
            kind, key, entry = glob_key(t.namespaces[0], t.name)
            row = [entry.get("regex", ""), own]
            if kind == "exact":
                index["names"].setdefault(key, []).append(row)
            elif kind == "pattern":
                index["others"].append(row)
            else:
                index["heads" if kind == "prefix" else "tails"].setdefault(key, []).append(row)
            continue
        head = _shared_head([_head(n) for n in t.namespaces])
        tail = _shared_head([_tail(n)[::-1] for n in t.namespaces])[::-1]
        if head:
            index["heads"].setdefault(head, []).append([confirm, own])
        elif tail:
            index["tails"].setdefault(tail, []).append([confirm, own])
        else:
            index["others"].append([confirm, own])
    return index


def _shared_head(texts: list[str]) -> str:
    """The longest text every one of ``texts`` starts with."""
    first = min(texts, key=len)
    for i, ch in enumerate(first):
        if any(t[i] != ch for t in texts):
            return first[:i]
    return first


def _head(glob: str) -> str:
    """A glob's literal text before its first wildcard (all of it without one)."""
    wild = [i for i in (glob.find("*"), glob.find("?")) if i >= 0]
    return glob[: min(wild)] if wild else glob


def _tail(glob: str) -> str:
    """A glob's literal text after its last wildcard (all of it without one)."""
    last = max(glob.rfind("*"), glob.rfind("?"))
    return glob[last + 1 :]


def tenant_lookup(tenants: list[Tenant]) -> str:
    """The JMESPath over ``tenant_index``'s value that gives the registries
    regex of the request namespace's glob owner ('' for none): one
    ``lookup`` for the name, one per distinct head and tail length
    (Kyverno's ``truncate``; a tail is the head of the reversed name), the
    candidates confirmed by their regex. Namespace names are DNS labels,
    safe inside a JMESPath string literal."""
    index = tenant_index(tenants)
    ns = "'{{request.namespace}}'"
    parts = [f"lookup(names, {ns})"]
    parts += [
        f"lookup(heads, truncate({ns}, `{n}`))" for n in sorted({len(k) for k in index["heads"]})
    ]
    parts += [
        f"lookup(tails, reverse(truncate(reverse({ns}), `{n}`)))"
        for n in sorted({len(k) for k in index["tails"]})
    ]
    # a missing key is null, which a flatten would keep: [] instead
    candidates = ", ".join(f"{p} || `[]`" for p in parts)
    return f"[{candidates}, others][] | [?@[0] == '' || regex_match(@[0], {ns})][1] | join('|', @)"


def _selector(tenant: Tenant) -> dict[str, Any]:
    assert tenant.namespaceSelector is not None
    return tenant.namespaceSelector.model_dump(exclude_defaults=True)


#: Where each rule's foreach finds images: the container lists, and the
#: volumes that have an image source (``!= null``: an empty ``image: {}``
#: is an image volume too, with no valid reference).
SOURCES = [
    {
        "list": name,
        "filter": "",
        "kind": name[:-1],
        "image": "element.image",
        "policy": "element.imagePullPolicy",
        "field": policy_field(name),
    }
    for name in CONTAINER_LISTS
] + [
    {
        "list": VOLUMES,
        "filter": "[?image != null]",
        "kind": VOLUMES[:-1],
        "image": "element.image.reference",
        "policy": "element.image.pullPolicy",
        "field": policy_field(VOLUMES),
    }
]

# The name as written: the reference without its digest and tag (a tag's
# ":" comes after the last "/", a port's does not).
_RAW_NAME = "regex_replace_all(':[^:/]*$', regex_replace_all('@.*$', image, ''), '')"
# splitDockerDomain: the first component is a domain when it holds "." or
# ":" or an upper-case letter, or is localhost; else the name is Docker
# Hub's. Then index.docker.io is docker.io, whose one-segment paths gain
# library/.
_WITH_DOMAIN = (
    f"(regex_match('^(?:[^/]*[.:A-Z][^/]*|localhost)/', {_RAW_NAME}) && {_RAW_NAME} "
    f"|| join('', ['docker.io/', {_RAW_NAME}]))"
)
IMAGE_NAME = (
    "regex_replace_all('^docker\\.io/([^/]+)$', "
    f"regex_replace_all('^index\\.docker\\.io/', {_WITH_DOMAIN}, 'docker.io/'), "
    "'docker.io/library/$1')"
)
#: Whether the image parses (policygen.imageref): the grammar, not an image
#: ID, and a normalised path (imageName after its domain) of at most the
#: limit.
VALID = (
    f"regex_match('{imageref.REFERENCE_RE}', image) "
    f"&& !regex_match('{imageref.IDENTIFIER_RE}', image) "
    "&& length(regex_replace_all('^[^/]*/', imageName, '')) "
    f"<= `{imageref.NAME_TOTAL_LENGTH_MAX}`"
)
# What exemption image globs see: the normalised reference (its tag and
# digest as written, ":latest" when it has neither); only a valid image is
# ever matched against them.
IMAGE_KEY = (
    "join('', [imageName, "
    "regex_replace_all('^[^@]*?((?::[^:/@]*)?(?:@.*)?)$', image, '$1') || ':latest'])"
)


#: The rule table's message fields as the Kyverno templates' variables
#: (``|| 'unset'``: offline tools, kyverno apply and test, skip the API
#: server's defaulting of the pull policy).
MESSAGE_VARIABLES = {
    "kind": "{{containerKind}}",
    "container": "{{element.name}}",
    "image": "{{image}}",
    "field": "{{policyField}}",
}


def _message(rule: str) -> str:
    """A rule's ``validate.message``: the table's message with the foreach
    entry's variables; an image rule's complaint is the ``problem``
    variable (the rule's own, or the invalid-reference one)."""
    shape = rules.TABLE[rule].message
    if rule == "pullPolicy":
        unset = rules.TABLE["pullPolicy"].unset
        return shape.format(**MESSAGE_VARIABLES, policy=f"{{{{ policy || '{unset}' }}}}")
    named_and_image = '" '.join(shape.split('" ', 2)[:2])  # up to '... image "{image}'
    return named_and_image.format(**MESSAGE_VARIABLES) + '" {{problem}}'


def _problem(rule: str, valid_text: str, *, joined: bool = False) -> str:
    """JMESPath for the message tail: the rule's complaint for a valid
    reference, the invalid-reference one otherwise, as the model says."""
    tail = valid_text.split('" ', 2)[-1]  # after '{kind} "{container}" image "{image}" '
    invalid_shape = rules.TABLE[rule].invalid
    invalid = invalid_shape.format(kind="", container="", image="").split('" ', 2)[-1]
    valid = f"join('', ['{tail}'])" if joined else f"'{tail}'"
    return f"valid && {valid} || '{invalid}'"


def _dump_exclude(exclude: dict[str, Any]) -> str:
    return dump(exclude) if exclude["any"] else ""


def _merge_selectors(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Both selectors must hold: scope's and the tenant's."""
    out: dict[str, Any] = {}
    labels = {**a.get("matchLabels", {}), **b.get("matchLabels", {})}
    if labels:
        out["matchLabels"] = labels
    exprs = a.get("matchExpressions", []) + b.get("matchExpressions", [])
    if exprs:
        out["matchExpressions"] = exprs
    return out


TARGET = KyvernoTarget()
