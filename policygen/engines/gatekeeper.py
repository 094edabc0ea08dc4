"""The Gatekeeper evaluator: rendered ConstraintTemplates run in a real Rego
engine with Gatekeeper's input, match, expansion, mutation and result rules
(../shared/notes/gatekeeper.md §2–§3, §7)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from policygen.config import Config
from policygen.engines import EvalContext, Review
from policygen.engines._gatekeeper_match import Autoreject, matches
from policygen.engines._gatekeeper_mutate import Assign, Expansion, applies_to
from policygen.engines._rego import RegoError, RegoProgram, compile_program, resolve
from policygen.errors import UnsupportedConstruct
from policygen.model import namespace_labels
from policygen.targets import gatekeeper as target
from policygen.violations import MESSAGES, Action, Violation
from policygen.workloads import with_api_defaults

ACTIONS: dict[str, Action] = {"deny": "deny", "warn": "warn", "dryrun": "audit"}


@dataclass(frozen=True)
class Template:
    kind: str
    package: str
    program: RegoProgram


@dataclass(frozen=True)
class Constraint:
    kind: str
    name: str
    action: Action
    match: Mapping[str, Any]
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class Result:
    constraint: Constraint
    msg: str
    details: Mapping[str, Any]


@dataclass
class PolicySet:
    """A loaded Gatekeeper bundle, ready to review objects."""

    templates: dict[str, Template] = field(default_factory=dict)
    constraints: list[Constraint] = field(default_factory=list)
    expansions: list[Expansion] = field(default_factory=list)
    assigns: list[Assign] = field(default_factory=list)

    @classmethod
    def load(cls, documents: Sequence[Mapping[str, Any]], rego_engine: str) -> PolicySet:
        engine = resolve(rego_engine)
        out = cls()
        for doc in documents:
            kind = doc.get("kind")
            if kind == "ConstraintTemplate":
                tpl = out._template(doc, engine)
                out.templates[tpl.kind] = tpl
            elif kind == "ExpansionTemplate":
                out.expansions.append(Expansion.from_doc(doc))
            elif kind == "Assign":
                out.assigns.append(Assign.from_doc(doc))
            elif str(doc.get("apiVersion", "")).startswith("constraints.gatekeeper.sh/"):
                spec = doc.get("spec") or {}
                if "scopedEnforcementActions" in spec:
                    raise UnsupportedConstruct("gatekeeper", "spec.scopedEnforcementActions", "")
                action = spec.get("enforcementAction", "deny")
                if action not in ACTIONS:
                    raise UnsupportedConstruct("gatekeeper", "spec.enforcementAction", action)
                out.constraints.append(
                    Constraint(
                        str(kind),
                        doc["metadata"]["name"],
                        ACTIONS[action],
                        spec.get("match") or {},
                        spec.get("parameters") or {},
                    )
                )
        return out

    @staticmethod
    def _template(doc: Mapping[str, Any], engine: str) -> Template:
        kind = doc["spec"]["crd"]["spec"]["names"]["kind"]
        targets = doc["spec"]["targets"]
        if len(targets) != 1 or targets[0].get("target") != "admission.k8s.gatekeeper.sh":
            raise UnsupportedConstruct("gatekeeper", "spec.targets", "exactly one admission target")
        rego = targets[0].get("rego")
        if not rego:
            raise UnsupportedConstruct("gatekeeper", "spec.targets[0].code", "only legacy rego")
        modules = {f"lib{i}.rego": lib for i, lib in enumerate(targets[0].get("libs") or [])}
        modules["template.rego"] = rego
        package = rego.split("package ", 1)[1].split("\n", 1)[0].strip()
        return Template(kind, package, compile_program(engine, modules))

    def close(self) -> None:
        """Release the engines' compiled programs (OPA holds Go memory)."""
        for template in self.templates.values():
            template.program.close()

    def review(
        self, obj: Mapping[str, Any], namespace: str, namespace_obj: Mapping[str, Any] | None
    ) -> list[Result]:
        """What Gatekeeper reports for one admission request (after API defaulting)."""
        obj = with_api_defaults(dict(obj))
        results = self._validate(
            self._mutated(obj, namespace, namespace_obj, "Original"), namespace, namespace_obj
        )
        for expansion in self.expansions:
            if not expansion.applies(obj):
                continue
            pod = expansion.expand(obj, namespace)
            if pod is None:
                continue
            pod = self._mutated(pod, namespace, namespace_obj, "Generated")
            prefix = f"[Implied by {expansion.name}] "
            for r in self._validate(pod, namespace, namespace_obj):
                results.append(Result(r.constraint, prefix + r.msg, r.details))
        return results

    def _mutated(
        self, obj: dict[str, Any], namespace: str, ns_obj: Mapping[str, Any] | None, source: str
    ) -> dict[str, Any]:
        todo = [a for a in self.assigns if any(applies_to(e, obj) for e in a.apply_to)]
        if not todo:
            return obj
        out = copy.deepcopy(obj)
        for assign in todo:
            try:
                if matches(assign.match, out, namespace, ns_obj, source):
                    assign.mutate(out)
            except Autoreject:
                continue  # a mutator that cannot match does not mutate
        return out

    def _validate(
        self, obj: dict[str, Any], namespace: str, ns_obj: Mapping[str, Any] | None
    ) -> list[Result]:
        results: list[Result] = []
        review = {
            "uid": "",
            "kind": {"group": "", "version": "v1", "kind": obj.get("kind", "")},
            "name": (obj.get("metadata") or {}).get("name", ""),
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {},
            "object": obj,
            "oldObject": None,
            "namespaceObject": ns_obj,
        }
        for c in self.constraints:
            try:
                if not matches(c.match, obj, namespace, ns_obj):
                    continue
            except Autoreject:
                what = f"the namespaceSelector of {c.kind}/{c.name}"
                msg = MESSAGES["unknownNamespace"].format(namespace=namespace, what=what)
                results.append(Result(c, msg, {"rule": "scope", "autoreject": True}))
                continue
            template = self.templates.get(c.kind)
            if template is None:
                raise UnsupportedConstruct("gatekeeper", f"{c.kind}/{c.name}", "no template")
            results.extend(self._run(template, c, review))
        return results

    @staticmethod
    def _run(template: Template, c: Constraint, review: dict[str, Any]) -> list[Result]:
        try:
            found = template.program.query(
                f"data.{template.package}.violation",
                {"review": review, "parameters": dict(c.parameters)},
            )
        except RegoError as exc:  # Gatekeeper fails closed with the error as message
            return [Result(c, str(exc), {})]
        out = []
        seen: set[str] = set()
        for item in found or []:
            msg = item.get("msg") if isinstance(item, dict) else None
            if not isinstance(msg, str):
                continue  # Gatekeeper drops results without a string msg
            key = repr(sorted(item.items()))
            if key in seen:
                continue
            seen.add(key)
            out.append(Result(c, msg, item.get("details") or {}))
        return out


