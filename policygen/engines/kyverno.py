"""The Kyverno evaluator: ``kyverno.io/v1`` ClusterPolicy/Policy and
``kyverno.io/v2`` PolicyException, evaluated as Kyverno's engine does
(notes/kyverno.md §3), for the constructs listed in docs; anything else is
refused with "unsupported kyverno construct at <path>".

Admission order: API-server defaulting, then every mutate rule of every
policy, then validation of the mutated object.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from policygen import imageref
from policygen.config import Config
from policygen.engines import EvalContext, NamespaceUnknown, PolicyCache, Review
from policygen.engines._kyverno_match import (
    Admission,
    autogen_rules,
    matches,
    possible_kinds,
)
from policygen.engines._kyverno_mutate import PatchError, json6902, strategic_merge
from policygen.engines._kyverno_operators import evaluate
from policygen.engines._kyverno_pattern import validate_pattern, wildcard
from policygen.engines._kyverno_vars import (
    CLUSTER_ONLY,
    NotFound,
    VariableError,
    lookup,
    query,
    rule_inputs,
    substitute,
    substitute_string,
)
from policygen.errors import UnsupportedConstruct
from policygen.memo import Memo, fingerprint
from policygen.model import namespace_labels
from policygen.violations import Action, Violation
from policygen.workloads import CONTAINER_LISTS, POD_SPEC_PATHS, with_api_defaults

MEMO_SIZE = 20_000
#: kyverno.io/v2beta1 serves the same policies (deprecated; match by any/all only)
POLICY_APIS = ("kyverno.io/v1", "kyverno.io/v2beta1")
RULE_FIELDS = {
    "name",
    "match",
    "exclude",
    "context",
    "preconditions",
    "validate",
    "mutate",
    "skipBackgroundRequests",
    "celPreconditions",
}
VALIDATE_FIELDS = {
    "message",
    "failureAction",
    "allowExistingViolations",
    "pattern",
    "anyPattern",
    "deny",
    "foreach",
    "failureActionOverrides",
    "cel",  # evaluated by kyverno_cel.validate_cel
    "podSecurity",  # refused below
    "manifests",
    "assert",
}
FOREACH_FIELDS = {
    "list",
    "context",
    "preconditions",
    "deny",
    "pattern",
    "anyPattern",
    "elementScope",
}
MUTATE_FOREACH_FIELDS = {
    "list",
    "context",
    "preconditions",
    "patchStrategicMerge",
    "patchesJson6902",
    "order",
    "foreach",
}
FOREACH_FIELDS = FOREACH_FIELDS | {"foreach"}


@dataclass(frozen=True)
class RuleResult:
    policy: str
    rule: str
    status: str  # pass | fail | skip | error
    message: str = ""
    action: Action = "deny"
    element: Mapping[str, Any] | None = None  # the failing foreach element
    mutation: bool = False  # a mutate rule's response


@dataclass(frozen=True)
class Rule:
    policy: str
    spec: Mapping[str, Any]
    action: Action
    kinds: frozenset[str] | None = None  # kinds it can match; None: any
    #: data paths its outcome depends on, for memoising; None: not memoisable
    inputs: tuple[tuple[str, ...], ...] | None = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def enforce(self) -> bool:
        """failureAction Enforce (the rest is Audit, warning or not)."""
        return self.action == "deny"


@dataclass
class Policy:
    name: str
    rules: list[Rule]


@dataclass
class Exception_:
    name: str
    targets: list[tuple[str, list[str]]]
    match: Mapping[str, Any]
    conditions: Mapping[str, Any] | None


@dataclass
class Request:
    obj: Mapping[str, Any]
    namespace: str
    namespace_labels: Mapping[str, str] | None
    operation: str = "CREATE"
    subresource: str = ""
    old_obj: Mapping[str, Any] | None = None
    user_info: Mapping[str, Any] = field(default_factory=dict)  # username, groups
    roles: tuple[str, ...] = ()
    cluster_roles: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)  # test-supplied variables
    #: test-supplied ``request.*`` fields besides the objects (``namespace``…)
    request_values: Mapping[str, Any] = field(default_factory=dict)
    #: test-supplied variables per rule name, added when the rule's context loads
    rule_values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class Outcome:
    """One request's mutated object and its rule results."""

    obj: dict[str, Any]
    results: list[RuleResult]


