"""A ConstraintTemplate's ``code`` as gator evaluates it: which entry runs,
the Rego version, the CEL driver's variables, messages and failure policy,
and the review gator builds (no Namespace object, AdmissionReview requests)."""

from __future__ import annotations

from typing import Any

import pytest

from policygen.engines.gatekeeper import PolicySet, Request
from policygen.errors import UnsupportedConstruct
from policygen.rego.errors import RegoError

ENGINES = ["opa", "regorus", "regopy"]

V0 = 'package k\n\nviolation[{"msg": "from rego"}] { input.review.object.bad }\n'


def template(*code: dict[str, Any], rego: str | None = None) -> dict[str, Any]:
    target: dict[str, Any] = {"target": "admission.k8s.gatekeeper.sh", "code": list(code)}
    if rego is not None:
        target["rego"] = rego
    return {
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": "k"},
        "spec": {"crd": {"spec": {"names": {"kind": "K"}}}, "targets": [target]},
    }


def rego(source: str, version: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"rego": source}
    if version:
        entry["version"] = version
    return {"engine": "Rego", "source": entry}


def cel(*validations: dict[str, Any], **source: Any) -> dict[str, Any]:
    return {"engine": "K8sNativeValidation", "source": {"validations": list(validations), **source}}


def constraint(parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if parameters is not None:
        spec["parameters"] = parameters
    return {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K",
        "metadata": {"name": "c"},
        "spec": spec,
    }


def pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}, **spec}


def messages(
    tpl: dict[str, Any],
    obj: dict[str, Any],
    *,
    engine: str = "opa",
    native: bool = True,
    parameters: dict[str, Any] | None = None,
    request: dict[str, Any] | None = None,
) -> list[str]:
    policies = PolicySet.load([tpl, constraint(parameters)], engine, cel=native)
    try:
        ns = str((obj.get("metadata") or {}).get("namespace") or "")
        op = str((request or {}).get("operation", ""))
        old = (request or {}).get("oldObject")
        req = Request(obj, ns, None, op, old, gator=True, request=request)
        return sorted(r.msg for r in policies.review_many([req], cluster=False)[0])
    finally:
        policies.close()


BOTH = template(
    cel({"expression": "!has(object.bad)", "message": "from cel"}),
    rego(V0),
)


@pytest.mark.parametrize("engine", ENGINES)
def test_cel_runs_when_present_unless_native_validation_is_off(engine: str) -> None:
    assert messages(BOTH, pod(bad=True), engine=engine) == ["from cel"]
    assert messages(BOTH, pod(bad=True), engine=engine, native=False) == ["from rego"]
    assert messages(BOTH, pod(), engine=engine, native=False) == []


def test_a_template_with_only_cel_is_refused_with_native_validation_off() -> None:
    only = template(cel({"expression": "true"}))
    with pytest.raises(UnsupportedConstruct, match="no Rego code"):
        messages(only, pod(), native=False)


def test_the_legacy_rego_field_wins_over_a_code_entry() -> None:
    other = 'package k\n\nviolation[{"msg": "from code"}] { true }\n'
    tpl = template(rego(other), rego=V0)
    assert messages(tpl, pod(bad=True), native=False) == ["from rego"]


@pytest.mark.parametrize("engine", ENGINES)
def test_code_rego_is_v0_unless_it_says_v1(engine: str) -> None:
    v1 = 'package k\n\nviolation contains {"msg": "v1"} if input.review.object.bad\n'
    assert messages(template(rego(v1, "v1")), pod(bad=True), engine=engine) == ["v1"]
    assert messages(template(rego(V0)), pod(bad=True), engine=engine) == ["from rego"]
    with pytest.raises(RegoError, match="engine"):
        # v1 syntax without future imports is not v0.
        messages(template(rego(v1)), pod(bad=True), engine=engine)


def test_cel_params_are_null_without_parameters_and_has_on_null_is_false() -> None:
    tpl = template(
        cel(
            {"expression": "variables.params != null", "message": "no params"},
            {"expression": "!has(variables.params.limit)", "message": "has limit"},
        )
    )
    assert messages(tpl, pod()) == ["no params"]
    assert messages(tpl, pod(), parameters={"limit": 1}) == ["has limit"]


