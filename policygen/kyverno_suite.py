"""``kyverno test`` files (``cli.kyverno.io/v1alpha1`` Test) run through
policygen's Kyverno evaluators, read the way the Kyverno CLI reads them
(cmd/cli/kubectl-kyverno/commands/test, processor/policy_processor.go):

- the evaluator is chosen by the kind of the policy a result names:
  ``kyverno.io`` ClusterPolicy/Policy, or a ``policies.kyverno.io``
  ValidatingPolicy; other kinds are refused for that result only;
- resources load as the CLI loads them: a namespaced resource without a
  namespace gets ``default``, empty ``labels``/``annotations`` become ``{}``;
  no API-server defaulting unless ``api_defaults`` is asked for;
- every ClusterPolicy is applied to every resource: the mutate rules of all
  policies in file order, then the validate rules on the mutated resource;
  each policy with its own values (global, then the policy's resource
  values), each rule with its rule values; ``request.operation: UPDATE``
  makes the old object a copy of the resource;
- a result names resources by name (``ns/name`` too) whatever their kind,
  or every resource when it names none; each response of the rule (or its
  ``autogen-`` forms) is one row; a resource the rule gave no response for
  counts as a pass, as the CLI counts it ("excluded");
- ``patchedResources`` is compared with the whole resource, as the CLI
  compares it (empty values pruned, then equal as JSON);
- a result this runner cannot evaluate is refused with its reason; the
  other results and test files still run.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policygen.engines.kyverno import POLICY_APIS, Outcome, PolicySet, Request, RuleResult
from policygen.engines.kyverno_cel import MutatingPolicySet, ValidatingPolicySet
from policygen.errors import InputError, PolicygenError, UnsupportedConstruct
from policygen.workloads import with_api_defaults
from policygen.yamlio import read_objects

TEST_API = "cli.kyverno.io/v1alpha1"
DEFAULT_FILE = "kyverno-test.yaml"
KYVERNO_KINDS = ("ClusterPolicy", "Policy")
#: Kinds the API server serves without a namespace (the CLI asks its
#: discovery data; anything it does not know is namespaced).
CLUSTER_SCOPED = {
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "StorageClass",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "CustomResourceDefinition",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "CertificateSigningRequest",
    "ClusterPolicy",
    "ClusterCleanupPolicy",
    "ValidatingPolicy",
    "MutatingPolicy",
    "ImageValidatingPolicy",
    "GeneratingPolicy",
    "DeletingPolicy",
    "TokenReview",
    "SubjectAccessReview",
    "SelfSubjectAccessReview",
    "FlowSchema",
    "PriorityLevelConfiguration",
}
#: Map fields the CLI turns from null into {} (resource.normalizeNilMaps).
NIL_MAPS = {"annotations", "labels", "matchLabels", "nodeSelector", "data", "stringData"}


@dataclass(frozen=True)
class Row:
    test: str
    policy: str
    rule: str
    resource: str
    expected: str
    actual: str
    detail: str = ""
    #: why this result was not evaluated (an unsupported construct, bad input)
    refused: str = ""
    message: str = ""  # the rule response's message

    @property
    def excluded(self) -> bool:
        """No response for the rule: the CLI counts this as a pass."""
        return self.actual == "excluded"

    @property
    def ok(self) -> bool:
        if self.refused:
            return False
        return (self.excluded or self.expected == self.actual) and not self.detail


@dataclass
class TestReport:
    rows: list[Row] = field(default_factory=list)
    files: int = 0  # test files read (one without results passes, as in the CLI)

    @property
    def failed(self) -> list[Row]:
        """Wrong results (refusals are not among them)."""
        return [r for r in self.rows if not r.ok and not r.refused]

    @property
    def refused(self) -> list[Row]:
        return [r for r in self.rows if r.refused]


def find_tests(paths: list[Path], file_name: str = DEFAULT_FILE) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(path.rglob(file_name)))
        elif path.is_file():
            out.append(path)
        else:
            raise InputError.at(path, "", "no such file or folder")
    return out


def _files(test: Path, doc: Mapping[str, Any], key: str) -> list[Path]:
    value = doc.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise InputError.at(test, key, "a list of paths is required")
    return [test.parent / str(v) for v in value]


def split_key(key: str) -> list[str]:
    """A values key as the CLI splits it: on dots, with "quoted.parts"."""
    return next(csv.reader([key], delimiter="."))


def merge_value(data: dict[str, Any], key: str, value: Any) -> None:
    """``AddVariable``: the dotted key as nested maps, merged into ``data``
    (maps merge, anything else replaces)."""
    parts = split_key(key)
    node: Any = value
    for part in reversed(parts):
        node = {part: node}
    _merge_maps(node, data)


def _merge_maps(src: Mapping[str, Any], dst: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge_maps(v, dst[k])
        else:
            dst[k] = copy.deepcopy(v)


@dataclass(frozen=True)
class Values:
    """A ``Values`` file: variables for policies, rules and resources."""

    global_values: Mapping[str, Any]
    #: policy → rule → values (dotted keys made nested maps), added when that
    #: rule's context loads
    rules: Mapping[str, Mapping[str, Mapping[str, Any]]]
    resources: Mapping[tuple[str, str], Mapping[str, Any]]  # (policy, resource) → values
    namespace_labels: Mapping[str, Mapping[str, str]]
    #: ``namespaces``: whole Namespace objects, which win over selectors
    namespaces: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> Values:
        if path is None:
            return cls({}, {}, {}, {})
        docs = read_objects(path)
        doc = docs[0] if docs else {}
        if doc.get("subresources"):
            raise UnsupportedConstruct("kyverno test", f"{path}: subresources", "")
        rules: dict[str, dict[str, Mapping[str, Any]]] = {}
        resources: dict[tuple[str, str], dict[str, Any]] = {}
        for p in doc.get("policies") or []:
            name = str(p.get("name", ""))
            for r in p.get("rules") or []:
                if r.get("foreachValues"):
                    raise UnsupportedConstruct(
                        "kyverno test", f"{path}: {name}.rules.foreachValues", ""
                    )
                nested: dict[str, Any] = {}
                for key, value in (r.get("values") or {}).items():
                    merge_value(nested, str(key), value)
                rules.setdefault(name, {})[str(r.get("name", ""))] = nested
            for res in p.get("resources") or []:
                resources[(name, str(res.get("name", "")))] = dict(res.get("values") or {})
        labels = {
            str(n.get("name", "")): dict(n.get("labels") or {})
            for n in doc.get("namespaceSelector") or []
        }
        namespaces = {
            str((n.get("metadata") or {}).get("name", "")): dict(n)
            for n in doc.get("namespaces") or []
        }
        return cls(dict(doc.get("globalValues") or {}), rules, resources, labels, namespaces)

    def namespace_object(self, name: str) -> dict[str, Any] | None:
        """The Namespace the values give for ``name`` (variables.go
        ``Namespace``): a whole object, else one built from its selector
        labels, else none."""
        if name in self.namespaces:
            return dict(self.namespaces[name])
        if name in self.namespace_labels:
            labels = dict(self.namespace_labels[name])
            meta = {"name": name, "labels": labels}
            return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
        return None

    def for_resource(self, policy: str, resource: str) -> dict[str, Any]:
        """``ComputeVariables``: global values, then the policy's values for
        this resource; ``request.operation`` defaults to CREATE."""
        out = {**self.global_values, **self.resources.get((policy, resource), {})}
        out.setdefault("request.operation", "CREATE")
        return out


def run_tests(
    paths: list[Path],
    *,
    api_defaults: bool = False,
    file_name: str = DEFAULT_FILE,
    now: dt.datetime | None = None,
) -> TestReport:
    """Every test file found; one that cannot be read is reported as a
    refused row and the others still run. ``now``: the clock Kyverno's time
    functions (JMESPath ``time_now_utc()``, CEL ``time.now()``) and
    PolicyException ``expiresAt`` are read against; None: the real one, as
    in the Kyverno CLI."""
    from policygen.engines.kyverno.functions import clock

    report = TestReport()
    with clock(now):
        for path in find_tests(paths, file_name):
            report.files += 1
            try:
                report.rows.extend(run_test(path, api_defaults=api_defaults))
            except PolicygenError as exc:
                report.rows.append(
                    Row(path.parent.name, "", "", str(path), "", "", refused=str(exc))
                )
    return report


def run_test(path: Path, *, api_defaults: bool = False) -> list[Row]:
    return _TestRun(path, api_defaults).rows()


class _TestRun:
    def __init__(self, path: Path, api_defaults: bool) -> None:
        docs = read_objects(path)
        doc = next((d for d in docs if d.get("kind") == "Test"), None)
        if doc is None:
            raise InputError.at(path, "kind", f"not a {TEST_API} Test")
        self.path = path
        self.doc = doc
        self.api_defaults = api_defaults
        self.name = str((doc.get("metadata") or {}).get("name") or path.parent.name)
        self.policies = [o for p in _files(path, doc, "policies") for o in read_objects(p)]
        exceptions = [o for p in _files(path, doc, "exceptions") for o in read_objects(p)]
        # kyverno.io PolicyExceptions go to ClusterPolicies, policies.kyverno.io
        # ones to the CEL policies they name
        self.cel_exceptions = [
            e for e in exceptions if str(e.get("apiVersion", "")).startswith("policies.kyverno.io/")
        ]
        self.exceptions = [e for e in exceptions if e not in self.cel_exceptions]
        self.resources = [
            load_resource(o) for p in _files(path, doc, "resources") for o in read_objects(p)
        ]
        variables = _files(path, doc, "variables")
        self.values = Values.load(variables[0] if variables else None)
        # a UserInfo file (RequestInfo): roles, clusterRoles, userInfo
        self.user_info: dict[str, Any] = {}
        self.roles: tuple[str, ...] = ()
        self.cluster_roles: tuple[str, ...] = ()
        for info_path in _files(path, doc, "userinfo"):
            info = next(iter(read_objects(info_path)), {})
            self.user_info = dict(info.get("userInfo") or {})
            self.roles = tuple(str(r) for r in info.get("roles") or [])
            self.cluster_roles = tuple(str(r) for r in info.get("clusterRoles") or [])
        self._sets: dict[str, PolicySet | PolicygenError] = {}
        self._mpols: MutatingPolicySet | None = None
        self._outcomes: dict[int, dict[str, tuple[Outcome, Outcome]]] = {}

    def rows(self) -> list[Row]:
        rows: list[Row] = []
        for i, expected in enumerate(self.doc.get("results") or []):
            try:
                rows.extend(self._check(i, expected))
            except PolicygenError as exc:
                rows.append(
                    Row(
                        self.name,
                        str(expected.get("policy", "")),
                        str(expected.get("rule", "")),
                        ", ".join(str(r) for r in expected.get("resources") or []),
                        str(expected.get("result", "")),
                        "",
                        refused=str(exc),
                    )
                )
        return rows

    # --- one expected result --------------------------------------------------

    def _check(self, index: int, expected: Mapping[str, Any]) -> list[Row]:
        at = f"results[{index}]"
        ref = str(expected.get("policy", ""))
        ns, _, policy_name = ref.rpartition("/")
        policy = next(
            (
                p
                for p in self.policies
                if (p.get("metadata") or {}).get("name") == policy_name
                and (not ns or (p.get("metadata") or {}).get("namespace") == ns)
            ),
            None,
        )
        if policy is None:
            raise InputError.at(self.path, f"{at}.policy", f"no policy named '{ref}'")
        kind = str(policy.get("kind", ""))
        for key in ("generatedResource", "generatedResources", "cloneSourceResource"):
            if expected.get(key):
                raise UnsupportedConstruct("kyverno test", f"{self.path}: {at}.{key}", "generate")
        if expected.get("operation"):
            raise UnsupportedConstruct("kyverno test", f"{self.path}: {at}.operation", "")
        if kind in KYVERNO_KINDS and str(policy.get("apiVersion")) in POLICY_APIS:
            return self._check_kyverno(at, expected, policy_name)
        if kind == "ValidatingPolicy":
            return _check_validating_policy(
                self.name, self.path, at, expected, policy, self.resources, self.values,
                self.api_defaults, self.user_info, self.cel_exceptions,
            )  # fmt: skip
        if kind == "MutatingPolicy":
            return self._check_mutating_policy(at, expected, policy_name)
        raise UnsupportedConstruct(
            "kyverno test", f"{self.path}: {at}.policy", f"{kind} policies are not evaluated"
        )

    def _check_mutating_policy(
        self, at: str, expected: Mapping[str, Any], policy: str
    ) -> list[Row]:
        """A MutatingPolicy result, as the CLI's processor makes it: every
        MutatingPolicy of the test applied in turn to the resource; each
        response of the named policy (and its autogen copies) is a row, the
        final object compared with ``patchedResources``; responses are kept
        and counted as for a ValidatingPolicy."""
        if self._mpols is None:
            docs = [p for p in self.policies if p.get("kind") == "MutatingPolicy"]
            for e in self.cel_exceptions:
                for ref in (e.get("spec") or {}).get("policyRefs") or []:
                    if ref.get("kind") == "MutatingPolicy":
                        raise UnsupportedConstruct(
                            "kyverno-cel", f"{self.path}: MutatingPolicy/{ref.get('name')}",
                            "PolicyExceptions of a MutatingPolicy",
                        )  # fmt: skip
            loaded = MutatingPolicySet.load_for_cli(docs, test_context(self.path), self.user_info)
            assert isinstance(loaded, MutatingPolicySet)
            self._mpols = loaded
        want = str(expected.get("result", ""))
        patched_file, patched = self._patched(expected)
        rows = []
        for obj in _named(self.path, at, expected, self.resources):
            ref = _ref(obj)
            resource = with_api_defaults(copy.deepcopy(obj)) if self.api_defaults else obj
            values = self.values.for_resource(policy, str(obj["metadata"]["name"]))
            operation = str(values.get("request.operation", "CREATE"))
            namespace = str((obj.get("metadata") or {}).get("namespace") or "")
            final, responses = self._mpols.mutate(
                resource,
                namespace,
                self.values.namespace_object(namespace),
                operation,
                old_obj=resource if operation in ("UPDATE", "DELETE") else None,
            )
            mine = [(e, r) for e, r in responses if e.name == policy]
            kept = [r for entry, r in mine if r is not None or not entry.simple_match]
            found = [r for r in kept if r is not None]
            if not kept:
                rows.append(Row(self.name, policy, "", ref, want, "fail", "no response: not found"))
            elif not found:
                rows.append(Row(self.name, policy, "", ref, want, "excluded"))
            for response in found:
                detail = _patch_detail(patched_file, patched, final)
                if detail is None:
                    continue  # the CLI skips a resource missing from the file
                rows.append(
                    Row(self.name, policy, "", ref, want, response.status, detail,
                        message=response.message)
                )  # fmt: skip
        return rows

    def _patched(self, expected: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        """The test's ``patchedResources`` file name and the objects in it (none if not given)."""
        name = str(expected.get("patchedResources") or expected.get("patchedResource") or "")
        if not name:
            return "", []
        return name, [load_resource(o) for o in read_objects(self.path.parent / name)]

    def _check_kyverno(self, at: str, expected: Mapping[str, Any], policy: str) -> list[Row]:
        rule = str(expected.get("rule", ""))
        want = str(expected.get("result", ""))
        patched_file, patched = self._patched(expected)
        names = {rule, f"autogen-{rule}", f"autogen-cronjob-{rule}"}
        rows = []
        for obj in _named(self.path, at, expected, self.resources):
            mutated, validated = self._outcome(obj)[policy]
            ref = _ref(obj)
            responses = [r for r in [*mutated.results, *validated.results] if r.rule in names]
            if not rule:
                responses = [*mutated.results, *validated.results]
            resource_rows = []
            for response in responses:
                actual = mutated.obj if response.mutation else validated.obj
                detail = _patch_detail(patched_file, patched, actual)
                if detail is None:
                    continue  # the CLI skips a resource missing from the file
                resource_rows.append(
                    Row(
                        self.name, policy, response.rule, ref, want, response.status, detail,
                        message=response.message,
                    )
                )  # fmt: skip
            if not responses:
                resource_rows.append(Row(self.name, policy, rule, ref, want, "excluded"))
            rows.extend(resource_rows)
        return rows

    def _policy_set(self, doc: Mapping[str, Any]) -> PolicySet:
        name = str(doc["metadata"]["name"])
        loaded = self._sets.get(name)
        if loaded is None:
            try:
                loaded = PolicySet.load([doc, *self.exceptions])
            except PolicygenError as exc:
                loaded = exc
            self._sets[name] = loaded
        if isinstance(loaded, PolicygenError):
            raise loaded
        return loaded

    def _outcome(self, obj: dict[str, Any]) -> dict[str, tuple[Outcome, Outcome]]:
        """Every ClusterPolicy applied to one resource, as the CLI's policy
        processor does: (after its mutation, its validation) per policy."""
        key = id(obj)
        if key in self._outcomes:
            return self._outcomes[key]
        resource = with_api_defaults(copy.deepcopy(obj)) if self.api_defaults else obj
        kyverno = [
            p
            for p in self.policies
            if p.get("kind") in KYVERNO_KINDS and p.get("apiVersion") in POLICY_APIS
        ]
        mutated: dict[str, Outcome] = {}
        errors: dict[str, PolicygenError] = {}
        for doc in kyverno:
            name = str(doc["metadata"]["name"])
            try:
                policy_set = self._policy_set(doc)
                if not policy_set.has("mutate"):
                    continue
                outcome = policy_set.mutate(self._request(name, resource))
            except PolicygenError as exc:
                errors[name] = exc
                continue
            mutated[name] = outcome
            resource = outcome.obj
        out: dict[str, tuple[Outcome, Outcome]] = {}
        for doc in kyverno:
            name = str(doc["metadata"]["name"])
            if name in errors:
                continue
            try:
                policy_set = self._policy_set(doc)
                validated = Outcome(resource, [])
                if policy_set.has("validate"):
                    validated = Outcome(
                        resource, policy_set.validate(self._request(name, resource))
                    )
            except PolicygenError as exc:
                errors[name] = exc
                continue
            out[name] = (mutated.get(name, Outcome(resource, [])), validated)
        self._outcomes[key] = _Outcomes(out, errors)
        return self._outcomes[key]

    def _request(self, policy: str, obj: Mapping[str, Any]) -> Request:
        """The request the CLI builds for one policy and resource: values
        merged into ``request``, the old object a copy on UPDATE."""
        meta = obj.get("metadata") or {}
        values = self.values.for_resource(policy, str(meta.get("name", "")))
        operation = str(values.get("request.operation", "CREATE"))
        if operation not in ("CREATE", "UPDATE"):
            raise UnsupportedConstruct("kyverno test", f"request.operation {operation}", "")
        context: dict[str, Any] = {
            "request": {
                "object": copy.deepcopy(dict(obj)),
                "oldObject": copy.deepcopy(dict(obj)) if operation == "UPDATE" else None,
            }
        }
        for key, value in values.items():
            merge_value(context, key, value)
        request = context["request"]
        new = request.get("object")
        namespace = str(
            request.get("namespace") or (new or {}).get("metadata", {}).get("namespace") or ""
        )
        return Request(
            new if isinstance(new, dict) else {},
            namespace,
            # the CLI matches a namespaceSelector against the values' labels,
            # none when the values give none
            dict(self.values.namespace_labels.get(namespace) or {}),
            operation=operation,
            old_obj=request.get("oldObject") if operation == "UPDATE" else None,
            user_info=self.user_info,
            roles=self.roles,
            cluster_roles=self.cluster_roles,
            values={k: v for k, v in context.items() if k != "request"},
            request_values={k: v for k, v in request.items() if k not in ("object", "oldObject")},
            rule_values=self.values.rules.get(policy, {}),
        )