class PolicySet:
    def __init__(self) -> None:
        self.policies: list[Policy] = []
        self.exceptions: list[Exception_] = []
        self._images_of: tuple[Mapping[str, Any], dict[str, Any]] | None = None
        self._memo: Memo[tuple[int, bytes], RuleResult | None] = Memo(MEMO_SIZE)

    @classmethod
    def load(cls, documents: Sequence[Mapping[str, Any]]) -> PolicySet:
        out = cls()
        for doc in documents:
            kind, api = doc.get("kind"), str(doc.get("apiVersion", ""))
            if kind in ("ClusterPolicy", "Policy") and api in POLICY_APIS:
                out.policies.append(_policy(doc))
            elif kind == "PolicyException" and api.startswith("kyverno.io/v2"):
                out.exceptions.append(_exception(doc))
            elif kind in ("ClusterPolicy", "Policy", "PolicyException"):
                raise UnsupportedConstruct(
                    "kyverno", f"{kind}/{api}", "only kyverno.io/v1, v2beta1 and v2"
                )
        return out

    def has(self, kind: str) -> bool:
        """Whether any rule is a ``mutate`` (or ``validate``) rule."""
        return any(kind in rule.spec for policy in self.policies for rule in policy.rules)

    def review(self, req: Request, *, api_defaults: bool = True) -> Outcome:
        """Admission: every mutate rule of every policy, then every validate
        rule on the mutated object."""
        obj = with_api_defaults(dict(req.obj)) if api_defaults else dict(req.obj)
        mutated = self.mutate(dataclasses.replace(req, obj=obj))
        validated = self.validate(dataclasses.replace(req, obj=mutated.obj))
        return Outcome(mutated.obj, mutated.results + validated)

    def mutate(self, req: Request) -> Outcome:
        obj = copy.deepcopy(dict(req.obj))
        results: list[RuleResult] = []
        for policy in self.policies:
            for rule in policy.rules:
                if "mutate" in rule.spec:
                    result, obj = self._mutate(rule, obj, req)
                    if result is not None:
                        results.append(dataclasses.replace(result, mutation=True))
        return Outcome(obj, results)

    def validate(self, req: Request) -> list[RuleResult]:
        obj = dict(req.obj)
        results: list[RuleResult] = []
        for policy in self.policies:
            for rule in policy.rules:
                if "validate" in rule.spec:
                    result = self._validate(rule, obj, req)
                    if result is not None:
                        results.append(result)
        return results

    # --- shared steps ---------------------------------------------------------

    def _applies(self, rule: Rule, obj: Mapping[str, Any], req: Request) -> bool:
        if rule.kinds is not None and obj.get("kind") not in rule.kinds:
            return False
        adm = _admission(obj, req)
        where = f"{rule.policy}.rules[{rule.name}]"
        try:
            if not matches(rule.spec.get("match"), adm, f"{where}.match"):
                return False
        except NamespaceUnknown:
            # Offline only (a cluster always has the Namespace): a rule
            # whose exclude drops the request on what is known, such as an
            # excluded namespace's name, never needed its labels.
            if _surely_excluded(rule.spec.get("exclude"), adm, f"{where}.exclude"):
                return False
            raise
        return not matches(rule.spec.get("exclude"), adm, f"{where}.exclude")

    def _excepted(
        self, rule: Rule, obj: Mapping[str, Any], req: Request, data: dict[str, Any]
    ) -> bool:
        adm = _admission(obj, req)
        for exc in self.exceptions:
            named = any(
                wildcard(policy, rule.policy) and any(wildcard(r, rule.name) for r in rules)
                for policy, rules in exc.targets
            )
            try:
                if not named or not matches(exc.match, adm, f"PolicyException/{exc.name}.match"):
                    continue
            except NamespaceUnknown:
                continue  # an exception that cannot be shown to apply does not

            if exc.conditions is None or conditions_hold(exc.conditions, data, exc.name):
                return True
        return False

    def _images(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """The images variable, computed once per object (mutation makes a new one)."""
        if self._images_of is None or self._images_of[0] is not obj:
            self._images_of = (obj, images(obj))
        return self._images_of[1]

    def _data(
        self, obj: Mapping[str, Any], req: Request, old: Mapping[str, Any] | None
    ) -> dict[str, Any]:
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
            "images": self._images(obj),
        }
        _merge_maps(req.values, data)
        _merge_maps(req.request_values, data["request"])
        data["request"]["operation"] = req.operation  # re-checking an old object changes it
        return data

    # --- mutate ---------------------------------------------------------------

    def _mutate(
        self, rule: Rule, obj: dict[str, Any], req: Request
    ) -> tuple[RuleResult | None, dict[str, Any]]:
        """mutateResourceHandler.Process: pass when the resource changed,
        skip when nothing applied, error when a variable or patch fails."""
        where = f"{rule.policy}.{rule.name}.mutate"

        def result(status: str, message: str = "") -> RuleResult:
            return RuleResult(rule.policy, rule.name, status, message)

        try:
            if not self._applies(rule, obj, req):
                return None, obj
        except NamespaceUnknown:
            return None, obj  # a mutation that cannot match does not mutate
        mutate = rule.spec["mutate"]
        unknown = set(mutate) - {"patchStrategicMerge", "patchesJson6902", "foreach", "targets"}
        if mutate.get("targets"):
            unknown.add("targets")
        if unknown:
            raise UnsupportedConstruct("kyverno", where, sorted(unknown)[0])
        try:
            data = self._data(obj, req, req.old_obj)
            if self._excepted(rule, obj, req, data):
                return result("skip", "exception"), obj
        except VariableError as exc:
            return result("error", str(exc)), obj
        try:
            load_context(
                rule.spec.get("context") or [], data, req.rule_values.get(rule.name, {}), where
            )
        except VariableError as exc:
            return result("error", f"failed to load context: {exc}"), obj
        try:
            if not conditions_hold(rule.spec.get("preconditions"), data, where):
                return result("skip", "preconditions not met"), obj
        except VariableError as exc:
            return result("error", f"failed to evaluate preconditions: {exc}"), obj
        try:
            if mutate.get("foreach") is not None:
                patched = self._mutate_foreach(mutate["foreach"], obj, data, where, 0)
            else:
                patched = _patch(mutate, obj, data, where)
        except (VariableError, PatchError) as exc:
            return result("error", str(exc)), obj
        if patched is None or patched == obj:
            return result("skip", "no patches applied"), obj
        return result("pass", "mutated"), patched

    def _mutate_foreach(
        self, entries: Any, obj: dict[str, Any], data: dict[str, Any], where: str, nesting: int
    ) -> dict[str, Any] | None:
        """forEachMutator.mutateForEach: None when no entry applied."""
        if not isinstance(entries, list):
            raise UnsupportedConstruct("kyverno", f"{where}.foreach", "not a list")
        applied = 0
        for i, fe in enumerate(entries):
            at = f"{where}.foreach[{i}]"
            _refuse_extra(fe, MUTATE_FOREACH_FIELDS, at)
            try:
                elements = _elements(fe, data)
            except VariableError as exc:
                raise VariableError(f"failed to evaluate list {fe.get('list')}: {exc}") from None
            patched = obj
            # a patchStrategicMerge foreach runs last element first (kustomize
            # reverses the patches it is given)
            default = "Descending" if fe.get("patchStrategicMerge") is not None else "Ascending"
            indexed = list(enumerate(elements))
            if fe.get("order", default) == "Descending":
                indexed.reverse()
            for index, element in indexed:
                if element is None:
                    continue
                scoped = dict(data)
                scoped["element"] = scoped[f"element{nesting}"] = element
                scoped["elementIndex"] = scoped[f"elementIndex{nesting}"] = index
                load_context(fe.get("context") or [], scoped, {}, at)
                if not conditions_hold(fe.get("preconditions"), scoped, at):
                    continue
                if fe.get("foreach") is not None:
                    nested = self._mutate_foreach(fe["foreach"], patched, scoped, at, nesting + 1)
                    if nested is not None:
                        patched = nested
                    continue
                patched = _patch(fe, patched, scoped, at)
            if patched != obj:
                applied += 1
                obj = patched
                data["request"]["object"] = obj
        return obj if applied else None

    # --- validate -------------------------------------------------------------

    def _validate(self, rule: Rule, obj: dict[str, Any], req: Request) -> RuleResult | None:
        """validateResourceHandler.Process and validator.validate: None when
        the rule gives no response (not matched, or a foreach over nothing)."""
        try:
            if not self._applies(rule, obj, req):
                return None
        except NamespaceUnknown as exc:
            msg = exc.message(f"{rule.policy}/{rule.name}")
            return RuleResult(rule.policy, rule.name, "error", msg, "deny")
        validate = rule.spec["validate"]
        where = f"{rule.policy}.{rule.name}.validate"
        _refuse_extra(validate, VALIDATE_FIELDS, where)
        if validate.get("failureActionOverrides"):
            raise UnsupportedConstruct("kyverno", f"{where}.failureActionOverrides", "")
        result = self._check(rule, obj, req, req.old_obj)
        if (
            rule.enforce
            and req.operation == "UPDATE"
            and req.old_obj is not None
            and validate.get("allowExistingViolations", True)
            and result is not None
            and result.status == "fail"
            and "cel" not in validate  # Kyverno's CEL handler has no such check
        ):
            # An Enforce rule re-checks the old object as if it were being
            # created; a violation it already had is allowed to stay.
            old = dict(req.old_obj)
            as_created = dataclasses.replace(req, obj=old, operation="CREATE", old_obj=None)
            try:
                old_matches = self._applies(rule, old, as_created)
            except NamespaceUnknown:
                old_matches = False
            if old_matches:
                prior = self._check(rule, old, as_created, None)
                if prior is not None and prior.status == "fail":
                    return RuleResult(
                        rule.policy, rule.name, "skip", "existing violation", rule.action
                    )
        return result

    def _check(
        self, rule: Rule, obj: dict[str, Any], req: Request, old: Mapping[str, Any] | None
    ) -> RuleResult | None:
        validate = rule.spec["validate"]
        where = f"{rule.policy}.{rule.name}.validate"

        def result(status: str, message: str = "", element: Any = None) -> RuleResult:
            return RuleResult(rule.policy, rule.name, status, message, rule.action, element)

        try:
            data = self._data(obj, req, old)
            if self._excepted(rule, obj, req, data):
                return result("skip", "exception")
        except VariableError as exc:
            return result("error", str(exc))
        key = None
        if rule.inputs is not None:
            # The rest depends only on these values: memoise it.
            values = [lookup(data, path) for path in rule.inputs]
            extra = (sorted(req.values.items()), req.rule_values.get(rule.name))
            key = (id(rule), fingerprint((values, extra, req.operation)))
            hit = self._memo.get(key)
            if hit is None or isinstance(hit, RuleResult):
                return hit
        spec = {
            "context": rule.spec.get("context") or [],
            "preconditions": rule.spec.get("preconditions"),
            "celPreconditions": rule.spec.get("celPreconditions"),
            **validate,
        }
        found = _Validator(validate, where, req.rule_values.get(rule.name, {})).run(spec, data, 0)
        answer = None if found is None else result(found.status, found.message, found.element)
        if key is not None:
            self._memo.put(key, answer)
        return answer


