"""The engine versions a bundle is built for (``spec.versions``), and the API
versions and kinds that exist there.

Each kind policygen renders is served from some release on; a config that
names a version where a kind it needs does not exist is refused, and a kind
that is deprecated (or beta and off by default) there is rendered with a
warning. Without ``spec.versions`` every engine is its newest supported
release. Sources, checked for each row:

- Kubernetes: kubernetes-validate's schemas per minor (ValidatingAdmissionPolicy
  ``v1beta1`` served 1.28-1.33, ``v1`` from 1.30; MutatingAdmissionPolicy
  ``v1beta1`` from 1.34, ``v1`` from 1.36); KEP-3136: a beta API is off by
  default, so ``v1beta1`` needs ``--runtime-config`` and the feature gate.
- Kyverno: each release tag's ``config/crds`` (ValidatingPolicy and the
  ``policies.kyverno.io`` PolicyException ``v1alpha1`` from 1.14, ``v1beta1``
  1.16, ``v1`` 1.17; MutatingPolicy ``v1alpha1`` from 1.15, ``v1`` 1.17, as
  1.16's ``v1beta1`` has another type's mutations); per-rule
  ``failureAction`` from 1.13, so every kind from 1.14; the ``kyverno.io`` kinds deprecated in 1.19
  (kyverno/kyverno #16868, ``pkg/deprecations``).
- Gatekeeper: each release's website docs and source. ``K8sNativeValidation``
  code is stable (evaluated by default) from 3.18; its CEL sees
  ``namespaceObject`` from 3.22 (gatekeeper #4285, ``pkg/drivers/k8scel``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from policygen.config import Config

Engine = Literal["kubernetes", "kyverno", "gatekeeper"]
Version = tuple[int, int]

VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?$")

#: Oldest and newest release of each engine policygen renders for.
SUPPORTED: dict[Engine, tuple[Version, Version]] = {
    "kubernetes": ((1, 28), (1, 37)),
    "kyverno": ((1, 14), (1, 19)),
    "gatekeeper": ((3, 14), (3, 23)),
}

#: Gatekeeper evaluates a template's K8sNativeValidation code by default,
#: before its Rego, from this release (feature state stable).
GATEKEEPER_CEL: Version = (3, 18)
#: Gatekeeper's CEL driver binds ``namespaceObject`` from this release; before
#: it the variable is null, so CEL cannot read a Namespace's labels.
GATEKEEPER_CEL_NAMESPACE: Version = (3, 22)
#: Gatekeeper's match schema takes a bare ``*`` namespace from this release
#: (pkg/target/matchcrd_constant.go: ``^\*?[-:a-z0-9]*\*?$``); before it a
#: glob needs a letter or digit, and no namespaces at all means every one.
GATEKEEPER_BARE_WILDCARD: Version = (3, 16)


@dataclass(frozen=True)
class Served:
    """An apiVersion of a kind, served by ``engine`` from ``since`` (up to
    ``until`` inclusive, when it was removed)."""

    api_version: str
    since: Version
    until: Version | None = None
    #: Why a cluster may not take it as is (deprecated, or beta and off by
    #: default), from the release given.
    caveat: tuple[Version, str] | None = None

    def serves(self, version: Version) -> bool:
        return self.since <= version and (self.until is None or version <= self.until)


_VAP_BETA = (
    "a beta API, off by default: the API server needs "
    "--runtime-config=admissionregistration.k8s.io/v1beta1=true and the feature gate {gate}"
)

#: Kind → the engine whose version decides, and its apiVersions, newest first.
KINDS: dict[str, tuple[Engine, tuple[Served, ...]]] = {
    "ValidatingAdmissionPolicy": (
        "kubernetes",
        (
            Served("admissionregistration.k8s.io/v1", (1, 30)),
            Served(
                "admissionregistration.k8s.io/v1beta1",
                (1, 28),
                (1, 33),
                ((1, 28), _VAP_BETA.format(gate="ValidatingAdmissionPolicy")),
            ),
        ),
    ),
    "MutatingAdmissionPolicy": (
        "kubernetes",
        (
            Served("admissionregistration.k8s.io/v1", (1, 36)),
            Served(
                "admissionregistration.k8s.io/v1beta1",
                (1, 34),
                None,
                ((1, 34), _VAP_BETA.format(gate="MutatingAdmissionPolicy")),
            ),
        ),
    ),
    "ValidatingPolicy": (
        "kyverno",
        (
            Served("policies.kyverno.io/v1", (1, 17)),
            Served("policies.kyverno.io/v1beta1", (1, 16)),
            Served("policies.kyverno.io/v1alpha1", (1, 14)),
        ),
    ),
    "MutatingPolicy": (
        "kyverno",
        (
            Served("policies.kyverno.io/v1", (1, 17)),
            # Kyverno 1.16.x serves a v1beta1 whose mutations are another
            # type's ({expression, target}: its config/crds): v1alpha1 there.
            Served("policies.kyverno.io/v1beta1", (1, 17)),
            Served("policies.kyverno.io/v1alpha1", (1, 15)),
        ),
    ),
    "PolicyException": (
        "kyverno",
        (
            Served("policies.kyverno.io/v1", (1, 17)),
            Served("policies.kyverno.io/v1beta1", (1, 16)),
            Served("policies.kyverno.io/v1alpha1", (1, 14)),
        ),
    ),
    "ClusterPolicy": (
        "kyverno",
        (
            Served(
                "kyverno.io/v1",
                (1, 13),
                None,
                (
                    (1, 19),
                    "deprecated since Kyverno 1.19 (kyverno/kyverno#16868) in favour of "
                    "ValidatingPolicy and MutatingPolicy: prefer target kyverno-cel",
                ),
            ),
        ),
    ),
    "kyverno.io/PolicyException": (
        "kyverno",
        (
            Served(
                "kyverno.io/v2",
                (1, 13),
                None,
                (
                    (1, 19),
                    "deprecated since Kyverno 1.19 in favour of the policies.kyverno.io "
                    "PolicyException: prefer target kyverno-cel",
                ),
            ),
        ),
    ),
}


def kinds(*names: str) -> tuple[tuple[str, str], ...]:
    """(apiVersion, kind) of each of ``names`` in every apiVersion a
    supported release serves: what a target that renders them can emit. A
    binding is served with its policy."""
    return tuple(
        (s.api_version, name)
        for name in names
        for s in reversed(KINDS[name.removesuffix("Binding")][1])
    )


def parse(text: str) -> Version:
    match = VERSION_RE.match(text)
    if match is None:
        raise ValueError(f"'{text}' is not a MAJOR.MINOR version")
    return int(match.group(1)), int(match.group(2))


def show(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def of(config: Config, engine: Engine) -> Version:
    """The release the bundle is built for: the config's, else the newest."""
    given = getattr(config.spec.versions, engine)
    return SUPPORTED[engine][1] if given is None else parse(given)


