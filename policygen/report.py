"""``policygen report``: what a compliance reviewer needs on one page.

Scope, rules, tenants and their registries, exemptions with owners and
expiry, the evidence that every target agrees with the reference model (the
verdict matrix of ``policygen test`` in summary), and the bundle's hashes
with whether the committed bundle is current. Rendered from one set of data
into Markdown or HTML; deterministic for a given ``--now``."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policygen import __version__, bundle
from policygen.config import Config
from policygen.prove import RULES, Proof
from policygen.render import render

FORMATS = {"markdown": "report/report.md.j2", "html": "report/report.html.j2"}
EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class BundleState:
    folder: str
    current: bool | None  # None: no bundle on disk
    files: dict[str, str]  # path → sha256, as bundle.lock records them


def bundle_state(config: Config, config_path: Path, now: dt.date, folder: Path) -> BundleState:
    rendered = bundle.render_bundle(config, config_path, now)
    on_disk = bundle.on_disk(folder) if folder.is_dir() else None
    expected = {p: rendered.digest(p) for p in rendered.files if p != bundle.LOCK_FILE}
    if on_disk is None:
        return BundleState(str(folder), None, expected)
    return BundleState(str(folder), on_disk == rendered.files, expected)


def data(
    config: Config, config_path: Path, now: dt.date, proof: Proof, state: BundleState
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
        {"name": "digest", "action": spec.rules.digest.action, "detail": _digest_detail(config)},
        {
            "name": "pullPolicy",
            "action": spec.rules.pullPolicy.action,
            "detail": "imagePullPolicy, and an image volume's pullPolicy, must be Always"
            + (
                " (set by mutation on containers and init containers)"
                if spec.rules.pullPolicy.action == "mutate"
                else ""
            ),
        },
        {
            "name": "registries",
            "action": spec.rules.registries.action,
            "detail": "containers and image volumes; shared: "
            + (", ".join(spec.rules.registries.allowed) or "none"),
        },
    ]
    evidence = _evidence(proof)
    return {
        "name": config.name,
        "now": now.isoformat(),
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
        },
    }


def _expiry(expires: dt.date, now: dt.date) -> str:
    """``2027-03-31 (123 days)``, with ``, soon`` inside the last 30 days."""
    days = (expires - now).days
    soon = ", soon" if days <= EXPIRY_WARNING_DAYS else ""
    return f"{expires.isoformat()} ({days} days{soon})"


def _digest_detail(config: Config) -> str:
    digest = config.spec.rules.digest
    out = "containers and image volumes; algorithms: " + ", ".join(digest.algorithms)
    if digest.namespaces:
        out += "; only in " + ", ".join(digest.namespaces)
    return out


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