@dataclass(frozen=True)
class _Response:
    status: str
    message: str = ""
    element: Any = None


class _Validator:
    """pkg/engine/handlers/validation/validate_resource.go's validator: one
    rule, or one foreach level of it (``nesting`` > 0)."""

    def __init__(self, validate: Mapping[str, Any], where: str, values: Mapping[str, Any]):
        self.validate = validate  # the rule's validate block (message, failureAction)
        self.where = where
        self.values = values  # the test's values for this rule

    def message(self, data: Mapping[str, Any]) -> str:
        text = str(self.validate.get("message", ""))
        try:
            return str(substitute_string(text, data))
        except VariableError:
            return text

    def run(self, spec: Mapping[str, Any], data: dict[str, Any], nesting: int) -> _Response | None:
        at = self.where if nesting == 0 else f"{self.where}.foreach"
        try:
            load_context(spec.get("context") or [], data, self.values if nesting == 0 else {}, at)
        except VariableError as exc:
            return _Response("error", f"failed to load context: {exc}")
        try:
            met = conditions_hold(spec.get("preconditions"), data, at)
        except VariableError as exc:
            return _Response("error", f"failed to evaluate preconditions: {exc}")
        if not met:
            return _Response("skip", "preconditions not met")
        if "deny" in spec and spec["deny"] is not None:
            try:
                denied = conditions_hold((spec["deny"] or {}).get("conditions"), data, at)
            except VariableError as exc:
                return _Response("error", f"failed to check deny conditions: {exc}")
            if denied:
                return _Response("fail", self.message(data), data.get("element"))
            return _Response("pass")
        if spec.get("pattern") is not None or spec.get("anyPattern") is not None:
            return self._patterns(spec, data)
        if spec.get("foreach") is not None:
            return self._foreach(spec["foreach"], data, nesting)
        if spec.get("cel") is not None and nesting == 0:
            from policygen.engines.kyverno_cel import validate_cel

            request = data["request"]
            status, message = validate_cel(
                spec, request["object"], request.get("oldObject"), request, self.where
            )
            return _Response(status, message)
        for construct in ("podSecurity", "manifests", "assert", "cel"):
            if spec.get(construct) is not None:
                raise UnsupportedConstruct("kyverno", f"{at}.{construct}", "")
        return None  # Kyverno logs "invalid validation rule" and answers nothing

    def _patterns(self, spec: Mapping[str, Any], data: dict[str, Any]) -> _Response:
        element = data.get("__scoped__")
        resource = element if element is not None else data["request"]["object"]
        try:
            if spec.get("pattern") is not None:
                patterns = [substitute(spec["pattern"], data)]
                single = True
            else:
                any_pattern = spec["anyPattern"]
                if not isinstance(any_pattern, list):
                    return _Response("error", "failed to deserialize anyPattern")
                patterns = [substitute(p, data) for p in any_pattern]
                single = False
        except VariableError as exc:
            return _Response("error", f"variable substitution failed: {exc}")
        if single:
            status, path = validate_pattern(resource, patterns[0])
            if status == "fail":
                return _Response("fail", self.message(data), data.get("element"))
            return _Response(status, path)
        skipped = failed = 0
        for pattern in patterns:
            status, _ = validate_pattern(resource, pattern)
            if status == "pass":
                return _Response("pass")
            if status == "skip":
                skipped += 1
            else:
                failed += 1
        if failed:
            return _Response("fail", self.message(data), data.get("element"))
        if skipped:
            return _Response("skip")
        return _Response("pass")

    def _foreach(self, entries: Any, data: dict[str, Any], nesting: int) -> _Response | None:
        if not isinstance(entries, list):
            raise UnsupportedConstruct("kyverno", f"{self.where}.foreach", "not a list")
        applied = 0
        list_error: str | None = None
        for i, fe in enumerate(entries):
            at = f"{self.where}.foreach[{i}]"
            _refuse_extra(fe, FOREACH_FIELDS, at)
            try:
                elements = _elements(fe, data)
            except NotFound:
                continue  # "optional field not found, skipping"
            except VariableError as exc:
                list_error = str(exc)
                continue
            response, count = self._elements(fe, elements, data, nesting, at)
            if response.status != "pass":
                return response
            applied += count
        if applied == 0:
            if list_error is not None:
                return _Response("error", f"failed to evaluate list: {list_error}")
            return None
        return _Response("pass")

    def _elements(
        self, fe: Mapping[str, Any], elements: list[Any], data: dict[str, Any], nesting: int,
        at: str,
    ) -> tuple[_Response, int]:  # fmt: skip
        applied = 0
        scope = fe.get("elementScope")
        for index, element in enumerate(elements):
            if element is None:
                continue
            scoped = dict(data)
            scoped["element"] = scoped[f"element{nesting}"] = element
            scoped["elementIndex"] = scoped[f"elementIndex{nesting}"] = index
            is_map = isinstance(element, dict)
            if scope is True and not is_map:
                return _Response("error", "elementScope true needs map elements"), applied
            scoped["__scoped__"] = element if (is_map if scope is None else scope) else None
            if scoped["__scoped__"] is None:
                scoped.pop("__scoped__")
            response = self.run(fe, scoped, nesting + 1)
            if response is None or response.status == "skip":
                continue
            if response.status != "pass":
                if response.status == "error" and response.message.startswith(
                    "failed to evaluate preconditions"
                ):
                    continue
                return response, applied
            applied += 1
        return _Response("pass"), applied