def given(config: Config, engine: Engine) -> str | None:
    """The config's version of ``engine`` as ``MAJOR.MINOR``, or None."""
    text = getattr(config.spec.versions, engine)
    return None if text is None else show(parse(text))


def served(config: Config, kind: str) -> Served | None:
    """The newest apiVersion of ``kind`` at the config's version, or None."""
    engine, versions = KINDS[kind]
    at = of(config, engine)
    return next((s for s in versions if s.serves(at)), None)


def api_version(config: Config, kind: str) -> str:
    """The apiVersion to render ``kind`` with. The config check has refused
    versions where it does not exist, so this is a bug if it fails."""
    found = served(config, kind)
    if found is None:
        raise AssertionError(f"{kind} is not served at the config's version")
    return found.api_version


def gatekeeper_without_cel(config: Config, rule: str) -> str | None:
    """Why ``rule``'s ConstraintTemplate carries no CEL at the config's
    Gatekeeper release, or None when it does."""
    at = of(config, "gatekeeper")
    if at < GATEKEEPER_CEL:
        return f"Gatekeeper evaluates K8sNativeValidation by default from {show(GATEKEEPER_CEL)}"
    selected = [t.name for t in config.spec.tenants if t.namespaceSelector is not None]
    if rule == "registries" and selected and at < GATEKEEPER_CEL_NAMESPACE:
        return (
            f"Gatekeeper's CEL sees namespaceObject from {show(GATEKEEPER_CEL_NAMESPACE)}, "
            f"and tenant {selected[0]} is chosen by labels"
        )
    # Kubernetes' CEL has no clock (apiserver pkg/cel/environment/base.go):
    # a CEL entry, which the cluster runs first, would keep an exemption
    # after its expires date, where the Rego lets it lapse.
    lapsing = [e.name for e in config.spec.exemptions if rule in e.rules]
    if lapsing:
        return (
            f"Gatekeeper's CEL has no clock to let exemption {lapsing[0]} lapse on its "
            "expires date, as the Rego does"
        )
    return None


