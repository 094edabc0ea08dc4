"""The Kyverno engine's types (kyverno pkg/engine/api): a policy's rules as
loaded, one admission request, a rule's response, and the error a rule
reports when a variable does not resolve."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from policygen.errors import PolicygenError, UnsupportedConstruct
from policygen.violations import Action


@dataclass(frozen=True)
class RuleResult:
    policy: str
    rule: str
    status: str  # pass | fail | skip | error
    message: str = ""
    action: Action = "deny"
    element: Mapping[str, Any] | None = None  # the failing foreach element
    mutation: bool = False  # a mutate rule's response


@dataclass(frozen=True)
class Rule:
    policy: str
    spec: Mapping[str, Any]
    action: Action
    kinds: frozenset[str] | None = None  # kinds it can match; None: any
    #: data paths its outcome depends on, for memoising; None: not memoisable
    inputs: tuple[tuple[str, ...], ...] | None = None
    #: whether it calls a function that reads the clock (an input too)
    clock: bool = False
    #: whether its validation may read the ``images`` variable (not when
    #: ``inputs`` are known and none of them is under ``images``)
    images: bool = True

    @cached_property  # asked several times per rule per request; the spec never changes
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def enforce(self) -> bool:
        """failureAction Enforce (the rest is Audit, warning or not)."""
        return self.action == "deny"


@dataclass
class Policy:
    name: str
    rules: list[Rule]


@dataclass
class Request:
    obj: Mapping[str, Any]
    namespace: str
    namespace_labels: Mapping[str, str] | None
    operation: str = "CREATE"
    subresource: str = ""
    old_obj: Mapping[str, Any] | None = None
    user_info: Mapping[str, Any] = field(default_factory=dict)  # username, groups
    roles: tuple[str, ...] = ()
    cluster_roles: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)  # test-supplied variables
    #: test-supplied ``request.*`` fields besides the objects (``namespace``…)
    request_values: Mapping[str, Any] = field(default_factory=dict)
    #: test-supplied variables per rule name, added when the rule's context loads
    rule_values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class Outcome:
    """One request's mutated object and its rule results."""

    obj: dict[str, Any]
    results: list[RuleResult]


class VariableError(PolicygenError):
    """A variable did not resolve: Kyverno reports the rule as an error."""


class NotFound(VariableError):
    """A path of plain fields names a key its map lacks: go-jmespath's
    ``NotFoundError`` ("Unknown key"), which Kyverno's fork raises where
    standard JMESPath would give null. An expression that is more than a
    chain of fields (a function, a projection, ``||``) gives null instead."""


def refuse_extra(entry: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = set(entry) - allowed
    if extra:
        raise UnsupportedConstruct("kyverno", f"{where}.{sorted(extra)[0]}", "field")
