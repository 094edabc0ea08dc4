"""``kyverno test`` files (``cli.kyverno.io/v1alpha1`` Test) run through
policygen's Kyverno evaluators (notes/kyverno.md §3.8): ClusterPolicies, and
ValidatingPolicies for results marked ``isValidatingPolicy``.

As the Kyverno CLI does, each policy is applied to each resource on its
own: its mutate rules, then its validate rules on the mutated resource.
Unlike the CLI, the API server's defaulting of ``imagePullPolicy`` is
applied first, since that is what admission sees in a cluster
(``api_defaults=False`` gives the CLI's answer). An expected rule name also
matches its autogen forms (``autogen-<rule>``, ``autogen-cronjob-<rule>``).
A rule that does not apply to a resource counts as ``skip``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policygen.engines.kyverno import PolicySet, Request
from policygen.engines.kyverno_cel import ValidatingPolicySet
from policygen.errors import InputError, UnsupportedConstruct
from policygen.yamlio import read_objects

TEST_API = "cli.kyverno.io/v1alpha1"
#: Result flags for policy kinds this runner does not evaluate.
OTHER_POLICY_FLAGS = (
    "isMutatingPolicy",
    "isImageValidatingPolicy",
    "isValidatingAdmissionPolicy",
    "isMutatingAdmissionPolicy",
    "isGeneratingPolicy",
    "isDeletingPolicy",
)
DEFAULT_FILE = "kyverno-test.yaml"


@dataclass(frozen=True)
class Row:
    test: str
    policy: str
    rule: str
    resource: str
    expected: str
    actual: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.expected == self.actual and not self.detail


@dataclass
class TestReport:
    rows: list[Row] = field(default_factory=list)

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if not r.ok]


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


@dataclass(frozen=True)
class Values:
    """A ``Values`` file: variables for policies, rules and resources."""

    global_values: Mapping[str, Any]
    policies: Mapping[str, Mapping[str, Any]]  # policy → merged rule values
    resources: Mapping[tuple[str, str], Mapping[str, Any]]  # (policy, resource) → values
    namespace_labels: Mapping[str, Mapping[str, str]]

    @classmethod
    def load(cls, path: Path | None) -> Values:
        if path is None:
            return cls({}, {}, {}, {})
        docs = read_objects(path)
        doc = docs[0] if docs else {}
        if doc.get("subresources"):
            raise UnsupportedConstruct("kyverno test", f"{path}: subresources", "")
        policies: dict[str, dict[str, Any]] = {}
        resources: dict[tuple[str, str], dict[str, Any]] = {}
        for p in doc.get("policies") or []:
            name = str(p.get("name", ""))
            merged = policies.setdefault(name, {})
            for r in p.get("rules") or []:
                merged.update(r.get("values") or {})
            for res in p.get("resources") or []:
                resources[(name, str(res.get("name", "")))] = dict(res.get("values") or {})
        labels = {
            str(n.get("name", "")): dict(n.get("labels") or {})
            for n in doc.get("namespaceSelector") or []
        }
        return cls(dict(doc.get("globalValues") or {}), policies, resources, labels)

    def for_request(self, policy: str, resource: str) -> dict[str, Any]:
        return {
            **self.global_values,
            **self.policies.get(policy, {}),
            **self.resources.get((policy, resource), {}),
        }


def run_tests(
    paths: list[Path], *, api_defaults: bool = True, file_name: str = DEFAULT_FILE
) -> TestReport:
    report = TestReport()
    for path in find_tests(paths, file_name):
        report.rows.extend(run_test(path, api_defaults=api_defaults))
    return report


def run_test(path: Path, *, api_defaults: bool = True) -> list[Row]:
    docs = read_objects(path)
    doc = next((d for d in docs if d.get("kind") == "Test"), None)
    if doc is None:
        raise InputError.at(path, "kind", f"not a {TEST_API} Test")
    name = str((doc.get("metadata") or {}).get("name") or path.parent.name)
    policies = [o for p in _files(path, doc, "policies") for o in read_objects(p)]
    exceptions = [o for p in _files(path, doc, "exceptions") for o in read_objects(p)]
    resources = [o for p in _files(path, doc, "resources") for o in read_objects(p)]
    variables = _files(path, doc, "variables")
    values = Values.load(variables[0] if variables else None)
    rows: list[Row] = []
    for i, expected in enumerate(doc.get("results") or []):
        rows.extend(
            _check(name, path, i, expected, policies, exceptions, resources, values, api_defaults)
        )
    return rows


def _check(
    test: str,
    path: Path,
    index: int,
    expected: Mapping[str, Any],
    policies: list[dict[str, Any]],
    exceptions: list[dict[str, Any]],
    resources: list[dict[str, Any]],
    values: Values,
    api_defaults: bool,
) -> list[Row]:
    at = f"results[{index}]"
    policy_name = str(expected.get("policy", "")).rsplit("/", 1)[-1]
    policy = next((p for p in policies if p["metadata"]["name"] == policy_name), None)
    if policy is None:
        raise InputError.at(path, f"{at}.policy", f"no policy named '{policy_name}'")
    other = next((flag for flag in OTHER_POLICY_FLAGS if expected.get(flag)), None)
    if other:
        raise UnsupportedConstruct("kyverno test", f"{path}: {at}.{other}", "")
    if expected.get("isValidatingPolicy"):
        return _check_validating_policy(
            test, path, at, expected, policy, resources, values, api_defaults
        )
    policy_set = PolicySet.load([policy, *exceptions])
    rule = str(expected.get("rule", ""))
    kind = str(expected.get("kind", ""))
    want = str(expected.get("result", ""))
    patched_file = expected.get("patchedResources") or expected.get("patchedResource")
    patched = read_objects(path.parent / str(patched_file)) if patched_file else []
    names = {rule, f"autogen-{rule}", f"autogen-cronjob-{rule}"}
    rows = []
    for ref, request in _requests(path, at, kind, expected, resources, values, policy_name):
        outcome = policy_set.review(request, api_defaults=api_defaults)
        found = [r for r in outcome.results if r.rule in names]
        actual = found[0].status if found else "skip"
        detail = ""
        if patched:
            want_obj = _find(patched, kind, str(ref))
            if want_obj is None:
                detail = f"no patched {kind}/{ref} in {patched_file}"
            elif _comparable(want_obj) != _comparable(outcome.obj):
                detail = f"patched resource differs from {patched_file}"
        rows.append(Row(test, policy_name, rule, f"{kind}/{ref}", want, actual, detail))
    return rows


def _check_validating_policy(
    test: str,
    path: Path,
    at: str,
    expected: Mapping[str, Any],
    policy: dict[str, Any],
    resources: list[dict[str, Any]],
    values: Values,
    api_defaults: bool,
) -> list[Row]:
    """A ``policies.kyverno.io`` ValidatingPolicy result: pass or fail when
    the policy applies to the resource, skip when it does not."""
    policy_name = str(policy["metadata"]["name"])
    policy_set = ValidatingPolicySet.load([policy])
    kind = str(expected.get("kind", ""))
    rows = []
    for ref, req in _requests(path, at, kind, expected, resources, values, policy_name):
        labels = req.namespace_labels
        ns_obj = None if labels is None else {"metadata": {"name": req.namespace, "labels": labels}}
        verdicts = policy_set.verdicts(
            req.obj, req.namespace, ns_obj, req.operation, "", api_defaults=api_defaults
        )
        actual = "skip" if not verdicts else ("fail" if verdicts[0][1] else "pass")
        rows.append(Row(test, policy_name, "", f"{kind}/{ref}", str(expected["result"]), actual))
    return rows


def _requests(
    path: Path,
    at: str,
    kind: str,
    expected: Mapping[str, Any],
    resources: list[dict[str, Any]],
    values: Values,
    policy_name: str,
) -> Iterator[tuple[str, Request]]:
    """Each resource a result names, as the request the CLI would make: its
    namespace and operation overridable by values, the rest values too."""
    for ref in expected.get("resources") or []:
        obj = _find(resources, kind, str(ref))
        if obj is None:
            raise InputError.at(path, f"{at}.resources", f"no {kind} named '{ref}'")
        req_values = values.for_request(policy_name, str(obj["metadata"]["name"]))
        namespace = str(
            req_values.pop("request.namespace", None)
            or (obj.get("metadata") or {}).get("namespace")
            or "default"
        )
        yield (
            str(ref),
            Request(
                obj,
                namespace,
                values.namespace_labels.get(namespace),
                operation=str(req_values.pop("request.operation", "CREATE")),
                values=req_values,
            ),
        )


def _find(objects: list[dict[str, Any]], kind: str, ref: str) -> dict[str, Any] | None:
    ns, _, name = ref.rpartition("/")
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") != kind or meta.get("name") != name:
            continue
        if ns and meta.get("namespace", "default") != ns:
            continue
        return obj
    return None


def _comparable(obj: Mapping[str, Any]) -> Any:
    """What a patched resource is compared on: its spec and labels/annotations."""
    meta = obj.get("metadata") or {}
    return {
        "spec": obj.get("spec"),
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
    }
