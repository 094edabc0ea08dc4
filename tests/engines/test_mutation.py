"""Mutation before validation in the vap and kyverno-cel evaluators:
MutatingAdmissionPolicy (the API server's mutating phase) and Kyverno's
MutatingPolicy (Kyverno's mutating webhook) applied before the validating
policies see the object, with the semantics of the API server's MAP
dispatcher (plugin/policy/mutating/dispatcher.go, reinvocationcontext.go)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policygen import config, model
from policygen.engines import EvalContext, Review, create, policy_documents
from policygen.engines.kyverno_cel import ValidatingPolicySet
from policygen.engines.vap import PolicySet, Rejection
from policygen.errors import UnsupportedConstruct
from policygen.violations import Violation
from tests import golden
from tests.conftest import NOW

PINNED = "registry.k8s.io/pause:3.9@sha256:" + "a" * 64
NAMESPACES = {
    "prod-a": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod-a"}},
    "prod-skip": {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "prod-skip", "labels": {"policygen.dev/skip": "yes"}},
    },
}


@pytest.fixture(scope="module")
def selectors() -> config.Config:
    """Every target, pullPolicy: mutate, scope prod-* / *-prod with a selector."""
    return config.load(golden.cases()["mutate-selectors"], today=NOW)


def container(name: str, policy: str | None = "IfNotPresent") -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "image": PINNED}
    if policy is not None:
        out["imagePullPolicy"] = policy
    return out


def pod(ns: str = "prod-a", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns},
        "spec": {"containers": [container("app")], **spec},
    }


def loaded(cfg: config.Config, engine: str) -> PolicySet:
    docs = policy_documents(engine, cfg, EvalContext(NOW))
    return (
        ValidatingPolicySet.load_admission(docs)
        if engine == "kyverno-cel"
        else PolicySet.load(docs)
    )


def admitted(cfg: config.Config, engine: str, obj: dict[str, Any]) -> Any:
    ns = obj["metadata"]["namespace"]
    return loaded(cfg, engine).admit(obj, ns, NAMESPACES.get(ns), "CREATE", "")


ENGINES = ("vap", "kyverno-cel")


@pytest.mark.parametrize("engine", ENGINES)
def test_containers_and_init_containers_are_set_to_always(
    selectors: config.Config, engine: str
) -> None:
    obj = pod(
        initContainers=[container("init", "Never"), container("unset", None)],
        ephemeralContainers=[container("debug")],
        volumes=[{"name": "v", "image": {"reference": PINNED, "pullPolicy": "IfNotPresent"}}],
    )
    spec = admitted(selectors, engine, obj)["spec"]
    assert [c["imagePullPolicy"] for c in spec["containers"] + spec["initContainers"]] == [
        "Always"
    ] * 3
    # what the model says the engines do not mutate
    assert spec["ephemeralContainers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert spec["volumes"][0]["image"]["pullPolicy"] == "IfNotPresent"
    assert "initContainers" not in admitted(selectors, engine, pod())["spec"]


@pytest.mark.parametrize("engine", ENGINES)
def test_controllers_are_mutated_at_their_own_pod_spec(
    selectors: config.Config, engine: str
) -> None:
    template = {"spec": {"containers": [container("app")]}}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "prod-a"},
        "spec": {"template": copy.deepcopy(template)},
    }
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c", "namespace": "prod-a"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}},
    }
    got = admitted(selectors, engine, deployment)["spec"]["template"]["spec"]["containers"]
    assert got[0]["imagePullPolicy"] == "Always"
    got = admitted(selectors, engine, cronjob)["spec"]["jobTemplate"]["spec"]["template"]
    assert got["spec"]["containers"][0]["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("ns", ["team-a", "prod-skip"])
def test_outside_the_scope_nothing_is_mutated(
    selectors: config.Config, engine: str, ns: str
) -> None:
    """Out of the scope's globs (a matchCondition) or deselected by its
    namespaceSelector (the binding's, or the MutatingPolicy's)."""
    got = admitted(selectors, engine, pod(ns))
    assert got["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def run(cfg: config.Config, engine: str, obj: dict[str, Any]) -> list[Violation]:
    ctx = EvalContext(NOW, NAMESPACES)
    return create(engine).evaluate(cfg, [Review(obj, obj["metadata"]["namespace"])], ctx)[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_validation_sees_the_mutated_object(selectors: config.Config, engine: str) -> None:
    obj = pod(initContainers=[container("init", "Never")])
    assert run(selectors, engine, obj) == []


@pytest.mark.parametrize("engine", ["model", "kyverno", "kyverno-cel", "gatekeeper", "vap"])
def test_an_image_volume_under_mutate_is_still_denied(
    selectors: config.Config, engine: str
) -> None:
    """Image volumes are not mutated (SPEC departure: the KEP asks
    AlwaysPullImages to set them, our policies do not), so each engine
    denies them with the model's message."""
    volume = {"name": "tools", "image": {"reference": PINNED, "pullPolicy": "IfNotPresent"}}
    obj = pod(volumes=[volume])
    want = [
        Violation(
            "pullPolicy",
            "",
            "",
            'volume "tools" must set pullPolicy: Always, not IfNotPresent',
            "deny",
        )
    ]
    if engine == "model":
        found = model.evaluate(selectors, obj, model.Context(now=NOW, namespaces=NAMESPACES))
        assert [(v.rule, v.container, v.message, v.action) for v in found] == [
            ("pullPolicy", "tools", want[0].message, "deny")
        ]
        return
    got = [Violation(v.rule, "", "", v.message, v.action) for v in run(selectors, engine, obj)]
    assert got == want