class _Outcomes(dict[str, tuple[Outcome, Outcome]]):
    """Per policy name; a policy that was refused raises its refusal."""

    def __init__(
        self, outcomes: dict[str, tuple[Outcome, Outcome]], errors: dict[str, PolicygenError]
    ) -> None:
        super().__init__(outcomes)
        self.errors = errors

    def __missing__(self, key: str) -> tuple[Outcome, Outcome]:
        if key in self.errors:
            raise self.errors[key]
        raise KeyError(key)


def _check_validating_policy(
    test: str,
    path: Path,
    at: str,
    expected: Mapping[str, Any],
    policy: dict[str, Any],
    resources: list[dict[str, Any]],
    values: Values,
    api_defaults: bool,
    user_info: Mapping[str, Any] | None = None,
    exceptions: Sequence[Mapping[str, Any]] = (),
) -> list[Row]:
    """A ``policies.kyverno.io`` ValidatingPolicy result, as ``kyverno test``
    counts it (commands/test/output.go): each response of the policy and
    its autogen copies is compared with the expected result; a policy that
    matched without a rule response is excluded, a pass; no response at all
    fails. The CLI drops the empty response of a policy with one plain
    resource rule (policy_processor.go), so such a policy not matching is
    "not found"."""
    policy_name = str(policy["metadata"]["name"])
    policy_set = ValidatingPolicySet.load_for_cli([policy], test_context(path), user_info)
    for exception in exceptions:
        policy_set.add_exception(exception)
    want = str(expected.get("result", ""))
    rows = []
    for obj in _named(path, at, expected, resources):
        ref = _ref(obj)
        resource = with_api_defaults(copy.deepcopy(obj)) if api_defaults else obj
        req_values = values.for_resource(policy_name, str(obj["metadata"]["name"]))
        operation = str(req_values.get("request.operation", "CREATE"))
        namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        responses = policy_set.responses(
            resource,
            namespace,
            values.namespace_object(namespace),
            operation,
            old_obj=resource if operation in ("UPDATE", "DELETE") else None,
        )
        kept = [r for entry, r in responses if r is not None or not entry.simple_match]
        found = [r for r in kept if r is not None]
        if not kept:
            rows.append(Row(test, policy_name, "", ref, want, "fail", "no response: not found"))
        elif not found:
            rows.append(Row(test, policy_name, "", ref, want, "excluded"))
        rows.extend(
            Row(test, policy_name, "", ref, want, r.status, message=r.message) for r in found
        )
    return rows


