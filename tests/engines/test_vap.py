"""The VAP evaluator: a real CEL runtime with the API server's match rules,
in agreement with the model. The agreement tests also run the kyverno-cel
evaluator, which evaluates through this one."""

from __future__ import annotations

from typing import Any

import pytest

from policygen import config
from policygen.engines import EvalContext, Review, create
from policygen.engines.vap import PolicySet
from policygen.errors import UnsupportedConstruct
from policygen.violations import Violation
from policygen.workloads import namespace_of
from tests import golden
from tests.conftest import NOW
from tests.engines.test_gatekeeper import (
    first_good_then_bad,
    pod,
)

ENGINES = {name: create(name) for name in ("vap", "kyverno-cel")}


def run(
    cfg: config.Config,
    obj: dict[str, Any],
    namespaces: dict[str, Any] | None = None,
    engine: str = "vap",
    **review: Any,
) -> list[Violation]:
    ctx = EvalContext(NOW, namespaces or {})
    reviews = [Review(obj, namespace_of(obj, "default"), **review)]
    return ENGINES[engine].evaluate(cfg, reviews, ctx)[0]


def selectors_config(target: str) -> config.Config:
    """The selector cases' config, with a pull policy this target can render."""
    text = (
        golden.cases()["mutate-selectors"]
        .read_text()
        .replace("pullPolicy: {action: mutate}", "pullPolicy: {action: warn}")
        .replace("targets: [gatekeeper, kyverno]", f"targets: [{target}]")
    )
    return config.parse(text, "c.yaml", today=NOW)


# Agreement with the model over the corpora: tests/harness.py.


def test_exact_messages_for_the_first_offending_container(example: config.Config) -> None:
    obj = first_good_then_bad()
    assert run(example, obj) == [
        Violation(
            "digest",
            "",
            "",
            'container "bad" image "Not An Image" is not a valid image reference',
            "deny",
        ),
        Violation(
            "pullPolicy",
            "",
            "",
            'initContainer "init" must set imagePullPolicy: Always, not IfNotPresent',
            "deny",
        ),
        Violation(
            "registries",
            "",
            "",
            'container "bad" image "Not An Image" is not a valid image reference',
            "deny",
        ),
    ]


def test_match_rules(example: config.Config) -> None:
    obj = pod("team-a", {"name": "a", "image": "nginx"})
    assert {v.rule for v in run(example, obj)} == {"digest", "registries"}
    assert run(example, obj, operation="DELETE") == []  # CREATE and UPDATE only
    assert run(example, pod("kube-system", {"name": "a", "image": "nginx"})) == []  # excluded
    debug = {"name": "dbg", "image": "busybox"}
    ephemeral = pod(
        "team-a",
        {
            "name": "a",
            "image": f"harbor.corp.example/team-a/a@sha256:{'a' * 64}",
            "imagePullPolicy": "Always",
        },
        ephemeralContainers=[debug],
    )
    got = run(example, ephemeral, operation="UPDATE", subresource="ephemeralcontainers")
    assert [v.message for v in got if v.rule == "digest"] == [
        'ephemeralContainer "dbg" image "busybox" must be pinned by digest (@sha256:<64 hex>)'
    ]


POLICY = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": "p"},
    "spec": {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE"],
                    "resources": ["pods"],
                }
            ]
        },
        "validations": [
            {"expression": "object.spec.containers[5].image == 'x'", "message": "static"}
        ],
    },
}
BINDING = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {"name": "b"},
    "spec": {"policyName": "p", "validationActions": ["Deny", "Audit"]},
}


def test_failure_policy_fail_and_ignore() -> None:
    obj = pod("ns", {"name": "a", "image": "nginx"})
    found = PolicySet.load([POLICY, BINDING]).review(obj, "ns", None, "CREATE", "")
    assert [(a, m.split(":")[0]) for _, a, m in found] == [
        ("deny", "policy p failed"),
        ("audit", "policy p failed"),
    ]
    ignore = {**POLICY, "spec": {**POLICY["spec"], "failurePolicy": "Ignore"}}
    assert PolicySet.load([ignore, BINDING]).review(obj, "ns", None, "CREATE", "") == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"paramKind": {"kind": "ConfigMap"}}, "p.spec.paramKind"),
        ({"validations": [{"expression": "object.nope("}]}, "ValidatingAdmissionPolicy/p"),
    ],
)
def test_unsupported_or_broken_policies_are_refused(change: dict[str, Any], where: str) -> None:
    policy = {**POLICY, "spec": {**POLICY["spec"], **change}}
    with pytest.raises(UnsupportedConstruct, match=f"unsupported vap construct at {where}"):
        PolicySet.load([policy, BINDING])


