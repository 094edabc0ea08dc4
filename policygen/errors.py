"""The one error family users see. The CLI turns these into a message and an exit code."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_NO = 1  # a denial, a disagreement, a stale bundle
EXIT_INPUT = 2  # bad input or usage
EXIT_BUG = 3  # a bug in policygen


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem: ``file:line:col: field: message``."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class PolicygenError(Exception):
    """Base of every error caused by input; carries an exit code."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def problems_text(self) -> list[str]:
        """What the CLI prints, one problem each, as ``file:line:col: field:
        message`` where a place is known. A problem may go on over indented
        lines (a diff, a list of objects); the CLI prefixes only its first."""
        return [self.message]


class Problems(PolicygenError):
    """Several independent problems, each already located in its own words
    (``file:line: message``), reported together."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def problems_text(self) -> list[str]:
        return list(self.problems)


class InputError(PolicygenError):
    """Located problems in a file the user gave us (config, manifest, fixture)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def problems_text(self) -> list[str]:
        return [str(p) for p in self.problems]

    @classmethod
    def at(cls, file: object, field: str, message: str) -> InputError:
        """One problem with a file, where no line is known."""
        return cls([Problem(str(file), 0, 0, field, message)])


class ConfigError(InputError):
    """The config file is invalid; nothing was written."""


class ManifestError(InputError):
    """A manifest could not be read."""


class UnsupportedConstruct(PolicygenError):
    """An evaluator met a policy construct it does not implement; it refuses
    rather than guess."""

    def __init__(self, engine: str, path: str, what: str) -> None:
        super().__init__(f"unsupported {engine} construct at {path}: {what}")
        self.path = path


class StaleBundle(PolicygenError):
    """``build --check`` found the committed bundle differs from a fresh build."""

    exit_code = EXIT_NO


class RegistryError(PolicygenError):
    """The registry answered something we cannot use."""
