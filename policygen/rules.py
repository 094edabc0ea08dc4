"""The rule table: every rule's name, messages and metadata, in one place.

The reference model, every target (as data passed to its templates), the
engines where they speak for a cluster offline, the report and the scan
formats read it; no other module or template spells a rule's message,
title or description (``tests/test_rules.py`` holds it: a table with other
words renders bundles whose engines say exactly those words).

Messages are ``str.format`` shapes. ``{kind}`` is the container's list in
the singular (container, initContainer, ephemeralContainer, volume for an
image volume), as Gatekeeper library messages say it; ``{field}`` is where
its pull policy is set (``imagePullPolicy``, an image volume's
``pullPolicy``). Every target renders the same words, so that a violation
reads the same whichever engine reported it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

#: a rule of the config (``spec.rules.<name>``, ``exemptions[].rules``)
RuleName = Literal["digest", "pullPolicy", "registries"]
#: the config's rules, in the order every listing shows them
NAMES: tuple[RuleName, ...] = ("digest", "pullPolicy", "registries")

#: a valid reference is needed before digest or registries can say more
_INVALID = '{kind} "{container}" image "{image}" is not a valid image reference'
#: offline, a namespaceSelector needs the Namespace object
_UNKNOWN_NAMESPACE = (
    'namespace "{namespace}" is not known, so {what} cannot be evaluated; '
    "include the Namespace object"
)


@dataclass(frozen=True)
class Rule:
    #: the config's name, and ``Violation.rule``, SARIF's rule id,
    #: PolicyReport's rule
    name: str
    #: the message of a finding
    message: str
    #: CamelCase, what the rule demands (SARIF ``name``)
    identifier: str
    #: one sentence (SARIF ``shortDescription``)
    summary: str
    #: why, and what to do (SARIF ``fullDescription`` and ``help``)
    remediation: str
    #: the policy that enforces the rule, named for what it demands (the
    #: kyverno target's ClusterPolicies, PolicyReport's ``policy``)
    policy: str = ""
    #: the short name of its files and objects (vap, kyverno-cel; as one
    #: word, ``token``, Gatekeeper's)
    slug: str = ""
    #: CamelCase, as a kind names it (Gatekeeper's Constraint kinds)
    kind: str = ""
    #: a policy's title and description (Kyverno's annotations);
    #: ``{hint}``: the digests the config accepts
    title: str = ""
    description: str = ""
    #: the message for an image that is no reference, when the rule has one
    invalid: str = ""
    #: how the message shows a pull policy that is not set (offline only:
    #: the API server defaults it before admission)
    unset: str = ""
    #: Kyverno's policy annotations ``policies.kyverno.io/category`` and
    #: ``severity``, which Kyverno copies into the PolicyReport results of
    #: the policy (kyverno ``pkg/utils/report/results.go``); policygen's own
    #: PolicyReports give the same category
    category: str = "Supply Chain Security"
    severity: str = "high"

    @property
    def token(self) -> str:
        """``slug`` as one word (Rego packages and file names)."""
        return self.slug.replace("-", "")


#: Every rule a finding can name: the config's, then ``scope``. Read it at
#: call time (``rules.TABLE[name]``), never copied at import, so that the
#: table is the one place a rule's words come from.
TABLE: dict[str, Rule] = {
    "digest": Rule(
        name="digest",
        message='{kind} "{container}" image "{image}" must be pinned by digest ({hint})',
        invalid=_INVALID,
        identifier="RequireImageDigest",
        summary="Images must be pinned by digest.",
        remediation=(
            "A tag can be overwritten; a node that cached the old image under "
            "IfNotPresent keeps running it. Reference the image by digest."
        ),
        policy="require-image-digest",
        slug="digest",
        kind="ImageDigest",
        title="Require images pinned by digest",
        description=(
            "Every container, init container and ephemeral container must reference "
            "its image by digest ({hint}), so an overwritten tag cannot change what runs."
        ),
    ),
    "pullPolicy": Rule(
        name="pullPolicy",
        message='{kind} "{container}" must set {field}: Always, not {policy}',
        unset="unset",
        identifier="RequirePullAlways",
        summary="imagePullPolicy must be Always.",
        remediation=(
            "With IfNotPresent a node runs its cached copy: an overwritten tag goes "
            "unnoticed, and another tenant's private image can be run without credentials."
        ),
        policy="require-pull-always",
        slug="pull-policy",
        kind="ImagePullPolicy",
        title="Require imagePullPolicy: Always",
        description=(
            "Every container must pull its image on start, so a node's cached copy of "
            "an overwritten tag, or of another tenant's private image, is never run."
        ),
    ),
    "registries": Rule(
        name="registries",
        message=(
            '{kind} "{container}" image "{image}" is not from a registry allowed '
            'in namespace "{namespace}"'
        ),
        invalid=_INVALID,
        identifier="RestrictImageRegistries",
        summary="Images must come from a registry allowed in the namespace.",
        remediation=(
            "Each tenant may use the shared registries and its own; matching is on "
            "path-segment boundaries of the normalised reference."
        ),
        policy="restrict-image-registries",
        slug="registries",
        kind="ImageRegistry",
        title="Restrict image registries per tenant",
        description=(
            "Images must come from the shared registries or, in a tenant's namespaces, "
            "from that tenant's registries; matching is on path-segment boundaries of "
            "the normalised reference."
        ),
    ),
    # Not a rule of the config: a finding that a request could not be
    # evaluated (its Namespace object was needed and not given).
    "scope": Rule(
        name="scope",
        message=_UNKNOWN_NAMESPACE,
        identifier="NamespaceKnown",
        summary="The Namespace object is needed to evaluate a namespaceSelector.",
        remediation="Include the Namespace object in the scanned input.",
    ),
}


class _Messages(Mapping[str, str]):
    """The message shapes by the names templates use, read from the table
    whenever asked (``messages.invalid`` in a template)."""

    _WHERE: ClassVar[dict[str, tuple[str, str]]] = {
        "digest": ("digest", "message"),
        "invalid": ("digest", "invalid"),
        "pullPolicy": ("pullPolicy", "message"),
        "registries": ("registries", "message"),
        "unknownNamespace": ("scope", "message"),
    }

    def __getitem__(self, key: str) -> str:
        name, field = self._WHERE[key]
        text: str = getattr(TABLE[name], field)
        return text

    def __iter__(self) -> Iterator[str]:
        return iter(self._WHERE)

    def __len__(self) -> int:
        return len(self._WHERE)


MESSAGES: Mapping[str, str] = _Messages()
