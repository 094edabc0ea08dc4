"""Output formats for scan results: one module each, one registry."""

from __future__ import annotations

from typing import Protocol

from policygen.scan import ScanReport


class Formatter(Protocol):
    def __call__(self, report: ScanReport) -> str: ...


def registry() -> dict[str, Formatter]:
    from policygen.formatters import json_format, table

    formatters: dict[str, Formatter] = {"table": table.format, "json": json_format.format}
    return formatters
