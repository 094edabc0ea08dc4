"""Kyverno's patches (pkg/engine/mutate/patch): ``patchStrategicMerge`` and
``patchesJson6902``.

patchStrategicMerge is Kyverno's anchor preprocessing
(strategicPreprocessing.go) and then kustomize's strategic merge:
- ``+(key)`` adds a field the resource lacks and is dropped otherwise;
- a ``(key)`` or ``<(key)`` condition that does not hold voids the whole
  patch, except in a list of maps, where a patch element with conditions
  is copied, without them and with the resource element's ``name``, once
  for each resource element they hold for;
- then maps merge, ``null`` deletes a field, a list merges by its merge key
  (Kubernetes' ``patchMergeKey`` for the fields that have one, else the
  first of kustomize's associative keys its elements all have) and is
  replaced when it has none.

patchesJson6902 is RFC 6902 with the options Kyverno applies: negative
indices, ``remove`` of a missing path is a no-op, ``add`` creates missing
parents.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from policygen.engines.kyverno.anchor import anchor
from policygen.engines.kyverno.validate import validate_pattern
from policygen.errors import UnsupportedConstruct


class _ConditionFailed(Exception):
    def __init__(self, is_global: bool = False) -> None:
        super().__init__()
        self.is_global = is_global


def strategic_merge(resource: Any, patch: Any, where: str) -> Any:
    """The patched copy of ``resource`` (equal to it when nothing applies)."""
    if not isinstance(patch, dict):
        raise UnsupportedConstruct("kyverno", f"{where}.patchStrategicMerge", "not a mapping")
    pattern = copy.deepcopy(patch)
    try:
        _pre(pattern, resource, where)
    except _ConditionFailed:
        return copy.deepcopy(resource)
    pattern = _strip(pattern)
    return _merge(copy.deepcopy(resource), pattern, "", where)


# --- anchor preprocessing -----------------------------------------------------


def _pre(pattern: Any, resource: Any, where: str) -> None:
    if isinstance(pattern, dict):
        _pre_map(pattern, resource, where)
    elif isinstance(pattern, list) and pattern and isinstance(pattern[0], dict):
        _pre_list(pattern, resource, where)


def _pre_map(pattern: dict[str, Any], resource: Any, where: str) -> None:
    for key in list(pattern):
        kind, name = anchor(key)
        if kind == "+":
            if isinstance(resource, dict) and name in resource:
                del pattern[key]
            else:
                pattern[name] = pattern.pop(key)
    for wanted, is_global in (("<", True), ("(", False)):
        for key, sub in pattern.items():
            kind, name = anchor(key)
            if kind != wanted:
                continue
            if not isinstance(resource, dict) or name not in resource:
                raise _ConditionFailed(is_global)
            if validate_pattern(resource[name], sub)[0] != "pass":
                raise _ConditionFailed(is_global)
    for key in list(pattern):
        kind, _ = anchor(key)
        if kind in ("=", "X", "^"):
            raise UnsupportedConstruct("kyverno", f"{where}.patchStrategicMerge {key}", "anchor")
        if kind == "":
            value = resource.get(key) if isinstance(resource, dict) else None
            _pre(pattern[key], value, where)


def _has_anchor(node: Any, kinds: tuple[str, ...]) -> bool:
    if isinstance(node, dict):
        return any(anchor(k)[0] in kinds for k in node) or any(
            _has_anchor(v, kinds) for v in node.values()
        )
    if isinstance(node, list):
        return any(_has_anchor(v, kinds) for v in node)
    return False


def _pre_list(pattern: list[Any], resource: Any, where: str) -> None:
    items = resource if isinstance(resource, list) else []
    for element in list(pattern):
        if not _has_anchor(element, ("(", "<", "+")):
            continue
        has_global = _has_anchor(element, ("<",))
        shared = copy.deepcopy(element)  # one copy for every resource element, as upstream
        global_passed = False
        global_failed = False
        for item in items:
            try:
                _pre(shared, item, where)
            except _ConditionFailed as failed:
                if failed.is_global:
                    global_failed = True
                continue
            if has_global:
                global_passed = True
                continue
            name = item.get("name") if isinstance(item, dict) else None
            if not name:
                continue
            stripped = _strip(copy.deepcopy(shared))
            if stripped:
                stripped["name"] = name
                pattern.append(stripped)
        if resource is None:
            try:
                _pre(shared, None, where)
                global_passed = global_passed or has_global
            except _ConditionFailed:
                continue
        if global_failed and not global_passed:
            raise _ConditionFailed(is_global=True)


def _strip(node: Any) -> Any:
    """deleteConditionElements: condition-anchored fields go, and so do the
    list elements that carry conditions (their copies stay)."""
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if anchor(k)[0] not in ("(", "<")}
    if isinstance(node, list):
        return [_strip(v) for v in node if not _has_anchor(v, ("(", "<", "+"))]
    return node


# --- the merge ----------------------------------------------------------------

#: Kubernetes' patchMergeKey for the list fields that have one.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "readinessGates": "conditionType",
    "resourceClaims": "name",
    "ownerReferences": "uid",
    "conditions": "type",
}
#: Lists Kubernetes merges with no key: kept unmerged (replaced) as kustomize does.
REPLACED = {"tolerations", "envFrom", "args", "command", "options", "nameservers", "searches"}
#: kustomize's associative keys, tried in this order for other lists.
ASSOCIATIVE_KEYS = ("mountPath", "devicePath", "ip", "type", "topologyKey", "name", "containerPort")


def _merge_key(field: str, dst: list[Any], src: list[Any]) -> str | None:
    if field in MERGE_KEYS:
        return MERGE_KEYS[field]
    if field == "ports":
        key = "containerPort" if all("containerPort" in e for e in src) else "port"
        return key if all(isinstance(e, dict) and key in e for e in src) else None
    if field in REPLACED:
        return None
    maps = [e for e in [*dst, *src] if isinstance(e, dict)]
    if not maps or len(maps) != len(dst) + len(src):
        return None
    return next((k for k in ASSOCIATIVE_KEYS if all(k in e for e in maps)), None)


def _clean(value: Any) -> Any:
    """A new value from a patch, without its nulls."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _merge(dst: Any, src: Any, field: str, where: str) -> Any:
    if isinstance(src, dict):
        if "$patch" in src or any(str(k).startswith("$") for k in src):
            raise UnsupportedConstruct("kyverno", f"{where}.patchStrategicMerge", "$ directives")
        if not isinstance(dst, dict):
            return _clean(src)
        for key, value in src.items():
            if value is None:
                dst.pop(key, None)
            elif key in dst:
                dst[key] = _merge(dst[key], value, key, where)
            elif value != [] and value != {}:  # an empty patch value adds nothing
                dst[key] = _clean(value)
        return dst
    if isinstance(src, list):
        if not isinstance(dst, list):
            return _clean(src)
        key = _merge_key(field, dst, src) if all(isinstance(e, dict) for e in src) else None
        if key is None:
            return _clean(src)
        out = list(dst)
        new: list[Any] = []
        for element in src:
            if key not in element:
                raise UnsupportedConstruct(
                    "kyverno", f"{where}.patchStrategicMerge {field}", f"element without {key}"
                )
            at = next(
                (
                    i
                    for i, e in enumerate(out)
                    if isinstance(e, dict) and e.get(key) == element[key]
                ),
                None,
            )
            if at is None:
                new.append(_clean(element))
            else:
                out[at] = _merge(out[at], element, field, where)
        # kustomize puts the elements a patch adds before the existing ones
        # (hence Kyverno runs a patchStrategicMerge foreach last element first)
        return new + out
    return src


