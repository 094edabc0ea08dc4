"""The reference model (SPEC §3): what a correct admission controller says.

Pure and deterministic: no I/O, no engine. Every rendered target is tested for
agreement with this module, never the other way round.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from policygen import clock, globs, imageref
from policygen.config import Config, Exemption, Tenant
from policygen.rules import NAMES, TABLE
from policygen.violations import Action, Violation, container_kind
from policygen.workloads import (
    Container,
    containers,
    namespace_labels,
    namespace_of,
    pod_spec,
    policy_field,
    with_api_defaults,
)

#: What ``mutate`` sets to Always. Ephemeral containers cannot be mutated
#: (the engines' webhooks do not see pods/ephemeralcontainers as a
#: mutation); image volumes are not mutated by the rendered policies, so
#: both are still denied under mutate.
MUTATED_LISTS = ("containers", "initContainers")


@dataclass(frozen=True)
class Context:
    """What the model needs besides the object."""

    #: the clock exemptions lapse by: an instant, or a date (its first second, UTC)
    now: dt.date
    namespaces: Mapping[str, Mapping[str, Any]]  # known Namespace objects by name
    default_namespace: str = "default"


def evaluate(config: Config, obj: Mapping[str, Any], ctx: Context) -> list[Violation]:
    return judge(config, shape_of(obj, ctx), ctx.now)


@dataclass(frozen=True)
class Shape:
    """Everything of an object and its context that the model reads besides
    the config and the clock: objects of one shape get the same violations
    (so an evaluator may keep the answer by shape)."""

    namespace: str
    #: the labels of its Namespace, sorted; None when the Namespace is not known
    labels: tuple[tuple[str, str], ...] | None
    #: its images as admission sees them (API defaults applied); None when
    #: it is not a workload
    containers: tuple[Container, ...] | None


def shape_of(obj: Mapping[str, Any], ctx: Context) -> Shape:
    ns = namespace_of(obj, ctx.default_namespace)
    labels = labels_of(ctx, ns)
    images = None
    if pod_spec(dict(obj)) is not None:
        images = tuple(containers(with_api_defaults(dict(obj))))
    return Shape(ns, None if labels is None else tuple(sorted(labels.items())), images)


#: What judge may keep between objects (see ``judge``).
Kept = dict[tuple[Any, ...], Any]


def judge(config: Config, shape: Shape, now: dt.date, kept: Kept | None = None) -> list[Violation]:
    """The violations of an object of this shape. ``kept``, when given, keeps
    a namespace's tenants and each image's violations for the next object
    under the same config and clock: a namespace's tenants depend only on its
    name and labels, an image's violations only on that, the tenants and the
    image (its container's name, list, reference and pull policy)."""
    spec = config.spec
    ns = shape.namespace
    if shape.containers is None or not any(_may_apply(config, r, ns) for r in NAMES):
        # No rule reaches this namespace by its name (every rule off, or the
        # digest rule narrowed elsewhere and the others off): whatever its
        # labels, nothing is said, so an unknown Namespace leaves nothing
        # undecided.
        return []
    labels = None if shape.labels is None else dict(shape.labels)
    scope = scope_of(config, ns, labels)
    if scope == "unknown":
        return [_unknown_namespace(ns, "scope.namespaceSelector")]
    if scope != "in":
        return []

    if kept is None:
        tenants = tenants_of(spec.tenants, ns, labels)
    else:
        at = ("tenants", ns, shape.labels)
        if at not in kept:
            kept[at] = tenants_of(spec.tenants, ns, labels)
        tenants = kept[at]
    found: list[Violation] = []
    for c in shape.containers:
        if kept is None:
            found.extend(image_violations(config, c, ns, tenants, now))
            continue
        image = ("image", ns, shape.labels, c.list_name, c.name, c.image, c.pull_policy)
        if image not in kept:
            kept[image] = image_violations(config, c, ns, tenants, now)
        found.extend(kept[image])
    return sorted(found)


def image_violations(
    config: Config, c: Container, ns: str, tenants: TenantMatch, now: dt.date
) -> list[Violation]:
    """What the rules say of one image in namespace ``ns``."""
    ref = imageref.try_parse(c.image)
    key = image_key(c.image, ref)
    found: list[Violation] = []
    if _applies(config, "digest", ns, key, now) and digest_applies(config, ns):
        found.extend(_check_digest(config, c, ref))
    if _applies(config, "pullPolicy", ns, key, now):
        found.extend(_check_pull_policy(config.spec.rules.pullPolicy.action, c))
    if _applies(config, "registries", ns, key, now):
        found.extend(_check_registries(config, c, ref, ns, tenants))
    return found


Scope = Literal["in", "outside", "excluded", "unselected", "unknown"]


def scope_of(config: Config, ns: str, labels: Mapping[str, str] | None) -> Scope:
    """Whether objects of namespace ``ns`` are checked at all. The name
    decides first: an excluded or out-of-scope namespace is never checked,
    so its Namespace object is never needed (``unknown`` only when the
    scope's selector must be read and the labels are not known)."""
    scope = config.spec.scope
    if not globs.match_any(scope.namespaces, ns):
        return "outside"
    if globs.match_any(scope.excludeNamespaces, ns):
        return "excluded"
    if scope.namespaceSelector.empty:
        return "in"
    if labels is None:
        return "unknown"
    return "in" if scope.namespaceSelector.matches(dict(labels)) else "unselected"


def _applies(config: Config, rule: str, ns: str, key: str | None, now: dt.date) -> bool:
    """The rule is on and no live exemption lifts it for this namespace and image."""
    return (
        config.spec.rules.action(rule) != "off" and exempted_by(config, rule, ns, key, now) is None
    )


def exempted_by(
    config: Config, rule: str, ns: str, key: str | None, now: dt.date
) -> Exemption | None:
    """The first live exemption that lifts ``rule`` for this namespace and image key."""
    return next(
        (e for e in config.spec.exemptions if exemption_matches(e, rule, ns, key, now)), None
    )


def _check_pull_policy(action: str, c: Container) -> list[Violation]:
    if action == "mutate" and c.list_name in MUTATED_LISTS:
        return []  # set to Always before validation
    if c.pull_policy == "Always":
        return []
    # Ephemeral containers cannot be mutated, so under mutate they are denied.
    verdict: Action = "deny" if action == "mutate" else action  # type: ignore[assignment]
    message = TABLE["pullPolicy"].message.format(
        kind=container_kind(c.list_name),
        container=c.name,
        field=policy_field(c.list_name),
        policy=c.pull_policy or TABLE["pullPolicy"].unset,
    )
    return [Violation("pullPolicy", c.name, c.image, message, verdict)]


def labels_of(ctx: Context, ns: str) -> dict[str, str] | None:
    """The labels of namespace ``ns``; None when its Namespace is not known."""
    ns_obj = ctx.namespaces.get(ns)
    return None if ns_obj is None else namespace_labels(ns_obj, ns)


def _unknown_namespace(ns: str, what: str) -> Violation:
    return Violation(
        "scope", "", "", TABLE["scope"].message.format(namespace=ns, what=what), "deny"
    )


def _may_apply(config: Config, rule: str, ns: str) -> bool:
    """Whether ``rule`` is on for namespace ``ns`` by its name alone."""
    if config.spec.rules.action(rule) == "off":
        return False
    return rule != "digest" or digest_applies(config, ns)


def digest_applies(config: Config, ns: str) -> bool:
    """The digest rule may be narrowed to namespaces that opted in."""
    narrow = config.spec.rules.digest.namespaces
    return not narrow or globs.match_any(narrow, ns)


def _check_digest(config: Config, c: Container, ref: imageref.ImageRef | None) -> list[Violation]:
    rule = config.spec.rules.digest
    action: Action = rule.action  # type: ignore[assignment]
    if ref is None:
        return [_invalid("digest", c, action)]
    if imageref.has_allowed_digest(ref, list(rule.algorithms)):
        return []
    hint = imageref.digest_hint(list(rule.algorithms))
    message = TABLE["digest"].message.format(
        kind=container_kind(c.list_name), container=c.name, image=c.image, hint=hint
    )
    return [Violation("digest", c.name, c.image, message, action)]


TenantMatch = list[Tenant] | None  # None: membership unknown (selector, no Namespace)


def tenants_of(tenants: list[Tenant], ns: str, labels: dict[str, str] | None) -> TenantMatch:
    """The tenants owning ``ns`` (by name, or by labels); None when a
    selector would decide and the labels are not known."""
    out = []
    for tenant in tenants:
        if globs.match_any(tenant.namespaces, ns):
            out.append(tenant)
        elif tenant.namespaceSelector is not None:
            if labels is None:
                return None
            if tenant.namespaceSelector.matches(labels):
                out.append(tenant)
    return out


def allowed_registries(config: Config, tenants: list[Tenant]) -> list[list[str]]:
    """Allow-lists an image must satisfy, all of them: the shared list alone
    outside tenants; in a namespace of several tenants (possible through
    selectors) the image must be allowed for each, the least privilege."""
    shared = list(config.spec.rules.registries.allowed)
    if not tenants:
        return [shared]
    return [shared + list(t.registries) for t in tenants]


def _check_registries(
    config: Config,
    c: Container,
    ref: imageref.ImageRef | None,
    ns: str,
    tenants: TenantMatch,
) -> list[Violation]:
    action: Action = config.spec.rules.registries.action  # type: ignore[assignment]
    if ref is None:
        return [_invalid("registries", c, action)]
    if tenants is None:
        what = "the tenants' namespaceSelector"
        message = TABLE["scope"].message.format(namespace=ns, what=what)
        return [Violation("registries", c.name, c.image, message, action)]
    lists = allowed_registries(config, tenants)
    if all(any(imageref.name_is_under(ref.name, e) for e in entries) for entries in lists):
        return []
    message = TABLE["registries"].message.format(
        kind=container_kind(c.list_name), container=c.name, image=c.image, namespace=ns
    )
    return [Violation("registries", c.name, c.image, message, action)]


def _invalid(rule: str, c: Container, action: Action) -> Violation:
    return Violation(
        rule,
        c.name,
        c.image,
        TABLE[rule].invalid.format(
            kind=container_kind(c.list_name), container=c.name, image=c.image
        ),
        action,
    )


def exemption_matches(
    exemption: Exemption, rule: str, ns: str, image_key: str | None, now: dt.date
) -> bool:
    return (
        image_key is not None
        and clock.live(exemption.expires, now)
        and rule in exemption.rules
        and globs.match_any(exemption.namespaces, ns)
        and globs.match_any(exemption.images, image_key)
    )


def image_key(image: str, ref: imageref.ImageRef | None) -> str | None:
    """What exemption image globs are matched against: the normalised
    reference only. An image that does not parse has none, so it is never
    exempt: its raw text could match a glob while naming something else to
    the runtime (``ghcr.io/acme/runner@sha256:…/../../evil/x``)."""
    return ref.normalized if ref is not None else None