def test_objects_equal_in_what_the_policy_reads_are_evaluated_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policies = PolicySet.load([POLICY, BINDING])
    evaluated = []
    failures = PolicySet._failures

    def counting(self: PolicySet, policy: Any, activation: dict[str, Any]) -> list[str]:
        evaluated.append(activation)
        return failures(self, policy, activation)

    monkeypatch.setattr(PolicySet, "_failures", counting)
    review = [pod("ns", {"name": "a", "image": "nginx"}) for _ in range(3)]
    for i, obj in enumerate(review):
        obj["metadata"]["name"] = f"p{i}"
    other = pod("other", {"name": "a", "image": "busybox"})
    found = [policies.review(o, "ns", None, "CREATE", "") for o in [*review, other]]
    assert [len(f) for f in found] == [2, 2, 2, 2]
    assert len(evaluated) == 2  # only object.spec is read: the names never are
    container = {"name": "a", "image": "nginx", "imagePullPolicy": "Always"}  # defaulted
    assert evaluated[0] == {"object": {"spec": {"containers": [container]}}, "variables": {}}


def test_expressions_are_memoised_on_what_they_read(monkeypatch: pytest.MonkeyPatch) -> None:
    policies = PolicySet.load([POLICY, BINDING])
    evaluated: list[str] = []
    cel_eval = policies.cel.eval

    def counting(expression: str, activation: Any, where: str) -> Any:
        evaluated.append(expression)
        return cel_eval(expression, activation, where)

    monkeypatch.setattr(policies.cel, "eval", counting)
    expression = "request.namespace + '/' + variables.x"

    def value(namespace: str, name: str, x: str) -> Any:
        request = {"namespace": namespace, "name": name}
        return policies._eval(expression, {"request": request, "variables": {"x": x}}, "test")

    assert value("a", "n1", "1") == "a/1"
    assert value("a", "n2", "1") == "a/1"  # the name is never read: reused
    assert value("b", "n1", "1") == "b/1"  # the namespace is
    assert value("a", "n1", "2") == "a/2"  # and so is the variable
    assert evaluated == [expression] * 3
    whole = "request == {'namespace': 'a'}"  # a bare root: evaluated every time
    assert policies._eval(whole, {"request": {"namespace": "a"}}, "test") is True
    assert policies._eval(whole, {"request": {"namespace": "b"}}, "test") is False
    assert evaluated[3:] == [whole, whole]


def _policy_on(rule: dict[str, Any], expression: str = "false") -> list[dict[str, Any]]:
    spec = {
        "matchConstraints": {"resourceRules": [rule]},
        "validations": [{"expression": expression, "message": "denied"}],
    }
    policy = {**POLICY, "spec": spec}
    return [policy, BINDING]


def _denied(docs: list[dict[str, Any]], obj: dict[str, Any], namespace: str = "ns") -> bool:
    return bool(PolicySet.load(docs).review(obj, namespace, None, "CREATE", ""))


def test_any_kind_matches_by_the_resource_it_is_served_as() -> None:
    """No table of workload kinds: a Service is ``services``, a NetworkPolicy
    ``networkpolicies``, an Ingress ``ingresses``, and the group and version
    come from its apiVersion."""
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
    netpol = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {}}
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {}}
    on = {"apiVersions": ["v1"], "operations": ["CREATE"]}
    assert _denied(_policy_on({**on, "apiGroups": [""], "resources": ["services"]}), service)
    net = {**on, "apiGroups": ["networking.k8s.io"]}
    assert _denied(_policy_on({**net, "resources": ["networkpolicies"]}), netpol)
    assert _denied(_policy_on({**net, "resources": ["ingresses"]}), ingress)
    assert not _denied(_policy_on({**net, "resources": ["ingresses"]}), netpol)
    # the version must be listed too
    assert not _denied(_policy_on({**net, "apiVersions": ["v1beta1"], "resources": ["*"]}), netpol)