def _elements(fe: Mapping[str, Any], data: dict[str, Any]) -> list[Any]:
    """EvaluateList: the query's list, or a one-element list of whatever
    else it gives (null too, which is then skipped)."""
    expression = str(fe.get("list", ""))
    if "{{" in expression:
        expression = str(substitute_string(expression, data))
    value = query(expression.strip(), data)
    return value if isinstance(value, list) else [value]


def _patch(spec: Mapping[str, Any], obj: dict[str, Any], data: dict[str, Any], where: str) -> Any:
    """One patch of a mutate rule or foreach entry, its variables substituted."""
    if spec.get("patchStrategicMerge") is not None:
        patch = substitute(spec["patchStrategicMerge"], data)
        return strategic_merge(obj, patch, where)
    if spec.get("patchesJson6902") is not None:
        text = substitute(spec["patchesJson6902"], data)
        return json6902(obj, text, where)
    raise UnsupportedConstruct("kyverno", where, "a mutation without a patch")


def load_context(
    entries: list[Mapping[str, Any]],
    data: dict[str, Any],
    values: Mapping[str, Any],
    where: str,
) -> None:
    """Context entries, after the test's values for the rule (``values``):
    a variable is computed and replaces a value of the same name; entries
    that need a cluster (configMap, apiCall, imageRegistry, globalReference)
    are not loaded offline, as in the Kyverno CLI, so only a value can stand
    in for them. Which ones were missing is remembered, so that a rule that
    then cannot resolve a variable is refused rather than reported."""
    _merge_maps(values, data)
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
                value = substitute(variable["value"], data)
                if expression:
                    # the path reads the value itself, a list as much as a map
                    value = query(expression, value)
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


