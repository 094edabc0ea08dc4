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

MutatingAdmissionPolicies (v1, v1beta1) run first, as the API server orders
admission (mutating, then validating; plugin/policy/mutating/dispatcher.go):
each binding whose policy matches, past its matchConditions, applies the
policy's mutations in order (an apply configuration merged as server-side
apply merges it, or a JSON patch, ``_cel_mutation``), the object defaulted
again after each; a policy with ``reinvocationPolicy: IfNeeded`` runs once
more when any mutation ran. A mutation that fails under ``failurePolicy:
Fail`` rejects the request before any validation.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import orjson

from policygen.config import LabelSelector
from policygen.engines import DocumentEngine, NamespaceUnknown, Review
from policygen.engines._cel_mutation import (
    MutationError,
    Unsupported,
    apply_configuration,
    apply_json_patch,
    rewrite_construction,
)
from policygen.engines._cel_reads import _TOKEN, ROOTS, activation_paths
from policygen.engines._kube import cluster_scoped, gvr
from policygen.engines._projection import Path, project
from policygen.errors import UnsupportedConstruct
from policygen.memo import MISSING, Memo, fingerprint
from policygen.violations import ACTION_STRENGTH, Action, Violation
from policygen.workloads import labelled_namespace, namespace_labels, with_api_defaults

MEMO_SIZE = 20_000
ACTIONS: dict[str, Action] = {"Deny": "deny", "Warn": "warn", "Audit": "audit"}
POLICY_FIELDS = {
    "failurePolicy",
    "matchConstraints",
    "matchConditions",
    "variables",
    "validations",
}
#: MutatingAdmissionPolicy: the API versions read and the spec fields (all
#: but paramKind, which is refused)
MUTATING_API_VERSIONS = ("admissionregistration.k8s.io/v1", "admissionregistration.k8s.io/v1beta1")
MUTATING_FIELDS = {
    "failurePolicy",
    "matchConstraints",
    "matchConditions",
    "variables",
    "mutations",
    "reinvocationPolicy",
}
#: patchType → the field holding its expression
PATCH_FIELDS = {"ApplyConfiguration": "applyConfiguration", "JSONPatch": "jsonPatch"}
#: The CEL libraries both the API server's base environment and Kyverno's
#: (pkg/cel/compiler/env.go) enable and cel-expr-python has: optional types
#: (``.?``, ``orValue``, ``optional.of``), lists, sets, math, encoders,
#: bindings, regex, two-variable comprehensions and strings.
EXTENSIONS = (
    "strings",
    "optional",
    "lists",
    "sets",
    "math",
    "encoders",
    "bindings",
    "regex",
    "two-var-comprehensions",
)
ENV_YAML = (
    """
name: vap
extensions:
"""
    + "".join(f"  - name: {name}\n    version: latest\n" for name in EXTENSIONS)
    + """variables:
  - {name: object, type_name: dyn}
  - {name: oldObject, type_name: dyn}
  - {name: request, type_name: dyn}
  - {name: namespaceObject, type_name: dyn}
  - {name: variables, type_name: dyn}
"""
)


def _kubernetes_lists(cel: Any) -> Any:
    """Kubernetes' list library (apiserver/pkg/cel/library/lists.go) as far
    as policies use it: ``indexOf``, ``lastIndexOf`` and ``isSorted`` on
    lists, beside the strings extension's ``indexOf`` on strings."""

    def index_of(items: list[Any], value: Any) -> int:
        return next((i for i, item in enumerate(items) if item == value), -1)

    def last_index_of(items: list[Any], value: Any) -> int:
        found = [i for i, item in enumerate(items) if item == value]
        return found[-1] if found else -1

    def is_sorted(items: list[Any]) -> bool:
        return all(a <= b for a, b in itertools.pairwise(items))

    listed = cel.Type.List(cel.Type.DYN)

    def member(name: str, impl: Any, returns: Any, *params: Any) -> Any:
        overload = cel.Overload(
            f"list_{name}", return_type=returns, parameters=[listed, *params], is_member=True,
            impl=impl,
        )  # fmt: skip
        return cel.FunctionDecl(name, [overload])

    return cel.CelExtension(
        "kubernetes.lists",
        [
            member("indexOf", index_of, cel.Type.INT, cel.Type.DYN),
            member("lastIndexOf", last_index_of, cel.Type.INT, cel.Type.DYN),
            member("isSorted", is_sorted, cel.Type.BOOL),
        ],
    )


@dataclass(frozen=True)
class Function:
    """A global CEL function of string arguments an evaluator adds."""

    name: str
    impl: Callable[..., Any]
    arity: int
    returns_string: bool = False
    returns_timestamp: bool = False


class CelError(Exception):
    """An expression failed to evaluate."""


