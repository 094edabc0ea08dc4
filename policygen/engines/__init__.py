"""Evaluators: one module each behind one Protocol, listed in one registry.

Every evaluator answers the same question: for these objects, under this
config, which violations would admission report?"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from policygen import rules
from policygen.config import Config
from policygen.violations import Violation

P = TypeVar("P")


class NamespaceUnknown(Exception):
    """A namespaceSelector needs a Namespace object the input does not hold.
    In a cluster it always exists; offline every engine reports it rather
    than guess (Gatekeeper's own matcher autorejects: ``ErrAutoreject``)."""

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.namespace = namespace

    def message(self, selector_of: str) -> str:
        what = f"the namespaceSelector of {selector_of}"
        return rules.TABLE["scope"].message.format(namespace=self.namespace, what=what)


@dataclass(frozen=True)
class Review:
    """One admission request: the one type every engine takes."""

    obj: Mapping[str, Any]
    namespace: str  # the request namespace (object's, else the scan default)
    operation: str = "CREATE"
    subresource: str = ""
    old_obj: Mapping[str, Any] | None = None  # UPDATE: the object as it was
    #: the request namespace's Namespace object as given (engines label it
    #: as the API server does); None: not known offline
    namespace_obj: Mapping[str, Any] | None = None


def with_namespaces(
    reviews: Sequence[Review], namespaces: Mapping[str, Mapping[str, Any]]
) -> list[Review]:
    """Each review with its Namespace object from ``namespaces``, unless it
    carries one already."""
    return [
        r
        if r.namespace_obj is not None or r.namespace not in namespaces
        else dataclasses.replace(r, namespace_obj=namespaces[r.namespace])
        for r in reviews
    ]


@dataclass(frozen=True)
class EvalContext:
    #: The clock, which the model and every engine's clock read (Rego's
    #: ``time.now_ns()``, Kyverno's ``time_now_utc()``, PolicyException
    #: ``expiresAt``): given as a date (its first second, UTC) or an instant,
    #: kept as an aware UTC instant in whole seconds.
    now: dt.date
    namespaces: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: a built bundle to evaluate instead of rendering the config
    #: (``<bundle>/<target>/*.yaml``, as ``policygen build`` writes it)
    bundle: Path | None = None

    def __post_init__(self) -> None:
        from policygen.clock import instant

        object.__setattr__(self, "now", instant(self.now))

    @property
    def instant(self) -> dt.datetime:
        """``now`` as the aware instant it is kept as."""
        assert isinstance(self.now, dt.datetime)
        return self.now


class Evaluator(Protocol):
    name: str
    #: True when the engine reports one finding per rule (Kyverno stops a
    #: rule at its first failing container), not one per container.
    per_rule: bool

    def evaluate(
        self, config: Config, reviews: Sequence[Review], ctx: EvalContext
    ) -> list[list[Violation]]:
        """Violations per review, in the order given."""
        ...


class Loaded(Protocol):
    """An engine's policies, loaded from rendered documents: requests in,
    violations out."""

    @property
    def pure(self) -> bool:
        """Whether an answer depends on the request and the evaluation's
        clock alone (no network or randomness), so that the reuse layer may
        give it again under the same clock."""
        ...

    def violations(self, reviews: Sequence[Review]) -> list[list[Violation]]:
        """Violations per review, in the order given."""
        ...

    def close(self) -> None: ...


L = TypeVar("L", bound=Loaded)


class DocumentEngine(Generic[L]):
    """An engine that evaluates rendered documents, as an Evaluator: the
    config rendered for ``target`` (or ``ctx.bundle``'s folder) is loaded
    once per config, each review gets its Namespace object from
    ``ctx.namespaces``, and, on the fast path, the reuse layer
    (policygen.engines.reuse) wraps the loaded policies from outside.
    ``fast=False`` is the plain path: no reuse layer, and the engine's own
    memos and worker processes off, one request at a time; the
    differential test runs both against the model."""

    name: str
    target: str
    per_rule: bool

    def __init__(self, *, fast: bool = True) -> None:
        self.fast = fast
        self._cache: PolicyCache[L] = PolicyCache(self.target, self.load, lambda p: p.close())
        #: the reuse layer around the loaded policies, for one clock
        self._reused: tuple[L, dt.date, Loaded] | None = None

    def load(self, documents: Sequence[Mapping[str, Any]]) -> L:
        """The engine's own part: documents in, loaded policies out."""
        raise NotImplementedError

    def policy_set(self, config: Config, ctx: EvalContext) -> L:
        """The engine's loaded policies (without the reuse layer)."""
        return self._cache.get(config, ctx)

    def loaded(self, config: Config, ctx: EvalContext) -> Loaded:
        """What ``evaluate`` asks: the loaded policies, on the fast path
        inside the reuse layer. A new clock gets a new reuse layer, since
        an answer (an exemption's expiry) may depend on it."""
        policies = self.policy_set(config, ctx)
        if not (self.fast and policies.pure):
            return policies
        last = self._reused
        if last is None or last[0] is not policies or last[1] != ctx.now:
            from policygen.engines.reuse import Reused

            last = self._reused = (policies, ctx.now, Reused(policies))
        return last[2]

    def evaluate(
        self, config: Config, reviews: Sequence[Review], ctx: EvalContext
    ) -> list[list[Violation]]:
        return self.loaded(config, ctx).violations(with_namespaces(reviews, ctx.namespaces))


@dataclass(frozen=True)
class EngineOptions:
    """Choices a user makes for the engines that take them."""

    #: the Rego engine the Gatekeeper evaluator runs (policygen.rego.programs)
    rego_engine: str = "auto"
    #: False: the plain path (see DocumentEngine), which the differential
    #: test holds to the model beside the fast one
    fast: bool = True
    #: which of a target's evaluators ("": its own; else one of its
    #: ``Capabilities.variants``)
    variant: str = ""


def names() -> tuple[str, ...]:
    """The reference model, then each target's evaluator, which bears the
    target's name (``prove`` and ``scan --engine`` rely on it), followed by
    its variants (``gatekeeper-rego``)."""
    from policygen.targets import names as targets

    return ("model", *(n for target in targets() for n in evaluators_of(target)))


def evaluators_of(target: str) -> tuple[str, ...]:
    """The evaluators that hold ``target``'s policies to the model: its
    own, which bears its name, then its variants."""
    from policygen.targets import registry

    return (target, *(f"{target}-{v}" for v in registry()[target].capabilities.variants))


def policy_documents(target: str, config: Config, ctx: EvalContext) -> list[dict[str, Any]]:
    """What an engine evaluates: the config rendered for ``target``, or that
    target's folder of ``ctx.bundle`` when one is given."""
    from policygen import apicheck

    if ctx.bundle is not None:
        docs = bundle_documents(ctx.bundle, target)
        apicheck.check_documents({str(ctx.bundle / target): docs}, rendered=False)
        return docs
    from policygen.targets import registry as targets
    from policygen.yamlio import load_all_fast

    files = targets()[target].render(config, ctx.now)
    by_file = {
        f"{target}/{rel}": [d for d in load_all_fast(text) if d] for rel, text in files.items()
    }
    # What an engine proves must be what a cluster would accept.
    from policygen import versions

    apicheck.check_documents(by_file, kubernetes=versions.given(config, "kubernetes"))
    return [d for docs in by_file.values() for d in docs]


class PolicyCache(Generic[P]):
    """Loaded policies, reused while the config (by identity) and bundle are
    the same, or while what they render to is: compiling Rego is costly,
    and a property test makes many equal configs."""

    def __init__(
        self, target: str, load: Callable[[list[dict[str, Any]]], P], close: Callable[[P], None]
    ) -> None:
        self.target = target
        self._load = load
        self._close = close
        self._last: tuple[Config, Path | None, str, P] | None = None

    def get(self, config: Config, ctx: EvalContext) -> P:
        last = self._last
        if last is not None and last[0] is config and last[1] == ctx.bundle:
            return last[3]
        docs = policy_documents(self.target, config, ctx)
        digest = hashlib.sha256(json.dumps(docs, sort_keys=True, default=str).encode()).hexdigest()
        if last is not None and last[2] == digest:
            self._last = (config, ctx.bundle, digest, last[3])
            return last[3]
        policies = self._load(docs)
        if last is not None:
            self._close(last[3])
        self._last = (config, ctx.bundle, digest, policies)
        return policies


def bundle_documents(bundle: Path, target: str) -> list[dict[str, Any]]:
    """The policy documents of one target's folder in a built bundle."""
    from policygen.errors import InputError
    from policygen.yamlio import read_objects

    folder = bundle / target
    if not folder.is_dir():
        raise InputError.at(folder, "", f"no {target} folder in the bundle")
    docs: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(read_objects(path))
    return docs


def create(name: str, *, rego_engine: str = "auto", fast: bool = True) -> Evaluator:
    """A fresh evaluator by name: the model, or the one a target declares
    (``Target.evaluator``); options go to the engines that take them.
    ``fast=False``: the plain path (see DocumentEngine)."""
    if name == "model":
        from policygen.engines.model_engine import ModelEngine

        return ModelEngine(fast=fast)
    from policygen.targets import registry

    targets = registry()
    if name in targets:
        return targets[name].evaluator(EngineOptions(rego_engine=rego_engine, fast=fast))
    target, variant = _variants()[name]
    return targets[target].evaluator(
        EngineOptions(rego_engine=rego_engine, fast=fast, variant=variant)
    )


def target_of(name: str) -> str | None:
    """The target whose policies evaluator ``name`` evaluates (None: the
    model)."""
    if name == "model":
        return None
    from policygen.targets import registry

    return name if name in registry() else _variants()[name][0]


def _variants() -> dict[str, tuple[str, str]]:
    """Each target's further evaluators (``Capabilities.variants``) by
    their name, ``<target>-<variant>``."""
    from policygen.targets import registry

    return {
        f"{name}-{variant}": (name, variant)
        for name, target in registry().items()
        for variant in target.capabilities.variants
    }
