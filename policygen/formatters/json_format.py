"""``scan --format json``: the shape SPEC §6 promises."""

from __future__ import annotations

import json
from typing import Any

from policygen.scan import ScanReport


def as_dict(report: ScanReport) -> dict[str, Any]:
    return {
        "engine": report.engine,
        "results": [
            {
                "source": r.source,
                "kind": r.kind,
                "namespace": r.namespace,
                "name": r.name,
                "verdict": r.verdict,
                "violations": [
                    {
                        "rule": v.rule,
                        "container": v.container,
                        "image": v.image,
                        "message": v.message,
                        "action": v.action,
                    }
                    for v in r.violations
                ],
            }
            for r in report.results
        ],
        "errors": [{"source": p.source, "message": p.message} for p in report.problems],
        "summary": report.summary(),
    }


def format(report: ScanReport) -> str:
    return json.dumps(as_dict(report), indent=2) + "\n"
