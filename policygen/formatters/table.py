"""``scan --format table``: what a person reads in a terminal or a CI log.

Failures first (denied, then warned, then audited objects), each with its
findings; problems with files after them; objects that pass are only counted
unless ``--show all``; one summary line. Lines fit 80 columns (a single word
longer than that, such as a long image reference, is never broken). Failures
are spooled to temporary files until the end, so memory stays flat.
"""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from typing import IO

from policygen.formatters import Formatter
from policygen.formatters._findings import findings
from policygen.manifests import FileProblem, Skipped
from policygen.scan import ObjectResult, Summary

WIDTH = 80
RULE_COLUMN = 14  # "  pullPolicy  ": pullPolicy and registries are the longest rules
SHOWN = ("deny", "warn", "audit")
LABELS = {"deny": "DENY", "warn": "WARN", "audit": "AUDIT", "allow": "ALLOW"}
SKIP_WHY = {
    "ignored": "ignored by {detail}",
    "helm-template": "a template of the Helm chart {detail}",
    "kustomize": "{detail}",
    "not-kubernetes": "not a Kubernetes object",
}


def wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def render(r: ObjectResult, engines: list[str]) -> list[str]:
    """The lines for one object: a heading, then a line per finding."""
    label = LABELS[r.verdict]
    head = f"{label:<6}{r.kind} {r.namespace}/{r.name}"
    where = f"({r.source})"
    lines = [f"{head} {where}"] if len(head) + 1 + len(where) <= WIDTH else [head, f"      {where}"]
    pad = " " * RULE_COLUMN
    for f in findings(r):
        text = f.message
        if len(engines) > 1 and list(f.engines) != engines:
            text += f" [{', '.join(f.engines)}]"
        if f.action != r.verdict:
            text = f"{f.action}: {text}"
        lines += wrap(text, f"  {f.rule:<{RULE_COLUMN - 4}}  ", pad)
    for engine, found in r.disagreements.items():
        for d in found:
            lines += wrap(f"{engine}: {d}", "  DISAGREES   ", pad)
    return lines


class TableFormatter(Formatter):
    def begin(self) -> None:
        # Open across begin() and end(); closed in end().
        self.spools: dict[str, IO[str]] = {
            v: tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
            for v in (*SHOWN, "allow", "problems")
        }
        self.engines: list[str] = []

    def result(self, r: ObjectResult) -> None:
        if not self.engines:
            self.engines = list(r.by_engine)
        if r.verdict == "allow" and self.show != "all":
            return
        self.spools[r.verdict].write("\n".join(render(r, self.engines)) + "\n")

    def problem(self, p: FileProblem) -> None:
        self.spools["problems"].write("\n".join(wrap(str(p), "ERROR ", "      ")) + "\n")

    def skipped(self, s: Skipped) -> None:
        if self.show != "all" or s.reason == "not-a-workload":
            return
        why = SKIP_WHY[s.reason].format(detail=s.detail)
        self.spools["allow"].write("\n".join(wrap(f"{s.source}: {why}", "SKIP  ", "      ")) + "\n")

    def end(self, summary: Summary) -> None:
        for name in (*SHOWN, "problems", "allow"):
            spool = self.spools[name]
            spool.seek(0)
            shutil.copyfileobj(spool, self.out)
            spool.close()
        if self.label != self.engine:  # which Rego engine ran, so nobody takes a fallback for OPA
            self.out.write(f"engine: {self.label}\n")
        self.out.write(summary_line(summary) + "\n")


def summary_line(summary: Summary) -> str:
    s = summary.as_dict()
    verdicts = [f"{s[v]} {v}" for v in ("deny", "warn", "audit", "allow") if s[v]]
    text = f"{_count(s['objects'], 'workload')}: {', '.join(verdicts) or 'none'}"
    if s["errors"]:
        text += f"; {_count(s['errors'], 'error')}"
    if "disagreements" in s:
        differ = s["disagreements"]
        text += f"; {differ} where engines disagree" if differ else "; engines agree"
    rest = [_count(s["other"], "other object")] if s["other"] else []
    rest += [f"{s[k]} {k}" for k in ("skipped", "ignored") if s[k]]
    if rest:
        text += f"; also {', '.join(rest)}"
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
