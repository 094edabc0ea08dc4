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
from collections.abc import Callable, Iterator, Mapping, Sequence
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
from policygen.engines._kyverno_pattern import Mismatch, Skip, merge, wildcard
from policygen.engines._kyverno_pattern import match as match_pattern
from policygen.engines._kyverno_vars import (
    CLUSTER_ONLY,
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
RULE_FIELDS = {
    "name",
    "match",
    "exclude",
    "context",
    "preconditions",
    "validate",
    "mutate",
    "skipBackgroundRequests",
}
VALIDATE_FIELDS = {
    "message",
    "failureAction",
    "allowExistingViolations",
    "emitWarning",
    "pattern",
    "anyPattern",
    "deny",
    "foreach",
    "failureActionOverrides",
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
MUTATE_FOREACH_FIELDS = {"list", "context", "preconditions", "patchStrategicMerge", "order"}


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
    user_info: Mapping[str, Any] = field(default_factory=dict)
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
        self._memo: Memo[tuple[int, bytes], RuleResult] = Memo(MEMO_SIZE)

    @classmethod
    def load(cls, documents: Sequence[Mapping[str, Any]]) -> PolicySet:
        out = cls()
        for doc in documents:
            kind, api = doc.get("kind"), str(doc.get("apiVersion", ""))
            if kind in ("ClusterPolicy", "Policy") and api == "kyverno.io/v1":
                out.policies.append(_policy(doc))
            elif kind == "PolicyException" and api.startswith("kyverno.io/v2"):
                out.exceptions.append(_exception(doc))
            elif kind in ("ClusterPolicy", "Policy", "PolicyException"):
                raise UnsupportedConstruct("kyverno", f"{kind}/{api}", "only kyverno.io/v1 and v2")
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
        adm = Admission(obj, req.namespace, req.operation, req.subresource, req.namespace_labels)
        where = f"{rule.policy}.rules[{rule.name}]"
        if not matches(rule.spec.get("match"), adm, f"{where}.match"):
            return False
        return not matches(rule.spec.get("exclude"), adm, f"{where}.exclude")

    def _excepted(
        self, rule: Rule, obj: Mapping[str, Any], req: Request, data: dict[str, Any]
    ) -> bool:
        adm = Admission(obj, req.namespace, req.operation, req.subresource, req.namespace_labels)
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
                "name": (obj.get("metadata") or {}).get("name", ""),
            },
            "images": self._images(obj),
        }
        _merge_maps(req.values, data)
        _merge_maps(req.request_values, data["request"])
        return data

    # --- mutate ---------------------------------------------------------------

    def _mutate(
        self, rule: Rule, obj: dict[str, Any], req: Request
    ) -> tuple[RuleResult | None, dict[str, Any]]:
        try:
            try:
                if not self._applies(rule, obj, req):
                    return None, obj
            except NamespaceUnknown:
                return None, obj  # a mutation that cannot match does not mutate
            data = self._data(obj, req, req.old_obj)
            if self._excepted(rule, obj, req, data):
                return RuleResult(rule.policy, rule.name, "skip", "exception"), obj
            load_context(
                rule.spec.get("context") or [], data, req.rule_values.get(rule.name, {}), rule.name
            )
            if not conditions_hold(rule.spec.get("preconditions"), data, rule.name):
                return RuleResult(rule.policy, rule.name, "skip", "preconditions not met"), obj
            mutate = rule.spec["mutate"]
            unknown = set(mutate) - {"patchStrategicMerge", "foreach", "targets"} or (
                {"targets"} if mutate.get("targets") else set()
            )
            if unknown:
                raise UnsupportedConstruct(
                    "kyverno", f"{rule.policy}.{rule.name}.mutate", sorted(unknown)[0]
                )
            applied = False
            if "patchStrategicMerge" in mutate:
                patch = substitute(mutate["patchStrategicMerge"], data)
                obj, applied = merge(obj, patch)
            for i, fe in enumerate(mutate.get("foreach") or []):
                where = f"{rule.policy}.{rule.name}.mutate.foreach[{i}]"
                _refuse_extra(fe, MUTATE_FOREACH_FIELDS, where)
                for element, index in _elements(fe, data, where):
                    scoped = _element_data(data, element, index)
                    load_context(fe.get("context") or [], scoped, {}, where)
                    if not conditions_hold(fe.get("preconditions"), scoped, where):
                        continue
                    patch = substitute(fe["patchStrategicMerge"], scoped)
                    obj, did = merge(obj, patch)
                    applied = applied or did
                    data["request"]["object"] = obj
            status = "pass" if applied else "skip"
            return RuleResult(rule.policy, rule.name, status, "mutated" if applied else ""), obj
        except VariableError as exc:
            return RuleResult(rule.policy, rule.name, "error", str(exc)), obj

    # --- validate -------------------------------------------------------------

    def _validate(self, rule: Rule, obj: dict[str, Any], req: Request) -> RuleResult | None:
        try:
            if not self._applies(rule, obj, req):
                return None
        except NamespaceUnknown as exc:
            msg = exc.message(f"{rule.policy}/{rule.name}")
            return RuleResult(rule.policy, rule.name, "error", msg, "deny")
        result = self._check(rule, obj, req, req.old_obj)
        validate = rule.spec["validate"]
        if (
            result.status == "fail"
            and req.operation == "UPDATE"
            and req.old_obj is not None
            and validate.get("allowExistingViolations", True)
        ):
            # Kyverno skips a rule the old object already failed.
            old = self._check(rule, dict(req.old_obj), req, None)
            if old.status == "fail":
                return RuleResult(rule.policy, rule.name, "skip", "existing violation", rule.action)
        return result

    def _check(
        self, rule: Rule, obj: dict[str, Any], req: Request, old: Mapping[str, Any] | None
    ) -> RuleResult:
        validate = rule.spec["validate"]
        where = f"{rule.policy}.{rule.name}.validate"
        _refuse_extra(validate, VALIDATE_FIELDS, where)
        if validate.get("failureActionOverrides"):
            raise UnsupportedConstruct("kyverno", f"{where}.failureActionOverrides", "")

        def result(status: str, message: str = "", element: Any = None) -> RuleResult:
            return RuleResult(rule.policy, rule.name, status, message, rule.action, element)

        try:
            data = self._data(obj, req, old)
            if self._excepted(rule, obj, req, data):
                return result("skip", "exception")
            key = None
            if rule.inputs is not None:
                # The rest depends only on these values: memoise it.
                values = [lookup(data, path) for path in rule.inputs]
                key = (id(rule), fingerprint((values, sorted(req.values.items()))))
                hit = self._memo.get(key)
                if isinstance(hit, RuleResult):
                    return hit
            answer = self._decide(rule, data, req, where, result)
            if key is not None:
                self._memo.put(key, answer)
            return answer
        except VariableError as exc:
            return result("error", str(exc))

    def _decide(
        self,
        rule: Rule,
        data: dict[str, Any],
        req: Request,
        where: str,
        result: Callable[..., RuleResult],
    ) -> RuleResult:
        validate = rule.spec["validate"]
        try:
            load_context(
                rule.spec.get("context") or [], data, req.rule_values.get(rule.name, {}), rule.name
            )
            if not conditions_hold(rule.spec.get("preconditions"), data, rule.name):
                return result("skip", "preconditions not met")
            outcome, failed = _validation(validate, data, req.values, where)
            if outcome == "fail":
                message = substitute_string(str(validate.get("message", "")), failed or data)
                element = (failed or {}).get("element")
                return result("fail", str(message), element)
            return result(outcome)
        except VariableError as exc:
            return result("error", str(exc))


