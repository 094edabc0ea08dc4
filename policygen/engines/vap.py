"""The ValidatingAdmissionPolicy evaluator: policies and bindings evaluated
with the API server's match semantics and a real CEL runtime
(``cel-expr-python``, the official bindings, with the strings extension
Kubernetes enables).

Semantics (k8s ``staging/src/k8s.io/apiserver/pkg/admission/plugin/policy``):
a binding applies its policy when the request matches the policy's
``matchConstraints`` (resourceRules by group, resource and operation, with
``pods/ephemeralcontainers`` only when listed; namespaceSelector;
objectSelector; excludeResourceRules) and the binding's ``matchResources``,
and every matchCondition is true. Variables are evaluated in order; each
validation that is false fails with its messageExpression (its message, or
a default, when that errs). An evaluation error follows ``failurePolicy``
(Fail: the request is rejected with the error). ``validationActions``
Deny/Warn/Audit map onto deny/warn/audit. Anything else (paramKind,
authorizer, auditAnnotations) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from policygen.config import Config, LabelSelector
from policygen.engines import EvalContext, NamespaceUnknown, PolicyCache, Review
from policygen.engines._cel_reads import ROOTS, activation_paths
from policygen.engines._projection import Path, project
from policygen.errors import UnsupportedConstruct
from policygen.memo import MISSING, Memo, fingerprint
from policygen.model import namespace_labels
from policygen.violations import ACTION_STRENGTH, Action, Violation
from policygen.workloads import with_api_defaults

#: kind → (API group, resource) for the workloads policygen evaluates
RESOURCES = {
    "Pod": ("", "pods"),
    "ReplicationController": ("", "replicationcontrollers"),
    "Deployment": ("apps", "deployments"),
    "ReplicaSet": ("apps", "replicasets"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
}
MEMO_SIZE = 20_000
ACTIONS: dict[str, Action] = {"Deny": "deny", "Warn": "warn", "Audit": "audit"}
POLICY_FIELDS = {
    "failurePolicy",
    "matchConstraints",
    "matchConditions",
    "variables",
    "validations",
}
ENV_YAML = """
name: vap
extensions:
  - name: strings
    version: latest
variables:
  - {name: object, type_name: dyn}
  - {name: oldObject, type_name: dyn}
  - {name: request, type_name: dyn}
  - {name: namespaceObject, type_name: dyn}
  - {name: variables, type_name: dyn}
