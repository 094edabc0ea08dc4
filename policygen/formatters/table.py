"""``scan --format table``: one line per object, one indented line per violation."""

from __future__ import annotations

from policygen.scan import ScanReport


def format(report: ScanReport) -> str:
    lines = []
    for r in report.results:
        lines.append(f"{r.verdict.upper():5}  {r.source}  {r.kind} {r.namespace}/{r.name}")
        for v in r.violations:
            lines.append(f"       {v.action}: [{v.rule}] {v.message}")
    for p in report.problems:
        lines.append(f"ERROR  {p}")
    s = report.summary()
    lines.append(
        f"{s['objects']} objects: {s['deny']} deny, {s['warn']} warn, {s['audit']} audit, "
        f"{s['allow']} allow; {s['errors']} errors (engine: {report.engine})"
    )
    return "\n".join(lines) + "\n"