def _validation(
    validate: Mapping[str, Any], data: dict[str, Any], values: Mapping[str, Any], where: str
) -> tuple[str, dict[str, Any] | None]:
    """(pass | fail | skip, the variables in scope at the failure)."""
    obj = data["request"]["object"]
    if "pattern" in validate:
        return _pattern_outcome(obj, [substitute(validate["pattern"], data)]), data
    if "anyPattern" in validate:
        return _pattern_outcome(obj, [substitute(p, data) for p in validate["anyPattern"]]), data
    if "deny" in validate:
        denied = conditions_hold(
            (validate["deny"] or {}).get("conditions"), data, where, default=True
        )
        return ("fail" if denied else "pass"), data
    if "foreach" in validate:
        applied = 0
        for i, fe in enumerate(validate["foreach"]):
            at = f"{where}.foreach[{i}]"
            _refuse_extra(fe, FOREACH_FIELDS, at)
            if fe.get("elementScope") is False:
                raise UnsupportedConstruct("kyverno", f"{at}.elementScope", "false")
            for element, index in _elements(fe, data, at):
                scoped = _element_data(data, element, index)
                load_context(fe.get("context") or [], scoped, {}, at)
                if not conditions_hold(fe.get("preconditions"), scoped, at):
                    continue
                applied += 1
                if "deny" in fe:
                    if conditions_hold(
                        (fe["deny"] or {}).get("conditions"), scoped, at, default=True
                    ):
                        return "fail", scoped
                    continue
                patterns = fe.get("anyPattern") or [fe.get("pattern")]
                if fe.get("pattern") is None and not fe.get("anyPattern"):
                    raise UnsupportedConstruct("kyverno", at, "foreach without deny or pattern")
                outcome = _pattern_outcome(element, [substitute(p, scoped) for p in patterns])
                if outcome == "fail":
                    return "fail", scoped
        return ("pass" if applied else "skip"), None
    raise UnsupportedConstruct(
        "kyverno", where, "validate without pattern, anyPattern, deny or foreach"
    )


def _pattern_outcome(resource: Any, patterns: list[Any]) -> str:
    skipped = 0
    for pattern in patterns:
        try:
            match_pattern(resource, pattern)
            return "pass"
        except Skip:
            skipped += 1
        except Mismatch:
            continue
    return "skip" if skipped == len(patterns) else "fail"


