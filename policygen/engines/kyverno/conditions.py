"""Kyverno's conditions (pkg/engine/variables/evaluate.go): preconditions,
deny conditions and an exception's conditions, by operator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policygen.engines.kyverno.operator import evaluate
from policygen.engines.kyverno.variables import substitute
from policygen.errors import UnsupportedConstruct


def conditions_hold(block: Any, data: Mapping[str, Any], where: str) -> bool:
    """EvaluateConditions: ``any``/``all`` blocks (an empty ``any`` holds
    nothing), or a legacy list (all). No conditions hold."""
    if block is None:
        return True
    if isinstance(block, list):
        return all(_condition(c, data, where) for c in block)
    if not isinstance(block, dict):
        raise UnsupportedConstruct("kyverno", f"{where} conditions", "not any/all")
    any_of = block.get("any")
    all_of = block.get("all")
    ok_any = True if any_of is None else any(_condition(c, data, where) for c in any_of)
    ok_all = True if all_of is None else all(_condition(c, data, where) for c in all_of)
    return ok_any and ok_all


def _condition(cond: Mapping[str, Any], data: Mapping[str, Any], where: str) -> bool:
    key = substitute(cond.get("key"), data)
    value = substitute(cond.get("value"), data)
    return evaluate(str(cond.get("operator", "")), key, value, where)
