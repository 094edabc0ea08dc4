"""The Kyverno CEL policy evaluator: ``policies.kyverno.io`` ValidatingPolicies
(v1, v1beta1, v1alpha1) in the vap evaluator's CEL runtime, with Kyverno's
own semantics where they differ from the API server's (notes/kyverno.md
§3.4, §3.7; kyverno pkg/cel/policies/vpol):

- matching (pkg/cel/matching/matcher.go): the resource a kind is served as
  (``_kube``), no ``resourceRules`` matching everything, ``resourceNames``
  honoured in match and exclude, an unnamed object matching by
  ``generateName``;
- Pod-controller autogen (pkg/cel/autogen, vpol/autogen): a policy on
  exactly core/v1 ``pods`` also runs, under the same name, on the
  controllers it lists, with ``object.spec``/``object.metadata`` rewritten
  to the template's;
- evaluation (vpol/compiler/policy.go): the PolicyExceptions first, then
  matchConditions (an error follows failurePolicy), variables evaluated
  when first read, validations in order up to the first that fails (its
  message, messageExpression, or Kyverno's default), an evaluation error
  reported as ``error``;
- ``policies.kyverno.io`` PolicyExceptions (pkg/cel/engine/exception.go,
  vpol/compiler/policy.go): those that name the policy and have not
  expired by the clock (``IsExpired``: now after ``expiresAt``), whose
  matchConditions all hold: one without images or values skips the policy,
  the others' ``images`` and ``allowedValues`` are the policy's
  ``exceptions.allowedImages`` and ``exceptions.allowedValues``;
- Kyverno's ``time.now()`` (kyverno/sdk extensions/cel/libs/time), which
  reads the evaluator's clock (``--now``).

Kyverno behaviour it does not implement (the ValidatingAdmissionPolicy copy,
evaluation off admission or in JSON/HTTP/Envoy mode, Kyverno's other CEL
libraries, parameters, other policy kinds, exceptions of MutatingPolicies)
is refused rather than guessed.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import orjson

from policygen.config import Config
from policygen.engines import DocumentEngine, EvalContext, NamespaceUnknown
from policygen.engines._cel_mutation import (
    MutationError,
    Unsupported,
    apply_configuration,
    apply_json_patch,
    escape_key,
    rewrite_construction,
)
from policygen.engines._cel_reads import activation_paths
from policygen.engines._kube import group_version, gvr
from policygen.engines._projection import minimal, project
from policygen.engines.vap import (
    ACTIONS,
    MEMO_SIZE,
    NUL,
    POLICY_FIELDS,
    Binding,
    CelError,
    Function,
    Policy,
    PolicySet,
    Rejection,
    _expressions,
    _matches,
    admission_request,
    reads,
    without_nul,
)
from policygen.errors import UnsupportedConstruct
from policygen.memo import MISSING, Memo, fingerprint
from policygen.violations import Action
from policygen.workloads import labelled_namespace, with_api_defaults

ENGINE = "kyverno-cel"
GROUP = "policies.kyverno.io"
VERSIONS = ("v1", "v1beta1", "v1alpha1")
#: Kyverno's fields beyond a ValidatingAdmissionPolicy's, all handled below.
KYVERNO_FIELDS = {
    "validationActions",
    "autogen",
    "evaluation",
    "webhookConfiguration",
    "auditAnnotations",
}
MATCH_FIELDS = {
    "resourceRules",
    "excludeResourceRules",
    "namespaceSelector",
    "objectSelector",
    "matchPolicy",
}
#: Kyverno's CEL libraries (kyverno/sdk extensions/cel/libs): their names,
#: as an undeclared reference in a compile error shows them.
KYVERNO_LIBRARIES = {
    "resource": "resource (needs a cluster)",
    "http": "http (needs the network)",
    "image": "image",
    "imagedata": "imagedata (needs a registry)",
    "globalContext": "globalcontext (needs a cluster)",
    "parseImageReference": "image",
    "isImage": "image",
    "parseServiceAccount": "user",
    "json": "json",
    "yaml": "yaml",
    "x509": "x509",
    "time": "time (only time.now() is implemented)",
    "random": "random",
    "hash": "hash",
    "gzip": "gzip",
    "generator": "generator",
    "listObjToMap": "transform",
}

#: Kyverno's time library beyond ``time.now()``, which alone is implemented
_TIME_FUNCTIONS = re.compile(r"\btime\.(?!now\s*\()[A-Za-z_]+\s*\(")
#: what reads the clock: an answer that does is not kept
CLOCK = re.compile(r"\btime\.now\s*\(")


@lru_cache(maxsize=4096)
def reads_clock(expression: str) -> bool:
    """Whether a CEL expression calls ``time.now()``; asked of every
    expression each time it is evaluated, and searching a long one (the
    image grammar as a regex) cost more than many evaluations."""
    return bool(CLOCK.search(expression))


EXCEPTION_FIELDS = {
    "policyRefs",
    "matchConditions",
    "images",
    "allowedValues",
    "expiresAt",
    "properties",
    "reportResult",
    "evaluationMode",
}

#: the library functions answered from a kyverno test's Context
_CONTEXT_FUNCTIONS = re.compile(r"\b(resource|image)\.(?:Get|List|GetMetadata)\s*\(")

#: pkg/cel/autogen/data.go: each controller, its target and which rewrite
#: of ``spec``/``metadata`` it takes.
AUTOGEN_TARGETS = {
    "daemonsets": ("apps", "v1", "daemonsets", "DaemonSet", "defaults"),
    "deployments": ("apps", "v1", "deployments", "Deployment", "defaults"),
    "replicasets": ("apps", "v1", "replicasets", "ReplicaSet", "defaults"),
    "statefulsets": ("apps", "v1", "statefulsets", "StatefulSet", "defaults"),
    "jobs": ("batch", "v1", "jobs", "Job", "defaults"),
    "cronjobs": ("batch", "v1", "cronjobs", "CronJob", "cronjobs"),
}
AUTOGEN_REWRITES = {
    "defaults": (("spec", "spec.template.spec"), ("metadata", "spec.template.metadata")),
    "cronjobs": (
        ("spec", "spec.jobTemplate.spec.template.spec"),
        ("metadata", "spec.jobTemplate.spec.template.metadata"),
    ),
}


@dataclass(frozen=True)
class Response:
    """What Kyverno reports for one policy that matched a request."""

    status: str  # pass | fail | skip | error
    message: str = ""


@dataclass(frozen=True)
class CelException:
    """A ``policies.kyverno.io`` PolicyException as Kyverno compiles it into
    the policies it names."""

    name: str
    refs: frozenset[tuple[str, str]]  # (kind, name)
    conditions: tuple[tuple[str, str], ...]  # (name, expression)
    images: tuple[str, ...]
    values: tuple[str, ...]
    expires_at: dt.datetime | None

    def expired(self, now: dt.datetime) -> bool:
        """kyverno/api ``IsExpired``: ``time.Now().After(expiresAt)``."""
        return self.expires_at is not None and now > self.expires_at


@dataclass(frozen=True)
class Entry:
    """A policy as Kyverno runs it: the policy itself or one of its autogen
    copies (same name, another ``key``)."""

    key: str
    name: str
    #: a lone resource rule and no selector: the CLI drops such a policy's
    #: empty response (policy_processor.go, ``hasSelector``)
    simple_match: bool


class ValidatingPolicySet(PolicySet):
    ENGINE = ENGINE
    KIND = "ValidatingPolicy"
    EXTRA_VARIABLES = ("params", "exceptions")

    def __init__(self) -> None:
        #: the clock ``time.now()`` and ``expiresAt`` are read by; None: the
        #: real one (the evaluator sets ``--now``)
        self.now: dt.datetime | None = None
        #: the PolicyExceptions, as Kyverno lists them for each policy
        self.exceptions: list[CelException] = []
        #: what of the request their conditions can read (None: all of it)
        self._exception_reads: frozenset[tuple[str, ...]] | None = frozenset()
        #: a kyverno test's Context: resources and image data
        self.context_resources: list[Mapping[str, Any]] = []
        self.context_images: dict[str, Mapping[str, Any]] = {}
        #: the requester (a kyverno test's UserInfo)
        self.user_info: Mapping[str, Any] = {}
        super().__init__()
        self.entries: list[Entry] = []
        self.actions: dict[str, list[Action]] = {}
        #: Kyverno CLI: an unknown namespace is matched as one labelled only
        #: with its name (namespace/matcher.go), and namespaceObject is null
        self.cli = False
        self._responses: Memo[tuple[str, bytes], Response] = Memo(MEMO_SIZE)
        #: the policies (by key) whose CEL reads the clock
        self._clocked: set[str] = set()
        #: the MutatingPolicies Kyverno's mutating webhook applies first
        self.mutating: MutatingPolicySet | None = None

    @classmethod
    def load(
        cls, documents: Sequence[Mapping[str, Any]], *, fast: bool = True
    ) -> ValidatingPolicySet:
        out = cls()
        if not fast:  # the plain path memoises nothing
            out._memo, out._outcomes, out._responses = Memo(0), Memo(0), Memo(0)
        for doc in documents:
            out._add(doc)
        return out

    @classmethod
    def load_admission(
        cls, documents: Sequence[Mapping[str, Any]], *, fast: bool = True
    ) -> ValidatingPolicySet:
        """A bundle's policies as admission runs them: the MutatingPolicies
        in Kyverno's mutating webhook, then the ValidatingPolicies."""
        mutating = [d for d in documents if d.get("kind") == "MutatingPolicy"]
        exceptions = [d for d in documents if d.get("kind") == "PolicyException"]
        validating = [
            d for d in documents if d.get("kind") not in ("MutatingPolicy", "PolicyException")
        ]
        out = ValidatingPolicySet.load(validating, fast=fast)
        assert isinstance(out, ValidatingPolicySet)
        for doc in exceptions:
            out.add_exception(doc)
        refs = {ref for e in out.exceptions for ref in e.refs}
        for doc in mutating:
            name = str((doc.get("metadata") or {}).get("name", ""))
            if ("MutatingPolicy", name) in refs:
                raise UnsupportedConstruct(
                    ENGINE, f"MutatingPolicy/{name}", "PolicyExceptions of a MutatingPolicy"
                )
        if mutating:
            loaded = MutatingPolicySet.load(mutating, fast=fast)
            assert isinstance(loaded, MutatingPolicySet)
            out.mutating = loaded
        return out

    def admit(
        self,
        obj: Mapping[str, Any],
        namespace: str,
        ns_obj: Mapping[str, Any] | None,
        operation: str,
        subresource: str,
    ) -> dict[str, Any] | Rejection:
        """Kyverno's mutating webhook: every MutatingPolicy in turn; one that
        errs under ``failurePolicy: Fail`` rejects the request. The API
        server defaults the object the webhook patched. An unknown
        namespace is left to the validating policies to report."""
        if self.mutating is None:
            return dict(obj)
        current = with_api_defaults(dict(obj))
        try:
            final, responses = self.mutating.mutate(current, namespace, ns_obj, operation)
        except NamespaceUnknown:
            return current
        for entry, response in responses:
            if response is None or response.status != "error":
                continue
            policy = self.mutating.policies[entry.key]
            if policy.spec.get("failurePolicy", "Fail") == "Fail":
                return Rejection(policy, f"policy {policy.name} failed: {response.message}")
        return with_api_defaults(final)

    @classmethod
    def load_for_cli(
        cls,
        documents: Sequence[Mapping[str, Any]],
        context: Mapping[str, Any] | None = None,
        user_info: Mapping[str, Any] | None = None,
    ) -> ValidatingPolicySet:
        """As ``kyverno test`` loads them: with the CLI's namespace rules, and
        Kyverno's resource and image libraries answered from the test's
        Context (libs/fake_context.go) instead of a cluster or registry."""
        out = cls()
        out.cli = True
        out.user_info = dict(user_info or {})
        spec = (context or {}).get("spec") or {}
        out.context_resources = [dict(r) for r in spec.get("resources") or []]
        for data in spec.get("images") or []:
            entry = {"resolvedImage": "", "registry": "", "repository": "", **dict(data)}
            out.context_images[str(data.get("image", ""))] = entry
        for doc in documents:
            out._add(doc)
        return out

    def _functions(self) -> list[Function]:
        return [
            Function("time.now", self._time_now, 0, returns_timestamp=True),
            Function("resource.Get", self._resource_get, 4),
            Function("resource.List", self._resource_list, 3),
            Function("image.GetMetadata", self._image_metadata, 1),
            Function("jsonpatch.escapeKey", escape_key, 1, returns_string=True),
            Function("parseServiceAccount", parse_service_account, 1),
        ]

    @property
    def pure(self) -> bool:  # type: ignore[override]  # vap's is a constant
        """An answer depends on the request alone, and on the clock
        (``time.now()``, ``expiresAt``) only while the evaluator sets it:
        the reuse layer is one per clock."""
        reads_clock = bool(self._clocked) or any(
            e.expires_at is not None or any(CLOCK.search(x) for _, x in e.conditions)
            for e in self.exceptions
        )
        return not reads_clock or self.now is not None

    def clock(self) -> dt.datetime:
        """The instant the policies see: the evaluator's, else the one
        ``policygen kyverno test --now`` sets for every Kyverno engine (the
        JMESPath functions' clock), else the real one."""
        from policygen.engines.kyverno.functions import CLOCK as JMESPATH_CLOCK

        return self.now or JMESPATH_CLOCK.get() or dt.datetime.now(dt.UTC)

    def _time_now(self) -> dt.datetime:
        return self.clock()

    def add_exception(self, doc: Mapping[str, Any]) -> None:
        """A ``policies.kyverno.io`` PolicyException, its matchConditions
        compiled in the policies' environment (vpol/compiler/compiler.go)."""
        meta = doc.get("metadata") or {}
        name = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        group, _, version = str(doc.get("apiVersion", "")).partition("/")
        where = f"PolicyException/{name}"
        if group != GROUP or version not in VERSIONS:
            raise UnsupportedConstruct(ENGINE, where, f"apiVersion {doc.get('apiVersion')}")
        spec = doc.get("spec") or {}
        extra = set(spec) - EXCEPTION_FIELDS
        if extra:
            raise UnsupportedConstruct(ENGINE, f"{where}.spec.{sorted(extra)[0]}", "field")
        if spec.get("evaluationMode", "Kubernetes") != "Kubernetes":
            raise UnsupportedConstruct(
                ENGINE, f"{where}.spec.evaluationMode", str(spec.get("evaluationMode"))
            )
        refs = frozenset(
            (str(r.get("kind", "")), str(r.get("name", ""))) for r in spec.get("policyRefs") or []
        )
        for kind, _ in refs:
            if kind not in ("ValidatingPolicy", "MutatingPolicy"):
                raise UnsupportedConstruct(ENGINE, f"{where}.spec.policyRefs", f"kind {kind}")
        conditions = tuple(
            (str(c.get("name", "")), str(c.get("expression", "")))
            for c in spec.get("matchConditions") or []
        )
        for condition, expression in conditions:
            self._compile(expression, f"{where} matchCondition {condition}")
        reads = activation_paths(x for _, x in conditions)
        known = self._exception_reads
        self._exception_reads = None if reads is None or known is None else minimal(known | reads)
        expires = spec.get("expiresAt")
        self.exceptions.append(
            CelException(
                name,
                refs,
                conditions,
                tuple(str(i) for i in spec.get("images") or []),
                tuple(str(v) for v in spec.get("allowedValues") or []),
                None if expires is None else _rfc3339(where, str(expires)),
            )
        )

    def _excepted(
        self, policy: Policy, activation: Mapping[str, Any]
    ) -> Response | dict[str, list[str]]:
        """vpol/compiler/policy.go ``evaluateWithData``: the exceptions that
        name the policy and have not expired (ListExceptions, which the
        reconciler calls whenever it compiles the policy), whose
        matchConditions all hold. One without images or values skips the
        policy; the others add theirs to ``exceptions``. An exception whose
        conditions fail to evaluate errs, unless one already skipped it."""
        now = self.clock()
        images: list[str] = []
        values: list[str] = []
        full = False
        for exception in self.exceptions:
            if (self.KIND, policy.name) not in exception.refs or exception.expired(now):
                continue
            try:
                matched = all(
                    self._eval(
                        expression,
                        activation,
                        f"PolicyException/{exception.name} matchCondition {condition}",
                    )
                    is True
                    for condition, expression in exception.conditions
                )
            except CelError as exc:
                if full:
                    continue
                return Response("error", str(exc))
            if not matched:
                continue
            if not exception.images and not exception.values:
                full = True
            elif not full:
                images.extend(exception.images)
                values.extend(exception.values)
        if full:
            return Response("skip", "exception")
        return {"allowedImages": images, "allowedValues": values}

    def _keeps(self, expression: str) -> bool:
        return not reads_clock(expression)  # one that reads the clock is not kept

    def _request(
        self, obj: Mapping[str, Any], namespace: str, operation: str, subresource: str
    ) -> dict[str, Any]:
        request = admission_request(obj, namespace, operation, subresource)
        request["userInfo"] = dict(self.user_info)
        return request

    def _context(self, api_version: str, resource: str) -> list[Mapping[str, Any]]:
        group, version = group_version(api_version)
        return [r for r in self.context_resources if gvr(r) == (group, version, resource)]

    def _resource_get(self, api_version: str, resource: str, namespace: str, name: str) -> Any:
        for obj in self._context(api_version, resource):
            meta = obj.get("metadata") or {}
            if meta.get("name") == name and (meta.get("namespace") or "") == namespace:
                return copy.deepcopy(dict(obj))
        raise LookupError(f'{resource} "{name}" not found')

    def _resource_list(self, api_version: str, resource: str, namespace: str) -> Any:
        found = self._context(api_version, resource)
        if not found:
            raise LookupError(f"{resource} resource not found")
        items = [
            copy.deepcopy(dict(obj))
            for obj in found
            if ((obj.get("metadata") or {}).get("namespace") or "") == namespace
        ]
        return {"items": items}

    def _image_metadata(self, image: str) -> Any:
        if image not in self.context_images:
            raise LookupError(f"image data for {image} not found in the context")
        return copy.deepcopy(dict(self.context_images[image]))

    def _add(self, doc: Mapping[str, Any]) -> None:
        kind = str(doc.get("kind", ""))
        meta = doc.get("metadata") or {}
        name = str(meta.get("name", ""))
        group, _, version = str(doc.get("apiVersion", "")).partition("/")
        if group != GROUP or version not in VERSIONS or kind != "ValidatingPolicy":
            raise UnsupportedConstruct(ENGINE, f"{kind}/{name}", "only ValidatingPolicy")
        spec = doc.get("spec") or {}
        extra = set(spec) - POLICY_FIELDS - KYVERNO_FIELDS
        if extra:
            raise UnsupportedConstruct(ENGINE, f"{name}.spec.{sorted(extra)[0]}", "field")
        match = spec.get("matchConstraints") or {}
        extra = set(match) - MATCH_FIELDS
        if extra:
            at = f"{name}.spec.matchConstraints.{sorted(extra)[0]}"
            raise UnsupportedConstruct(ENGINE, at, "")
        actions = list(spec.get("validationActions") or [])
        if not actions or not set(actions) <= {"Deny", "Warn", "Audit"}:
            raise UnsupportedConstruct(ENGINE, f"{name}.spec.validationActions", str(actions))
        if {"Deny", "Warn"} <= set(actions):
            raise UnsupportedConstruct(
                ENGINE, f"{name}.spec.validationActions", "Deny and Warn must not be combined"
            )
        if ((spec.get("autogen") or {}).get("validatingAdmissionPolicy") or {}).get("enabled"):
            raise UnsupportedConstruct(
                ENGINE, f"{name}.spec.autogen.validatingAdmissionPolicy", "use the vap target"
            )
        _check_evaluation(name, spec)
        rule = (meta.get("annotations") or {}).get("policygen.dev/rule", name)
        self.actions[name] = [ACTIONS[a] for a in actions]
        spec = with_orvalue_compat(spec)
        specs = [(name, dict(spec))]
        specs += [(f"{name}#autogen-{config}", s) for config, s in autogen(spec)]
        for key, one in specs:
            expressions = _expressions(one) + [
                str(a.get("valueExpression", "")) for a in one.get("auditAnnotations") or []
            ]
            for expr in expressions:
                self._compile(expr, f"{self.KIND}/{name}")
            if any(CLOCK.search(e) for e in expressions):
                self._clocked.add(key)
            self.policies[key] = Policy(
                name,
                str(rule),
                one,
                any("namespaceObject" in reads(e)[0] for e in expressions),
                activation_paths(expressions),
            )
            self.bindings.append(Binding(key, key, self.actions[name], {}))
            self.entries.append(Entry(key, name, _simple_match(one.get("matchConstraints"))))

    def _compile(self, expression: str, where: str) -> None:
        if _TIME_FUNCTIONS.search(expression):
            library = KYVERNO_LIBRARIES["time"]
            raise UnsupportedConstruct(
                ENGINE, where, f"Kyverno CEL library {library}: not implemented"
            )
        used = _CONTEXT_FUNCTIONS.search(expression)
        if used and not self.cli:
            library = KYVERNO_LIBRARIES[used.group(1)]
            raise UnsupportedConstruct(
                ENGINE, where, f"Kyverno CEL library {library}: not implemented"
            )
        try:
            self.cel.compile(expression, where)
        except UnsupportedConstruct as exc:
            found = re.search(r"undeclared reference to '([A-Za-z_]+)", str(exc))
            if found and found.group(1) in KYVERNO_LIBRARIES:
                library = KYVERNO_LIBRARIES[found.group(1)]
                raise UnsupportedConstruct(
                    ENGINE, where, f"Kyverno CEL library {library}: not implemented"
                ) from None
            raise

    # --- Kyverno's answer per policy ----------------------------------------

    def responses(
        self,
        obj: Mapping[str, Any],
        namespace: str,
        ns_obj: Mapping[str, Any] | None,
        operation: str,
        subresource: str = "",
        *,
        old_obj: Mapping[str, Any] | None = None,
    ) -> list[tuple[Entry, Response | None]]:
        """Each policy and autogen copy with Kyverno's response to the
        request; None where it does not match (no rule response)."""
        request = (obj, namespace, ns_obj, operation, subresource, old_obj)
        return [(entry, self._respond(entry.key, *request)) for entry in self.entries]

    def _respond(
        self,
        key: str,
        obj: Mapping[str, Any],
        namespace: str,
        ns_obj: Mapping[str, Any] | None,
        operation: str,
        subresource: str,
        old_obj: Mapping[str, Any] | None,
    ) -> Response | None:
        policy = self.policies[key]
        match = policy.spec.get("matchConstraints")
        if match is None:
            return None  # Kyverno matches nothing without matchConstraints
        ns_for_match = ns_obj
        if ns_obj is None and self.cli and namespace:
            labels = {"kubernetes.io/metadata.name": namespace}
            ns_for_match = {"metadata": {"name": namespace, "labels": labels}}
        if not _matches(match, obj, namespace, ns_for_match, operation, subresource, kyverno=True):
            return None
        if ns_obj is None and policy.reads_namespace and not self.cli:
            raise NamespaceUnknown(namespace)
        new = None if operation == "DELETE" else obj
        whole: dict[str, Any] = {
            "object": new,
            "oldObject": old_obj,
            "request": self._request(obj, namespace, operation, subresource),
            # as admission sends it: with the name label the API server sets
            "namespaceObject": labelled_namespace(ns_obj, namespace)
            if ns_obj is not None
            else None,
            "params": None,
        }
        if any((self.KIND, policy.name) in e.refs for e in self.exceptions):
            # the exceptions come first, on what of the request they read
            seen: dict[str, Any] = project(whole, self._exception_reads)
            seen["object"] = null_objects(seen.get("object"), shared=True)
            seen["oldObject"] = null_objects(seen.get("oldObject"), shared=True)
            full, _ = without_nul({**seen, "variables": {}})
            excepted = self._excepted(policy, full)
            if isinstance(excepted, Response):
                return excepted
            whole["exceptions"] = excepted
        else:
            whole["exceptions"] = {"allowedImages": [], "allowedValues": []}
        activation: dict[str, Any] = project(whole, policy.reads)
        # after projection, which leaves less to copy
        activation["object"] = null_objects(activation.get("object"), shared=True)
        activation["oldObject"] = null_objects(activation.get("oldObject"), shared=True)
        activation, placeholder = without_nul(activation)  # the binding cuts at NUL
        # kept by what the policy's CEL can read (and the clock, if it reads
        # it): workloads repeat pod specs
        clocked = key in self._clocked
        memo_key = (key, fingerprint((activation, self.clock() if clocked else None)))
        hit = self._responses.get(memo_key)
        if hit is MISSING:
            hit = self._responses.put(memo_key, self._evaluate(policy, activation))
        response = cast("Response", hit)
        if placeholder is not None:
            response = Response(response.status, response.message.replace(placeholder, NUL))
        return response

    def _evaluate(self, policy: Policy, activation: dict[str, Any]) -> Response:
        spec = policy.spec
        where = f"{self.KIND}/{policy.name}"
        activation["variables"] = {}
        errors = []
        for condition in spec.get("matchConditions") or []:
            at = f"{where} matchCondition {condition['name']}"
            try:
                value = self._eval(condition["expression"], activation, at)
            except CelError as exc:
                errors.append(str(exc))
                continue
            if not isinstance(value, bool):
                errors.append(f"{at}: not a bool")
            elif not value:
                return Response("skip", "cel preconditions not met")
        if errors:
            if spec.get("failurePolicy", "Fail") == "Ignore":
                return Response("skip", "cel preconditions not met")
            return Response("error", "; ".join(errors))
        activation["variables"] = self._variables(policy, activation, where)
        for i, validation in enumerate(spec.get("validations") or []):
            at = f"{where} validations[{i}]"
            try:
                ok = self._eval(validation["expression"], activation, at)
            except CelError as exc:
                return Response("error", str(exc))
            if ok is False:
                return Response("fail", self._kyverno_message(validation, activation, i, where))
            if ok is not True:
                return Response("error", f"{at}: not a bool")
        for annotation in spec.get("auditAnnotations") or []:
            at = f"{where} auditAnnotation {annotation.get('key')}"
            try:
                self._eval(str(annotation.get("valueExpression", "")), activation, at)
            except CelError as exc:
                return Response("error", str(exc))
        return Response("pass")

    def _kyverno_message(
        self, validation: Mapping[str, Any], activation: Mapping[str, Any], index: int, where: str
    ) -> str:
        # Kyverno's own rule (pkg/cel/policies/vpol/compiler/policy.go), not
        # the API server's (vap.validation_message): nothing is trimmed, a
        # line break is kept, an error or a non-string is said in the
        # message, and an empty message is the index one.
        message = str(validation.get("message") or "")
        if "messageExpression" in validation:
            try:
                value = self._eval(validation["messageExpression"], activation, where)
            except CelError as exc:
                return f"failed to evaluate message expression: {exc}"
            if not isinstance(value, str):
                return f"failed to convert message expression to string: {_not_a_string(value)}"
            message = value
        return message or f"CEL expression validation failed at index {index}"

    # --- as an admission evaluator ------------------------------------------

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
        response = self._respond(
            binding.policy, obj, namespace, ns_obj, operation, subresource, None
        )
        if response is None or response.status == "skip":
            return None
        if response.status == "pass":
            return []
        if response.status == "error":
            if policy.spec.get("failurePolicy", "Fail") != "Fail":
                return []
            message = f"policy {policy.name} failed: {response.message}"
            return [(policy, a, message) for a in binding.actions]
        return [(policy, a, response.message) for a in binding.actions]