def to_violation(result: Result) -> Violation:
    d = result.details
    rule = str(d.get("rule", result.constraint.kind))
    if d.get("autoreject"):
        return Violation("scope", "", "", result.msg, "deny")
    return Violation(
        rule,
        str(d.get("container", "")),
        str(d.get("image", "")),
        result.msg,
        result.constraint.action,
    )


class GatekeeperEngine:
    def __init__(self, rego_engine: str = "auto") -> None:
        self.rego_engine = rego_engine
        self.name = "gatekeeper"
        # The last config and its loaded policies. Held by identity, not id():
        # a freed config's id can be reused by the next one.
        self._loaded: tuple[Config, PolicySet] | None = None

    def policy_set(self, config: Config, ctx: EvalContext) -> PolicySet:
        if self._loaded is None or self._loaded[0] is not config:
            files = target.TARGET.render(config, ctx.now)
            docs = [d for text in files.values() for d in yaml.safe_load_all(text) if d]
            policies = PolicySet.load(docs, self.rego_engine)
            if self._loaded is not None:
                self._loaded[1].close()
            self._loaded = (config, policies)
        return self._loaded[1]

    def evaluate(
        self, config: Config, reviews: Sequence[Review], ctx: EvalContext
    ) -> list[list[Violation]]:
        policies = self.policy_set(config, ctx)
        out = []
        for review in reviews:
            ns_obj = ctx.namespaces.get(review.namespace)
            if ns_obj is not None:
                ns_obj = _with_name_label(ns_obj, review.namespace)
            results = policies.review(review.obj, review.namespace, ns_obj)
            out.append(sorted({to_violation(r) for r in results}))
        return out


def _with_name_label(ns_obj: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The API server labels every Namespace with its name; offline fixtures may not."""
    out = copy.deepcopy(dict(ns_obj))
    out.setdefault("metadata", {})["labels"] = namespace_labels(ns_obj, name)
    return out


ENGINE = GatekeeperEngine()
