"""``scan --format policyreport``: ``wgpolicyk8s.io/v1alpha2`` reports, as
Policy Reporter and other PolicyReport consumers read them.

One ``PolicyReport`` per namespace holds a result per finding (object, rule,
container: ``fail`` for deny and audit, ``warn`` for warn, as Kyverno
reports Audit and Warn) and a ``pass`` for each rule an object satisfies;
an object outside the config's scope gets ``skip``, one whose Namespace
was needed but unknown ``error``. Files that could not be read go to one
``ClusterPolicyReport`` as ``error`` results. The output is a YAML stream
that ``kubectl apply -f -`` accepts; results are grouped by namespace, so
they are held until the end.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import yaml

from policygen import __version__, rules
from policygen.config import in_scope
from policygen.formatters import Formatter
from policygen.formatters._findings import Finding, findings
from policygen.manifests import FileProblem
from policygen.scan import ObjectResult, Summary

API_VERSION = "wgpolicyk8s.io/v1alpha2"
SOURCE = "policygen"
REPORT_NAME = "policygen"
RESULTS = {"deny": "fail", "audit": "fail", "warn": "warn"}
SEVERITIES = {"deny": "high", "warn": "medium", "audit": "low"}
OUTCOMES = ("pass", "fail", "warn", "error", "skip")


class _Dumper(yaml.SafeDumper):
    """Results share their timestamp and references: write each in full
    rather than as YAML anchors, which some consumers do not resolve."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class PolicyReportFormatter(Formatter):
    def begin(self) -> None:
        self.by_namespace: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.errors: list[dict[str, Any]] = []
        when = self.when or dt.datetime.now(dt.UTC)
        self.timestamp = {"seconds": int(when.timestamp()), "nanos": 0}
        self.prefix = f"{self.config.name}-" if self.config is not None else ""

    def _result(self, rule: str, outcome: str, message: str, **extra: Any) -> dict[str, Any]:
        entry = rules.TABLE.get(rule, rules.TABLE["scope"])
        out: dict[str, Any] = {
            "source": SOURCE,
            # the policy a rule belongs to, named as the kyverno target names
            # it, in its category (both from the rule table; ``read``, files
            # that could not be read, is no rule and names its policy below)
            "policy": self.prefix + (entry.policy or entry.name),
            "rule": rule,
            "category": entry.category,
            "result": outcome,
            "scored": True,
            "message": message,
            "timestamp": self.timestamp,
        }
        out.update(extra)
        return out

    def result(self, r: ObjectResult) -> None:
        ref = {
            "apiVersion": r.api_version,
            "kind": r.kind,
            "namespace": r.namespace,
            "name": r.name,
        }
        if r.uid:
            ref["uid"] = r.uid
        where = {"source": r.source}
        out = self.by_namespace[r.namespace]
        found = findings(r)
        for f in found:
            out.append(self._finding(f, ref, where))
        failed = {f.rule for f in found}
        for rule in self._rules():
            if rule in failed or "scope" in failed:
                continue
            if self.config is not None and not in_scope(self.config, r.namespace):
                message = f'namespace "{r.namespace}" is outside the policy\'s scope'
                out.append(self._result(rule, "skip", message, resources=[ref], properties=where))
            else:
                message = f"{r.kind} {r.namespace}/{r.name} passes {rule}"
                out.append(self._result(rule, "pass", message, resources=[ref], properties=where))

    def _rules(self) -> list[str]:
        if self.config is None:
            return list(rules.NAMES)
        return [r for r in rules.NAMES if self.config.spec.rules.action(r) != "off"]

    def _finding(self, f: Finding, ref: dict[str, str], where: dict[str, str]) -> dict[str, Any]:
        properties = {**where, "engines": ",".join(f.engines)}
        if f.container:
            properties |= {"container": f.container, "image": f.image}
        if f.rule == "scope":
            return self._result("scope", "error", f.message, resources=[ref], properties=properties)
        return self._result(
            f.rule,
            RESULTS[f.action],
            f.message,
            severity=SEVERITIES[f.action],
            resources=[ref],
            properties=properties,
        )

    def problem(self, p: FileProblem) -> None:
        self.errors.append(
            self._result("read", "error", p.message, properties={"source": p.source})
            | {"policy": f"{self.prefix}read-manifests"}
        )

    def end(self, summary: Summary) -> None:
        reports = [
            self._report("PolicyReport", results, namespace)
            for namespace, results in sorted(self.by_namespace.items())
        ]
        if self.errors:
            reports.append(self._report("ClusterPolicyReport", self.errors))
        for report in reports:
            self.out.write("---\n" + yaml.dump(report, Dumper=_Dumper, sort_keys=False, width=4096))

    def _report(
        self, kind: str, results: list[dict[str, Any]], namespace: str | None = None
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": REPORT_NAME}
        if namespace is not None:
            metadata["namespace"] = namespace
        metadata["labels"] = {
            "app.kubernetes.io/managed-by": "policygen",
            "app.kubernetes.io/version": __version__,
        }
        counts = dict.fromkeys(OUTCOMES, 0)
        for r in results:
            counts[r["result"]] += 1
        return {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": metadata,
            "summary": counts,
            "results": results,
        }
