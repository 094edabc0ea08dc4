"""``policygen diff``: the policies a cluster runs against the committed bundle.

Objects exported from a cluster (``kubectl get … -o yaml``) carry fields the
API server, the engines' CRDs and GitOps tools set; they are removed or
tolerated before comparing, so that what is left is drift someone made:

- server-set metadata (uid, resourceVersion, generation, creationTimestamp,
  managedFields, selfLink, deletion fields) and ``status``;
- annotations and labels written by tools on apply: kubectl's
  ``last-applied-configuration``, Argo CD's tracking annotation and
  ``app.kubernetes.io/instance`` label, Flux's kustomize labels;
- a field the bundle leaves out is tolerated only when it holds the value
  the API server or the kind's CRD defaults it to (``DEFAULTS``); any other
  extra field, a changed value, an added or removed list entry is drift.

The bundle is read from its folder and checked against ``bundle.lock`` first:
a bundle that does not match its own lock is not evidence of anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policygen.bundle import LOCK_FILE
from policygen.errors import InputError, PolicygenError, StaleBundle
from policygen.manifests import Document, FileProblem, read

SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
TOOL_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "argocd.argoproj.io/tracking-id",
)
TOOL_LABELS = (
    "app.kubernetes.io/instance",  # Argo CD's label tracking
    "kustomize.toolkit.fluxcd.io/name",
    "kustomize.toolkit.fluxcd.io/namespace",
)

Path_ = tuple[str | int, ...]
#: (group, kind) → (field path, "*" for any list index → default value).
#: From the API server's defaulting (k8s pkg/apis/admissionregistration/v1/
#: defaults.go: failurePolicy, matchPolicy, selectors, a rule's scope) and
#: the CRDs' ``default:`` values (Kyverno v1.19.0, Gatekeeper v3.23.0) for
#: the fields of the kinds policygen renders.
_MATCH: tuple[tuple[Path_, Any], ...] = (
    (("matchPolicy",), "Equivalent"),
    (("namespaceSelector",), {}),
    (("objectSelector",), {}),
    (("resourceRules", "*", "scope"), "*"),
    (("excludeResourceRules", "*", "scope"), "*"),
)
DEFAULTS: dict[tuple[str, str], tuple[tuple[Path_, Any], ...]] = {
    ("kyverno.io", "ClusterPolicy"): (
        (("spec", "admission"), True),
        (("spec", "background"), True),
        (("spec", "emitWarning"), False),
        (("spec", "validationFailureAction"), "Audit"),
        (("spec", "rules", "*", "skipBackgroundRequests"), True),
        (("spec", "rules", "*", "validate", "allowExistingViolations"), True),
    ),
    ("policies.kyverno.io", "ValidatingPolicy"): (
        (("spec", "evaluation", "admission", "enabled"), True),
        (("spec", "evaluation", "background", "enabled"), True),
    ),
    ("policies.kyverno.io", "MutatingPolicy"): (
        (("spec", "evaluation", "admission", "enabled"), True),
        (("spec", "evaluation", "background", "enabled"), True),
        (("spec", "evaluation", "mutateExisting", "enabled"), False),
        (("spec", "evaluation", "skipBackgroundRequests"), True),
    ),
    ("templates.gatekeeper.sh", "ConstraintTemplate"): (
        (("spec", "crd", "spec", "validation"), {"legacySchema": False}),
        (("spec", "crd", "spec", "validation", "legacySchema"), False),
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): (
        (("spec", "failurePolicy"), "Fail"),
        *((("spec", "matchConstraints", *p), v) for p, v in _MATCH),
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): tuple(
        (("spec", "matchResources", *p), v) for p, v in _MATCH
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"): (
        (("spec", "failurePolicy"), "Fail"),
        (("spec", "reinvocationPolicy"), "Never"),
        *((("spec", "matchConstraints", *p), v) for p, v in _MATCH),
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"): tuple(
        (("spec", "matchResources", *p), v) for p, v in _MATCH
    ),
}

Identity = tuple[str, str, str, str]  # group, kind, namespace, name


def identity(obj: dict[str, Any]) -> Identity:
    api = str(obj.get("apiVersion", ""))
    meta = obj.get("metadata") or {}
    group = api.rsplit("/", 1)[0] if "/" in api else ""
    return (
        group,
        str(obj.get("kind", "")),
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


def describe(ident: Identity) -> str:
    group, kind, namespace, name = ident
    where = f"{namespace}/{name}" if namespace else name
    return f"{kind}.{group} {where}" if group else f"{kind} {where}"


@dataclass(frozen=True)
class BundleObject:
    target: str
    file: str
    obj: dict[str, Any]


@dataclass
class Drift:
    #: per object: the differences, each "path: what"
    changed: dict[Identity, list[str]] = field(default_factory=dict)
    missing: list[Identity] = field(default_factory=list)  # in the bundle, not the cluster
    extra: list[Identity] = field(default_factory=list)  # the cluster's, not in the bundle
    compared: int = 0
    targets: list[str] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.changed or self.missing or self.extra)


def read_bundle(bundle: Path) -> list[BundleObject]:
    """The bundle's objects, once every file matches ``bundle.lock``."""
    lock_path = bundle / LOCK_FILE
    try:
        lock = json.loads(lock_path.read_text(encoding="utf-8"))
        files: dict[str, str] = lock["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError.at(lock_path, "", f"not a readable bundle lock: {exc}") from None
    stale = []
    for rel, digest in sorted(files.items()):
        try:
            data = (bundle / rel).read_bytes()
        except OSError:
            stale.append(f"{rel} is missing")
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            stale.append(f"{rel} does not match its sha256")
    if stale:
        raise StaleBundle(
            f"{bundle}: the bundle does not match {LOCK_FILE} ({'; '.join(stale)}); "
            "run `policygen build --check`"
        )
    out = []
    for rel in sorted(files):
        if rel.endswith("kustomization.yaml"):
            continue
        for item in read([str(bundle / rel)]):
            if isinstance(item, Document):
                out.append(BundleObject(rel.split("/", 1)[0], rel, item.obj))
            elif isinstance(item, FileProblem):
                raise PolicygenError(str(item))
    return out


def normalise(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without what the server and GitOps tools set on it."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(out.get("metadata") or {})
    for key in SERVER_METADATA:
        meta.pop(key, None)
    for key, drop in (("annotations", TOOL_ANNOTATIONS), ("labels", TOOL_LABELS)):
        kept = {k: v for k, v in (meta.get(key) or {}).items() if k not in drop}
        if kept:
            meta[key] = kept
        else:
            meta.pop(key, None)
    out["metadata"] = meta
    return out


def _default(ident: Identity, path: Path_) -> tuple[bool, Any]:
    for pattern, value in DEFAULTS.get(ident[:2], ()):
        if len(pattern) == len(path) and all(
            (p == "*" and isinstance(q, int)) or p == q for p, q in zip(pattern, path, strict=True)
        ):
            return True, value
    return False, None


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def differences(ident: Identity, want: Any, have: Any, path: Path_ = ()) -> Iterator[str]:
    """What differs between the bundle's value and the cluster's."""
    if isinstance(want, dict) and isinstance(have, dict):
        for key, value in want.items():
            if key not in have:
                where = _dotted(path + (key,))
                yield f"{where}: {_show(value)} in the bundle, absent in the cluster"
            else:
                yield from differences(ident, value, have[key], path + (key,))
        for key, value in have.items():
            if key in want:
                continue
            known, default = _default(ident, path + (key,))
            if not (known and value == default):
                yield f"{_dotted(path + (key,))}: added in the cluster: {_show(value)}"
        return
    if isinstance(want, list) and isinstance(have, list):
        for i, (w, h) in enumerate(zip(want, have, strict=False)):
            yield from differences(ident, w, h, path + (i,))
        for i in range(len(have), len(want)):
            yield f"{_dotted(path + (i,))}: in the bundle, absent in the cluster"
        for i in range(len(want), len(have)):
            yield f"{_dotted(path + (i,))}: added in the cluster: {_show(have[i])}"
        return
    if want != have or (type(want) is not type(have) and not _same_number(want, have)):
        yield f"{_dotted(path)}: {_show(want)} in the bundle, {_show(have)} in the cluster"


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and a == b


def compare(
    bundle: Path, exported: list[str], prefix: str, targets: list[str] | None = None
) -> Drift:
    """Drift between the bundle and objects exported from a cluster. With no
    ``targets``, the targets compared are those with any object in the
    export: a cluster runs one engine's folder, not all of them."""
    objects = read_bundle(bundle)
    drift = Drift()
    live: dict[Identity, dict[str, Any]] = {}
    for item in read(exported):
        if isinstance(item, FileProblem):
            drift.problems.append(item)
        elif isinstance(item, Document):
            live[identity(item.obj)] = item.obj
    by_target: dict[str, dict[Identity, dict[str, Any]]] = {}
    for o in objects:
        by_target.setdefault(o.target, {})[identity(o.obj)] = o.obj
    unknown = sorted(set(targets or ()) - set(by_target))
    if unknown:
        raise PolicygenError(
            f"--target: {', '.join(unknown)} not in the bundle ({', '.join(sorted(by_target))})"
        )
    chosen = targets or [t for t, objs in by_target.items() if any(i in live for i in objs)]
    drift.targets = sorted(chosen)
    kinds = set()
    for target in drift.targets:
        for ident, want in by_target[target].items():
            kinds.add(ident[:2])
            have = live.get(ident)
            if have is None:
                drift.missing.append(ident)
                continue
            drift.compared += 1
            found = list(differences(ident, normalise(want), normalise(have)))
            if found:
                drift.changed[ident] = found
    wanted = {i for t in drift.targets for i in by_target[t]}
    drift.extra = sorted(
        i for i in live if i[:2] in kinds and i not in wanted and i[3].startswith(prefix)
    )
    return drift
