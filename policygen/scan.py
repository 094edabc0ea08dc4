"""Scanning manifests: read, evaluate through an engine, collect results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policygen.config import Config
from policygen.engines import EvalContext, Evaluator, Review
from policygen.manifests import Document, FileProblem, read
from policygen.model import namespace_of
from policygen.violations import Verdict, Violation, verdict
from policygen.workloads import is_workload


@dataclass(frozen=True)
class ObjectResult:
    source: str
    kind: str
    namespace: str
    name: str
    violations: list[Violation]

    @property
    def verdict(self) -> Verdict:
        return verdict(self.violations)


@dataclass
class ScanReport:
    engine: str
    results: list[ObjectResult] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts = {"objects": len(self.results), "deny": 0, "warn": 0, "audit": 0, "allow": 0}
        for r in self.results:
            counts[r.verdict] += 1
        counts["errors"] = len(self.problems)
        return counts

    @property
    def denied(self) -> bool:
        return any(r.verdict == "deny" for r in self.results)


def scan(
    config: Config,
    paths: list[str],
    engine: Evaluator,
    ctx: EvalContext,
    default_namespace: str = "default",
) -> ScanReport:
    documents: list[Document] = []
    report = ScanReport(engine=engine.name)
    namespaces: dict[str, dict[str, Any]] = dict(ctx.namespaces)  # type: ignore[arg-type]
    for item in read(paths):
        if isinstance(item, FileProblem):
            report.problems.append(item)
            continue
        if item.obj.get("kind") == "Namespace" and item.obj.get("apiVersion") == "v1":
            name = (item.obj.get("metadata") or {}).get("name")
            if isinstance(name, str):
                namespaces[name] = item.obj
        if is_workload(item.obj):
            documents.append(item)
    reviews = [Review(d.obj, namespace_of(d.obj, default_namespace)) for d in documents]
    verdicts = engine.evaluate(config, reviews, EvalContext(ctx.now, namespaces))
    for doc, review, violations in zip(documents, reviews, verdicts, strict=True):
        meta = doc.obj.get("metadata") or {}
        report.results.append(
            ObjectResult(
                source=doc.source,
                kind=str(doc.obj.get("kind")),
                namespace=review.namespace,
                name=str(meta.get("name", "")),
                violations=violations,
            )
        )
    return report