def test_context(path: Path) -> dict[str, Any] | None:
    """The test's ``context`` file (cli.kyverno.io Context): resources and
    image data the CEL libraries read in place of a cluster."""
    doc = next((d for d in read_objects(path) if d.get("kind") == "Test"), {})
    files = _files(path, doc, "context")
    if not files:
        return None
    return next((d for d in read_objects(files[0]) if d.get("kind") == "Context"), None)


def load_resource(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A resource as the CLI loads it (resource.YamlToUnstructured)."""
    out: dict[str, Any] = _nil_maps(copy.deepcopy(dict(obj)))
    meta = out.setdefault("metadata", {})
    if not isinstance(meta, dict):
        return out
    if not meta.get("namespace") and str(out.get("kind", "")) not in CLUSTER_SCOPED:
        meta["namespace"] = "default"
    return out


def _nil_maps(value: Any) -> Any:
    if isinstance(value, dict):
        for k, v in value.items():
            if v is None and k in NIL_MAPS:
                value[k] = {}
            else:
                _nil_maps(v)
    elif isinstance(value, list):
        for item in value:
            _nil_maps(item)
    return value


def _named(
    path: Path, at: str, expected: Mapping[str, Any], resources: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """The resources a result names, by name or ``ns/name`` whatever their
    kind, or all of them when it names none."""
    refs = expected.get("resources")
    if not refs:
        yield from resources
        return
    for ref in refs:
        ns, _, name = str(ref).rpartition("/")
        found = [
            obj
            for obj in resources
            if (obj.get("metadata") or {}).get("name") == name
            and (not ns or (obj.get("metadata") or {}).get("namespace") == ns)
        ]
        if not found:
            raise InputError.at(path, f"{at}.resources", f"no resource named '{ref}'")
        yield from found


def _ref(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{ns + '/' if ns else ''}{meta.get('name')}"


def _patch_detail(
    patched_file: str, patched: list[dict[str, Any]], actual: Mapping[str, Any]
) -> str | None:
    """How ``actual`` differs from its twin in ``patchedResources``: "" when it matches or no
    file is given, None when the file has no such resource (the CLI then skips the row)."""
    if not patched_file:
        return ""
    want_obj = _find_like(patched, actual)
    if want_obj is None:
        return None
    if tidy(_fixup(want_obj)) != tidy(_fixup(actual)):
        return f"patched resource differs from {patched_file}"
    return ""


def _find_like(objects: list[dict[str, Any]], like: Mapping[str, Any]) -> dict[str, Any] | None:
    meta = like.get("metadata") or {}
    for obj in objects:
        m = obj.get("metadata") or {}
        if (
            obj.get("apiVersion") == like.get("apiVersion")
            and obj.get("kind") == like.get("kind")
            and m.get("name") == meta.get("name")
            and m.get("namespace") == meta.get("namespace")
        ):
            return obj
    return None


def _fixup(obj: Mapping[str, Any]) -> dict[str, Any]:
    """FixupGenerateLabels: both sides get Kyverno's managed-by label and
    lose generate.kyverno.io/ labels before they are compared."""
    out = copy.deepcopy(dict(obj))
    meta = out.setdefault("metadata", {})
    labels = {
        k: v
        for k, v in (meta.get("labels") or {}).items()
        if not str(k).startswith("generate.kyverno.io/")
    }
    meta["labels"] = {"app.kubernetes.io/managed-by": "kyverno", **labels}
    return out


def tidy(value: Any) -> Any:
    """resource.Tidy: nulls, empty maps and empty lists removed, deeply."""
    if isinstance(value, dict):
        out = {k: t for k, v in value.items() if (t := tidy(v)) is not None}
        return out or None
    if isinstance(value, list):
        items = [t for v in value if (t := tidy(v)) is not None]
        return items or None
    return value


__all__ = ["Row", "RuleResult", "TestReport", "Values", "run_test", "run_tests"]
