"""Kyverno's validate rules (pkg/engine/handlers/validation,
pkg/engine/validation.go): one rule's response for one request: deny
conditions, patterns, foreach and ``cel``, and an Enforce rule's check of
the old object on UPDATE (allowExistingViolations)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from policygen.engines import NamespaceUnknown
from policygen.engines.kyverno.api import (
    NotFound,
    Request,
    Rule,
    RuleResult,
    VariableError,
    refuse_extra,
)
from policygen.engines.kyverno.conditions import conditions_hold
from policygen.engines.kyverno.context import ContextMemo, load_context, rule_data
from policygen.engines.kyverno.exceptions import excepted
from policygen.engines.kyverno.functions import clock_key
from policygen.engines.kyverno.match import rule_applies
from policygen.engines.kyverno.reads import element_inputs
from policygen.engines.kyverno.validate import validate_pattern
from policygen.engines.kyverno.variables import (
    CLUSTER_ONLY,
    evaluate_list,
    lookup,
    substitute,
    substitute_string,
)
from policygen.errors import UnsupportedConstruct
from policygen.memo import MISSING, Memo, fingerprint

if TYPE_CHECKING:
    from policygen.engines.kyverno.engine import PolicySet


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


FOREACH_FIELDS = FOREACH_FIELDS | {"foreach"}


def validate_rule(
    ps: PolicySet, rule: Rule, obj: dict[str, Any], req: Request
) -> RuleResult | None:
    """validateResourceHandler.Process and validator.validate: None when
    the rule gives no response (not matched, or a foreach over nothing)."""
    try:
        if not ps.applies(rule, obj, req):
            return None
    except NamespaceUnknown as exc:
        msg = exc.message(f"{rule.policy}/{rule.name}")
        return RuleResult(rule.policy, rule.name, "error", msg, "deny")
    validate = rule.spec["validate"]
    where = f"{rule.policy}.{rule.name}.validate"
    refuse_extra(validate, VALIDATE_FIELDS, where)
    if validate.get("failureActionOverrides"):
        raise UnsupportedConstruct("kyverno", f"{where}.failureActionOverrides", "")
    result = _check(ps, rule, obj, req, req.old_obj)
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
            old_matches = rule_applies(rule, old, as_created)
        except NamespaceUnknown:
            old_matches = False
        if old_matches:
            prior = _check(ps, rule, old, as_created, None)
            if prior is not None and prior.status == "fail":
                return RuleResult(rule.policy, rule.name, "skip", "existing violation", rule.action)
    return result


def _check(
    ps: PolicySet, rule: Rule, obj: dict[str, Any], req: Request, old: Mapping[str, Any] | None
) -> RuleResult | None:
    validate = rule.spec["validate"]
    where = f"{rule.policy}.{rule.name}.validate"

    def result(status: str, message: str = "", element: Any = None) -> RuleResult:
        return RuleResult(rule.policy, rule.name, status, message, rule.action, element)

    try:
        # the images variable costs a walk of the object: only for a rule
        # that may read it (an exception's conditions may, whatever the rule)
        images = ps.images(obj) if rule.images or ps.exceptions else {}
        data = rule_data(obj, req, old, images)
        if excepted(ps.exceptions, rule, obj, req, data):
            return result("skip", "exception")
    except VariableError as exc:
        return result("error", str(exc))
    key = None
    if rule.inputs is not None:
        # The rest depends only on these values: memoise it.
        values = [lookup(data, path) for path in rule.inputs]
        extra = (
            sorted(req.values.items()),
            req.rule_values.get(rule.name),
            clock_key() if rule.clock else None,
        )
        key = (id(rule), fingerprint((values, extra, req.operation)))
        hit = ps.memo.get(key)
        if hit is None or isinstance(hit, RuleResult):
            return hit
    spec = {
        "context": rule.spec.get("context") or [],
        "preconditions": rule.spec.get("preconditions"),
        "celPreconditions": rule.spec.get("celPreconditions"),
        **validate,
    }
    validator = _Validator(
        validate, where, req.rule_values.get(rule.name, {}), ps.element_memo, ps.context_memo
    )
    found = validator.run(spec, data, 0)
    answer = None if found is None else result(found.status, found.message, found.element)
    if key is not None:
        ps.memo.put(key, answer)
    return answer


@dataclass(frozen=True)
class _Response:
    status: str
    message: str = ""
    element: Any = None


class _Validator:
    """pkg/engine/handlers/validation/validate_resource.go's validator: one
    rule, or one foreach level of it (``nesting`` > 0)."""

    def __init__(
        self,
        validate: Mapping[str, Any],
        where: str,
        values: Mapping[str, Any],
        memo: ElementMemo | None = None,
        context_memo: ContextMemo | None = None,
    ):
        self.validate = validate  # the rule's validate block (message, failureAction)
        self.where = where
        self.values = values  # the test's values for this rule
        #: foreach elements' answers by what they read (None: off)
        self.memo = memo if memo is not None and memo.maxsize else None
        #: context entries' results by what they read (None: off)
        self.context_memo = context_memo

    def message(self, data: Mapping[str, Any]) -> str:
        text = str(self.validate.get("message", ""))
        try:
            return str(substitute_string(text, data))
        except VariableError:
            return text

    def run(self, spec: Mapping[str, Any], data: dict[str, Any], nesting: int) -> _Response | None:
        at = self.where if nesting == 0 else f"{self.where}.foreach"
        try:
            load_context(
                spec.get("context") or [],
                data,
                self.values if nesting == 0 else {},
                at,
                self.context_memo,
            )
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
            refuse_extra(fe, FOREACH_FIELDS, at)
            try:
                elements = evaluate_list(fe, data)
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
            response = self._element(fe, scoped, nesting)
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

    def _element(
        self, fe: Mapping[str, Any], scoped: dict[str, Any], nesting: int
    ) -> _Response | None:
        """One element's answer, memoised on the values of what it reads
        (``element_inputs``), the clock, and which context entries only a
        cluster could fill: a repository's Pods repeat their containers far
        more than their container lists. The answer's element is always
        this one (equal in what is read, it may differ in the rest)."""
        memo = self.memo
        inputs = None if memo is None else memo.inputs(fe, self.validate.get("message"))
        if memo is None or inputs is None:
            return self.run(fe, scoped, nesting + 1)
        seen = (
            [probe(scoped, path) for path in inputs],
            scoped.get(CLUSTER_ONLY),
            clock_key(),
            self.where,
            nesting,
        )
        key = (id(fe), fingerprint(seen))
        hit = memo.get(key)
        if hit is MISSING:
            return memo.put(key, self.run(fe, scoped, nesting + 1))
        found = cast("_Response | None", hit)
        if found is not None and found.element is not None:
            found = _Response(found.status, found.message, scoped.get("element"))
        return found


def probe(data: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    """What reading ``path`` finds: (True, the value), or (False, how far it
    got) when a key is missing or a value on the way is not a map, which a
    query can tell from a null (go-jmespath's NotFound)."""
    value: Any = data
    for depth, key in enumerate(path):
        if type(value) is not dict or key not in value:
            return False, depth
        value = value[key]
    return True, value


class ElementMemo(Memo[tuple[int, bytes], "_Response | None"]):
    """Foreach elements' answers, with what each foreach entry reads."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        #: by the entry's identity; the entry is kept so its id stays its own
        self._inputs: dict[int, tuple[Any, tuple[tuple[str, ...], ...] | None]] = {}

    def inputs(self, fe: Mapping[str, Any], message: Any) -> tuple[tuple[str, ...], ...] | None:
        entry = self._inputs.get(id(fe))
        if entry is None or entry[0] is not fe:
            entry = self._inputs[id(fe)] = (fe, element_inputs(fe, message))
        return entry[1]
