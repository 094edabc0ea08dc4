"""Gatekeeper's ``spec.match`` (pkg/mutation/match/match.go) and wildcards
(pkg/wildcard/wildcard.go), as the notes in ../shared/notes/gatekeeper.md §3 record them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policygen.config import LabelSelector
from policygen.engines import NamespaceUnknown
from policygen.errors import UnsupportedConstruct

KNOWN_FIELDS = {
    "kinds",
    "scope",
    "namespaces",
    "excludedNamespaces",
    "labelSelector",
    "namespaceSelector",
    "name",
    "source",
}


def wildcard(pattern: str, candidate: str) -> bool:
    if pattern.startswith("*") and pattern.endswith("*"):
        return pattern.strip("*") in candidate
    if pattern.startswith("*"):
        return candidate.endswith(pattern[1:])
    if pattern.endswith("*"):
        return candidate.startswith(pattern[:-1])
    return pattern == candidate


def matches(
    match: Mapping[str, Any] | None,
    obj: Mapping[str, Any],
    namespace: str,
    namespace_obj: Mapping[str, Any] | None,
    source: str = "Original",
    where: str = "spec.match",
) -> bool:
    """Every present matcher must hold; an absent one matches everything."""
    if not match:
        return True
    unknown = set(match) - KNOWN_FIELDS
    if unknown:
        raise UnsupportedConstruct("gatekeeper", f"{where}.{sorted(unknown)[0]}", "match field")
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    kind = str(obj.get("kind", ""))
    labels = (obj.get("metadata") or {}).get("labels") or {}
    name = str((obj.get("metadata") or {}).get("name", ""))

    kinds = match.get("kinds")
    if kinds and not any(_kind_entry(k, group, kind) for k in kinds):
        return False
    scope = match.get("scope")
    if scope == "Cluster" and namespace:
        return False
    if scope == "Namespaced" and (not namespace or kind == "Namespace"):
        return False
    included = match.get("namespaces")
    if included and namespace and not any(wildcard(p, namespace) for p in included):
        return False
    excluded = match.get("excludedNamespaces")
    if excluded and namespace and any(wildcard(p, namespace) for p in excluded):
        return False
    selector = match.get("labelSelector")
    if selector is not None and not LabelSelector.model_validate(selector).matches(labels):
        return False
    if match.get("namespaceSelector") is not None and namespace:
        if namespace_obj is None:
            raise NamespaceUnknown(namespace)
        ns_labels = (namespace_obj.get("metadata") or {}).get("labels") or {}
        if not LabelSelector.model_validate(match["namespaceSelector"]).matches(ns_labels):
            return False
    if match.get("name") and not wildcard(str(match["name"]), name):
        return False
    wanted = match.get("source", "All")
    return wanted in ("All", source)


def _kind_entry(entry: Mapping[str, Any], group: str, kind: str) -> bool:
    kinds = entry.get("kinds") or []
    groups = entry.get("apiGroups") or []
    return (not kinds or "*" in kinds or kind in kinds) and (
        not groups or "*" in groups or group in groups
    )