@pytest.mark.parametrize("engine", ENGINES)
def test_rego_parameters_are_an_empty_object_without_parameters(engine: str) -> None:
    src = 'package k\n\nviolation[{"msg": "empty"}] { input.parameters == {} }\n'
    assert messages(template(rego(src)), pod(), engine=engine) == ["empty"]


def test_a_failing_cel_variable_is_an_error_only_where_it_is_reached() -> None:
    tpl = template(
        cel(
            {"expression": "variables.none.all(c, variables.broken)", "message": "unreached"},
            {"expression": "variables.broken", "message": "reached"},
            variables=[
                {"name": "none", "expression": "[]"},
                {"name": "broken", "expression": "object.spec.missing.deeper"},
            ],
        )
    )
    [only] = messages(tpl, pod(spec={}))
    assert only.startswith("expression 'variables.broken' resulted in error:")


def test_cel_errors_follow_the_failure_policy() -> None:
    broken = {"expression": "object.spec.missing.deeper", "message": "x"}
    assert len(messages(template(cel(broken)), pod(spec={}))) == 1
    assert messages(template(cel(broken, failurePolicy="Ignore")), pod(spec={})) == []


def test_cel_messages_fall_back_from_expression_to_message_to_default() -> None:
    tpl = template(
        cel(
            {"expression": "false", "messageExpression": "'computed ' + object.metadata.name"},
            {"expression": "1 == 2", "messageExpression": "object.nope", "message": "fixed"},
            {"expression": " 2 == 3 "},
        )
    )
    assert messages(tpl, pod()) == ["computed p", "failed expression: 2 == 3", "fixed"]


DELETE = {
    "uid": "u",
    "operation": "DELETE",
    "kind": {"group": "", "version": "v1", "kind": "Pod"},
    "userInfo": {"username": "bob"},
    "oldObject": pod(),
}


def test_on_delete_cel_sees_no_object_and_any_object_is_the_old_one() -> None:
    tpl = template(
        cel(
            {"expression": "object != null", "message": "object is null"},
            {"expression": "variables.anyObject == null", "message": "anyObject is the old one"},
            {"expression": "request.userInfo.username != 'bob'", "message": "bob"},
        )
    )
    assert messages(tpl, pod(), request=DELETE) == [
        "anyObject is the old one",
        "bob",
        "object is null",
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_on_delete_rego_sees_the_old_object_as_the_object(engine: str) -> None:
    src = (
        "package k\n\n"
        'violation[{"msg": msg}] {\n'
        '  input.review.operation == "DELETE"\n'
        '  msg := sprintf("%v deletes %v", [input.review.userInfo.username, input.review.object.metadata.name])\n'
        "}\n"
    )
    assert messages(template(rego(src)), pod(), engine=engine, request=DELETE) == ["bob deletes p"]


@pytest.mark.parametrize("engine", ENGINES)
def test_gator_passes_no_namespace_object_and_omits_empty_names(engine: str) -> None:
    src = (
        "package k\n\n"
        'violation[{"msg": "namespaceObject is null"}] { input.review.namespaceObject == null }\n'
        'violation[{"msg": "no namespace field"}] { not input.review.namespace }\n'
        'violation[{"msg": "empty operation"}] { input.review.operation == "" }\n'
    )
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}
    assert messages(template(rego(src)), node, engine=engine) == [
        "empty operation",
        "namespaceObject is null",
        "no namespace field",
    ]
    assert messages(template(rego(src)), pod(), engine=engine) == [
        "empty operation",
        "namespaceObject is null",
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_violation_that_is_not_a_set_is_refused(engine: str) -> None:
    src = 'package k\n\nviolation = [{"msg": "listed"}] { true }\n'
    with pytest.raises(RegoError, match="not a set"):
        messages(template(rego(src)), pod(), engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_msg_that_is_not_a_string_is_refused_and_one_without_msg_dropped(engine: str) -> None:
    src = 'package k\n\nviolation[{"msg": 7}] { input.review.object.bad }\nviolation[{"m": "x"}] { true }\n'
    assert messages(template(rego(src)), pod(), engine=engine) == []
    with pytest.raises(RegoError, match="not a string"):
        messages(template(rego(src)), pod(bad=True), engine=engine)
