"""Output formats for scan results: one module each, one registry.

A formatter is fed results as they are found and writes as it goes, so
scanning a large input never holds its whole output in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TextIO

from policygen.config import Config
from policygen.manifests import FileProblem, Skipped
from policygen.scan import ObjectResult, Summary


class Formatter:
    """Writes one scan's output to ``out``; subclasses override the hooks."""

    #: which results a formatter for people lists: "failed" or "all"
    #: (machine-readable formats list everything)
    show = "failed"
    #: the config scanned against, for formats that report passing rules too
    config: Config | None = None
    #: when the scan ran, for formats that carry a timestamp
    when: dt.datetime | None = None

    def __init__(self, out: TextIO, engine: str) -> None:
        self.out = out
        self.engine = engine
        #: How the engine is named for people (``gatekeeper (Rego: opa)``).
        self.label = engine

    def begin(self) -> None:
        """Called once, before any result."""

    def result(self, r: ObjectResult) -> None:
        """Called once per object, in the order they were evaluated."""

    def problem(self, p: FileProblem) -> None:
        """Called once per file problem."""

    def skipped(self, s: Skipped) -> None:
        """Called once per file, document or object left out on purpose."""

    def end(self, summary: Summary) -> None:
        """Called once, after everything."""

    def write(self, items: Iterable[ObjectResult | FileProblem | Skipped]) -> Summary:
        """Format a whole scan as it streams by; return its summary."""
        summary = Summary(self.engine)
        self.begin()
        for item in items:
            summary.add(item)
            if isinstance(item, FileProblem):
                self.problem(item)
            elif isinstance(item, Skipped):
                self.skipped(item)
            else:
                self.result(item)
        self.end(summary)
        return summary


def registry() -> dict[str, type[Formatter]]:
    from policygen.formatters import json_format, junit, policyreport, sarif, table

    return {
        "table": table.TableFormatter,
        "json": json_format.JsonFormatter,
        "sarif": sarif.SarifFormatter,
        "junit": junit.JunitFormatter,
        "policyreport": policyreport.PolicyReportFormatter,
    }
