"""The tenant-isolation matrix of the compliance report: who may run images
from which registry prefix, and which rendered object enforces it.

Rows are registry prefixes (the shared entries, then each tenant's own);
columns are the tenants plus the namespaces in scope that belong to no
tenant. A cell says how that column may use the prefix: through the shared
list, as its own entry, or through one of its own entries that covers the
prefix (a tenant entry ``harbor.x/team`` covers another tenant's
``harbor.x/team/sub``). A prefix that more than one tenant can use is
flagged: that is where isolation between tenants is weaker than it looks.

The semantics are the reference model's (``model.allowed_registries`` and
``imageref.name_is_under``); this module only lays them out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from policygen import imageref
from policygen.config import Config, Tenant

NO_TENANT = "(no tenant)"
RULE_ANNOTATION = "policygen.dev/rule"


@dataclass(frozen=True)
class Prefix:
    entry: str
    source: str  # "shared" or the tenant that lists it
    cells: tuple[str, ...]  # one per column: "shared", "own", "via <entry>" or ""
    users: tuple[str, ...]  # the tenants that can use it other than through the shared list

    @property
    def contested(self) -> bool:
        return self.source != "shared" and len(self.users) > 1


@dataclass(frozen=True)
class TenantScope:
    name: str
    namespaces: str  # the globs, or "" when only a selector picks them
    selector: str
    selector_only: bool


@dataclass(frozen=True)
class Matrix:
    columns: tuple[str, ...]
    prefixes: tuple[Prefix, ...]
    tenants: tuple[TenantScope, ...]
    enforced_by: dict[str, list[tuple[str, str]]]  # target → (object, whose namespaces)

    @property
    def contested(self) -> list[Prefix]:
        return [p for p in self.prefixes if p.contested]


def build(config: Config, rendered: Mapping[str, str], describe_selector: Any) -> Matrix:
    """The matrix for a config and its rendered bundle (path → text)."""
    spec = config.spec
    shared = list(spec.rules.registries.allowed)
    columns = (*(t.name for t in spec.tenants), NO_TENANT)
    rows: list[tuple[str, str]] = [(e, "shared") for e in shared]
    seen = set(shared)
    for tenant in spec.tenants:
        for entry in tenant.registries:
            if entry not in seen:
                seen.add(entry)
                rows.append((entry, tenant.name))
    prefixes = []
    for entry, source in rows:
        cells = []
        for column in columns:
            owner = next((t for t in spec.tenants if t.name == column), None)
            cells.append(_cell(entry, shared, owner))
        users = tuple(
            c for c, cell in zip(columns, cells, strict=True) if cell not in ("", "shared")
        )
        prefixes.append(Prefix(entry, source, tuple(cells), users))
    scopes = tuple(
        TenantScope(
            t.name,
            ", ".join(t.namespaces),
            describe_selector(t.namespaceSelector.model_dump(exclude_defaults=True))
            if t.namespaceSelector is not None
            else "",
            not t.namespaces,
        )
        for t in spec.tenants
    )
    return Matrix(columns, tuple(prefixes), scopes, _enforcers(config, rendered, columns))


def _cell(entry: str, shared: list[str], tenant: Tenant | None) -> str:
    """How a column may use images under ``entry``. The shared list wins the
    label because it is what every namespace in scope gets."""
    if any(imageref.name_is_under(entry, s) for s in shared):
        return "shared"
    if tenant is None:
        return ""
    if entry in tenant.registries:
        return "own"
    covering = [e for e in tenant.registries if imageref.name_is_under(entry, e)]
    return f"via {covering[0]}" if covering else ""


EVERY_COLUMN = "every namespace in scope"


def _enforcers(
    config: Config, rendered: Mapping[str, str], columns: tuple[str, ...]
) -> dict[str, list[tuple[str, str]]]:
    """For each target, the objects that enforce the registries rule and whose
    namespaces each checks. An object whose name carries a tenant's name
    enforces only that tenant's namespaces; the others enforce every column."""
    out: dict[str, list[tuple[str, str]]] = {}
    if config.spec.rules.registries.action == "off":
        return out
    tenants = [c for c in columns if c != NO_TENANT]
    for target in sorted(config.spec.targets):
        objects = [
            _describe(doc)
            for path, text in sorted(rendered.items())
            if path.startswith(f"{target}/") and path.endswith(".yaml")
            for doc in yaml.safe_load_all(text)
            if isinstance(doc, dict) and _enforces_registries(doc)
        ]
        rows = []
        for obj in objects:
            # the longest name first, so that tenant "team-a" does not claim
            # the object of tenant "team-a-batch"
            owner = next(
                (t for t in sorted(tenants, key=len, reverse=True) if obj.endswith(f"-{t}")),
                None,
            )
            rows.append((obj, f"tenant {owner}" if owner else EVERY_COLUMN))
        out[target] = rows
    return out


def _enforces_registries(doc: dict[str, Any]) -> bool:
    meta = doc.get("metadata") or {}
    # A ConstraintTemplate enforces nothing until a Constraint of its kind
    # exists (its policygen.dev/rule annotation only names the rule its CEL
    # reports on); the Constraint is the enforcing object.
    kind = str(doc.get("kind", ""))
    if kind in ("Kustomization", "ExpansionTemplate", "ConstraintTemplate"):
        return False
    annotations = meta.get("annotations") or {}
    if RULE_ANNOTATION in annotations:
        return bool(annotations[RULE_ANNOTATION] == "registries")
    # Objects without the annotation (Kyverno ClusterPolicies, Gatekeeper
    # Constraints) carry the rule in their name.
    return "registr" in str(meta.get("name", ""))


def _describe(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