# --- patchesJson6902 ------------------------------------------------------------


def json6902(resource: Any, text: Any, where: str) -> Any:
    ops = yaml.safe_load(text) if isinstance(text, str) else text
    if not isinstance(ops, list):
        raise UnsupportedConstruct("kyverno", f"{where}.patchesJson6902", "not a list")
    doc = copy.deepcopy(resource)
    for op in ops:
        doc = _apply(doc, op, where)
    return doc


class PatchError(Exception):
    """A JSON patch that cannot apply: Kyverno reports the rule as an error."""


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(part: str, size: int, for_add: bool) -> int:
    if part == "-" and for_add:
        return size
    try:
        i = int(part)
    except ValueError:
        raise PatchError(f"invalid index {part!r}") from None
    if i < 0:
        i += size  # SupportNegativeIndices
    if i < 0 or i > size or (i == size and not for_add):
        raise PatchError(f"index {part} out of range")
    return i


def _parent(doc: Any, parts: list[str], create: bool) -> Any:
    node = doc
    for n, part in enumerate(parts[:-1]):
        if isinstance(node, dict):
            if part not in node:
                if not create:
                    raise PatchError(f"missing {part}")
                node[part] = _container(parts[n + 1])
            node = node[part]
        elif isinstance(node, list):
            if create and not node:
                node.append(_container(parts[n + 1]))  # EnsurePathExistsOnAdd
            node = node[_index(part, len(node), False)]
        else:
            raise PatchError(f"cannot walk into {part}")
    return node


def _container(next_part: str) -> Any:
    return [] if (next_part == "-" or next_part.lstrip("-").isdigit()) else {}


def _get(doc: Any, path: str) -> Any:
    node = doc
    for part in _pointer(path):
        if isinstance(node, dict):
            if part not in node:
                raise PatchError(f"missing {path}")
            node = node[part]
        elif isinstance(node, list):
            node = node[_index(part, len(node), False)]
        else:
            raise PatchError(f"missing {path}")
    return node


def _apply(doc: Any, op: Any, where: str) -> Any:
    if not isinstance(op, dict):
        raise UnsupportedConstruct("kyverno", f"{where}.patchesJson6902", "an operation")
    kind, path = op.get("op"), str(op.get("path", ""))
    parts = _pointer(path)
    if kind in ("add", "replace"):
        return _put(doc, parts, copy.deepcopy(op.get("value")), kind == "add")
    if kind == "remove":
        try:
            parent = _parent(doc, parts, False)
            last = parts[-1]
            if isinstance(parent, dict):
                parent.pop(last, None)
            elif isinstance(parent, list):
                del parent[_index(last, len(parent), False)]
        except PatchError:
            pass  # AllowMissingPathOnRemove
        return doc
    if kind in ("copy", "move"):
        value = copy.deepcopy(_get(doc, str(op.get("from", ""))))
        if kind == "move":
            doc = _apply(doc, {"op": "remove", "path": op.get("from")}, where)
        return _put(doc, parts, value, True)
    if kind == "test":
        if _get(doc, path) != op.get("value"):
            raise PatchError(f"test failed at {path}")
        return doc
    raise UnsupportedConstruct("kyverno", f"{where}.patchesJson6902", f"op {kind}")


def _put(doc: Any, parts: list[str], value: Any, add: bool) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts, add)
    last = parts[-1]
    if isinstance(parent, dict):
        if not add and last not in parent:
            raise PatchError(f"replace of missing {last}")
        parent[last] = value
    elif isinstance(parent, list):
        if add:
            if not parent and last in ("0", "-1", "-"):
                parent.append(value)
            else:
                parent.insert(_index(last, len(parent), True), value)
        else:
            parent[_index(last, len(parent), False)] = value
    else:
        raise PatchError(f"cannot set {last}")
    return doc