"""


class CelError(Exception):
    """An expression failed to evaluate."""


class Cel:
    def __init__(self, engine: str = "vap") -> None:
        import cel_expr_python.cel as cel

        self.engine = engine  # whose constructs a compile error refuses
        self._cel = cel
        self._env = cel.NewEnv(config=cel.NewEnvConfigFromYaml(ENV_YAML))
        self._compiled: dict[str, Any] = {}

    def compile(self, expression: str, where: str) -> Any:
        if expression not in self._compiled:
            try:
                self._compiled[expression] = self._env.compile(expression)
            except RuntimeError as exc:
                raise UnsupportedConstruct(
                    self.engine, where, f"CEL does not compile: {exc}"
                ) from None
        return self._compiled[expression]

    def eval(self, expression: str, activation: Mapping[str, Any], where: str) -> Any:
        program = self.compile(expression, where)
        # Only what the expression mentions crosses into CEL: converting the
        # whole object and every variable for each expression dominated.
        roots, names = reads(expression)
        variables = activation.get("variables") or {}
        activation = {
            **{root: activation.get(root) for root in roots},
            "variables": {name: variables[name] for name in names if name in variables},
        }
        # A fresh arena per evaluation: without one, every value lands in a
        # shared arena that only grows, and evaluation slows down with it.
        arena = self._cel.Arena()
        value = program.eval(self._env.Activation(dict(activation), arena=arena))
        if value.type() == self._cel.Type.ERROR:
            raise CelError(f"{where}: {value.value()}")
        return value.plain_value()


@dataclass
class Policy:
    name: str
    rule: str
    spec: Mapping[str, Any]
    #: whether any expression reads namespaceObject (known offline or not)
    reads_namespace: bool
    #: what of the activation its CEL can read (None: all of it)
    reads: frozenset[Path] | None


@dataclass
class Binding:
    name: str
    policy: str
    actions: list[Action]
    match: Mapping[str, Any]


class PolicySet:
    #: How errors name the engine and the policy kind (a subclass evaluates
    #: Kyverno's ValidatingPolicy through this one).
    ENGINE = "vap"
    KIND = "ValidatingAdmissionPolicy"

    def __init__(self) -> None:
        self.policies: dict[str, Policy] = {}
        self.bindings: list[Binding] = []
        self.cel = Cel(self.ENGINE)
        self._memo: Memo[tuple[str, bytes], Any] = Memo(MEMO_SIZE)
        self._outcomes: Memo[tuple[str, bytes], list[str] | CelError | None] = Memo(MEMO_SIZE)

    @classmethod
    def load(cls, documents: Sequence[Mapping[str, Any]]) -> PolicySet:
        out = cls()
        for doc in documents:
            kind = doc.get("kind")
            name = str((doc.get("metadata") or {}).get("name", ""))
            spec = doc.get("spec") or {}
            if kind == "ValidatingAdmissionPolicy":
                extra = set(spec) - POLICY_FIELDS
                if extra:
                    raise UnsupportedConstruct(
                        cls.ENGINE, f"{name}.spec.{sorted(extra)[0]}", "field"
                    )
                rule = (doc["metadata"].get("annotations") or {}).get("policygen.dev/rule", name)
                expressions = _expressions(spec)
                for expr in expressions:
                    out.cel.compile(expr, f"{cls.KIND}/{name}")
                reads_namespace = any("namespaceObject" in reads(e)[0] for e in expressions)
                policy = Policy(
                    name, str(rule), spec, reads_namespace, activation_paths(expressions)
                )
                out.policies[name] = policy
            elif kind == "ValidatingAdmissionPolicyBinding":
                if spec.get("paramRef"):
                    raise UnsupportedConstruct(cls.ENGINE, f"{name}.spec.paramRef", "params")
                actions = [ACTIONS[a] for a in spec.get("validationActions") or []]
                out.bindings.append(
                    Binding(
                        name,
                        str(spec.get("policyName", "")),
                        actions,
                        spec.get("matchResources") or {},
                    )
                )
        return out

    def review(
        self,
        obj: Mapping[str, Any],
        namespace: str,
        ns_obj: Mapping[str, Any] | None,
        operation: str,
        subresource: str,
    ) -> list[tuple[Policy, Action, str]]:
        """(policy, action, message) for each failed validation."""
        verdicts = self.verdicts(obj, namespace, ns_obj, operation, subresource)
        return [failure for _, failures in verdicts for failure in failures]

    def verdicts(
        self,
        obj: Mapping[str, Any],
        namespace: str,
        ns_obj: Mapping[str, Any] | None,
        operation: str,
        subresource: str,
        *,
        api_defaults: bool = True,
    ) -> list[tuple[Policy, list[tuple[Policy, Action, str]]]]:
        """Each policy that applies to the object (matched, by its binding
        too, and past its matchConditions), with its failures. Without
        ``api_defaults``, the object as written, as the Kyverno CLI sees it."""
        obj = with_api_defaults(dict(obj)) if api_defaults else dict(obj)
        out = []
        for binding in self.bindings:
            policy = self.policies.get(binding.policy)
            if policy is None:
                raise UnsupportedConstruct(self.ENGINE, f"binding {binding.name}", "no such policy")
            try:
                found = self._apply(policy, binding, obj, namespace, ns_obj, operation, subresource)
            except NamespaceUnknown as exc:
                found = [(policy, "deny", exc.message(policy.name))]
            if found is not None:
                out.append((policy, found))
        return out

    def _apply(
        self,
        policy: Policy,
        binding: Binding,
        obj: dict[str, Any],
        namespace: str,
        ns_obj: Mapping[str, Any] | None,
        operation: str,
        subresource: str,
    ) -> list[tuple[Policy, Action, str]] | None:
        """The failures, or None when the policy does not apply."""
        spec = policy.spec
        if not _matches(
            spec.get("matchConstraints") or {}, obj, namespace, ns_obj, operation, subresource
        ):
            return None
        if binding.match and not _matches(
            binding.match, obj, namespace, ns_obj, operation, subresource, narrowing=True
        ):
            return None
        group, resource = RESOURCES[str(obj.get("kind"))]
        api_version = str(obj.get("apiVersion", ""))
        request = {
            "operation": operation,
            "namespace": namespace,
            "name": (obj.get("metadata") or {}).get("name", ""),
            "kind": {
                "group": group,
                "version": api_version.rsplit("/", 1)[-1],
                "kind": obj.get("kind"),
            },
            "resource": {
                "group": group,
                "version": api_version.rsplit("/", 1)[-1],
                "resource": resource,
            },
            "subResource": subresource,
            "userInfo": {},
        }
        if ns_obj is None and policy.reads_namespace:
            raise NamespaceUnknown(namespace)
        # The outcome is a function of what the policy's CEL can read, so it
        # is kept by that: workloads repeat their pod specs.
        activation: dict[str, Any] = project(
            {
                "object": obj,
                "oldObject": None,
                "request": request,
                "namespaceObject": dict(ns_obj) if ns_obj is not None else None,
            },
            policy.reads,
        )
        key = (policy.name, fingerprint(activation))
        cached = self._outcomes.get(key)
        outcome: list[str] | CelError | None
        if cached is MISSING:
            try:
                outcome = self._failures(policy, {**activation, "variables": {}})
            except CelError as exc:
                outcome = exc
            self._outcomes.put(key, outcome)
        else:
            outcome = cast("list[str] | CelError | None", cached)
        if outcome is None:
            return None
        if isinstance(outcome, CelError):
            if spec.get("failurePolicy", "Fail") != "Fail":
                return []
            return [(policy, a, f"policy {policy.name} failed: {outcome}") for a in binding.actions]
        return [(policy, a, message) for message in outcome for a in binding.actions]

    def _failures(self, policy: Policy, activation: dict[str, Any]) -> list[str] | None:
        """The messages of the validations ``activation`` fails; None when a
        matchCondition excludes it. Raises CelError."""
        spec = policy.spec
        where = f"{self.KIND}/{policy.name}"
        for condition in spec.get("matchConditions") or []:
            at = f"{where} matchCondition {condition['name']}"
            if self._eval(condition["expression"], activation, at) is not True:
                return None
        variables: dict[str, Any] = {}
        for variable in spec.get("variables") or []:
            activation["variables"] = variables
            variables[variable["name"]] = self._variable(variable, activation, where)
        activation["variables"] = variables
        out = []
        for i, validation in enumerate(spec.get("validations") or []):
            ok = self._eval(validation["expression"], activation, f"{where} validations[{i}]")
            if ok is not True:
                out.append(self._message(validation, activation, where))
        return out

    def _variable(self, variable: Mapping[str, Any], activation: dict[str, Any], where: str) -> Any:
        at = f"{where} variable {variable['name']}"
        return self._eval(variable["expression"], activation, at)

    def _eval(self, expression: str, activation: Mapping[str, Any], at: str) -> Any:
        """The expression's value, memoised on what it can read: the parts
        of the roots its refs reach and the variables it names (a CEL value
        is a function of those). Workloads repeat their namespaces,
        containers and images; errors are not kept."""
        paths = _expression_paths(expression)
        if paths is None:
            return self.cel.eval(expression, activation, at)
        variables = activation.get("variables") or {}
        seen = (
            project({root: activation.get(root) for root in ROOTS}, paths),
            [variables.get(name) for name in reads(expression)[1]],
        )
        key = (expression, fingerprint(seen))
        hit = self._memo.get(key)
        if hit is not MISSING:
            return hit
        return self._memo.put(key, self.cel.eval(expression, activation, at))

    def _message(
        self, validation: Mapping[str, Any], activation: Mapping[str, Any], where: str
    ) -> str:
        if "messageExpression" in validation:
            try:
                message = self._eval(validation["messageExpression"], activation, where)
                if isinstance(message, str) and message.strip():
                    return message
            except CelError:
                pass
        return str(validation.get("message") or f"failed expression: {validation['expression']}")


_ROOTS = re.compile(rf"\b({'|'.join(sorted(ROOTS))})\b")
_VARIABLES = re.compile(r"\bvariables\.([A-Za-z_][A-Za-z0-9_]*)")


@lru_cache(maxsize=1024)
def reads(expression: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """(roots, variables) an expression mentions. Over-approximate: a name
    inside a string literal counts, which costs speed, never correctness."""
    roots = frozenset(_ROOTS.findall(expression))
    return roots, tuple(sorted(set(_VARIABLES.findall(expression))))


@lru_cache(maxsize=1024)
def _expression_paths(expression: str) -> frozenset[Path] | None:
    """What of the roots one expression can read (None: all of it)."""
    return activation_paths([expression])


def _expressions(spec: Mapping[str, Any]) -> list[str]:
    out = [c["expression"] for c in spec.get("matchConditions") or []]
    out += [v["expression"] for v in spec.get("variables") or []]
    for v in spec.get("validations") or []:
        out.append(v["expression"])
        if "messageExpression" in v:
            out.append(v["messageExpression"])
    return out


def _matches(
    match: Mapping[str, Any],
    obj: Mapping[str, Any],
    namespace: str,
    ns_obj: Mapping[str, Any] | None,
    operation: str,
    subresource: str,
    narrowing: bool = False,
) -> bool:
    extra = set(match) - {
        "resourceRules",
        "excludeResourceRules",
        "namespaceSelector",
        "objectSelector",
        "matchPolicy",
    }
    if extra:
        raise UnsupportedConstruct("vap", f"matchResources.{sorted(extra)[0]}", "field")
    kind = str(obj.get("kind"))
    if kind not in RESOURCES:
        return False
    group, resource = RESOURCES[kind]
    full = f"{resource}/{subresource}" if subresource else resource
    rules = match.get("resourceRules")
    must_list = rules is not None or not narrowing  # a binding may leave rules to the policy
    if must_list and not any(_rule(r, group, full, operation) for r in rules or []):
        return False
    if any(_rule(r, group, full, operation) for r in match.get("excludeResourceRules") or []):
        return False
    selector = match.get("namespaceSelector")
    if selector:
        if ns_obj is None:
            raise NamespaceUnknown(namespace)
        if not LabelSelector.model_validate(selector).matches(namespace_labels(ns_obj, namespace)):
            return False
    object_selector = match.get("objectSelector")
    if object_selector:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if not LabelSelector.model_validate(object_selector).matches(dict(labels)):
            return False
    return True


def _rule(rule: Mapping[str, Any], group: str, resource: str, operation: str) -> bool:
    def any_of(values: Any, value: str) -> bool:
        return "*" in (values or []) or value in (values or [])

    return (
        any_of(rule.get("apiGroups"), group)
        and any_of(rule.get("resources"), resource)
        and any_of(rule.get("operations"), operation)
    )


class VapEngine:
    name = "vap"
    per_rule = True

    def __init__(self) -> None:
        self._cache = PolicyCache("vap", PolicySet.load, lambda _: None)

    def evaluate(
        self, config: Config, reviews: Sequence[Review], ctx: EvalContext
    ) -> list[list[Violation]]:
        policies = self._cache.get(config, ctx)
        out = []
        for review in reviews:
            ns_obj = ctx.namespaces.get(review.namespace)
            found = policies.review(
                review.obj, review.namespace, ns_obj, review.operation, review.subresource
            )
            best: dict[tuple[str, str], Action] = {}
            for policy, action, message in found:
                key = (policy.rule, message)
                if key not in best or ACTION_STRENGTH[action] > ACTION_STRENGTH[best[key]]:
                    best[key] = action
            out.append(
                sorted(Violation(rule, "", "", msg, act) for (rule, msg), act in best.items())
            )
        return out
