"""What Gatekeeper does to an object before validating it: ExpansionTemplates
turn controllers into the Pod they would create, and Assign mutators set
fields. Only the location shapes policygen needs are implemented; anything
else is refused."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policygen.engines._gatekeeper_match import Match
from policygen.errors import UnsupportedConstruct

_LIST_LOCATION = re.compile(r"^spec\.(\w+)\[name:\*\]\.(\w+)$")


@dataclass(frozen=True)
class Expansion:
    name: str
    apply_to: list[Mapping[str, Any]]
    source: list[str]  # path of the pod template in the parent
    generated_kind: str

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Expansion:
        spec = doc["spec"]
        gvk = spec.get("generatedGVK", {})
        if gvk.get("kind") != "Pod" or gvk.get("group", "") != "":
            raise UnsupportedConstruct("gatekeeper", "spec.generatedGVK", "only Pod is generated")
        if spec.get("enforcementAction"):
            raise UnsupportedConstruct("gatekeeper", "spec.enforcementAction", "override")
        return cls(
            doc["metadata"]["name"], spec["applyTo"], spec["templateSource"].split("."), "Pod"
        )

    def applies(self, obj: Mapping[str, Any]) -> bool:
        return any(applies_to(a, obj) for a in self.apply_to)

    def expand(self, obj: Mapping[str, Any], namespace: str) -> dict[str, Any] | None:
        node: Any = obj
        for key in self.source:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return None
        # The Pod shares the template's values: nothing downstream changes
        # an object in place (mutation and defaulting work on copies).
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**(node.get("metadata") or {}), "namespace": namespace},
            "spec": node.get("spec") or {},
        }


def applies_to(entry: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    return (
        group in entry.get("groups", [])
        and obj.get("kind") in entry.get("kinds", [])
        and version in entry.get("versions", [])
    )


@dataclass(frozen=True)
class Assign:
    name: str
    apply_to: list[Mapping[str, Any]]
    match: Match
    list_name: str
    field: str
    value: Any

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Assign:
        spec = doc["spec"]
        found = _LIST_LOCATION.match(spec.get("location", ""))
        if not found:
            raise UnsupportedConstruct("gatekeeper", "spec.location", spec.get("location", ""))
        params = spec.get("parameters", {})
        if set(params) - {"assign"} or set(params.get("assign", {})) != {"value"}:
            raise UnsupportedConstruct("gatekeeper", "spec.parameters", "only assign.value")
        return cls(
            doc["metadata"]["name"],
            spec["applyTo"],
            Match(spec.get("match")),
            found.group(1),
            found.group(2),
            params["assign"]["value"],
        )

    def mutate(self, obj: dict[str, Any]) -> None:
        for item in (obj.get("spec") or {}).get(self.list_name) or []:
            if isinstance(item, dict):
                item[self.field] = self.value
