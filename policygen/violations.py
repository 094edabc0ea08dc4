"""The small vocabulary every evaluator, formatter and report speaks (the
rules themselves, their messages and metadata: ``policygen.rules``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Action = Literal["deny", "warn", "audit"]
Verdict = Literal["deny", "warn", "audit", "allow"]
ACTION_STRENGTH: dict[str, int] = {"allow": 0, "audit": 1, "warn": 2, "deny": 3}


@dataclass(frozen=True, order=True)
class Violation:
    rule: str  # digest | pullPolicy | registries | scope (policygen.rules)
    container: str
    image: str
    message: str
    action: Action = field(compare=False)

    def key(self) -> tuple[str, str, str, str]:
        """What two engines must agree on."""
        return (self.rule, self.container, self.image, self.action)


def verdict(violations: list[Violation]) -> Verdict:
    best: Verdict = "allow"
    for v in violations:
        if ACTION_STRENGTH[v.action] > ACTION_STRENGTH[best]:
            best = v.action
    return best


def container_kind(list_name: str) -> str:
    """``initContainers`` → ``initContainer``: how messages name a container's list."""
    return list_name.removesuffix("s")