@pytest.mark.parametrize("engine", ["kyverno", "kyverno-cel", "gatekeeper", "vap"])
def test_an_ephemeral_container_under_mutate_is_still_denied(
    selectors: config.Config, engine: str
) -> None:
    obj = pod(ephemeralContainers=[container("debug", "Never")])
    got = [(v.rule, v.message, v.action) for v in run(selectors, engine, obj)]
    assert got == [
        (
            "pullPolicy",
            'ephemeralContainer "debug" must set imagePullPolicy: Always, not Never',
            "deny",
        )
    ]


# --- MutatingAdmissionPolicy semantics, on policies written here ---------------

V1 = "admissionregistration.k8s.io/v1"
PODS = {
    "resourceRules": [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
    ]
}
ALWAYS = (
    "Object{spec: Object.spec{containers: object.spec.containers.map(c, "
    'Object.spec.containers{name: c.name, imagePullPolicy: "Always"})}}'
)
#: a sidecar injector: appends a container unless it is there
SIDECAR = (
    "object.spec.containers.exists(c, c.name == 'sidecar') ? [] : "
    "[JSONPatch{op: 'add', path: '/spec/containers/-', "
    "value: {'name': 'sidecar', 'image': 'registry.k8s.io/pause:3.9', "
    "'imagePullPolicy': 'IfNotPresent'}}]"
)


def mutating(name: str, *mutations: tuple[str, str], **spec: Any) -> list[dict[str, Any]]:
    fields = {"ApplyConfiguration": "applyConfiguration", "JSONPatch": "jsonPatch"}
    policy = {
        "apiVersion": V1,
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "matchConstraints": PODS,
            "mutations": [
                {"patchType": kind, fields[kind]: {"expression": expression}}
                for kind, expression in mutations
            ],
            **spec,
        },
    }
    binding = {
        "apiVersion": V1,
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name},
    }
    return [policy, binding]


def final(docs: list[dict[str, Any]], obj: dict[str, Any] | None = None) -> Any:
    return PolicySet.load(docs).admit(obj or pod("ns"), "ns", None, "CREATE", "")


def policies_of(obj: Any) -> list[tuple[str, str]]:
    return [(c["name"], c["imagePullPolicy"]) for c in obj["spec"]["containers"]]


def test_if_needed_runs_again_after_a_later_mutation() -> None:
    """The first policy sets Always; the second, after it, injects a
    sidecar: with IfNeeded the first runs again and reaches the sidecar."""
    injector = mutating("b-sidecar", ("JSONPatch", SIDECAR))
    again = mutating("a-always", ("ApplyConfiguration", ALWAYS), reinvocationPolicy="IfNeeded")
    assert policies_of(final(again + injector)) == [("app", "Always"), ("sidecar", "Always")]
    once = mutating("a-always", ("ApplyConfiguration", ALWAYS), reinvocationPolicy="Never")
    assert policies_of(final(once + injector)) == [("app", "Always"), ("sidecar", "IfNotPresent")]
    # in the other order no reinvocation is needed
    assert policies_of(final(injector + once)) == [("app", "Always"), ("sidecar", "Always")]


def test_mutations_apply_in_order_each_on_the_last_result() -> None:
    docs = mutating("m", ("JSONPatch", SIDECAR), ("ApplyConfiguration", ALWAYS))
    assert policies_of(final(docs)) == [("app", "Always"), ("sidecar", "Always")]