class Cel:
    def __init__(
        self,
        engine: str = "vap",
        extra_variables: Sequence[str] = (),
        functions: Sequence[Function] = (),
    ) -> None:
        import cel_expr_python.cel as cel

        self.engine = engine  # whose constructs a compile error refuses
        self._cel = cel
        declared = "".join(f"  - {{name: {n}, type_name: dyn}}\n" for n in extra_variables)
        decls = [
            cel.FunctionDecl(
                f.name,
                [
                    cel.Overload(
                        f.name.replace(".", "_"),
                        return_type=cel.Type.STRING
                        if f.returns_string
                        else cel.Type.TIMESTAMP
                        if f.returns_timestamp
                        else cel.Type.DYN,
                        parameters=[cel.Type.STRING] * f.arity,
                        impl=f.impl,
                    )
                ],
            )
            for f in functions
        ]
        self._env = cel.NewEnv(
            config=cel.NewEnvConfigFromYaml(ENV_YAML + declared),
            functions=decls,
            extensions=[_kubernetes_lists(cel)],
        )
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
        variables = activation.get("variables")
        variables = {} if variables is None else variables
        activation = {
            **{root: activation.get(root) for root in roots},
            "variables": {name: variables[name] for name in names if name in variables},
        }
        # A fresh arena per evaluation: without one, every value lands in a
        # shared arena that only grows, and evaluation slows down with it.
        arena = self._cel.Arena()
        try:
            value = program.eval(self._env.Activation(dict(activation), arena=arena))
        except RuntimeError as exc:  # some runtime errors are raised, not returned
            self._refuse_untaken(str(exc), where)
            raise CelError(f"{where}: {exc}") from None
        if value.type() == self._cel.Type.ERROR:
            self._refuse_untaken(str(value.value()), where)
            raise CelError(f"{where}: {value.value()}")
        return value.plain_value()

    def _refuse_untaken(self, error: str, where: str) -> None:
        """The binding gives timestamps and durations out as Python values
        but takes none back: a variable holding one cannot be read by
        another expression, which cel-go allows. Refused, not an error."""
        if "Non-CEL value type" in error:
            raise UnsupportedConstruct(
                self.engine,
                where,
                "a variable holding a timestamp or duration, read by another expression "
                "(the CEL binding does not take those back)",
            )


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


@dataclass(frozen=True)
class Patch:
    """One mutation: its patchType and its expression, typed construction
    rewritten into map literals (``_cel_mutation.rewrite_construction``)."""

    kind: str  # ApplyConfiguration | JSONPatch
    expression: str


@dataclass
class Mutator:
    """A MutatingAdmissionPolicy."""

    policy: Policy
    patches: list[Patch]
    reinvoke: bool  # reinvocationPolicy: IfNeeded


@dataclass(frozen=True)
class Rejection:
    """A request refused in the mutating phase: validation never runs."""

    policy: Policy
    message: str