def _not_a_string(value: Any) -> str:
    """cel-go's error converting ``value`` to a Go string (each type's
    ``ConvertToNative``), which Kyverno appends to its message. A uint
    reads as an int here: the runtime gives both as Python ints."""
    if isinstance(value, bool):
        return "type conversion error from bool to 'string'"
    if isinstance(value, int):
        return "unsupported type conversion from 'int' to string"
    names = [
        (float, "Double"),
        (type(None), "'null_type'"),
        (bytes | bytearray, "Bytes"),
        (list | tuple, "list"),
        (Mapping, "map"),
        (dt.datetime, "'Timestamp'"),
        (dt.timedelta, "'Duration'"),
    ]
    for kind, name in names:
        if isinstance(value, kind):
            return f"type conversion error from {name} to 'string'"
    return "type conversion not supported for 'type'"


def _simple_match(match: Mapping[str, Any] | None) -> bool:
    """policy_processor.go ``hasSelector``, which despite its name is true for
    one resource rule without names, selectors or exclusions."""
    if not match:
        return False
    for selector in ("namespaceSelector", "objectSelector"):
        sel = match.get(selector) or {}
        if sel.get("matchLabels") or sel.get("matchExpressions"):
            return False
    rules = match.get("resourceRules") or []
    return (
        not match.get("excludeResourceRules")
        and len(rules) == 1
        and not rules[0].get("resourceNames")
    )