def test_match_conditions_skip_the_policy() -> None:
    conditions = [{"name": "never", "expression": "request.namespace == 'elsewhere'"}]
    docs = mutating("m", ("ApplyConfiguration", ALWAYS), matchConditions=conditions)
    assert policies_of(final(docs)) == [("app", "IfNotPresent")]


BROKEN = "Object{spec: Object.spec{containers: object.spec.nothing}}"


def test_a_failing_mutation_rejects_the_request_before_validation() -> None:
    docs = mutating("m", ("ApplyConfiguration", BROKEN), ("ApplyConfiguration", ALWAYS))
    got = final(docs)
    assert isinstance(got, Rejection)
    assert got.message.startswith("policy m failed: MutatingAdmissionPolicy/m mutations[0]: ")
    validating = {
        "apiVersion": V1,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "v"},
        "spec": {"matchConstraints": PODS, "validations": [{"expression": "false"}]},
    }
    binding = {
        "apiVersion": V1,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "v"},
        "spec": {"policyName": "v", "validationActions": ["Deny"]},
    }
    found = PolicySet.load([*docs, validating, binding]).review(pod("ns"), "ns", None, "CREATE", "")
    assert [(p.name, a, m) for p, a, m in found] == [("m", "deny", got.message)]


def test_under_ignore_a_failing_mutation_is_skipped_and_the_rest_applies() -> None:
    docs = mutating(
        "m", ("ApplyConfiguration", BROKEN), ("ApplyConfiguration", ALWAYS), failurePolicy="Ignore"
    )
    assert policies_of(final(docs)) == [("app", "Always")]


def test_an_apply_configuration_may_not_set_an_atomic_list() -> None:
    command = "Object{spec: Object.spec{containers: [Object.spec.containers{name: 'app', command: ['x']}]}}"
    got = final(mutating("m", ("ApplyConfiguration", command)))
    assert isinstance(got, Rejection)
    assert "may not mutate atomic arrays" in got.message


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"paramKind": {"kind": "ConfigMap"}}, "m.spec.paramKind"),
        ({"mutations": [{"patchType": "Merge"}]}, r"m.spec.mutations\[0\].patchType"),
    ],
)
def test_unsupported_mutating_policies_are_refused(change: dict[str, Any], where: str) -> None:
    docs = mutating("m", ("ApplyConfiguration", ALWAYS))
    docs[0]["spec"].update(change)
    with pytest.raises(UnsupportedConstruct, match=f"unsupported vap construct at {where}"):
        PolicySet.load(docs)


def test_a_failing_kyverno_mutating_policy_rejects_the_request() -> None:
    policy = {
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "MutatingPolicy",
        "metadata": {"name": "k", "annotations": {"policygen.dev/rule": "pullPolicy"}},
        "spec": {
            "matchConstraints": PODS,
            "mutations": [
                {"patchType": "ApplyConfiguration", "applyConfiguration": {"expression": BROKEN}}
            ],
        },
    }
    got = ValidatingPolicySet.load_admission([policy]).admit(pod("ns"), "ns", None, "CREATE", "")
    assert isinstance(got, Rejection)
    assert (got.policy.rule, got.message.split(":")[0]) == ("pullPolicy", "policy k failed")
    ignore = copy.deepcopy(policy)
    ignore["spec"]["failurePolicy"] = "Ignore"
    got = ValidatingPolicySet.load_admission([ignore]).admit(pod("ns"), "ns", None, "CREATE", "")
    assert policies_of(got) == [("app", "IfNotPresent")]


def test_a_v1beta1_bundle_mutates_alike_and_v1alpha1_is_refused(selectors: config.Config) -> None:
    """What a 1.34–1.35 cluster serves (spec.versions will choose it)."""
    import yaml

    from policygen.targets.vap import VapTarget

    rendered = VapTarget("admissionregistration.k8s.io/v1beta1").render(selectors, NOW)
    docs = [d for text in rendered.values() for d in yaml.safe_load_all(text) if d]
    got = PolicySet.load(docs).admit(pod(), "prod-a", NAMESPACES["prod-a"], "CREATE", "")
    assert policies_of(got) == [("app", "Always")]
    for doc in docs:
        if doc["kind"].startswith("Mutating"):
            doc["apiVersion"] = "admissionregistration.k8s.io/v1alpha1"
    with pytest.raises(UnsupportedConstruct, match=r"admissionregistration\.k8s\.io/v1alpha1"):
        PolicySet.load(docs)
