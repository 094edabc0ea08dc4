"""``scan --format json``: the shape SPEC §6 promises, written as it goes.

``{"engine", "results": [{"source", "kind", "namespace", "name", "verdict",
"violations": [{"rule", "container", "image", "message", "action"}]}],
"errors", "summary"}``. With ``--engine all`` each result also has
``engines: {name: {verdict, violations}}`` and ``disagreements``."""

from __future__ import annotations

import json
from typing import Any

from policygen.formatters import Formatter
from policygen.manifests import FileProblem
from policygen.scan import ObjectResult, Summary
from policygen.violations import Violation, verdict


def violation_dict(v: Violation) -> dict[str, str]:
    return {
        "rule": v.rule,
        "container": v.container,
        "image": v.image,
        "message": v.message,
        "action": v.action,
    }


def result_dict(r: ObjectResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "source": r.source,
        "kind": r.kind,
        "namespace": r.namespace,
        "name": r.name,
        "verdict": r.verdict,
        "violations": [violation_dict(v) for v in r.violations],
    }
    if len(r.by_engine) > 1:
        out["engines"] = {
            name: {"verdict": verdict(vs), "violations": [violation_dict(v) for v in vs]}
            for name, vs in r.by_engine.items()
        }
        out["disagreements"] = r.disagreements
    return out


class JsonFormatter(Formatter):
    def begin(self) -> None:
        self.out.write('{\n  "engine": ' + json.dumps(self.engine) + ',\n  "results": [')
        self.first = True
        self.problems: list[FileProblem] = []

    def result(self, r: ObjectResult) -> None:
        # One result per line: readable, greppable, and json's C encoder
        # (indenting falls back to the pure-Python one, several times slower).
        self.out.write(("\n    " if self.first else ",\n    ") + json.dumps(result_dict(r)))
        self.first = False

    def problem(self, p: FileProblem) -> None:
        self.problems.append(p)

    def end(self, summary: Summary) -> None:
        errors = [{"source": p.source, "message": p.message} for p in self.problems]
        self.out.write(("" if self.first else "\n  ") + "],\n")
        self.out.write('  "errors": ' + json.dumps(errors, indent=2).replace("\n", "\n  ") + ",\n")
        summary_text = json.dumps(summary.as_dict(), indent=2).replace("\n", "\n  ")
        self.out.write('  "summary": ' + summary_text + "\n}\n")