class PolicySet:
    #: How errors name the engine and the policy kind (a subclass evaluates
    #: Kyverno's ValidatingPolicy through this one).
    ENGINE = "vap"
    KIND = "ValidatingAdmissionPolicy"
    #: CEL variables beyond the API server's, declared as dyn
    EXTRA_VARIABLES: tuple[str, ...] = ()

    #: CEL here has no clock, network or randomness
    pure = True

    def __init__(self, *, fast: bool = True) -> None:
        self.policies: dict[str, Policy] = {}
        self.bindings: list[Binding] = []
        self.mutators: dict[str, Mutator] = {}
        #: MutatingAdmissionPolicyBindings (no validationActions: actions empty)
        self.mutator_bindings: list[Binding] = []
        self.cel = Cel(self.ENGINE, self.EXTRA_VARIABLES, self._functions())
        size = MEMO_SIZE if fast else 0  # the plain path memoises nothing
        self._memo: Memo[tuple[Any, ...], tuple[Any, bytes]] = Memo(size)
        self._outcomes: Memo[tuple[str, bytes], list[str] | CelError | None] = Memo(size)

    def _functions(self) -> list[Function]:
        """CEL functions beyond the API server's, for a subclass to add."""
        return []

    @classmethod
    def load(cls, documents: Sequence[Mapping[str, Any]], *, fast: bool = True) -> PolicySet:
        out = cls(fast=fast)
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
            elif kind in ("MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"):
                out._add_mutating(doc)
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

    def _add_mutating(self, doc: Mapping[str, Any]) -> None:
        kind = str(doc.get("kind"))
        name = str((doc.get("metadata") or {}).get("name", ""))
        spec = doc.get("spec") or {}
        if doc.get("apiVersion") not in MUTATING_API_VERSIONS:
            raise UnsupportedConstruct(self.ENGINE, f"{kind}/{name}", str(doc.get("apiVersion")))
        if kind == "MutatingAdmissionPolicyBinding":
            if spec.get("paramRef"):
                raise UnsupportedConstruct(self.ENGINE, f"{name}.spec.paramRef", "params")
            self.mutator_bindings.append(
                Binding(name, str(spec.get("policyName", "")), [], spec.get("matchResources") or {})
            )
            return
        extra = set(spec) - MUTATING_FIELDS
        if extra:
            raise UnsupportedConstruct(self.ENGINE, f"{name}.spec.{sorted(extra)[0]}", "field")
        patches = []
        for i, mutation in enumerate(spec.get("mutations") or []):
            at = f"{name}.spec.mutations[{i}]"
            patch_type = str(mutation.get("patchType", ""))
            if patch_type not in PATCH_FIELDS:
                raise UnsupportedConstruct(self.ENGINE, f"{at}.patchType", patch_type)
            expression = str((mutation.get(PATCH_FIELDS[patch_type]) or {}).get("expression", ""))
            try:
                rewritten, _ = rewrite_construction(expression)
            except Unsupported as exc:
                raise UnsupportedConstruct(self.ENGINE, at, str(exc)) from None
            patches.append(Patch(patch_type, rewritten))
        rule = (doc["metadata"].get("annotations") or {}).get("policygen.dev/rule", name)
        expressions = _expressions(spec) + [p.expression for p in patches]
        for expr in expressions:
            self.cel.compile(expr, f"MutatingAdmissionPolicy/{name}")
        policy = Policy(
            name,
            str(rule),
            spec,
            any("namespaceObject" in reads(e)[0] for e in expressions),
            activation_paths(expressions),
        )
        reinvoke = spec.get("reinvocationPolicy", "Never") == "IfNeeded"
        self.mutators[name] = Mutator(policy, patches, reinvoke)

    def violations(self, reviews: Sequence[Review]) -> list[list[Violation]]:
        """policygen's question: the violations admission reports per
        request, each rule's message once, with its strongest action."""
        out = []
        for review in reviews:
            found = self.review(
                review.obj,
                review.namespace,
                review.namespace_obj,
                review.operation,
                review.subresource,
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

    def close(self) -> None:
        """Nothing to release: compiled CEL is Python data."""

    def review(
        self,
        obj: Mapping[str, Any],
        namespace: str,
        ns_obj: Mapping[str, Any] | None,
        operation: str,
        subresource: str,
    ) -> list[tuple[Policy, Action, str]]:
        """(policy, action, message) for each failed validation, on the
        object as the mutating phase left it; a request the mutating phase
        rejected gets only that rejection."""
        mutated = self.admit(obj, namespace, ns_obj, operation, subresource)
        if isinstance(mutated, Rejection):
            return [(mutated.policy, "deny", mutated.message)]
        verdicts = self.verdicts(mutated, namespace, ns_obj, operation, subresource)
        return [failure for _, failures in verdicts for failure in failures]

    def admit(
        self,
        obj: Mapping[str, Any],
        namespace: str,
        ns_obj: Mapping[str, Any] | None,
        operation: str,
        subresource: str,
    ) -> dict[str, Any] | Rejection:
        """The mutating phase: the object after every MutatingAdmissionPolicy
        that applies, or the rejection of the first that failed under
        ``failurePolicy: Fail``. Without mutating policies, the object."""
        if not self.mutator_bindings:
            return dict(obj)
        current = with_api_defaults(dict(obj))
        if cluster_scoped(str(current.get("apiVersion", "")), str(current.get("kind", ""))):
            namespace = ""
        invoked: list[Binding] = []  # IfNeeded policies run so far
        reinvoke: list[Binding] = []
        dirty = False
        for binding in self.mutator_bindings:
            outcome = self._mutate(binding, current, namespace, ns_obj, operation, subresource)
            if isinstance(outcome, Rejection):
                return outcome
            if outcome is None:
                continue
            patched, ran = outcome
            dirty = dirty or ran
            if patched != current:
                # dispatcher.go: a change makes the earlier IfNeeded policies due again
                reinvoke += invoked
                invoked = []
            current = patched
            if self.mutators[binding.policy].reinvoke:
                invoked.append(binding)
        if dirty:
            # a mutation ran (the object is dirty): the admission chain
            # reinvokes, once, the IfNeeded policies invoked so far
            reinvoke += invoked
        for binding in self.mutator_bindings:
            if binding not in reinvoke:
                continue
            outcome = self._mutate(binding, current, namespace, ns_obj, operation, subresource)
            if isinstance(outcome, Rejection):
                return outcome
            if outcome is not None:
                current = outcome[0]
        return current

    def _mutate(
        self,
        binding: Binding,
        obj: dict[str, Any],
        namespace: str,
        ns_obj: Mapping[str, Any] | None,
        operation: str,
        subresource: str,
    ) -> tuple[dict[str, Any], bool] | Rejection | None:
        """One binding's invocation: (the object, whether a mutation ran),
        a rejection, or None when its policy does not apply."""
        mutator = self.mutators.get(binding.policy)
        if mutator is None:
            raise UnsupportedConstruct(self.ENGINE, f"binding {binding.name}", "no such policy")
        policy = mutator.policy
        spec = policy.spec
        try:
            if not _matches(
                spec.get("matchConstraints") or {}, obj, namespace, ns_obj, operation, subresource
            ):
                return None
            if binding.match and not _matches(
                binding.match, obj, namespace, ns_obj, operation, subresource, narrowing=True
            ):
                return None
            if ns_obj is None and policy.reads_namespace:
                raise NamespaceUnknown(namespace)
        except NamespaceUnknown:
            return None  # the validating policies report the unknown namespace
        fail = spec.get("failurePolicy", "Fail") == "Fail"
        where = f"MutatingAdmissionPolicy/{policy.name}"
        activation: dict[str, Any] = {
            "object": obj,
            "oldObject": None,
            "request": admission_request(obj, namespace, operation, subresource),
            "namespaceObject": labelled_namespace(ns_obj, namespace)
            if ns_obj is not None
            else None,
            "variables": {},
        }
        activation, placeholder = without_nul(activation)  # the binding cuts at NUL
        try:
            for condition in spec.get("matchConditions") or []:
                at = f"{where} matchCondition {condition['name']}"
                if self._eval(condition["expression"], activation, at) is not True:
                    return None
        except CelError as exc:
            return Rejection(policy, f"policy {policy.name} failed: {exc}") if fail else None
        activation["variables"] = self._variables(policy, activation, where)
        current, ran, errors = obj, False, []
        for i, patch in enumerate(mutator.patches):
            at = f"{where} mutations[{i}]"
            try:
                value = _restore(self._eval(patch.expression, activation, at), placeholder)
                if patch.kind == "JSONPatch":
                    patched = apply_json_patch(current, value)
                else:
                    patched = apply_configuration(current, value)
            except (CelError, MutationError) as exc:
                errors.append(str(exc))  # the dispatcher goes on with the next mutation
                continue
            except Unsupported as exc:
                raise UnsupportedConstruct(self.ENGINE, at, str(exc)) from None
            # the API server defaults the patched object before the next step
            current, ran = with_api_defaults(patched), True
            swapped, _ = without_nul({"object": current}, placeholder)
            activation = {**activation, "object": swapped["object"]}
            activation["variables"] = self._variables(policy, activation, where)
        if errors and fail:
            return Rejection(policy, f"policy {policy.name} failed: {'; '.join(errors)}")
        return current, ran

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
        if cluster_scoped(str(obj.get("apiVersion", "")), str(obj.get("kind", ""))):
            namespace = ""  # the API server sends no namespace for these
        out = []
        for binding in self.bindings:
            policy = self.policies.get(binding.policy)
            if policy is None:
                raise UnsupportedConstruct(self.ENGINE, f"binding {binding.name}", "no such policy")
            try:
                found = self._apply(policy, binding, obj, namespace, ns_obj, operation, subresource)
            except NamespaceUnknown as exc:
                if self._conditions_exclude(policy, obj, namespace, operation, subresource):
                    continue
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
        request = admission_request(obj, namespace, operation, subresource)
        if ns_obj is None and policy.reads_namespace:
            raise NamespaceUnknown(namespace)
        # The outcome is a function of what the policy's CEL can read, so it
        # is kept by that: workloads repeat their pod specs.
        activation: dict[str, Any] = project(
            {
                "object": obj,
                "oldObject": None,
                "request": request,
                # as admission sends it: with the name label the API server sets
                "namespaceObject": labelled_namespace(ns_obj, namespace)
                if ns_obj is not None
                else None,
            },
            policy.reads,
        )
        activation, placeholder = without_nul(activation)
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
        if placeholder is not None:
            outcome = [m.replace(placeholder, NUL) for m in outcome]
        return [(policy, a, message) for message in outcome for a in binding.actions]

    def _conditions_exclude(
        self, policy: Policy, obj: dict[str, Any], namespace: str, operation: str, subresource: str
    ) -> bool:
        """Whether a matchCondition is false without the Namespace object
        (the scope's name conditions are): offline only, where the
        Namespace may be missing, an excluded or out-of-scope namespace is
        then never reported as unknown."""
        activation = {
            "object": obj,
            "oldObject": None,
            "request": admission_request(obj, namespace, operation, subresource),
            "namespaceObject": None,
            "variables": {},
        }
        for condition in policy.spec.get("matchConditions") or []:
            try:
                at = f"{self.KIND}/{policy.name} matchCondition {condition['name']}"
                if self._eval(condition["expression"], activation, at) is False:
                    return True
            except CelError:
                continue
        return False

    def _failures(self, policy: Policy, activation: dict[str, Any]) -> list[str] | None:
        """The messages of the validations ``activation`` fails; None when a
        matchCondition excludes it. Raises CelError."""
        spec = policy.spec
        where = f"{self.KIND}/{policy.name}"
        for condition in spec.get("matchConditions") or []:
            at = f"{where} matchCondition {condition['name']}"
            if self._eval(condition["expression"], activation, at) is not True:
                return None
        activation["variables"] = self._variables(policy, activation, where)
        out = []
        for i, validation in enumerate(spec.get("validations") or []):
            ok = self._eval(validation["expression"], activation, f"{where} validations[{i}]")
            if ok is not True:
                out.append(self._message(validation, activation, where))
        return out

    def _variables(self, policy: Policy, activation: dict[str, Any], where: str) -> LazyVariables:
        """The policy's variables, each evaluated when first read (the API
        server's and Kyverno's composition are lazy: a variable that fails
        only fails the expressions that read it)."""
        expressions = {v["name"]: v["expression"] for v in policy.spec.get("variables") or []}

        def evaluate(name: str, variables: LazyVariables) -> tuple[Any, bytes | None]:
            at = f"{where} variable {name}"
            return self._eval_printed(expressions[name], {**activation, "variables": variables}, at)

        return LazyVariables(expressions, evaluate)

    def _keeps(self, expression: str) -> bool:
        """Whether the expression's value is a function of what it reads
        (a subclass whose CEL has a clock says which are not)."""
        return True

    def _eval(self, expression: str, activation: Mapping[str, Any], at: str) -> Any:
        return self._eval_printed(expression, activation, at)[0]

    def _eval_printed(
        self, expression: str, activation: Mapping[str, Any], at: str
    ) -> tuple[Any, bytes | None]:
        """The expression's value, memoised on what it can read: the parts
        of the roots its refs reach and the variables it names (a CEL value
        is a function of those). Workloads repeat their namespaces,
        containers and images; errors are not kept. With the value, its
        fingerprint when known (None: not taken), so that an expression
        reading a variable is keyed without encoding the variable's value
        again: the chain of variables is a chain of keys."""
        paths = _expression_paths(expression)
        if paths is None or not self._keeps(expression):
            return self.cel.eval(expression, activation, at), None
        variables = activation.get("variables")
        read: list[Any]
        if isinstance(variables, LazyVariables):
            # a variable that failed is absent (None), which is not the
            # same as null (the fingerprint of None)
            read = [variables.print_of(name) for name in reads(expression)[1]]
        else:
            plain = {} if variables is None else variables
            read = [(name in plain, plain.get(name)) for name in reads(expression)[1]]
        seen = (
            project({root: activation.get(root) for root in _path_roots(paths)}, paths),
            read,
        )
        key = (expression, fingerprint(seen))
        hit = self._memo.get(key)
        if hit is not MISSING:
            return cast("tuple[Any, bytes]", hit)
        value = self._elementwise(expression, activation, at)
        if value is MISSING:
            value = self.cel.eval(expression, activation, at)
        return self._memo.put(key, (value, fingerprint(value)))

    def _elementwise(self, expression: str, activation: Mapping[str, Any], at: str) -> Any:
        """``variables.xs.map(x, …)`` or ``.filter(x, …)`` whose body reads
        nothing of ``xs`` but its element: the list is the concatenation of
        the expression on each element alone (``[x]``), and each of those is
        kept by the element and the other variables it reads, so a list
        that differs from another in one container costs one evaluation.
        MISSING when the expression is not of that form, the variable not a
        list, or some element errs: then the whole expression is evaluated
        as it is, and errs as it would."""
        if not self._memo.maxsize:
            return MISSING  # the plain path, which memoises nothing, evaluates it whole
        name = _elementwise_variable(expression)
        variables = activation.get("variables")
        if name is None or not isinstance(variables, LazyVariables) or name not in variables:
            return MISSING
        items = variables[name]
        if not isinstance(items, list):
            return MISSING
        others = [n for n in reads(expression)[1] if n != name]
        seen = [variables.print_of(n) for n in others]
        plain = {n: variables[n] for n in others if n in variables}
        keys = [(expression, "each", fingerprint((item, seen))) for item in items]
        parts: list[Any] = [self._memo.get(key) for key in keys]
        missing = [i for i, part in enumerate(parts) if part is MISSING]
        if len(missing) > 1 and _one_to_one(expression):
            # a two-argument map gives one value per element, in order: the
            # elements not kept yet are evaluated together, in one call
            batch = {**activation, "variables": {**plain, name: [items[i] for i in missing]}}
            try:
                values = self.cel.eval(expression, batch, at)
            except CelError:
                return MISSING
            if not isinstance(values, list) or len(values) != len(missing):
                return MISSING
            for i, value in zip(missing, values, strict=True):
                parts[i] = self._memo.put(keys[i], ([value], b""))
            missing = []
        for i in missing:
            single = {**activation, "variables": {**plain, name: [items[i]]}}
            try:
                part = self.cel.eval(expression, single, at)
            except CelError:
                return MISSING
            if not isinstance(part, list):
                return MISSING
            parts[i] = self._memo.put(keys[i], (part, b""))
        out: list[Any] = []
        for part in parts:
            out.extend(cast("tuple[list[Any], bytes]", part)[0])
        return out

    def _message(
        self, validation: Mapping[str, Any], activation: Mapping[str, Any], where: str
    ) -> str:
        return validation_message(
            validation, lambda expression: self._eval(expression, activation, where)
        )


#: apiserver ``celconfig.MaxEvaluatedMessageExpressionSizeBytes``: the
#: longest messageExpression result (in UTF-8 bytes) the validator keeps.
MAX_MESSAGE_EXPRESSION_BYTES = 5 * 1024

#: What Go's ``strings.TrimSpace`` trims (``unicode.IsSpace``): Python's
#: ``str.strip()`` also trims U+001C..U+001F, which Go keeps.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def validation_message(validation: Mapping[str, Any], evaluate: Callable[[str], Any]) -> str:
    """The message of a failed validation as the API server's validator
    chooses it (apiserver ``admission/plugin/policy/validating/validator.go``,
    which Gatekeeper's k8scel driver runs too): the messageExpression's
    value (``evaluate`` gives it, raising CelError) when it is a string
    that, trimmed, is non-empty, at most 5 KiB and free of ``\n``; else the
    ``message``, trimmed; else ``failed expression: `` and the expression,
    trimmed. A messageExpression that errs or is not a string is dropped
    (the server only logs it). Kyverno's ValidatingPolicy chooses
    otherwise (``kyverno_cel``)."""
    message = ""
    if validation.get("messageExpression"):
        try:
            value = evaluate(str(validation["messageExpression"]))
        except CelError:
            value = None
        if isinstance(value, str):
            value = value.strip(GO_SPACE)
            fits = len(value.encode("utf-8", "surrogatepass")) <= MAX_MESSAGE_EXPRESSION_BYTES
            if fits and "\n" not in value:  # only \n: a \r is kept
                message = value
    if not message and validation.get("message"):
        message = str(validation["message"]).strip(GO_SPACE)
    return message or f"failed expression: {str(validation['expression']).strip(GO_SPACE)}"


class LazyVariables(Mapping[str, Any]):
    """``variables`` evaluated on first read; one that fails (or reads
    itself) is absent, so CEL sees reading it as an error, which ``||`` and
    ``&&`` may still absorb, as they do in the API server."""

    def __init__(
        self,
        expressions: Mapping[str, str],
        evaluate: Callable[[str, LazyVariables], tuple[Any, bytes | None]],
    ) -> None:
        self._expressions = expressions
        self._evaluate = evaluate
        self._values: dict[str, Any] = {}
        #: each value's fingerprint, once taken (None: not yet)
        self._prints: dict[str, bytes | None] = {}
        self._failed: set[str] = set()

    def _load(self, name: str) -> bool:
        if name in self._values:
            return True
        if name in self._failed or name not in self._expressions:
            return False
        self._failed.add(name)  # until it has a value: a cycle reads as a failure
        try:
            self._values[name], self._prints[name] = self._evaluate(name, self)
        except CelError:
            return False
        self._failed.discard(name)
        return True

    def print_of(self, name: str) -> bytes | None:
        """The fingerprint of the variable's value, None when it is absent
        (it failed, reads itself, or is not declared)."""
        if not self._load(name):
            return None
        found = self._prints[name]
        if found is None:
            found = self._prints[name] = fingerprint(self._values[name])
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._load(name)

    def __getitem__(self, name: str) -> Any:
        if not self._load(name):
            raise KeyError(name)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        # the declared names, without evaluating any: reading one may fail
        return iter(self._expressions)

    def __len__(self) -> int:
        return len(self._expressions)


_ROOTS = re.compile(rf"\b({'|'.join(sorted(ROOTS))})\b")
_VARIABLES = re.compile(r"\bvariables\.([A-Za-z_][A-Za-z0-9_]*)")


@lru_cache(maxsize=1024)
def reads(expression: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """(roots, variables) an expression mentions. Over-approximate: a name
    inside a string literal counts, which costs speed, never correctness."""
    roots = frozenset(_ROOTS.findall(expression))
    return roots, tuple(sorted(set(_VARIABLES.findall(expression))))


_EACH = re.compile(
    r"\s*variables\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.(?:map|filter)(?P<open>\()\s*(?P<each>[A-Za-z_][A-Za-z0-9_]*)\s*,"
)


@lru_cache(maxsize=1024)
def _elementwise_variable(expression: str) -> str | None:
    """``xs`` when the whole expression is ``variables.xs.map(x, …)`` or
    ``variables.xs.filter(x, …)`` (also map's three-argument form) that
    reads no root and no other use of ``xs``, so its value on a list is the
    concatenation of its values on each element; else None."""
    found = _EACH.match(expression)
    if found is None or reads(expression)[0]:
        return None
    name = found.group("name")
    if found.group("each") == "variables":
        return None  # the element would hide the variables
    if len(re.findall(r"\bvariables\b", expression)) != len(_VARIABLES.findall(expression)):
        return None  # a use of variables other than variables.<name>
    if len(re.findall(rf"\bvariables\.{name}\b", expression)) != 1:
        return None
    # the call's parenthesis must close at the end of the expression
    call = _call(expression, found.start("open"))
    return name if call is not None and not expression[call[0] :].strip() else None


def _call(expression: str, opening: int) -> tuple[int, int] | None:
    """Where the call whose ``(`` is at ``opening`` ends (just after its
    ``)``) and how many commas its top level holds; None when it does not
    close, or a raw string literal (whose end the lexer may misjudge) comes
    first."""
    depth, commas = 0, 0
    for token in _TOKEN.finditer(expression, opening):
        if token.lastgroup == "raw":
            return None
        if token.lastgroup != "other":
            continue
        char = token.group()
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return token.end(), commas
        elif char == "," and depth == 1:
            commas += 1
    return None


@lru_cache(maxsize=1024)
def _one_to_one(expression: str) -> bool:
    """Whether an element-by-element expression is a two-argument map (one
    value per element): one comma at the top level of its call."""
    found = _EACH.match(expression)
    if found is None or expression[found.start("open") - 3 : found.start("open")] != "map":
        return False
    call = _call(expression, found.start("open"))
    return call is not None and call[1] == 1


@lru_cache(maxsize=1024)
def _path_roots(paths: frozenset[Path]) -> tuple[str, ...]:
    """The roots ``paths`` start at: the projection reaches no others."""
    return tuple(sorted({path[0] for path in paths}))


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


NUL = "\x00"
#: Stand-ins for NUL, private-use characters: the CEL binding cuts strings
#: at NUL (a C string), so ``app@sha256:<hex>\x00evil`` would reach the CEL
#: as a valid pinned image. A stand-in is, like NUL, one character that no
#: part of the image grammar, glob or label accepts where NUL is refused, so
#: every expression decides the same; messages get NUL back.
PLACEHOLDERS = tuple(chr(c) for c in range(0xE000, 0xE010))


def without_nul(
    activation: dict[str, Any], placeholder: str | None = None
) -> tuple[dict[str, Any], str | None]:
    """The activation with NUL replaced by a character it does not hold
    (and that character), or unchanged (and None) when it has no NUL.
    ``placeholder``: the one an earlier call chose, kept (or None: none
    was needed then, and a NUL now is left as it is)."""
    if not _may_hold_nul(activation):
        return activation, placeholder
    strings = list(_strings(activation))
    if not any(NUL in text for text in strings):
        return activation, placeholder
    if placeholder is None:
        placeholder = next(p for p in PLACEHOLDERS if not any(p in text for text in strings))

    def swap(node: Any) -> Any:
        if isinstance(node, str):
            return node.replace(NUL, placeholder)
        if isinstance(node, dict):
            return {swap(k): swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    return swap(activation), placeholder


def _may_hold_nul(value: Any) -> bool:
    """False when no string in ``value`` holds NUL, told by one pass of
    orjson's encoder (which writes NUL as ``\\u0000``, and a backslash
    before "u0000" as two) rather than by walking every string in Python;
    True when that cannot be told so (a value orjson does not encode)."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return True
    return b"\\u0000" in text


def _restore(value: Any, placeholder: str | None) -> Any:
    """A value CEL computed with NUL's stand-in given NUL back (a patch
    copies names and images from the object)."""
    if placeholder is None:
        return value
    if isinstance(value, str):
        return value.replace(placeholder, NUL)
    if isinstance(value, dict):
        return {_restore(k, placeholder): _restore(v, placeholder) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v, placeholder) for v in value]
    return value


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def admission_request(
    obj: Mapping[str, Any], namespace: str, operation: str, subresource: str
) -> dict[str, Any]:
    """The ``request`` CEL sees: the AdmissionRequest's fields for this object."""
    group, version, resource = gvr(obj)
    return {
        "operation": operation,
        "namespace": namespace,
        "name": (obj.get("metadata") or {}).get("name", ""),
        "kind": {"group": group, "version": version, "kind": obj.get("kind")},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": obj.get("kind")},
        "requestResource": {"group": group, "version": version, "resource": resource},
        "subResource": subresource,
        "userInfo": {},
        "dryRun": False,
    }


def _matches(
    match: Mapping[str, Any],
    obj: Mapping[str, Any],
    namespace: str,
    ns_obj: Mapping[str, Any] | None,
    operation: str,
    subresource: str,
    narrowing: bool = False,
    *,
    kyverno: bool = False,
) -> bool:
    """The API server's MatchResources (policy/matching/matching.go), or with
    ``kyverno`` Kyverno's own matcher (pkg/cel/matching/matcher.go): no
    resourceRules match everything, and an unnamed object matches a
    ``resourceNames`` entry its ``generateName`` starts with."""
    extra = set(match) - MATCH_FIELDS
    if extra:
        raise UnsupportedConstruct("vap", f"matchResources.{sorted(extra)[0]}", "field")
    if not _namespace_selected(match.get("namespaceSelector"), obj, namespace, ns_obj):
        return False
    object_selector = match.get("objectSelector")
    if object_selector:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if not LabelSelector.model_validate(object_selector).matches(dict(labels)):
            return False
    attrs = _Attributes.of(obj, namespace, operation, subresource)
    if any(_named_rule(r, attrs, kyverno) for r in match.get("excludeResourceRules") or []):
        return False
    rules = match.get("resourceRules")
    # a binding may leave rules to the policy; Kyverno's matcher takes none as all
    must_list = not (kyverno and not rules) and (rules is not None or not narrowing)
    return not must_list or any(_named_rule(r, attrs, kyverno) for r in rules or [])


MATCH_FIELDS = {
    "resourceRules",
    "excludeResourceRules",
    "namespaceSelector",
    "objectSelector",
    "matchPolicy",
}


def _namespace_selected(
    selector: Mapping[str, Any] | None,
    obj: Mapping[str, Any],
    namespace: str,
    ns_obj: Mapping[str, Any] | None,
) -> bool:
    """A cluster-scoped object other than a Namespace is never filtered by a
    namespaceSelector; a Namespace is selected by its own labels."""
    if not selector:
        return True
    if obj.get("kind") == "Namespace" and str(obj.get("apiVersion")) == "v1":
        labels: Mapping[str, Any] = (obj.get("metadata") or {}).get("labels") or {}
    elif not namespace:
        return True
    elif ns_obj is None:
        raise NamespaceUnknown(namespace)
    else:
        labels = namespace_labels(ns_obj, namespace)
    return LabelSelector.model_validate(selector).matches(dict(labels))


@dataclass(frozen=True)
class _Attributes:
    """What a rule is matched against: the request's group, version,
    resource, subresource, operation, namespace and name."""

    group: str
    version: str
    resource: str
    subresource: str
    operation: str
    namespace: str
    name: str
    generate_name: str

    @classmethod
    def of(
        cls, obj: Mapping[str, Any], namespace: str, operation: str, subresource: str
    ) -> _Attributes:
        group, version, resource = gvr(obj)
        meta = obj.get("metadata") or {}
        return cls(
            group,
            version,
            resource,
            subresource,
            operation,
            namespace,
            str(meta.get("name") or ""),
            str(meta.get("generateName") or ""),
        )


def _named_rule(rule: Mapping[str, Any], attrs: _Attributes, kyverno: bool) -> bool:
    """One NamedRuleWithOperations (webhook/predicates/rules/rules.go, then
    its resourceNames)."""

    def any_of(values: Any, value: str) -> bool:
        return "*" in (values or []) or value in (values or [])

    def resource(pattern: str) -> bool:
        res, _, sub = pattern.partition("/")
        return res in ("*", attrs.resource) and sub in ("*", attrs.subresource)

    scope = rule.get("scope") or "*"
    if not (
        any_of(rule.get("apiGroups"), attrs.group)
        and any_of(rule.get("apiVersions"), attrs.version)
        and any(resource(str(r)) for r in rule.get("resources") or [])
        and any_of(rule.get("operations"), attrs.operation)
        and (scope == "*" or (scope == "Cluster") == (attrs.namespace == ""))
    ):
        return False
    names = [str(n) for n in rule.get("resourceNames") or []]
    if not names:
        return True
    if attrs.name:
        return attrs.name in names
    return kyverno and any(attrs.generate_name.startswith(n) for n in names if attrs.generate_name)


class VapEngine(DocumentEngine[PolicySet]):
    name = "vap"
    target = "vap"
    per_rule = True

    def load(self, documents: Sequence[Mapping[str, Any]]) -> PolicySet:
        return PolicySet.load(documents, fast=self.fast)
