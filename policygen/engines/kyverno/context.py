"""A Kyverno rule's context (pkg/engine/context and its loaders): the
request data the rule's variables read, and its ``context`` entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from policygen.engines.kyverno.api import Request, VariableError
from policygen.engines.kyverno.functions import clock_key
from policygen.engines.kyverno.variables import (
    CLUSTER_ONLY,
    has_variables,
    query,
    substitute,
    substitute_string,
)
from policygen.memo import MISSING, Memo, fingerprint

#: Whether a context value holds no variable, by identity (with the value,
#: so that an id reused by another object is no hit): Kyverno substitutes
#: a value on every request, which leaves such a one as it is, and a tenant
#: index walked per request would cost as much as the organisation is large.
_CONSTANT: Memo[int, tuple[Any, bool]] = Memo(4096)


def is_constant(value: Any) -> bool:
    hit = _CONSTANT.get(id(value))
    if isinstance(hit, tuple) and hit[0] is value:
        return bool(hit[1])
    constant = not has_variables(value)
    _CONSTANT.put(id(value), (value, constant))
    return constant


def rule_data(
    obj: Mapping[str, Any],
    req: Request,
    old: Mapping[str, Any] | None,
    images: dict[str, Any],
) -> dict[str, Any]:
    """A rule's JSON context: the request and the ``images`` variable, then
    the test's values merged in."""
    data: dict[str, Any] = {
        "request": {
            "object": obj,
            "oldObject": old,
            "operation": req.operation,
            "namespace": req.namespace,
            "userInfo": dict(req.user_info),
            "roles": list(req.roles),
            "clusterRoles": list(req.cluster_roles),
            "name": (obj.get("metadata") or {}).get("name", ""),
        },
        "images": images,
    }
    merge_maps(req.values, data)
    merge_maps(req.request_values, data["request"])
    data["request"]["operation"] = req.operation  # re-checking an old object changes it
    return data


def load_context(
    entries: list[Mapping[str, Any]],
    data: dict[str, Any],
    values: Mapping[str, Any],
    where: str,
    memo: ContextMemo | None = None,
) -> None:
    """Context entries, after the test's values for the rule (``values``):
    a variable is computed and replaces a value of the same name; entries
    that need a cluster (configMap, apiCall, imageRegistry, globalReference)
    are not loaded offline, as in the Kyverno CLI, so only a value can stand
    in for them. Which ones were missing is remembered, so that a rule that
    then cannot resolve a variable is refused rather than reported.
    ``memo``: the entries' results by the values of what they read."""
    merge_maps(values, data)
    if memo is not None and memo.maxsize and entries:
        # (no entries: nothing to keep, and a rule without them passes a new
        # empty list each time, whose identity must not fill the memo)
        inputs = memo.inputs(entries)
        if inputs is not None:
            _load_memoised(memo, inputs, entries, data, where)
            return
    _load_entries(entries, data, where)


def _load_memoised(
    memo: ContextMemo,
    inputs: tuple[tuple[str, ...], ...],
    entries: list[Mapping[str, Any]],
    data: dict[str, Any],
    where: str,
) -> None:
    """``_load_entries`` on variable entries only, whose results depend on
    the values of the paths they read (found or missing), on which entries
    only a cluster could fill (an error may be a refusal instead) and on
    the clock. What is kept is the names and values they set, in order, and
    the error that stopped them; values are shared, as query results are (a
    validate rule only reads its context)."""
    from policygen.engines.kyverno.validation import probe

    # ``where`` is not read: it only names entries a cluster fills, never memoised
    seen = ([probe(data, path) for path in inputs], data.get(CLUSTER_ONLY), clock_key())
    key = (id(entries), fingerprint(seen))
    hit = memo.get(key)
    if hit is MISSING:
        assigned: list[tuple[str, Any]] = []
        error: VariableError | None = None
        for entry in entries:  # one at a time: an error leaves the earlier ones set
            try:
                _load_entries([entry], data, where)
            except VariableError as exc:
                error = exc
                break
            name = str(entry.get("name", ""))
            assigned.append((name, data[name]))
        # the error by its type and words, not the exception (its traceback holds frames)
        memo.put(key, (assigned, None if error is None else (type(error), error.args)))
        if error is not None:
            raise error
        return
    assigned, raised = cast("tuple[list[tuple[str, Any]], Raised | None]", hit)
    for name, value in assigned:
        data[name] = value
    if raised is not None:
        raise raised[0](*raised[1])


def _load_entries(entries: list[Mapping[str, Any]], data: dict[str, Any], where: str) -> None:
    for i, entry in enumerate(entries):
        name = str(entry.get("name", ""))
        variable = entry.get("variable")
        if variable is None:
            if name not in data:
                kinds = sorted(set(entry) - {"name"})
                missing = dict(data.get(CLUSTER_ONLY) or {})
                missing[name] = f"{where}.context[{i}] ({', '.join(kinds)}) needs a cluster"
                data[CLUSTER_ONLY] = missing
            continue
        # loaders/variable.go: a query that fails or gives null takes the
        # default when there is one; with none, the entry is an error.
        default = substitute(variable["default"], data) if "default" in variable else None
        expression = variable.get("jmesPath")
        if expression:
            expression = str(substitute_string(str(expression), data))
        try:
            if "value" in variable:
                value = variable["value"]
                constant = is_constant(value)
                if not constant:
                    value = substitute(value, data)
                if expression:
                    # the path reads the value itself, a list as much as a map
                    value = query(expression, value, constant=constant)
            elif expression:
                value = query(expression, data)
            else:
                value = None
        except VariableError:
            if default is None:
                raise
            value = None
        if value is None:
            value = default
        if value is None:
            raise VariableError(f"context variable '{name}' evaluated to null")
        data[name] = value


def merge_maps(src: Mapping[str, Any], dst: dict[str, Any]) -> None:
    """Kyverno's context merge: maps merge deeply, anything else replaces."""
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            dst[k] = dict(dst[k])  # never write into the request's objects
            merge_maps(v, dst[k])
        else:
            dst[k] = v


#: a VariableError as its type and arguments
Raised = tuple[type[VariableError], tuple[Any, ...]]


class ContextMemo(Memo[tuple[int, bytes], tuple[list[tuple[str, Any]], "Raised | None"]]):
    """Context entries' results, with what each list of entries reads."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        #: by the list's identity; the list is kept so its id stays its own
        self._inputs: dict[int, tuple[Any, tuple[tuple[str, ...], ...] | None]] = {}

    def inputs(self, entries: list[Mapping[str, Any]]) -> tuple[tuple[str, ...], ...] | None:
        found = self._inputs.get(id(entries))
        if found is None or found[0] is not entries:
            from policygen.engines.kyverno.reads import context_inputs

            found = self._inputs[id(entries)] = (entries, context_inputs(entries))
        return found[1]
