"""Evaluators: one module each behind one Protocol, listed in one registry.

Every evaluator answers the same question: for these objects, under this
config, which violations would admission report?"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from policygen.config import Config
from policygen.violations import Violation


@dataclass(frozen=True)
class Review:
    """One object as admission would see it."""

    obj: Mapping[str, Any]
    namespace: str  # the request namespace (object's, else the scan default)
    operation: str = "CREATE"
    subresource: str = ""


@dataclass(frozen=True)
class EvalContext:
    now: dt.date
    namespaces: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


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


NAMES = ("model", "kyverno", "gatekeeper")


def create(name: str, *, rego_engine: str = "auto") -> Evaluator:
    """A fresh evaluator by name; options go to the engines that take them."""
    if name == "model":
        from policygen.engines.model_engine import ModelEngine

        return ModelEngine()
    if name == "kyverno":
        from policygen.engines.kyverno import KyvernoEngine

        return KyvernoEngine()
    if name == "gatekeeper":
        from policygen.engines.gatekeeper import GatekeeperEngine

        return GatekeeperEngine(rego_engine)
    raise KeyError(name)