def conditions_hold(block: Any, data: Mapping[str, Any], where: str) -> bool:
    """EvaluateConditions: ``any``/``all`` blocks (an empty ``any`` holds
    nothing), or a legacy list (all). No conditions hold."""
    if block is None:
        return True
    if isinstance(block, list):
        return all(_condition(c, data, where) for c in block)
    if not isinstance(block, dict):
        raise UnsupportedConstruct("kyverno", f"{where} conditions", "not any/all")
    any_of = block.get("any")
    all_of = block.get("all")
    ok_any = True if any_of is None else any(_condition(c, data, where) for c in any_of)
    ok_all = True if all_of is None else all(_condition(c, data, where) for c in all_of)
    return ok_any and ok_all


def _condition(cond: Mapping[str, Any], data: Mapping[str, Any], where: str) -> bool:
    key = substitute(cond.get("key"), data)
    value = substitute(cond.get("value"), data)
    return evaluate(str(cond.get("operator", "")), key, value, where)


def _admission(obj: Mapping[str, Any], req: Request) -> Admission:
    return Admission(
        obj,
        req.namespace,
        req.operation,
        req.subresource,
        req.namespace_labels,
        req.user_info,
        req.roles,
        req.cluster_roles,
    )


def _refuse_extra(entry: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = set(entry) - allowed
    if extra:
        raise UnsupportedConstruct("kyverno", f"{where}.{sorted(extra)[0]}", "field")


def _merge_maps(src: Mapping[str, Any], dst: dict[str, Any]) -> None:
    """Kyverno's context merge: maps merge deeply, anything else replaces."""
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            dst[k] = dict(dst[k])  # never write into the request's objects
            _merge_maps(v, dst[k])
        else:
            dst[k] = v


def _policy(doc: Mapping[str, Any]) -> Policy:
    name = str(doc["metadata"]["name"])
    spec = doc.get("spec") or {}
    default_action = str(spec.get("validationFailureAction", "Audit"))
    rules: list[Rule] = []
    for raw in spec.get("rules") or []:
        extra = set(raw) - RULE_FIELDS
        if extra:
            raise UnsupportedConstruct(
                "kyverno", f"{name}.rules[{raw.get('name')}].{sorted(extra)[0]}", "rule field"
            )
        for spec_rule in [raw, *autogen_rules(doc, raw)]:
            kinds = possible_kinds(spec_rule.get("match"))
            inputs = rule_inputs(spec_rule)
            action = _action(spec_rule, default_action, bool(spec.get("emitWarning")))
            rules.append(Rule(name, spec_rule, action, kinds, inputs))
    return Policy(name, rules)


def _action(rule: Mapping[str, Any], default: str, emit_warning: bool) -> Action:
    """``spec.emitWarning`` turns a policy's Audit results into admission
    warnings (pkg/webhooks/resource/handlers.go, auditWarnPolicies); Kyverno
    has no rule-level emitWarning."""
    validate = rule.get("validate") or {}
    failure = str(validate.get("failureAction", default)).lower()
    if failure == "enforce":
        return "deny"
    return "warn" if emit_warning else "audit"


def _exception(doc: Mapping[str, Any]) -> Exception_:
    spec = doc.get("spec") or {}
    if spec.get("podSecurity"):
        raise UnsupportedConstruct(
            "kyverno", f"PolicyException/{doc['metadata']['name']}", "podSecurity"
        )
    targets = [
        (
            str(e.get("policyName", "")).rsplit("/", 1)[-1],
            [str(r) for r in e.get("ruleNames") or []],
        )
        for e in spec.get("exceptions") or []
    ]
    return Exception_(
        str(doc["metadata"]["name"]), targets, spec.get("match") or {}, spec.get("conditions")
    )


def _surely_excluded(exclude: Mapping[str, Any] | None, adm: Admission, where: str) -> bool:
    """Whether the exclude block holds on what is known of the request."""
    try:
        return matches(exclude, adm, where)
    except NamespaceUnknown:
        return False


# --- the images variable ------------------------------------------------------


def images(obj: Mapping[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    """Kyverno's ``images.<list>.<container>`` (pkg/utils/image/infos.go):
    registry kept as written (``index.docker.io`` too), ``docker.io`` when
    absent, the path as written (no ``library/``), tag ``latest`` when there
    is neither tag nor digest. Unparseable images are left out."""
    spec: Any = obj
    for path in POD_SPEC_PATHS.get(str(obj.get("kind", "")), ()):
        spec = spec.get(path) if isinstance(spec, dict) else None
    out: dict[str, dict[str, dict[str, str]]] = {}
    if not isinstance(spec, dict):
        return out
    for list_name in CONTAINER_LISTS:
        for c in spec.get(list_name) or []:
            if not isinstance(c, dict) or not isinstance(c.get("image"), str):
                continue
            info = image_info(c["image"])
            if info is not None:
                out.setdefault(list_name, {})[str(c.get("name", ""))] = info
    return out


_REFERENCE = re.compile(imageref.REFERENCE_RE)


@lru_cache(maxsize=4096)
def image_info(image: str) -> dict[str, str] | None:
    """GetImageInfo of kyverno pkg/utils/image/infos.go, with the default
    registry docker.io and registry mutation on (the Helm defaults)."""
    first, sep, _ = image.partition("/")
    domain_like = "." in first or ":" in first or first == "localhost" or first.lower() != first
    full = image if sep and domain_like else f"docker.io/{image}"
    m = _REFERENCE.fullmatch(full)
    if m is None or len(m.group(1)) > 255:
        return None
    registry, _, path = m.group(1).partition("/")
    tag, digest = m.group(2) or "", m.group(3) or ""
    if not tag and not digest:
        tag = "latest"
    # distribution's reference.Parse keeps the path as written: ``nginx``
    # stays ``nginx`` (ParseNormalizedNamed would add library/; Kyverno does not)
    reference_with_tag = f"{registry}/{path}:{tag}"
    name = path.rsplit("/", 1)[-1]
    reference = f"{registry}/{path}" + (f"@{digest}" if digest else f":{tag}")
    return {
        "registry": registry,
        "path": path,
        "name": name,
        "tag": tag,
        "digest": digest,
        "reference": reference,
        "referenceWithTag": reference_with_tag,
    }


# --- the policygen evaluator interface ----------------------------------------


def rule_of(policy: str, config_name: str) -> str:
    from policygen.targets.kyverno import POLICY_NAMES

    for rule, suffix in POLICY_NAMES.items():
        if policy == f"{config_name}-{suffix}":
            return rule
    return policy


def to_violations(outcome: Outcome, config_name: str) -> list[Violation]:
    out = set()
    for r in outcome.results:
        if r.status == "error" and r.message.startswith("namespace "):
            # the rule could not be matched at all: say which rule it was
            out.add(Violation(rule_of(r.policy, config_name), "", "", r.message, "deny"))
        elif r.status == "error":
            out.add(Violation(rule_of(r.policy, config_name), "", "", r.message, "deny"))
        elif r.status == "fail":
            element = r.element or {}
            image = element.get("image", "")
            if isinstance(image, dict):  # an image volume's source
                image = image.get("reference", "")
            out.add(
                Violation(
                    rule_of(r.policy, config_name),
                    str(element.get("name", "")),
                    str(image),
                    r.message,
                    r.action,
                )
            )
    return sorted(out)


class KyvernoEngine:
    name = "kyverno"
    per_rule = True

    def __init__(self) -> None:
        self._cache = PolicyCache("kyverno", PolicySet.load, lambda _: None)

    def policy_set(self, config: Config, ctx: EvalContext) -> PolicySet:
        return self._cache.get(config, ctx)

    def evaluate(
        self, config: Config, reviews: Sequence[Review], ctx: EvalContext
    ) -> list[list[Violation]]:
        policies = self.policy_set(config, ctx)
        out = []
        for review in reviews:
            ns_obj = ctx.namespaces.get(review.namespace)
            labels = None if ns_obj is None else namespace_labels(ns_obj, review.namespace)
            req = Request(
                review.obj, review.namespace, labels, review.operation, review.subresource
            )
            out.append(to_violations(policies.review(req), config.name))
        return out