#: fields whose Kubernetes type is an object
OBJECT_FIELDS = frozenset(
    {"metadata", "spec", "template", "jobTemplate", "securityContext", "resources", "status"}
)


#: How orjson writes a null object field: seeing none, there is nothing to replace.
_NULL_FIELDS = tuple(f'"{field}":null'.encode() for field in sorted(OBJECT_FIELDS))


def null_objects(obj: Mapping[str, Any] | None, *, shared: bool = False) -> dict[str, Any] | None:
    """A copy of ``obj`` in which a null object field (``metadata:`` left
    empty in a template) is an empty object. Kyverno's CEL (cel-go) selects
    into null as into an empty map: ``has()`` is false, ``.?`` gives none and
    a plain selection fails; cel-expr-python refuses any selection on null.
    The API server, decoding into typed objects, never passes such a null on
    either. ``shared``: the result may share values with ``obj``."""
    if obj is None:
        return None
    if shared:
        # ``shared``: the caller only reads the result, so without a null
        # object field (told by one encoder pass, not a walk in Python)
        # the object's own values will do
        try:
            text = orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
        except (TypeError, orjson.JSONEncodeError):
            text = None  # not encodable (a YAML date): walk it
        if text is not None and not any(null in text for null in _NULL_FIELDS):
            return dict(obj)

    def walk(value: Any, key: str = "") -> Any:
        if value is None and key in OBJECT_FIELDS:
            return {}
        if isinstance(value, dict):
            return {k: walk(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    out: dict[str, Any] = walk(dict(obj))
    return out


# --- Pod-controller autogen ---------------------------------------------------


def can_autogen(match: Mapping[str, Any] | None) -> bool:
    """Kyverno's ``CanAutoGen`` (pkg/cel/autogen/support.go): one rule for
    exactly core/v1 pods, and nothing that autogen could not carry over."""
    if not match:
        return False
    selector = match.get("objectSelector") or {}
    if selector.get("matchLabels") or selector.get("matchExpressions"):
        return False
    rules = match.get("resourceRules") or []
    if match.get("excludeResourceRules") or len(rules) != 1:
        return False
    rule = rules[0]
    return (
        not rule.get("resourceNames")
        and rule.get("apiGroups") == [""]
        and rule.get("apiVersions") == ["v1"]
        and rule.get("resources") == ["pods"]
    )


def _controller_copies(spec: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Per rewrite config, in order, a copy of a Pod policy's spec whose matchConstraints
    match the chosen controllers (``autogen.podControllers.controllers``, else all) with the
    Pod rule's operations and namespaceSelector: what ValidatingPolicy and MutatingPolicy
    autogen share before each rewrites the copy's expressions."""
    match = spec.get("matchConstraints")
    if not can_autogen(match):
        return []
    assert match is not None
    controllers = ((spec.get("autogen") or {}).get("podControllers") or {}).get("controllers")
    chosen = set(AUTOGEN_TARGETS) if controllers is None else {str(c) for c in controllers}
    by_config: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for controller in sorted(chosen):
        target = AUTOGEN_TARGETS.get(controller)
        if target is not None:
            by_config.setdefault(target[4], []).append(target)
    copies = []
    operations = match["resourceRules"][0].get("operations") or []
    for config in sorted(by_config):
        copied = copy.deepcopy(dict(spec))
        copied["matchConstraints"] = _controller_match(
            by_config[config], operations, match.get("namespaceSelector")
        )
        copies.append((config, copied))
    return copies


def autogen(spec: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The controller copies of a Pod policy (vpol/autogen/autogen.go), per
    rewrite config: matchConstraints for the configured controllers with the
    Pod rule's operations and namespaceSelector, and every ``object.spec``,
    ``object.metadata`` (and ``oldObject``'s) in the spec's text moved to the
    template's, except ``object.metadata.namespace``."""
    out = []
    for config, copied in _controller_copies(spec):
        text = json.dumps(copied)
        for old, new in AUTOGEN_REWRITES[config]:
            for root in ("object.", "oldObject."):
                text = _rewrite(text, root + old, root + new)
        out.append((config, json.loads(text)))
    return out


def _controller_match(
    targets: list[tuple[str, str, str, str, str]],
    operations: list[str],
    namespace_selector: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """autogen/match.go ``CreateMatchConstraints``: one rule per group and
    version; none at all without operations."""
    if not operations:
        return None
    by_gv: dict[tuple[str, str], set[str]] = {}
    for group, version, resource, _, _ in targets:
        by_gv.setdefault((group, version), set()).add(resource)
    out: dict[str, Any] = {
        "resourceRules": [
            {
                "apiGroups": [group],
                "apiVersions": [version],
                "resources": sorted(resources),
                "operations": list(operations),
            }
            for (group, version), resources in sorted(by_gv.items())
        ]
    }
    if namespace_selector is not None:
        out["namespaceSelector"] = copy.deepcopy(dict(namespace_selector))
    return out


_IDENT = re.compile(r"[A-Za-z0-9_]")


def _rewrite(text: str, old: str, new: str) -> str:
    """Every ``old`` replaced by ``new`` unless a ``.namespace`` segment
    follows it (autogen/replacement.go: a workload's own namespace stays)."""
    out = []
    pos = 0
    while (found := text.find(old, pos)) >= 0:
        out.append(text[pos:found])
        rest = text[found + len(old) :]
        protected = rest.startswith(".namespace") and not _IDENT.match(rest[10:11] or " ")
        out.append(old if protected else new)
        pos = found + len(old)
    out.append(text[pos:])
    return "".join(out)


def parse_service_account(username: str) -> dict[str, str]:
    """Kyverno's user library ``parseServiceAccount``: the namespace and name
    of a ``system:serviceaccount:<namespace>:<name>`` user, else empty."""
    prefix = "system:serviceaccount:"
    parts = username[len(prefix) :].split(":") if username.startswith(prefix) else []
    if len(parts) != 2:
        return {"Namespace": "", "Name": ""}
    return {"Namespace": parts[0], "Name": parts[1]}


# --- orValue on a plain value ---------------------------------------------------

_STRING_OR_ORVALUE = re.compile(
    r"""(?P<string>'\'\'.*?'\'\'|\"\"\".*?\"\"\"|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
    r"|(?P<orvalue>\.\s*orValue\s*\()",
    re.DOTALL,
)
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_]")


def with_orvalue_compat(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a CEL policy spec with ``orvalue_compat`` applied to every
    expression in it."""
    out = copy.deepcopy(dict(spec))
    for key in ("matchConditions", "variables", "validations", "auditAnnotations", "mutations"):
        for item in out.get(key) or []:
            _compat_fields(item)
    return out


def _compat_fields(item: Any) -> None:
    if isinstance(item, dict):
        for field_name, value in item.items():
            if field_name in ("expression", "messageExpression", "valueExpression") and isinstance(
                value, str
            ):
                item[field_name] = orvalue_compat(value)
            else:
                _compat_fields(value)
    elif isinstance(item, list):
        for value in item:
            _compat_fields(value)


def orvalue_compat(expression: str) -> str:
    """Kyverno's CEL policies route ``x.orValue(y)`` through a compatibility
    function (pkg/cel/compiler/env.go ``OrValueCompatEnvOptions``): an
    optional behaves as usual, a plain value is returned as it is, and an
    error (a missing field) gives ``y``. cel-expr-python has no macros, so
    the same is had by making the receiver's selection chain optional: its
    first plain field selection becomes ``.?``, and a chain that is already
    optional is left alone. A receiver that is a call result is left alone
    too (its ``orValue`` then fails as in plain CEL)."""
    edits: list[int] = []
    for found in _STRING_OR_ORVALUE.finditer(expression):
        if found.lastgroup != "orvalue":
            continue
        where = _first_plain_field(expression, found.start())
        if where is not None:
            edits.append(where)
    for pos in sorted(edits, reverse=True):
        expression = expression[: pos + 1] + "?" + expression[pos + 1 :]
    return expression


def _first_plain_field(text: str, end: int) -> int | None:
    """The position of the dot of the first ``.field`` in the selection
    chain that ends at ``end``; None when the chain is optional already,
    ends in a call, or has no field selection."""
    pos = end
    dots: list[int] = []
    while True:
        while pos > 0 and text[pos - 1].isspace():
            pos -= 1
        if pos > 0 and text[pos - 1] == "]":
            depth = 0
            while pos > 0:
                pos -= 1
                depth += {"]": 1, "[": -1}.get(text[pos], 0)
                if depth == 0:
                    break
            if text[pos + 1 : pos + 2] == "?":
                return None  # [?key]: optional already
            continue  # an index applies to what precedes it
        if pos == 0 or not _IDENT_CHAR.match(text[pos - 1]):
            # a call, a literal or something else: the fields selected from
            # it can still be optional, else leave it
            return dots[-1] if dots else None
        while pos > 0 and _IDENT_CHAR.match(text[pos - 1]):
            pos -= 1
        if text[pos].isdigit():
            return None  # a number
        before = pos
        while before > 0 and text[before - 1].isspace():
            before -= 1
        if text[max(before - 2, 0) : before] == ".?":
            return None
        if before > 0 and text[before - 1] == ".":
            dots.append(before - 1)
            pos = before - 1
            continue
        break
    return dots[-1] if dots else None


def _check_evaluation(name: str, spec: Mapping[str, Any]) -> None:
    evaluation = spec.get("evaluation") or {}
    if (evaluation.get("admission") or {}).get("enabled", True) is not True:
        raise UnsupportedConstruct(ENGINE, f"{name}.spec.evaluation.admission", "background only")
    if evaluation.get("mode", "Kubernetes") != "Kubernetes":
        raise UnsupportedConstruct(ENGINE, f"{name}.spec.evaluation.mode", evaluation["mode"])


class KyvernoCelEngine(DocumentEngine["ValidatingPolicySet"]):
    name = ENGINE
    target = ENGINE
    per_rule = True  # a policy's message names its first offending container

    def load(self, documents: Sequence[Mapping[str, Any]]) -> ValidatingPolicySet:
        return ValidatingPolicySet.load_admission(documents, fast=self.fast)

    def policy_set(self, config: Config, ctx: EvalContext) -> ValidatingPolicySet:
        policies = super().policy_set(config, ctx)
        policies.now = ctx.instant  # what time.now() and expiresAt are read against
        if policies.mutating is not None:
            policies.mutating.now = ctx.instant
        return policies


def _rfc3339(where: str, text: str) -> dt.datetime:
    """``expiresAt`` as metav1.Time reads it (RFC 3339)."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UnsupportedConstruct(ENGINE, f"{where}.spec.expiresAt", f"not RFC 3339: {text!r}")
    return moment


# --- validate.cel in kyverno.io/v1 ClusterPolicies ----------------------------

CEL_FIELDS = {"expressions", "variables", "auditAnnotations", "paramKind", "paramRef", "generate"}


class RuleCel(PolicySet):
    """``validate.cel`` of ClusterPolicy rules, evaluated as Kyverno's
    handler does (pkg/engine/handlers/validation/validate_cel.go): the API
    server's validator over the rule's ``celPreconditions`` (unmet: skip),
    its variables and its expressions, with failure policy Fail, so an
    evaluation error denies too; the rule's message is the default of an
    expression without one. Offline, ``namespaceObject`` is a Namespace
    with only its name (the object's own namespace; none for a Namespace
    or a cluster-scoped object)."""

    ENGINE = "kyverno"
    KIND = "ClusterPolicy"
    EXTRA_VARIABLES = ("params",)

    def __init__(self) -> None:
        super().__init__()
        self._rules: dict[str, Policy] = {}

    def decide(
        self,
        where: str,
        spec: Mapping[str, Any],
        obj: Mapping[str, Any] | None,
        old_obj: Mapping[str, Any] | None,
        operation: str,
    ) -> tuple[str, str]:
        """(pass | fail | skip, message) for one rule and request; ``spec``
        is the rule's validate block with its ``celPreconditions``."""
        policy = self._policy(where, spec)
        subject = obj if obj is not None else old_obj or {}
        namespace = str((subject.get("metadata") or {}).get("namespace") or "")
        if subject.get("kind") == "Namespace" and subject.get("apiVersion") == "v1":
            namespace = ""
        activation: dict[str, Any] = {
            "object": null_objects(obj),
            "oldObject": null_objects(old_obj),
            "request": admission_request(subject, namespace, operation, ""),
            "namespaceObject": {"metadata": {"name": namespace}} if namespace else None,
            "params": None,
            "variables": {},
        }
        try:
            failures = self._failures(policy, activation)
        except CelError as exc:
            return "fail", str(exc)
        if failures is None:
            return "skip", "cel preconditions not met"
        if failures:
            return "fail", failures[0]
        return "pass", "Validation rule passed."

    def _policy(self, where: str, validate: Mapping[str, Any]) -> Policy:
        key = json.dumps(
            [validate.get("cel"), validate.get("message"), validate.get("celPreconditions")],
            sort_keys=True,
            default=str,
        )
        found = self._rules.get(key)
        if found is not None:
            return found
        cel = validate.get("cel") or {}
        extra = set(cel) - CEL_FIELDS
        if extra:
            raise UnsupportedConstruct("kyverno", f"{where}.cel.{sorted(extra)[0]}", "field")
        if cel.get("paramKind") or cel.get("paramRef"):
            raise UnsupportedConstruct("kyverno", f"{where}.cel.paramKind", "params need a cluster")
        if cel.get("generate"):
            raise UnsupportedConstruct(
                "kyverno", f"{where}.cel.generate", "a ValidatingAdmissionPolicy"
            )
        message = str(validate.get("message") or "")
        spec: dict[str, Any] = {
            "matchConditions": list(validate.get("celPreconditions") or []),
            "variables": list(cel.get("variables") or []),
            "validations": [
                {**v, "message": v.get("message") or message} if message else dict(v)
                for v in cel.get("expressions") or []
            ],
        }
        spec = with_orvalue_compat(spec)  # the admissionpolicy compiler has it too
        expressions = _expressions(spec)
        for expression in expressions:
            self.cel.compile(expression, f"{where}.cel")
        policy = Policy(where, "", spec, False, activation_paths(expressions))
        self._rules[key] = policy
        return policy


_RULE_CEL: RuleCel | None = None


def validate_cel(
    spec: Mapping[str, Any],
    obj: Mapping[str, Any] | None,
    old_obj: Mapping[str, Any] | None,
    request: Mapping[str, Any],
    where: str,
) -> tuple[str, str]:
    """A ClusterPolicy rule's ``validate.cel``, as the kyverno evaluator's
    hook: ``spec`` is the rule's validate block with its celPreconditions;
    (pass | fail | skip, message)."""
    global _RULE_CEL
    if _RULE_CEL is None:
        _RULE_CEL = RuleCel()
    operation = str(request.get("operation") or "CREATE")
    return _RULE_CEL.decide(where, spec, obj, old_obj, operation)


# --- MutatingPolicy -------------------------------------------------------------

MPOL_FIELDS = {
    "matchConstraints",
    "matchConditions",
    "variables",
    "mutations",
    "failurePolicy",
    "reinvocationPolicy",
    "autogen",
    "evaluation",
    "webhookConfiguration",
    "targetMatchConstraints",
    "auditAnnotations",
}


@dataclass(frozen=True)
class Mutation:
    kind: str  # ApplyConfiguration | JSONPatch
    expression: str  # construction rewritten into map literals


class MutatingPolicySet(ValidatingPolicySet):
    """``policies.kyverno.io`` MutatingPolicies as Kyverno's mpol engine
    applies them (pkg/cel/policies/mpol): matched as ValidatingPolicies are,
    then matchConditions (an error is an error), then each mutation in
    order on the result of the one before: an apply configuration merged
    as server-side apply merges it, or a JSON patch. Autogen copies rewrite
    only matchConditions and apply configurations (mpol/autogen), wrapping
    the latter under the controller's template."""

    KIND = "MutatingPolicy"

    def __init__(self) -> None:
        super().__init__()
        self.mutations: dict[str, list[Mutation]] = {}
        self.allow_atomic: dict[str, bool] = {}

    def _add(self, doc: Mapping[str, Any]) -> None:
        kind = str(doc.get("kind", ""))
        meta = doc.get("metadata") or {}
        name = str(meta.get("name", ""))
        group, _, version = str(doc.get("apiVersion", "")).partition("/")
        if group != GROUP or version not in VERSIONS or kind != "MutatingPolicy":
            raise UnsupportedConstruct(ENGINE, f"{kind}/{name}", "only MutatingPolicy")
        spec = doc.get("spec") or {}
        extra = set(spec) - MPOL_FIELDS
        if extra:
            raise UnsupportedConstruct(ENGINE, f"{name}.spec.{sorted(extra)[0]}", "field")
        if spec.get("targetMatchConstraints"):
            raise UnsupportedConstruct(
                ENGINE, f"{name}.spec.targetMatchConstraints", "mutate existing"
            )
        evaluation = spec.get("evaluation") or {}
        if (evaluation.get("mutateExisting") or {}).get("enabled"):
            raise UnsupportedConstruct(ENGINE, f"{name}.spec.evaluation.mutateExisting", "")
        if ((spec.get("autogen") or {}).get("mutatingAdmissionPolicy") or {}).get("enabled"):
            raise UnsupportedConstruct(ENGINE, f"{name}.spec.autogen.mutatingAdmissionPolicy", "")
        match = spec.get("matchConstraints") or {}
        extra = set(match) - MATCH_FIELDS
        if extra:
            at = f"{name}.spec.matchConstraints.{sorted(extra)[0]}"
            raise UnsupportedConstruct(ENGINE, at, "")
        spec = with_orvalue_compat(spec)
        specs = [(name, dict(spec))]
        specs += [(f"{name}#autogen-{config}", s) for config, s in mpol_autogen(spec)]
        for key, one in specs:
            mutations = [
                self._mutation(name, i, m) for i, m in enumerate(one.get("mutations") or [])
            ]
            expressions = _expressions(one) + [m.expression for m in mutations]
            for expr in expressions:
                self._compile(expr, f"{self.KIND}/{name}")
            self.policies[key] = Policy(
                name,
                str((meta.get("annotations") or {}).get("policygen.dev/rule", name)),
                one,
                any("namespaceObject" in reads(e)[0] for e in expressions),
                activation_paths(expressions),
            )
            self.mutations[key] = mutations
            self.allow_atomic[key] = bool(evaluation.get("useServerSideApply"))
            self.entries.append(Entry(key, name, _simple_match(one.get("matchConstraints"))))

    def _mutation(self, name: str, index: int, mutation: Mapping[str, Any]) -> Mutation:
        kind = str(mutation.get("patchType", ""))
        field_name = {"ApplyConfiguration": "applyConfiguration", "JSONPatch": "jsonPatch"}.get(
            kind
        )
        at = f"{name}.spec.mutations[{index}]"
        if field_name is None:
            raise UnsupportedConstruct(ENGINE, f"{at}.patchType", kind)
        expression = str((mutation.get(field_name) or {}).get("expression", ""))
        try:
            rewritten, _ = rewrite_construction(expression)
        except Unsupported as exc:
            raise UnsupportedConstruct(ENGINE, at, str(exc)) from None
        return Mutation(kind, rewritten)

    def mutate(
        self,
        obj: Mapping[str, Any],
        namespace: str,
        ns_obj: Mapping[str, Any] | None,
        operation: str,
        *,
        old_obj: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], list[tuple[Entry, Response | None]]]:
        """Every policy applied in turn, each to the object the one before
        left: the final object and each policy's response."""
        current = copy.deepcopy(dict(obj))
        out: list[tuple[Entry, Response | None]] = []
        for entry in self.entries:
            response, patched = self._mutate_one(
                entry.key, current, namespace, ns_obj, operation, old_obj
            )
            out.append((entry, response))
            if patched is not None:
                current = patched
        return current, out

    def _mutate_one(
        self,
        key: str,
        obj: dict[str, Any],
        namespace: str,
        ns_obj: Mapping[str, Any] | None,
        operation: str,
        old_obj: Mapping[str, Any] | None,
    ) -> tuple[Response | None, dict[str, Any] | None]:
        policy = self.policies[key]
        match = policy.spec.get("matchConstraints")
        if match is None:
            return None, None
        ns_for_match = ns_obj
        if ns_obj is None and self.cli and namespace:
            labels = {"kubernetes.io/metadata.name": namespace}
            ns_for_match = {"metadata": {"name": namespace, "labels": labels}}
        if not _matches(match, obj, namespace, ns_for_match, operation, "", kyverno=True):
            return None, None
        where = f"{self.KIND}/{policy.name}"
        activation: dict[str, Any] = {
            "object": null_objects(obj),
            "oldObject": null_objects(old_obj),
            "request": self._request(obj, namespace, operation, ""),
            "namespaceObject": dict(ns_obj) if ns_obj is not None else None,
            "params": None,
            "variables": {},
        }
        activation["variables"] = self._variables(policy, activation, where)
        errors = []
        for condition in policy.spec.get("matchConditions") or []:
            at = f"{where} matchCondition {condition['name']}"
            try:
                value = self._eval(condition["expression"], activation, at)
            except CelError as exc:
                errors.append(str(exc))
                continue
            if value is not True:
                if value is False:
                    return Response("skip", "skip"), None
                errors.append(f"{at}: not a bool")
        if errors:
            return Response("error", "; ".join(errors)), None
        current = obj
        for i, mutation in enumerate(self.mutations[key]):
            at = f"{where} mutations[{i}]"
            try:
                value = self._eval(mutation.expression, activation, at)
                if mutation.kind == "JSONPatch":
                    current = apply_json_patch(current, value)
                else:
                    current = apply_configuration(
                        current, value, allow_atomic=self.allow_atomic[key]
                    )
            except (CelError, MutationError) as exc:
                return Response("error", str(exc)), None
            except Unsupported as exc:
                raise UnsupportedConstruct(ENGINE, at, str(exc)) from None
            activation["object"] = null_objects(current)
        return Response("pass", "success"), current


def mpol_autogen(spec: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """mpol/autogen/autogen.go: the controller copies of a Pod policy, with
    only matchConditions and apply configurations rewritten (variables and
    JSON patches are copied as they are, as Kyverno copies them)."""
    out = []
    for config, copied in _controller_copies(spec):
        for condition in copied.get("matchConditions") or []:
            condition["expression"] = _pod_to_template(str(condition.get("expression", "")), config)
        for mutation in copied.get("mutations") or []:
            apply = mutation.get("applyConfiguration")
            if isinstance(apply, dict) and apply.get("expression"):
                apply["expression"] = _pod_to_template(str(apply["expression"]), config)
        out.append((config, copied))
    return out


_SPEC = re.compile(r"\b(object|oldObject|Object)\.spec")
_LABELS = re.compile(r"\b(object|oldObject|Object)\.metadata\.labels")
_ANNOTATIONS = re.compile(r"\b(object|oldObject|Object)\.metadata\.annotations")
_WRAPPERS = {
    "cronjobs": (
        "Object{spec: Object.spec{jobTemplate: Object.spec.jobTemplate{spec: "
        "Object.spec.jobTemplate.spec{template: Object.spec.jobTemplate.spec.template{",
        "}}}}}",
    ),
    "defaults": ("Object{spec: Object.spec{template: Object.spec.template{", "}}}"),
}


def _pod_to_template(expression: str, config: str) -> str:
    """``convertPodToTemplateExpression``: ``spec`` and the labels and
    annotations moved to the template's, and a root ``Object{…}`` wrapped in
    the controller's template (the first balanced brace pair, as Kyverno
    counts it, braces in strings included)."""
    spec, meta = (
        ("spec.jobTemplate.spec.template.spec", "spec.jobTemplate.spec.template.metadata")
        if config == "cronjobs"
        else ("spec.template.spec", "spec.template.metadata")
    )
    expression = _SPEC.sub(lambda m: f"{m.group(1)}.{spec}", expression)
    expression = _LABELS.sub(lambda m: f"{m.group(1)}.{meta}.labels", expression)
    expression = _ANNOTATIONS.sub(lambda m: f"{m.group(1)}.{meta}.annotations", expression)
    stripped = expression.strip()
    if not stripped.startswith("Object"):
        return expression
    rest = stripped[len("Object") :].lstrip(" \t\r\n")
    if not rest.startswith("{"):
        return expression
    content = rest[1:]
    depth = 1
    end = 0
    for i, char in enumerate(content):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                end = i
                break
    if end == 0:
        return expression
    opening, closing = _WRAPPERS[config]
    return opening + content[:end] + closing + content[end + 1 :]