def problems(config: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """Config problems: a version out of range, or a target whose kinds do
    not exist at the version given."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    for engine, (oldest, newest) in SUPPORTED.items():
        given = getattr(config.spec.versions, engine)
        if given is None:
            continue
        version = parse(given)
        if not oldest <= version <= newest:
            out.append(
                (
                    ("spec", "versions", engine),
                    f"{engine} {show(version)} is not supported: "
                    f"policygen renders for {show(oldest)} to {show(newest)}",
                )
            )
    if out:
        return out
    from policygen.targets import registry  # the targets import this module

    mutate = config.spec.rules.pullPolicy.action == "mutate"
    for target in dict.fromkeys(config.spec.targets):
        caps = registry()[target].capabilities
        for kind in caps.needs + (caps.needs_to_mutate if mutate else ()):
            if served(config, kind) is not None:
                continue
            engine, versions = KINDS[kind]
            first = min(s.since for s in versions)
            why = "" if kind in caps.needs else " (for pullPolicy: mutate)"
            out.append(
                (
                    ("spec", "versions", engine),
                    f"target {target} needs {kind}{why}, which {engine} "
                    f"{show(of(config, engine))} does not serve (from {show(first)})",
                )
            )
    return out


def warnings(config: Config, kinds: list[tuple[str, str]]) -> list[str]:
    """What a cluster of the config's versions says about rendered objects
    (``(apiVersion, kind)``): deprecated kinds, beta APIs off by default."""
    out = []
    if "gatekeeper" in config.spec.targets:
        from policygen.targets._common import active_rules

        for rule in active_rules(config):
            why = gatekeeper_without_cel(config, rule)
            if why is not None and of(config, "gatekeeper") >= GATEKEEPER_CEL:
                out.append(
                    f"gatekeeper {show(of(config, 'gatekeeper'))}: the {rule} template has Rego "
                    f"only, so Gatekeeper generates no ValidatingAdmissionPolicy from it: {why}"
                )
    if "kyverno-cel" in config.spec.targets and config.spec.exemptions:
        from policygen.targets import clock

        if clock("kyverno-cel", config) is None:
            out.append(
                f"kyverno {show(of(config, 'kyverno'))}: kyverno-cel writes the exemptions into "
                "its policies, where they hold until the bundle is rebuilt without them: "
                "Kyverno's CEL has time.now() for a PolicyException to lapse by from 1.17"
            )
    for api, kind in sorted(set(kinds)):
        key = kind.removesuffix("Binding")  # a binding is served with its policy
        if (api, kind) == ("kyverno.io/v2", "PolicyException"):
            key = "kyverno.io/PolicyException"
        if key not in KINDS:
            continue
        engine, versions = KINDS[key]
        at = of(config, engine)
        for s in versions:
            if s.api_version == api and s.caveat is not None and at >= s.caveat[0]:
                out.append(f"{api} {kind} on {engine} {show(at)}: {s.caveat[1]}")
    return out
