"""``policygen report``: what a compliance reviewer needs on one page.

The status first (is the committed bundle current, does the evidence agree,
which exemptions lapse soon), then scope, rules, tenants and their
registries, the tenant-isolation matrix, exemptions with owners and expiry,
the node posture (the kubelet's side of cached images), the cross-walk to
other scanners, the evidence that every target agrees with the reference
model, how far that proof can be trusted (engine versions, upstream suites
reproduced) and the bundle's hashes. Rendered from one set of data into
Markdown or HTML; deterministic for a given ``--now`` and engine set."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policygen import __version__, bundle, crosswalk, fidelity, isolation, node
from policygen.config import Config
from policygen.prove import RULES, Proof
from policygen.render import render
from policygen.rules import NAMES

FORMATS = {"markdown": "report/report.md.j2", "html": "report/report.html.j2"}
EXPIRY_WARNING_DAYS = 30
MATRIX_MAX_COLUMNS = 9  # eight tenants and the namespaces of none


@dataclass(frozen=True)
class BundleState:
    folder: str
    current: bool | None  # None: no bundle on disk
    files: dict[str, str]  # path → sha256, as bundle.lock records them
    rendered: dict[str, str]  # path → text of the bundle this config renders


def bundle_state(config: Config, config_path: Path, now: dt.date, folder: Path) -> BundleState:
    rendered = bundle.render_bundle(config, config_path, now)
    on_disk = bundle.on_disk(folder) if folder.is_dir() else None
    expected = {p: rendered.digest(p) for p in rendered.files if p != bundle.LOCK_FILE}
    if on_disk is None:
        return BundleState(str(folder), None, expected, rendered.files)
    return BundleState(str(folder), on_disk == rendered.files, expected, rendered.files)


def expiring(config: Config, now: dt.date, within_days: int) -> list[str]:
    """Exemptions that lapse within ``within_days`` days (0: today), soonest first."""
    return [
        e.name
        for e in sorted(config.spec.exemptions, key=lambda e: (e.expires, e.name))
        if (e.expires - now).days <= within_days
    ]


def failures(
    config: Config, now: dt.date, proof: Proof, state: BundleState, fail_within: int | None
) -> list[str]:
    """Why the report exits 1: each a sentence for stderr; none on a clean report."""
    out = []
    if state.current is None:
        out.append(f"no bundle at {state.folder}: run policygen build, or pass --bundle")
    elif not state.current:
        out.append(f"the bundle at {state.folder} is stale: run policygen build")
    if proof.failed:
        out.append(f"{len(proof.failed)} objects where an engine disagrees with the model")
    if fail_within is not None:
        soon = expiring(config, now, fail_within)
        if soon:
            out.append(f"exemptions expiring within {fail_within} days: " + ", ".join(soon))
    return out


def data(
    config: Config,
    config_path: Path,
    now: dt.date,
    proof: Proof,
    state: BundleState,
    *,
    kubernetes: str = node.DEFAULT_KUBERNETES,
    fail_within: int | None = None,
) -> dict[str, Any]:
    spec = config.spec
    exemptions = [
        {
            "name": e.name,
            "rules": ", ".join(e.rules),
            "namespaces": ", ".join(e.namespaces),
            "images": ", ".join(e.images),
            "reason": e.reason,
            "owner": e.owner,
            "ticket": e.ticket or "",
            "expiry": _expiry(e.expires, now),
        }
        for e in sorted(spec.exemptions, key=lambda e: (e.expires, e.name))
    ]
    tenants = [
        {
            "name": t.name,
            "namespaces": ", ".join(t.namespaces) or "",
            "selector": _selector(t.namespaceSelector.model_dump(exclude_defaults=True))
            if t.namespaceSelector is not None
            else "",
            "registries": ", ".join(t.registries),
        }
        for t in spec.tenants
    ]
    rules = [
        {"name": name, "action": spec.rules.action(name), "detail": DETAILS[name](config)}
        for name in NAMES  # the rule table's rules, in its order
    ]
    evidence = _evidence(proof)
    matrix = isolation.build(config, state.rendered, _selector)
    posture = node.posture(config, kubernetes)
    versions = fidelity.engine_versions()
    suites = [
        [r.suite, r.commit, r.evaluator, r.unit, r.share, str(r.refused), str(r.wrong), r.how]
        for r in fidelity.SUITES
    ]
    from policygen.targets import clock

    expiry = [{"target": name, "clock": clock(name, config)} for name in spec.targets]
    status = {
        "bundle": "missing" if state.current is None else "current" if state.current else "stale",
        "agree": not proof.failed,
        "expiring": expiring(config, now, EXPIRY_WARNING_DAYS),
        "failures": failures(config, now, proof, state, fail_within),
    }
    return {
        "name": config.name,
        "now": now.isoformat(),
        "expiry": expiry,
        "version": __version__,
        "config_file": config_path.name,
        "config_sha256": hashlib.sha256(config_path.read_bytes()).hexdigest(),
        "targets": ", ".join(spec.targets),
        "scope": {
            "namespaces": ", ".join(spec.scope.namespaces),
            "excluded": ", ".join(spec.scope.excludeNamespaces) or "none",
            "selector": _selector(spec.scope.namespaceSelector.model_dump(exclude_defaults=True)),
        },
        "rules": rules,
        "tenants": tenants,
        "exemptions": exemptions,
        "evidence": evidence,
        "bundle": state,
        "status": status,
        "isolation": matrix,
        "node": posture,
        "admission_still": node.ADMISSION_STILL_COVERS,
        "versions": versions,
        "suites": fidelity.SUITES,
        "headers": {
            "isolation": ["prefix", "listed by", *matrix.columns, "usable by several tenants"],
        },
        # a tenant × prefix matrix reads well up to a few tenants; past that
        # it is one row per prefix with who may use it
        "isolation_as_matrix": len(matrix.columns) <= MATRIX_MAX_COLUMNS,
        # the same tables as rows of cells, for the HTML template's one macro
        "rows": {
            "rules": [[r["name"], r["action"], r["detail"]] for r in rules],
            "tenants": [
                [t["name"], t["namespaces"], t["selector"], t["registries"]] for t in tenants
            ],
            "exemptions": [
                [
                    e["name"],
                    e["rules"],
                    e["namespaces"],
                    e["images"],
                    e["owner"],
                    e["ticket"],
                    e["expiry"],
                    e["reason"],
                ]
                for e in exemptions
            ],
            "counts": [
                [c["engine"], c["rule"], c["deny"], c["warn"], c["audit"], c["allow"]]
                for c in evidence["counts"]
            ],
            **_isolation_rows(matrix),
            "crosswalk": crosswalk.rows(),
            "versions": [list(v) for v in versions],
            "suites": suites,
        },
    }


def _isolation_rows(matrix: isolation.Matrix) -> dict[str, list[list[str]]]:
    """The isolation tables as rows of cells: the matrix, the same as one row
    per prefix (for many tenants), the tenants' scopes and the enforcers."""
    return {
        "isolation": [
            [p.entry, p.source, *p.cells, ", ".join(p.users) if p.contested else ""]
            for p in matrix.prefixes
        ],
        "prefix_users": [
            [
                p.entry,
                p.source,
                isolation.EVERY_COLUMN
                if p.source == "shared"
                else ", ".join(
                    f"{u} ({c})" for u, c in zip(matrix.columns, p.cells, strict=True) if c
                ),
            ]
            for p in matrix.prefixes
        ],
        "tenant_scopes": [
            [
                t.name,
                t.namespaces or "none: selector only",
                t.selector,
                "yes" if t.selector_only else "",
            ]
            for t in matrix.tenants
        ],
        "enforcers": [
            [target, obj, whose]
            for target, objects in matrix.enforced_by.items()
            for obj, whose in objects
        ],
    }


