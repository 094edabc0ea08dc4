"""CEL mutations as Kubernetes' MutatingAdmissionPolicy and Kyverno's
MutatingPolicy define them (k8s apiserver admission/plugin/policy/mutating/
patch; kyverno pkg/cel/policies/mpol/compiler):

- an ApplyConfiguration expression builds a typed object
  (``Object{spec: Object.spec{…}}``) that is merged into the request object
  as server-side apply merges it;
- a JSONPatch expression builds a list of ``JSONPatch{op, path, value}``
  applied as RFC 6902 patches.

cel-expr-python has no dynamic object types, so construction is rewritten
into map literals before compiling (``Object.x{f: v}`` → ``{"f": v}``): the
value built is the same, and the type names, which only ever name the
field path, are checked here against the path instead
(``CheckTypeNamesMatchFieldPathNames``). The apply merge knows the list
semantics (``x-kubernetes-list-type``) of the lists of Pod templates and
metadata (``_kube.LIST_MAP_KEYS``, ``_kube.ATOMIC_LISTS``); a patch into
any other list is refused rather than guessed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from policygen.engines._kube import (
    ATOMIC_LISTS,
    ATOMIC_MAPS,
    CONTAINER_PORT_KEYS,
    LIST_MAP_KEYS,
    SERVICE_PORT_KEYS,
    SET_LISTS,
)

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


class MutationError(Exception):
    """A patch that cannot be applied: Kyverno reports the policy as error."""


class Unsupported(Exception):
    """A construct this module does not implement (refused by the caller)."""


_TOKEN = re.compile(
    r"""
      (?P<string>[rRbB]{0,2}(?:'''.*?'''|\"\"\".*?\"\"\"|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'))
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<space>\s+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
TYPE_ROOTS = ("Object", "JSONPatch")


def rewrite_construction(expression: str) -> tuple[str, list[tuple[str, ...]]]:
    """The expression with typed object construction turned into map
    literals, and the type names it used (each as its dotted parts)."""
    tokens = [(m.lastgroup or "", m.group()) for m in _TOKEN.finditer(expression)]
    out: list[str] = []
    types: list[tuple[str, ...]] = []
    # each open bracket: its kind, and for a construction whether a field
    # name comes next
    stack: list[list[Any]] = []
    i = 0
    n = len(tokens)

    def next_significant(j: int) -> int:
        while j < n and tokens[j][0] == "space":
            j += 1
        return j

    while i < n:
        kind, text = tokens[i]
        prev = next((t for t in reversed(out) if t.strip()), "")
        if kind == "ident" and text in TYPE_ROOTS and prev != ".":
            # Object(.name)* followed by {
            parts = [text]
            j = next_significant(i + 1)
            while (
                j + 1 < n and tokens[j][1] == "." and tokens[next_significant(j + 1)][0] == "ident"
            ):
                k = next_significant(j + 1)
                parts.append(tokens[k][1])
                j = next_significant(k + 1)
            if j < n and tokens[j][1] == "{":
                types.append(tuple(parts))
                # dyn(): an object, unlike a map, may meet null in a ternary
                out.append("dyn({")
                stack.append(["message", True])
                i = j + 1
                continue
        if stack and stack[-1][0] == "message" and stack[-1][1] and kind != "space":
            # a field initializer: [?]name ':'
            optional = text == "?"
            j = next_significant(i + 1) if optional else i
            if j < n and tokens[j][0] == "ident":
                k = next_significant(j + 1)
                if k < n and tokens[k][1] == ":":
                    out.append(("?" if optional else "") + f'"{tokens[j][1]}"')
                    stack[-1][1] = False
                    i = j + 1
                    continue
            if text != "}":
                raise Unsupported(f"object construction field at {text!r}")
        if text in "([{":
            stack.append([{"(": "paren", "[": "list", "{": "map"}[text], False])
        elif text in ")]}":
            if stack and stack.pop()[0] == "message" and text == "}":
                out.append("})")
                i += 1
                continue
        elif text == "," and stack and stack[-1][0] == "message":
            stack[-1][1] = True
        out.append(text)
        i += 1
    return "".join(out), types


# --- server-side apply --------------------------------------------------------


def apply_configuration(
    obj: Mapping[str, Any], patch: Any, *, allow_atomic: bool = False
) -> dict[str, Any]:
    """``patch`` merged into ``obj`` as structured-merge-diff merges an apply
    configuration: maps field by field, list-maps element by key, sets by
    value, atomic lists and scalars replaced. Unless ``allow_atomic``
    (Kyverno's ``evaluation.useServerSideApply``), a patch that sets an
    atomic list is an error, as the API server's ``validatePatch`` has it."""
    if not isinstance(patch, dict):
        raise MutationError("an apply configuration must be an object")
    if not allow_atomic:
        atomic = sorted(_atomics(patch, ()))
        if atomic:
            raise MutationError(
                "invalid ApplyConfiguration: may not mutate atomic arrays, maps or structs: "
                + ", ".join(atomic)
            )
    merged: dict[str, Any] = _merge(copy.deepcopy(dict(obj)), patch, ())
    return merged


def _atomics(value: Any, path: tuple[str, ...]) -> list[str]:
    found = []
    if isinstance(value, dict):
        if path and path[-1] in ATOMIC_MAPS:
            found.append(".".join(path))
        for key, item in value.items():
            found += _atomics(item, (*path, str(key)))
    elif isinstance(value, list):
        if path and path[-1] in ATOMIC_LISTS:
            found.append(".".join(path))
        for item in value:
            found += _atomics(item, path)
    return found


def _merge(live: Any, patch: Any, path: tuple[str, ...]) -> Any:
    if isinstance(patch, dict):
        base = dict(live) if isinstance(live, dict) else {}
        for key, value in patch.items():
            if value is None:
                raise Unsupported(
                    f"a null at {'.'.join((*path, str(key)))} in an apply configuration"
                )
            base[key] = _merge(base.get(key), value, (*path, str(key)))
        return base
    if isinstance(patch, list):
        name = path[-1] if path else ""
        keys = _list_map_keys(path)
        if keys is not None:
            return _merge_list_map(live if isinstance(live, list) else [], patch, path, keys)
        if name in SET_LISTS:
            merged = list(live) if isinstance(live, list) else []
            return merged + [v for v in patch if v not in merged]
        if name in ATOMIC_LISTS or not isinstance(live, list) or not live:
            return copy.deepcopy(patch)
        raise Unsupported(f"apply into the list {'.'.join(path)}: its merge type is not known")
    return copy.deepcopy(patch)


def _list_map_keys(path: tuple[str, ...]) -> tuple[str, ...] | None:
    name = path[-1] if path else ""
    if name == "ports":
        in_container = any(p in CONTAINER_LISTS for p in path)
        return CONTAINER_PORT_KEYS if in_container else SERVICE_PORT_KEYS
    return LIST_MAP_KEYS.get(name)


def _merge_list_map(
    live: list[Any], patch: list[Any], path: tuple[str, ...], keys: tuple[str, ...]
) -> list[Any]:
    out = [copy.deepcopy(v) for v in live]

    def key_of(item: Any) -> tuple[Any, ...]:
        if not isinstance(item, dict):
            raise MutationError(f"{'.'.join(path)}: an element is not an object")
        return tuple(item.get(k, DEFAULT_KEY_VALUES.get(k)) for k in keys)

    index = {key_of(item): i for i, item in enumerate(out)}
    for item in patch:
        key = key_of(item)
        if key in index:
            out[index[key]] = _merge(out[index[key]], item, path)
        else:
            index[key] = len(out)
            out.append(_merge({}, item, path))
    return out


#: list-map key fields that default when absent (ports' protocol)
DEFAULT_KEY_VALUES = {"protocol": "TCP"}


# --- JSON patch -----------------------------------------------------------------


def apply_json_patch(obj: Any, operations: Any) -> Any:
    """RFC 6902 operations applied in order; a failing one is an error."""
    if not isinstance(operations, list):
        raise MutationError("a JSONPatch expression must give a list")
    doc = copy.deepcopy(obj)
    try:
        for op in operations:
            if not isinstance(op, dict):
                raise MutationError("a JSON patch operation must be an object")
            doc = _json_op(doc, op)
    except _TestFailed:
        return copy.deepcopy(obj)  # a failed test: the patch is not applied
    return doc


class _TestFailed(Exception):
    pass


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise MutationError(f"invalid JSON pointer {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _json_op(doc: Any, op: Mapping[str, Any]) -> Any:
    kind = op.get("op")
    parts = _pointer(op.get("path"))
    if kind == "test":
        try:
            found = _get(doc, parts)
        except MutationError:
            raise _TestFailed() from None
        if found != op.get("value"):
            raise _TestFailed()
        return doc
    if kind in ("move", "copy"):
        value = copy.deepcopy(_get(doc, _pointer(op.get("from"))))
        if kind == "move":
            doc = _remove(doc, _pointer(op.get("from")))
        return _add(doc, parts, value)
    if kind == "add":
        if "value" not in op:
            raise MutationError("add operation has no value")
        return _add(doc, parts, copy.deepcopy(op.get("value")))
    if kind == "remove":
        return _remove(doc, parts)
    if kind == "replace":
        _get(doc, parts)  # must exist
        doc = _remove(doc, parts)
        return _add(doc, parts, copy.deepcopy(op.get("value")))
    raise MutationError(f"unknown JSON patch op {kind!r}")


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        node = _child(node, part)
    return node


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        if part not in node:
            raise MutationError(f"no such path: {part}")
        return node[part]
    if isinstance(node, list):
        return node[_index(node, part, allow_end=False)]
    raise MutationError(f"cannot index {type(node).__name__} with {part}")


def _index(node: list[Any], part: str, *, allow_end: bool) -> int:
    """A list index as evanphx/json-patch v4 reads it: ``-`` appends, and a
    negative index counts from the end."""
    if part == "-" and allow_end:
        return len(node)
    try:
        index = int(part)
    except ValueError:
        raise MutationError(f"invalid list index {part}") from None
    if index < 0:
        if index < -len(node):
            raise MutationError(f"list index {part} out of range")
        index += len(node)
    if index > len(node) or (index == len(node) and not allow_end):
        raise MutationError(f"list index {part} out of range")
    return index


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        node = _child(node, part)
    return node


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise MutationError(f"cannot add under {type(parent).__name__}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise MutationError("cannot remove the whole document")
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise MutationError(f"no such path to remove: {last}")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, allow_end=False)]
    else:
        raise MutationError(f"cannot remove from {type(parent).__name__}")
    return doc


def escape_key(key: str) -> str:
    """``jsonpatch.escapeKey``: a map key as one JSON pointer segment."""
    return key.replace("~", "~0").replace("/", "~1")
