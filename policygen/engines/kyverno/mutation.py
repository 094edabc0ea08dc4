"""Kyverno's mutate rules (pkg/engine/handlers/mutation, pkg/engine/mutation.go):
one rule, or its foreach, patched onto the object; the patches themselves
are patch.py's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from policygen.engines import NamespaceUnknown
from policygen.engines.kyverno.api import Request, Rule, RuleResult, VariableError, refuse_extra
from policygen.engines.kyverno.conditions import conditions_hold
from policygen.engines.kyverno.context import load_context, rule_data
from policygen.engines.kyverno.exceptions import excepted
from policygen.engines.kyverno.match import rule_applies
from policygen.engines.kyverno.patch import PatchError, json6902, strategic_merge
from policygen.engines.kyverno.variables import evaluate_list, substitute
from policygen.errors import UnsupportedConstruct

if TYPE_CHECKING:
    from policygen.engines.kyverno.engine import PolicySet


MUTATE_FOREACH_FIELDS = {
    "list",
    "context",
    "preconditions",
    "patchStrategicMerge",
    "patchesJson6902",
    "order",
    "foreach",
}


def mutate_rule(
    ps: PolicySet, rule: Rule, obj: dict[str, Any], req: Request
) -> tuple[RuleResult | None, dict[str, Any]]:
    """mutateResourceHandler.Process: pass when the resource changed,
    skip when nothing applied, error when a variable or patch fails."""
    where = f"{rule.policy}.{rule.name}.mutate"

    def result(status: str, message: str = "") -> RuleResult:
        return RuleResult(rule.policy, rule.name, status, message)

    try:
        if not rule_applies(rule, obj, req):
            return None, obj
    except NamespaceUnknown:
        return None, obj  # a mutation that cannot match does not mutate
    mutate = rule.spec["mutate"]
    unknown = set(mutate) - {"patchStrategicMerge", "patchesJson6902", "foreach", "targets"}
    if mutate.get("targets"):
        unknown.add("targets")
    if unknown:
        raise UnsupportedConstruct("kyverno", where, sorted(unknown)[0])
    try:
        data = rule_data(obj, req, req.old_obj, ps.images(obj))
        if excepted(ps.exceptions, rule, obj, req, data):
            return result("skip", "exception"), obj
    except VariableError as exc:
        return result("error", str(exc)), obj
    try:
        load_context(
            rule.spec.get("context") or [], data, req.rule_values.get(rule.name, {}), where
        )
    except VariableError as exc:
        return result("error", f"failed to load context: {exc}"), obj
    try:
        if not conditions_hold(rule.spec.get("preconditions"), data, where):
            return result("skip", "preconditions not met"), obj
    except VariableError as exc:
        return result("error", f"failed to evaluate preconditions: {exc}"), obj
    try:
        if mutate.get("foreach") is not None:
            patched = _mutate_foreach(mutate["foreach"], obj, data, where, 0)
        else:
            patched = _patch(mutate, obj, data, where)
    except (VariableError, PatchError) as exc:
        return result("error", str(exc)), obj
    if patched is None or patched == obj:
        return result("skip", "no patches applied"), obj
    return result("pass", "mutated"), patched


def _mutate_foreach(
    entries: Any, obj: dict[str, Any], data: dict[str, Any], where: str, nesting: int
) -> dict[str, Any] | None:
    """forEachMutator.mutateForEach: None when no entry applied."""
    if not isinstance(entries, list):
        raise UnsupportedConstruct("kyverno", f"{where}.foreach", "not a list")
    applied = 0
    for i, fe in enumerate(entries):
        at = f"{where}.foreach[{i}]"
        refuse_extra(fe, MUTATE_FOREACH_FIELDS, at)
        try:
            elements = evaluate_list(fe, data)
        except VariableError as exc:
            raise VariableError(f"failed to evaluate list {fe.get('list')}: {exc}") from None
        patched = obj
        # a patchStrategicMerge foreach runs last element first (kustomize
        # reverses the patches it is given)
        default = "Descending" if fe.get("patchStrategicMerge") is not None else "Ascending"
        indexed = list(enumerate(elements))
        if fe.get("order", default) == "Descending":
            indexed.reverse()
        for index, element in indexed:
            if element is None:
                continue
            scoped = dict(data)
            scoped["element"] = scoped[f"element{nesting}"] = element
            scoped["elementIndex"] = scoped[f"elementIndex{nesting}"] = index
            load_context(fe.get("context") or [], scoped, {}, at)
            if not conditions_hold(fe.get("preconditions"), scoped, at):
                continue
            if fe.get("foreach") is not None:
                nested = _mutate_foreach(fe["foreach"], patched, scoped, at, nesting + 1)
                if nested is not None:
                    patched = nested
                continue
            patched = _patch(fe, patched, scoped, at)
        if patched != obj:
            applied += 1
            obj = patched
            data["request"]["object"] = obj
    return obj if applied else None


def _patch(spec: Mapping[str, Any], obj: dict[str, Any], data: dict[str, Any], where: str) -> Any:
    """One patch of a mutate rule or foreach entry, its variables substituted."""
    if spec.get("patchStrategicMerge") is not None:
        patch = substitute(spec["patchStrategicMerge"], data)
        return strategic_merge(obj, patch, where)
    if spec.get("patchesJson6902") is not None:
        text = substitute(spec["patchesJson6902"], data)
        return json6902(obj, text, where)
    raise UnsupportedConstruct("kyverno", where, "a mutation without a patch")
