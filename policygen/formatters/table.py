"""``scan --format table``: one line per object, one indented line per violation."""

from __future__ import annotations

from policygen.formatters import Formatter
from policygen.manifests import FileProblem
from policygen.scan import ObjectResult, Summary


class TableFormatter(Formatter):
    def result(self, r: ObjectResult) -> None:
        lines = [f"{r.verdict.upper():5}  {r.source}  {r.kind} {r.namespace}/{r.name}"]
        several = len(r.by_engine) > 1
        for engine, violations in r.by_engine.items():
            tag = f"{engine}: " if several else ""
            lines.extend(f"       {tag}{v.action}: [{v.rule}] {v.message}" for v in violations)
        for engine, found in r.disagreements.items():
            lines.extend(f"       DISAGREES {engine}: {d}" for d in found)
        self.out.write("\n".join(lines) + "\n")

    def problem(self, p: FileProblem) -> None:
        self.out.write(f"ERROR  {p}\n")

    def end(self, summary: Summary) -> None:
        s = summary.as_dict()
        differ = f", {s['disagreements']} disagreements" if "disagreements" in s else ""
        self.out.write(
            f"{s['objects']} objects: {s['deny']} deny, {s['warn']} warn, {s['audit']} audit, "
            f"{s['allow']} allow; {s['errors']} errors{differ} (engine: {summary.engine})\n"
        )
