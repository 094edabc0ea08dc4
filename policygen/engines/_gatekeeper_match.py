"""Gatekeeper's ``spec.match`` (pkg/mutation/match/match.go) and wildcards
(pkg/wildcard/wildcard.go), as the notes in ../shared/notes/gatekeeper.md §3 record them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policygen.config import LabelSelector
from policygen.engines import NamespaceUnknown
from policygen.errors import UnsupportedConstruct
from policygen.memo import MISSING, Memo

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


class Match:
    """A ``spec.match`` compiled once: constraints are matched against every
    object of a scan. Every present matcher must hold; an absent one
    matches everything."""

    def __init__(self, match: Mapping[str, Any] | None, where: str = "spec.match") -> None:
        match = match or {}
        unknown = set(match) - KNOWN_FIELDS
        if unknown:
            raise UnsupportedConstruct("gatekeeper", f"{where}.{sorted(unknown)[0]}", "match field")
        self.kinds: list[Mapping[str, Any]] = list(match.get("kinds") or [])
        self.scope: str | None = match.get("scope")
        self.included: list[str] = list(match.get("namespaces") or [])
        self.excluded: list[str] = list(match.get("excludedNamespaces") or [])
        self.labels = _selector(match.get("labelSelector"))
        self.namespace_labels = _selector(match.get("namespaceSelector"))
        self.name: str = str(match.get("name") or "")
        self.source: str = match.get("source", "All")
        # Matchers that see only kind and namespace name, decided once per
        # triple: the same few come up for every object of a scan.
        self._decided: Memo[tuple[str, str, str], bool] = Memo(1024)

    def __call__(
        self,
        obj: Mapping[str, Any],
        namespace: str,
        namespace_obj: Mapping[str, Any] | None,
        source: str = "Original",
    ) -> bool:
        key = (str(obj.get("apiVersion", "")), str(obj.get("kind", "")), namespace)
        decided = self._decided.get(key)
        if decided is MISSING:
            decided = self._decided.put(key, self._kind_and_namespace(*key))
        if not decided:
            return False
        meta = obj.get("metadata") or {}
        if self.labels is not None and not self.labels.matches(meta.get("labels") or {}):
            return False
        if self.namespace_labels is not None and namespace:
            if namespace_obj is None:
                raise NamespaceUnknown(namespace)
            ns_labels = (namespace_obj.get("metadata") or {}).get("labels") or {}
            if not self.namespace_labels.matches(ns_labels):
                return False
        if self.name and not wildcard(self.name, str(meta.get("name", ""))):
            return False
        return self.source in ("All", source)

    def _kind_and_namespace(self, api_version: str, kind: str, namespace: str) -> bool:
        """The matchers that see only kind and namespace name."""
        if self.kinds:
            group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
            if not any(_kind_entry(k, group, kind) for k in self.kinds):
                return False
        if self.scope == "Cluster" and namespace:
            return False
        if self.scope == "Namespaced" and (not namespace or kind == "Namespace"):
            return False
        if self.included and namespace and not any(wildcard(p, namespace) for p in self.included):
            return False
        excluded = namespace and any(wildcard(p, namespace) for p in self.excluded)
        return not excluded


def _selector(selector: Mapping[str, Any] | None) -> LabelSelector | None:
    return None if selector is None else LabelSelector.model_validate(selector)


def _kind_entry(entry: Mapping[str, Any], group: str, kind: str) -> bool:
    kinds = entry.get("kinds") or []
    groups = entry.get("apiGroups") or []
    return (not kinds or "*" in kinds or kind in kinds) and (
        not groups or "*" in groups or group in groups
    )