def _expiry(expires: dt.date, now: dt.date) -> str:
    """``2027-03-31 (123 days)``, with ``, soon`` inside the last 30 days."""
    days = (expires - now).days
    soon = ", soon" if days <= EXPIRY_WARNING_DAYS else ""
    return f"{expires.isoformat()} ({days} days{soon})"


def _pull_policy_detail(config: Config) -> str:
    mutated = config.spec.rules.pullPolicy.action == "mutate"
    return "imagePullPolicy, and an image volume's pullPolicy, must be Always" + (
        " (set by mutation on containers and init containers)" if mutated else ""
    )


def _registries_detail(config: Config) -> str:
    shared = config.spec.rules.registries.allowed
    return "containers and image volumes; shared: " + (", ".join(shared) or "none")


def _digest_detail(config: Config) -> str:
    digest = config.spec.rules.digest
    out = "containers and image volumes; algorithms: " + ", ".join(digest.algorithms)
    if digest.namespaces:
        out += "; only in " + ", ".join(digest.namespaces)
    return out


#: what the report says each rule covers under the config
DETAILS: dict[str, Callable[[Config], str]] = {
    "digest": _digest_detail,
    "pullPolicy": _pull_policy_detail,
    "registries": _registries_detail,
}


def _selector(selector: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for req in selector.get("matchExpressions") or []:
        values = ",".join(req.get("values") or [])
        parts.append(f"{req['key']} {req['operator']}" + (f" ({values})" if values else ""))
    return ", ".join(parts)


def _evidence(proof: Proof) -> dict[str, Any]:
    """Per engine and rule, how many objects got each verdict; and every
    disagreement, which a clean report has none of."""
    counts = []
    for engine in proof.engines:
        for rule in RULES:
            tally = {"deny": 0, "warn": 0, "audit": 0, "allow": 0}
            for row in proof.rows:
                tally[row.cell(engine, rule)] += 1
            counts.append({"engine": engine, "rule": rule, **tally})
    failures = [{"source": row.fixture.source, "problems": row.problems} for row in proof.failed]
    return {
        "objects": len(proof.rows),
        "engines": ", ".join(proof.engines),
        "agree": len(proof.rows) - len(proof.failed),
        "counts": counts,
        "failures": failures,
    }


def write(fmt: str, report: dict[str, Any]) -> str:
    return render(FORMATS[fmt], **report)
