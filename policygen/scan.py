"""Scanning manifests: read, evaluate through one or more engines, stream results.

Objects are read one at a time and evaluated in chunks (engines batch), so
memory does not grow with the input. Namespace objects in the input feed
namespaceSelectors; when the config has selectors, an object whose Namespace
has not been seen yet waits until the end of the input, when every Namespace
is known, rather than being judged on a guess.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from policygen.agreement import disagreements
from policygen.config import Config
from policygen.engines import EvalContext, Evaluator, Review
from policygen.manifests import Document, FileProblem, Skipped, read
from policygen.pathfilter import NO_IGNORE, Ignore
from policygen.violations import ACTION_STRENGTH, Verdict, Violation, verdict
from policygen.workloads import is_workload, namespace_of, structural_problems

#: Objects per evaluation batch. Engines that hand work to other processes
#: (OPA's workers) wait for all of a batch at its end, so each batch ends
#: with idle cores; 1024 objects is a few megabytes held at once.
CHUNK = 1024


@dataclass(frozen=True)
class ObjectResult:
    source: str
    kind: str
    namespace: str
    name: str
    #: violations per engine, in the order the engines were asked
    by_engine: dict[str, list[Violation]]
    line: int = 0
    #: what each engine said that the reference model did not (``--engine all``)
    disagreements: dict[str, list[str]] = field(default_factory=dict)
    api_version: str = ""
    uid: str = ""  # set on objects exported from a cluster

    @property
    def path(self) -> str:
        return self.source.rsplit("#", 1)[0]

    @property
    def violations(self) -> list[Violation]:
        """The first engine's violations (the only engine's, usually)."""
        return next(iter(self.by_engine.values()), [])

    @property
    def verdict(self) -> Verdict:
        """The strongest verdict of any engine: what admission would do if
        any of them were installed."""
        best: Verdict = "allow"
        for vs in self.by_engine.values():
            v = verdict(vs)
            if ACTION_STRENGTH[v] > ACTION_STRENGTH[best]:
                best = v
        return best


@dataclass
class Summary:
    engine: str
    counts: dict[str, int] = field(
        default_factory=lambda: {"objects": 0, "deny": 0, "warn": 0, "audit": 0, "allow": 0}
    )
    problems: list[FileProblem] = field(default_factory=list)
    disagreements: int = 0
    #: Kubernetes objects that run no containers (ConfigMaps, CRDs, …)
    other: int = 0
    #: YAML documents that are not Kubernetes objects, kustomize files and
    #: Helm chart templates
    skipped: int = 0
    #: files and folders left out by an ignore glob
    ignored: int = 0

    def add(self, item: ObjectResult | FileProblem | Skipped) -> None:
        if isinstance(item, FileProblem):
            self.problems.append(item)
            return
        if isinstance(item, Skipped):
            if item.reason == "ignored":
                self.ignored += 1
            elif item.reason == "not-a-workload":
                self.other += 1
            else:
                self.skipped += 1
            return
        self.counts["objects"] += 1
        self.counts[item.verdict] += 1
        self.disagreements += 1 if item.disagreements else 0

    def as_dict(self) -> dict[str, int]:
        out = {
            **self.counts,
            "errors": len(self.problems),
            "other": self.other,
            "skipped": self.skipped,
            "ignored": self.ignored,
        }
        if self.engine == "all":
            out["disagreements"] = self.disagreements
        return out

    @property
    def denied(self) -> bool:
        return self.counts["deny"] > 0


def uses_selectors(config: Config) -> bool:
    return not config.spec.scope.namespaceSelector.empty or any(
        t.namespaceSelector is not None for t in config.spec.tenants
    )


def scan(
    config: Config,
    paths: list[str],
    engines: Sequence[Evaluator],
    ctx: EvalContext,
    default_namespace: str = "default",
    chunk: int = CHUNK,
    ignore: Ignore = NO_IGNORE,
) -> Iterator[ObjectResult | FileProblem | Skipped]:
    """Results, file problems and what was skipped, as they are found."""
    namespaces: dict[str, Any] = dict(ctx.namespaces)
    wait_for_namespaces = uses_selectors(config)
    batch: list[Document] = []
    waiting: list[Document] = []
    for item in read(paths, ignore):
        if not isinstance(item, Document):
            yield item
            continue
        if item.obj.get("kind") == "Namespace" and item.obj.get("apiVersion") == "v1":
            name = (item.obj.get("metadata") or {}).get("name")
            if isinstance(name, str):
                namespaces[name] = item.obj
        if not is_workload(item.obj):
            yield Skipped(item.source, "not-a-workload", str(item.obj.get("kind")))
            continue
        problems = structural_problems(item.obj)
        if problems:
            yield _rejected(item, problems)
            continue
        if wait_for_namespaces and namespace_of(item.obj, default_namespace) not in namespaces:
            waiting.append(item)
            continue
        batch.append(item)
        if len(batch) >= chunk:
            yield from _evaluate(config, batch, engines, ctx, namespaces, default_namespace)
            batch = []
    rest = batch + waiting
    for start in range(0, len(rest), chunk):
        part = rest[start : start + chunk]
        yield from _evaluate(config, part, engines, ctx, namespaces, default_namespace)


def _rejected(doc: Document, problems: list[str]) -> FileProblem:
    meta = doc.obj.get("metadata")
    name = meta.get("name", "") if isinstance(meta, dict) else ""
    what = f"{doc.obj.get('kind')} {name}".strip()
    return FileProblem(
        doc.source, f"{what}: {'; '.join(problems)} (the API server would reject it; not evaluated)"
    )


def _evaluate(
    config: Config,
    documents: list[Document],
    engines: Sequence[Evaluator],
    ctx: EvalContext,
    namespaces: dict[str, Any],
    default_namespace: str,
) -> Iterator[ObjectResult]:
    reviews = [Review(d.obj, namespace_of(d.obj, default_namespace)) for d in documents]
    context = replace(ctx, namespaces=namespaces)  # keeps ctx.bundle
    answers = {e.name: e.evaluate(config, reviews, context) for e in engines}
    reference = engines[0]
    for i, (doc, review) in enumerate(zip(documents, reviews, strict=True)):
        meta = doc.obj.get("metadata") or {}
        by_engine = {name: answer[i] for name, answer in answers.items()}
        differ = {}
        if len(engines) > 1:
            for e in engines[1:]:
                found = disagreements(
                    by_engine[reference.name],
                    by_engine[e.name],
                    per_rule=e.per_rule,
                    namespace_known=review.namespace in namespaces,
                )
                if found:
                    differ[e.name] = found
        yield ObjectResult(
            source=doc.source,
            kind=str(doc.obj.get("kind")),
            namespace=review.namespace,
            name=str(meta.get("name", "")),
            by_engine=by_engine,
            line=doc.line,
            disagreements=differ,
            api_version=str(doc.obj.get("apiVersion", "")),
            uid=str(meta.get("uid", "")),
        )
