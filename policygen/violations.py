"""The small vocabulary every evaluator, formatter and report speaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Action = Literal["deny", "warn", "audit"]
Verdict = Literal["deny", "warn", "audit", "allow"]
ACTION_STRENGTH: dict[str, int] = {"allow": 0, "audit": 1, "warn": 2, "deny": 3}

#: Message shapes, one per finding. Every target renders the same words so
#: that a violation reads the same whichever engine reported it. ``{kind}`` is
#: the container's list in the singular (container, initContainer,
#: ephemeralContainer, volume for an image volume), as Gatekeeper library
#: messages say it; ``{field}`` is where its pull policy is set
#: (``imagePullPolicy``, an image volume's ``pullPolicy``).
MESSAGES = {
    "digest": '{kind} "{container}" image "{image}" must be pinned by digest ({hint})',
    "invalid": '{kind} "{container}" image "{image}" is not a valid image reference',
    "pullPolicy": '{kind} "{container}" must set {field}: Always, not {policy}',
    "registries": (
        '{kind} "{container}" image "{image}" is not from a registry allowed '
        'in namespace "{namespace}"'
    ),
    "unknownNamespace": (
        'namespace "{namespace}" is not known, so {what} cannot be evaluated; '
        "include the Namespace object"
    ),
}


@dataclass(frozen=True, order=True)
class Violation:
    rule: str  # digest | pullPolicy | registries
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
