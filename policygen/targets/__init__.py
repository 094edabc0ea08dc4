"""Targets: one module each, one registry. Adding a target touches only its
module, its template folder (and its evaluator's module) and the dict in
``registry()``: the config checks, ``scan``'s choice of engines and the
engine registry read what a target declares in its ``Capabilities``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from policygen import globs, versions
from policygen.config import Config, CrossProblem

if TYPE_CHECKING:
    from policygen.engines import EngineOptions, Evaluator


@dataclass(frozen=True)
class Capabilities:
    """What a target can express, declared by the target (as a yamllint
    rule declares its ``CONF``) and read by the config checks."""

    #: globs in ``scope.namespaces`` and ``scope.excludeNamespaces``, which
    #: go into the engine's own namespace matcher
    scope_globs: globs.Syntax
    #: globs of tenants, of the digest rule's opt-in namespaces and of
    #: exemptions, which the policy holds as regexes
    selection_globs: globs.Syntax
    #: whether ``pullPolicy: mutate`` is rendered (as a mutation)
    mutates: bool
    #: (apiVersion, kind) of every object the target can emit, at any of
    #: the releases ``spec.versions`` may name
    kinds: tuple[tuple[str, str], ...]
    #: why not, when it does not mutate: "cannot mutate (<this>)"
    no_mutation: str = ""
    #: kinds of ``versions.KINDS`` the target renders, in the apiVersion the
    #: config's releases serve; a config whose releases serve one of them in
    #: no version is refused (``versions.problems``)
    needs: tuple[str, ...] = ()
    #: the same, for ``pullPolicy: mutate``
    needs_to_mutate: tuple[str, ...] = ()
    #: further evaluators of what the target renders, named
    #: ``<target>-<variant>`` and made by ``Target.evaluator`` with
    #: ``EngineOptions.variant``: each holds another part of the same
    #: objects to the model (gatekeeper-rego: the Rego beside the CEL)
    variants: tuple[str, ...] = ()
    #: the engine release from which the target's ``clock`` exists
    #: (``("kyverno", (1, 17))``); before it, as with no clock at all, an
    #: exemption holds until the bundle is rebuilt without it
    clock_since: tuple[versions.Engine, versions.Version] | None = None


class Target(Protocol):
    """Renders a config into files (relative path → text) for one engine."""

    name: str
    description: str
    capabilities: Capabilities
    #: How a rendered exemption lapses in the cluster, by the engine's own
    #: clock (``Rego time.now_ns()``); None where the engine has no clock
    #: and an exemption holds until the bundle is rebuilt without it.
    clock: str | None

    def problems(self, config: Config) -> list[CrossProblem]:
        """What this target cannot express beyond its declared capabilities
        (a name too long for its engine, say), as config problems."""
        ...

    def render(self, config: Config, now: dt.date) -> dict[str, str]: ...

    def evaluator(self, options: EngineOptions) -> Evaluator:
        """A fresh offline evaluator of what ``render`` writes."""
        ...


def registry() -> dict[str, Target]:
    from policygen.targets import gatekeeper, kyverno, kyverno_cel, vap

    targets: dict[str, Target] = {
        "kyverno": kyverno.TARGET,
        "kyverno-cel": kyverno_cel.TARGET,
        "gatekeeper": gatekeeper.TARGET,
        "vap": vap.TARGET,
    }
    return targets


def names() -> tuple[str, ...]:
    return tuple(registry())


def clock(name: str, config: Config) -> str | None:
    """How target ``name``'s exemptions lapse in a cluster of the config's
    releases (its ``clock``), or None where that engine has no clock."""
    target = registry()[name]
    since = target.capabilities.clock_since
    if since is not None and versions.of(config, since[0]) < since[1]:
        return None
    return target.clock


def unsupported(name: str, config: Config) -> str | None:
    """What of ``config`` target ``name`` cannot express at all, in words
    ("cannot mutate (…)"); None when it can express all of it. ``scan``
    leaves such a target's engine out and runs the others."""
    caps = registry()[name].capabilities
    if config.spec.rules.pullPolicy.action == "mutate" and not caps.mutates:
        return f"cannot mutate ({caps.no_mutation})" if caps.no_mutation else "cannot mutate"
    return None


def _either(names: list[str]) -> str:
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"


def config_problems(config: Config) -> list[CrossProblem]:
    """The config checks that depend on the selected targets, read from
    their capabilities: every problem, each with its field path."""
    spec = config.spec
    chosen = {name: registry()[name] for name in dict.fromkeys(spec.targets)}
    problems: list[CrossProblem] = []

    def check(path: tuple[str | int, ...], patterns: list[str], place: str) -> None:
        for i, pattern in enumerate(patterns):
            refusing = [
                n
                for n, t in chosen.items()
                if not getattr(t.capabilities, place).expressible(pattern)
            ]
            if refusing:
                hint = getattr(chosen[refusing[0]].capabilities, place).hint
                problems.append(
                    (
                        (*path, i),
                        f"glob '{pattern}' cannot be expressed by target {refusing[0]}"
                        + (f": {hint}" if hint else ""),
                    )
                )

    check(("spec", "scope", "namespaces"), spec.scope.namespaces, "scope_globs")
    check(("spec", "scope", "excludeNamespaces"), spec.scope.excludeNamespaces, "scope_globs")
    check(
        ("spec", "rules", "digest", "namespaces"), spec.rules.digest.namespaces, "selection_globs"
    )
    for t, tenant in enumerate(spec.tenants):
        check(("spec", "tenants", t, "namespaces"), tenant.namespaces, "selection_globs")
    for e, exemption in enumerate(spec.exemptions):
        check(("spec", "exemptions", e, "namespaces"), exemption.namespaces, "selection_globs")

    mutating = [n for n, t in registry().items() if t.capabilities.mutates]
    for name in chosen:
        reason = unsupported(name, config)
        if reason is not None:
            problems.append(
                (
                    ("spec", "rules", "pullPolicy", "action"),
                    f"target {name} {reason}: use deny, warn or audit, or the "
                    f"{_either(mutating)} target",
                )
            )
    for target in chosen.values():
        problems.extend(target.problems(config))
    return problems
