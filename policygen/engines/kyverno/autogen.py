"""Kyverno's autogen (pkg/autogen/v1, notes/kyverno.md §3.5): the rules it
generates for Pod controllers from a Pod rule."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from policygen.engines.kyverno.match import match_entries
from policygen.errors import UnsupportedConstruct

POD_CONTROLLERS = (
    "DaemonSet",
    "Deployment",
    "Job",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
    "CronJob",
)


AUTOGEN_ANNOTATION = "pod-policies.kyverno.io/autogen-controllers"


REPLACEMENTS = {
    "template": [
        ("request.object.spec", "request.object.spec.template.spec"),
        ("request.oldObject.spec", "request.oldObject.spec.template.spec"),
        ("request.object.metadata", "request.object.spec.template.metadata"),
        ("request.oldObject.metadata", "request.oldObject.spec.template.metadata"),
    ],
    "cronjob": [
        ("request.object.spec", "request.object.spec.jobTemplate.spec.template.spec"),
        ("request.oldObject.spec", "request.oldObject.spec.jobTemplate.spec.template.spec"),
        ("request.object.metadata", "request.object.spec.jobTemplate.spec.template.metadata"),
        (
            "request.oldObject.metadata",
            "request.oldObject.spec.jobTemplate.spec.template.metadata",
        ),
    ],
}


CEL_REPLACEMENTS = {
    flavour: [(old.removeprefix("request."), new.removeprefix("request.")) for old, new in pairs]
    for flavour, pairs in REPLACEMENTS.items()
}


def autogen_controllers(policy: Mapping[str, Any]) -> list[str]:
    annotations = (policy.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(AUTOGEN_ANNOTATION)
    if value is None:
        return list(POD_CONTROLLERS)
    if value == "none":
        return []
    if value == "all":
        raise UnsupportedConstruct("kyverno", AUTOGEN_ANNOTATION, "'all' is rejected by Kyverno")
    return sorted(v.strip() for v in value.split(",") if v.strip() in POD_CONTROLLERS)


def _can_autogen(rule: Mapping[str, Any]) -> bool:
    if "generate" in rule or "patchesJson6902" in json.dumps(rule.get("mutate") or {}):
        return False
    kinds: list[str] = []
    for block_name in ("match", "exclude"):
        block = rule.get(block_name) or {}
        for entry in match_entries(block):
            res = entry.get("resources") or {}
            if any(res.get(k) for k in ("name", "names", "selector", "annotations")):
                return False
            if block_name == "match":
                kinds.extend(res.get("kinds") or [])
            elif res.get("kinds") and "Pod" not in res["kinds"]:
                return False
    return bool(kinds) and all(k == "Pod" for k in kinds)


def autogen_rules(policy: Mapping[str, Any], rule: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rules Kyverno generates for controllers from a Pod rule."""
    controllers = autogen_controllers(policy)
    if not controllers or not _can_autogen(rule):
        return []
    out = []
    plain = [c for c in controllers if c != "CronJob"]
    if plain:
        out.append(_generate(rule, "autogen-", plain, "template", ["spec", "template"]))
    if "CronJob" in controllers:
        path = ["spec", "jobTemplate", "spec", "template"]
        out.append(_generate(rule, "autogen-cronjob-", ["CronJob"], "cronjob", path))
    return out


def _generate(
    rule: Mapping[str, Any], prefix: str, kinds: list[str], flavour: str, wrap: list[str]
) -> dict[str, Any]:
    """generateRule of pkg/autogen/v1/rule.go, then its byte replacements."""
    text = json.dumps(rule)
    # a CEL rule's text is rewritten for CEL's roots (updateFields, cel=true)
    cel = "cel" in (rule.get("validate") or {})
    for old, new in (CEL_REPLACEMENTS if cel else REPLACEMENTS)[flavour]:
        text = text.replace(old, new)
    out: dict[str, Any] = json.loads(text)
    out["name"] = (prefix + str(rule["name"]))[:63]
    for block_name in ("match", "exclude"):
        for entry in match_entries(out.get(block_name) or {}):
            res = entry.get("resources") or {}
            if res.get("kinds"):
                res["kinds"] = list(kinds)
    if "mutate" in out:
        out["mutate"] = _autogen_mutate(out["mutate"], wrap)
    if "validate" in out:
        out["validate"] = _autogen_validate(out["validate"], wrap)
    return out


def _autogen_mutate(mutate: Mapping[str, Any], wrap: list[str]) -> dict[str, Any]:
    if "patchStrategicMerge" in mutate:
        return {"patchStrategicMerge": _wrap(mutate["patchStrategicMerge"], wrap)}
    foreach = []
    for fe in mutate.get("foreach") or []:
        kept = {k: fe[k] for k in ("list", "context", "preconditions") if k in fe}
        kept["patchStrategicMerge"] = _wrap(fe.get("patchStrategicMerge"), wrap)
        foreach.append(kept)
    return {"foreach": foreach}


#: what an autogen validate rule keeps of the original besides the check
#: itself: emitWarning is not among them, so controllers get no warnings.
VALIDATE_KEPT = ("message", "failureAction", "failureActionOverrides", "allowExistingViolations")


def _autogen_validate(validate: Mapping[str, Any], wrap: list[str]) -> dict[str, Any]:
    out = {k: validate[k] for k in VALIDATE_KEPT if k in validate}
    if "pattern" in validate:
        out["pattern"] = _wrap(validate["pattern"], wrap)
    elif "deny" in validate:
        out["deny"] = validate["deny"]
    elif "anyPattern" in validate:
        out["anyPattern"] = [_wrap(p, wrap) for p in validate["anyPattern"]]
    elif "foreach" in validate:
        out["foreach"] = validate["foreach"]
    else:
        return dict(validate)  # cel, assert, podSecurity: refused later
    return out


def _wrap(pattern: Any, path: list[str]) -> Any:
    """A Pod pattern's ``spec``/``metadata`` moved under the controller's template."""
    if not isinstance(pattern, dict):
        return pattern
    inner = copy.deepcopy(pattern)
    for key in reversed(path):
        inner = {key: inner}
    return inner