def test_resource_names_narrow_match_and_exclude() -> None:
    rule = {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE"],
        "resources": ["configmaps"],
    }
    named = {**rule, "resourceNames": ["settings"]}
    settings = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}}
    assert _denied(_policy_on(named), settings)
    assert not _denied(_policy_on(named), other)
    # an object with only a generateName matches no name at the API server
    generated = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "settings"}}
    assert not _denied(_policy_on(named), generated)
    excluding = _policy_on(rule)
    excluding[0]["spec"]["matchConstraints"]["excludeResourceRules"] = [named]
    assert not _denied(excluding, settings)
    assert _denied(excluding, other)


def test_cluster_scoped_objects_pass_namespace_selectors_and_scope() -> None:
    """A ClusterRole has no namespace: a namespaceSelector does not filter it
    and a Namespaced rule does not match it."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {}}
    rule = {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "apiVersions": ["v1"],
        "operations": ["CREATE"],
        "resources": ["clusterroles"],
    }
    docs = _policy_on(rule)
    docs[0]["spec"]["matchConstraints"]["namespaceSelector"] = {"matchLabels": {"x": "y"}}
    assert _denied(docs, role, namespace="default")
    assert not _denied(_policy_on({**rule, "scope": "Namespaced"}), role)
    assert _denied(_policy_on({**rule, "scope": "Cluster"}), role)


def test_variables_are_evaluated_only_when_read() -> None:
    """A failing variable fails only what reads it, and ``||`` absorbs it."""
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["*"]}
    obj = pod("ns", {"name": "a", "image": "nginx"})
    docs = _policy_on(rule, "object.kind == 'Pod'")
    docs[0]["spec"]["variables"] = [{"name": "broken", "expression": "object.spec.nope"}]
    assert not _denied(docs, obj)
    docs[0]["spec"]["validations"] = [{"expression": "true || variables.broken == 1"}]
    assert not _denied(docs, obj)
    docs[0]["spec"]["validations"] = [{"expression": "variables.broken == 1"}]
    assert _denied(docs, obj)


def test_optional_syntax_is_enabled() -> None:
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["*"]}
    obj = pod("ns", {"name": "a", "image": "nginx"})
    labelled = "object.metadata.?labels[?'team'].orValue('none') == 'none'"
    assert not _denied(_policy_on(rule, labelled), obj)
    assert not _denied(_policy_on(rule, "optional.of(1).value() == 1"), obj)
    assert _denied(_policy_on(rule, "object.spec.?initContainers.orValue([]).size() > 0"), obj)


def test_a_runtime_error_cel_raises_is_an_evaluation_error() -> None:
    """cel-expr-python raises, rather than returns, some errors (selecting
    into null through ``.?``): that is a failed evaluation, not a crash."""
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["*"]}
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": None}
    docs = _policy_on(rule, "object.?data.x.orValue('') == ''")
    found = PolicySet.load(docs).review(obj, "ns", None, "CREATE", "")
    assert [(action, message.split(":")[0]) for _, action, message in found] == [
        ("deny", "policy p failed"),
        ("audit", "policy p failed"),
    ]


def test_kubernetes_list_functions() -> None:
    """indexOf, lastIndexOf and isSorted on lists (Kubernetes' list library),
    beside indexOf on strings."""
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["*"]}
    obj = pod("ns", {"name": "a", "image": "nginx"}, {"name": "b", "image": "nginx"})
    names = "object.spec.containers.map(c, c.name)"
    for expression in (
        f"{names}.indexOf('b') == 1",
        f"{names}.lastIndexOf('z') == -1",
        f"{names}.isSorted()",
        "'nginx'.indexOf('x') == 4",
    ):
        assert not _denied(_policy_on(rule, expression), obj), expression


def test_the_quick_nul_check_misses_no_nul() -> None:
    from policygen.engines.vap import _may_hold_nul, without_nul

    assert _may_hold_nul({"object": {"image": "a\x00b"}})
    assert _may_hold_nul({"object": {"a\x00": "b"}})  # in a key
    assert not _may_hold_nul({"object": {"image": "a:1"}})
    # a backslash and "u0000" written out only costs the slow path
    assert _may_hold_nul({"object": {"image": "\\u0000"}})
    assert without_nul({"object": {"image": "\\u0000"}}) == ({"object": {"image": "\\u0000"}}, None)
    assert _may_hold_nul({"object": {"n": 2**70}})  # beyond orjson: the slow path decides
    swapped, placeholder = without_nul({"object": {"image": "a\x00b"}})
    assert placeholder is not None and swapped == {"object": {"image": f"a{placeholder}b"}}


def test_a_variable_chain_is_keyed_by_what_each_link_read() -> None:
    # A reader of variables is keyed by their values' fingerprints, not by
    # the values: one evaluator answering every object in turn must give
    # what a fresh one gives each, whichever link changed (a value; null
    # against absent, a variable that failed).
    spec = {
        **POLICY["spec"],
        "variables": [
            # null for the label "null", absent (an error) without the label
            {
                "name": "a",
                "expression": "object.metadata.labels.a == 'null' ? null : object.metadata.labels.a",
            },
            {
                "name": "b",
                "expression": "'b' in object.metadata.labels ? object.metadata.labels.b : null",
            },
            {
                "name": "c",
                "expression": "variables.a + '/' + (variables.b == null ? '-' : variables.b)",
            },
            {"name": "d", "expression": "variables.c"},
            {"name": "n", "expression": "variables.a == null ? 'null' : 'set'"},
        ],
        "validations": [
            {"expression": "false", "messageExpression": "variables.d"},
            {"expression": "false", "messageExpression": "variables.n"},
        ],
    }
    docs = [{**POLICY, "spec": spec}, BINDING]
    labels: list[dict[str, Any]] = [
        {"a": "x", "b": "y"},
        {"a": "x", "b": "z"},
        {"a": "x"},
        {"b": "y"},
        {"a": "null"},
        {},
        {"a": "w", "b": "y"},
        {"a": "x", "b": "y"},
    ]
    shared = PolicySet.load(docs)
    for value in labels:
        obj = pod("ns", {"name": "a", "image": "nginx"})
        obj["metadata"]["labels"] = value
        fresh = PolicySet.load(docs, fast=False).review(obj, "ns", None, "CREATE", "")
        assert shared.review(obj, "ns", None, "CREATE", "") == fresh, value


@pytest.mark.parametrize(
    ("expression", "name"),
    [
        ("variables.xs.map(x, x + 1)", "xs"),
        ("variables.xs.filter(x, x > variables.limit)", "xs"),
        ("variables.xs.map(x, x > 0, x * 2)", "xs"),
        ("variables.xs.map(x, x + size(variables.xs))", None),  # reads the list itself
        ("variables.xs.map(x, x).size()", None),  # not the whole expression
        ("variables.xs.map(x, x) + [1]", None),
        ("variables.xs.map(x, object.a)", None),  # reads a root
        ("variables.xs.exists(x, x > 0)", None),  # not element by element
        ("variables.xs.map(variables, variables.a)", None),
    ],
)
def test_which_expressions_go_element_by_element(expression: str, name: str | None) -> None:
    from policygen.engines.vap import _elementwise_variable

    assert _elementwise_variable(expression) == name


def test_element_by_element_gives_the_whole_expressions_answers_and_errors() -> None:
    # One evaluator answering every object in turn (elements kept by what
    # they are and by the other variables the body reads) against a fresh
    # one per object; an element that errs leaves the whole expression to
    # err as written.
    variables = [
        {"name": "xs", "expression": "object.metadata.labels.xs.split(',')"},
        {"name": "suffix", "expression": "object.metadata.labels.suffix"},
        {"name": "ys", "expression": "variables.xs.map(x, x + variables.suffix)"},
        {"name": "zs", "expression": "variables.ys.filter(y, y.startsWith('a'))"},
        {"name": "ints", "expression": "variables.xs.map(x, int(x))"},
    ]
    validations = {
        # a message, and an error that fails its policy
        "p": {"expression": "false", "messageExpression": "'zs: ' + variables.zs.join(' ')"},
        "q": {"expression": "variables.ints.all(i, i > 9)", "message": "small"},
    }
    docs = []
    for name, validation in validations.items():
        spec = {**POLICY["spec"], "variables": variables, "validations": [validation]}
        docs.append({**POLICY, "metadata": {"name": name}, "spec": spec})
        docs.append(
            {**BINDING, "metadata": {"name": name}, "spec": {**BINDING["spec"], "policyName": name}}
        )
    labels: list[dict[str, str]] = [
        {"xs": "a,b,ab", "suffix": "1"},
        {"xs": "a,b,ab", "suffix": "2"},  # the same elements, another suffix
        {"xs": "b,a", "suffix": "1"},
        {"xs": "1,2", "suffix": "1"},
        {"xs": "1,x,2,y", "suffix": "1"},  # x and y do not parse as ints
        {"xs": "2,1", "suffix": "1"},
        {"xs": "a", "suffix": "1"},
    ]
    shared = PolicySet.load(docs)
    for value in labels:
        obj = pod("ns", {"name": "a", "image": "nginx"})
        obj["metadata"]["labels"] = value
        fresh = PolicySet.load(docs, fast=False).review(obj, "ns", None, "CREATE", "")
        assert [m for _, _, m in shared.review(obj, "ns", None, "CREATE", "")] == [
            m for _, _, m in fresh
        ], value


@pytest.mark.parametrize(
    ("expression", "one_to_one"),
    [
        ("variables.xs.map(x, x + 1)", True),
        ('variables.xs.map(x, {"a": x, "b": [x, 1]})', True),  # commas below the top
        ("variables.xs.map(x, 'a,b')", True),
        ("variables.xs.map(x, x > 0, x * 2)", False),  # three arguments: a filter too
        ("variables.xs.filter(x, x > 1)", False),
    ],
)
def test_which_maps_give_one_value_per_element(expression: str, one_to_one: bool) -> None:
    # those are evaluated on every new element at once, and split
    from policygen.engines.vap import _one_to_one

    assert _one_to_one(expression) is one_to_one


SELECTOR_TENANT_CONFIG = """\
apiVersion: policygen.dev/v1alpha1
kind: ImagePolicyConfig
metadata: {name: gen}
spec:
  targets: [kyverno, gatekeeper]
  rules:
    registries: {action: deny}
  tenants:
    - {name: t0, namespaces: [t0, t0-*], namespaceSelector: {matchLabels: {tenant: t0}}, registries: [reg.example/t0]}
    - {name: t1, namespaces: [t1, t1-*], registries: [reg.example/t1]}
"""


@pytest.mark.parametrize("engine", ["vap", "kyverno-cel"])
@pytest.mark.parametrize("fast", [True, False])
def test_an_image_with_a_port_and_an_empty_image_beside_it_are_judged_as_the_model_does(
    engine: str, fast: bool
) -> None:
    """Found by the differential test: a constant-pattern ``matches``
    rewrite (since reverted) made the registries policy's ``bad`` variable
    fail on this Deployment, so the policy reported its own error instead of
    the model's findings."""
    from policygen import model
    from policygen.agreement import disagreements

    cfg = config.parse(SELECTOR_TENANT_CONFIG, "c.yaml", today=NOW)
    namespaces = {
        "t0": {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "t0", "labels": {"tenant": "t0"}},
        }
    }
    spec = {
        "containers": [
            {"name": "c0", "image": "reg.example:5000/t1/app"},
            {"name": "c1", "image": ""},
        ],
        "initContainers": [{"name": "init", "image": "library/nginx"}],
    }
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "w", "namespace": "t0"},
        "spec": {"template": {"spec": spec}},
    }
    want = model.evaluate(cfg, obj, model.Context(now=NOW, namespaces=namespaces))
    evaluator = create(engine, fast=fast)
    got = evaluator.evaluate(cfg, [Review(obj, "t0")], EvalContext(NOW, namespaces))[0]
    assert "registries" in {v.rule for v in got}
    assert disagreements(want, got, per_rule=evaluator.per_rule) == []
