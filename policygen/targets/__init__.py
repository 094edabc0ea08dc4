"""Targets: one module each, one registry. Adding a target touches only its
module, its template folder and the dict below."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from policygen.config import Config


class Target(Protocol):
    """Renders a config into files (relative path → text) for one engine."""

    name: str
    description: str

    def unsupported(self, config: Config) -> str | None:
        """What of this config the target cannot express, in words; None
        when it can express all of it."""
        ...

    def render(self, config: Config, now: dt.date) -> dict[str, str]: ...


def registry() -> dict[str, Target]:
    from policygen.targets import gatekeeper, kyverno, kyverno_cel, vap

    targets: dict[str, Target] = {
        "kyverno": kyverno.TARGET,
        "kyverno-cel": kyverno_cel.TARGET,
        "gatekeeper": gatekeeper.TARGET,
        "vap": vap.TARGET,
    }
    return targets