def _elements(fe: Mapping[str, Any], data: dict[str, Any], where: str) -> Iterator[tuple[Any, int]]:
    expression = str(fe.get("list", ""))
    value = query(str(substitute_string(expression, data)).strip("{} "), data)
    if value is None:
        raise VariableError(f"foreach list '{expression}' could not be resolved")
    if not isinstance(value, list):
        raise VariableError(f"foreach list '{expression}' is not a list")
    yield from ((element, i) for i, element in enumerate(value))


def _element_data(data: dict[str, Any], element: Any, index: int) -> dict[str, Any]:
    scoped = dict(data)
    scoped["element"] = element
    scoped["elementIndex"] = index
    return scoped


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
        if "value" in variable:
            value = substitute(variable["value"], data)
        else:
            expression = str(substitute_string(str(variable.get("jmesPath", "")), data))
            value = query(expression, data)
        if value is None:
            if "default" not in variable:
                raise VariableError(f"context variable '{name}' could not be resolved")
            value = substitute(variable["default"], data)
        data[name] = value


OPERATORS = {
    "Equals",
    "NotEquals",
    "In",
    "AnyIn",
    "AllIn",
    "NotIn",
    "AnyNotIn",
    "AllNotIn",
    "GreaterThan",
    "GreaterThanOrEquals",
    "LessThan",
    "LessThanOrEquals",
}


def conditions_hold(
    block: Any, data: Mapping[str, Any], where: str, *, default: bool = True
) -> bool:
    """``any``/``all`` condition blocks (both must hold), or a legacy list (all)."""
    if not block:
        return default
    if isinstance(block, list):
        return all(_condition(c, data, where) for c in block)
    any_of = block.get("any")
    all_of = block.get("all")
    ok_any = any(_condition(c, data, where) for c in any_of) if any_of else True
    ok_all = all(_condition(c, data, where) for c in all_of) if all_of else True
    return ok_any and ok_all


def _condition(cond: Mapping[str, Any], data: Mapping[str, Any], where: str) -> bool:
    op = cond.get("operator")
    if op not in OPERATORS:
        raise UnsupportedConstruct("kyverno", f"{where} condition", f"operator {op}")
    key = substitute(cond.get("key"), data)
    value = substitute(cond.get("value"), data)
    if op == "Equals":
        return _equals(key, value)
    if op == "NotEquals":
        return not _equals(key, value)
    keys = key if isinstance(key, list) else [key]
    values = value if isinstance(value, list) else [value]
    if op in ("In", "AllIn"):
        return all(any(_equals(k, v) for v in values) for k in keys)
    if op == "AnyIn":
        return any(any(_equals(k, v) for v in values) for k in keys)
    if op in ("NotIn", "AllNotIn"):
        return all(not any(_equals(k, v) for v in values) for k in keys)
    if op == "AnyNotIn":
        return any(not any(_equals(k, v) for v in values) for k in keys)
    try:
        a, b = float(key), float(value)
    except (TypeError, ValueError):
        raise UnsupportedConstruct(
            "kyverno", f"{where} condition", f"{op} on non-numbers"
        ) from None
    return {
        "GreaterThan": a > b,
        "GreaterThanOrEquals": a >= b,
        "LessThan": a < b,
        "LessThanOrEquals": a <= b,
    }[str(op)]


def _equals(key: Any, value: Any) -> bool:
    """Kyverno's Equals: a string value is a wildcard pattern for a string key."""
    if isinstance(key, str) and isinstance(value, str):
        return wildcard(value, key)
    if isinstance(key, bool) or isinstance(value, bool):
        return key is value or (isinstance(key, bool) and isinstance(value, bool) and key == value)
    if isinstance(key, int | float) and isinstance(value, int | float):
        return float(key) == float(value)
    return bool(key == value)


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
            rules.append(Rule(name, spec_rule, _action(spec_rule, default_action), kinds, inputs))
    return Policy(name, rules)


def _action(rule: Mapping[str, Any], default: str) -> Action:
    validate = rule.get("validate") or {}
    failure = str(validate.get("failureAction", default)).lower()
    if failure == "enforce":
        return "deny"
    return "warn" if validate.get("emitWarning") else "audit"


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


# --- the images variable ------------------------------------------------------


def images(obj: Mapping[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    """Kyverno's ``images.<list>.<container>`` (pkg/utils/image/infos.go):
    registry kept as written (``index.docker.io`` too), ``docker.io`` when
    absent, ``library/`` for one-segment Docker Hub paths, tag ``latest``
    when there is neither tag nor digest. Unparseable images are left out."""
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
    m = _REFERENCE.match(full)
    if m is None or len(m.group(1)) > 255:
        return None
    registry, _, path = m.group(1).partition("/")
    tag, digest = m.group(2) or "", m.group(3) or ""
    if not tag and not digest:
        tag = "latest"
    reference_with_tag = f"{registry}/{path}:{tag}"
    if "/" not in path:
        path = f"library/{path}"  # for every registry, not only Docker Hub
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
