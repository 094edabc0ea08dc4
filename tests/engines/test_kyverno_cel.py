"""The Kyverno CEL policy evaluator: what it adds to the vap evaluator (whose
agreement tests run it too): actions on the policy, and refusing the Kyverno
behaviour it does not implement."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policygen import config
from policygen.engines import EvalContext, policy_documents
from policygen.engines._cel_mutation import rewrite_construction
from policygen.engines.kyverno_cel import MutatingPolicySet, ValidatingPolicySet, orvalue_compat
from policygen.errors import UnsupportedConstruct
from policygen.violations import Violation
from tests.conftest import NOW
from tests.engines.test_gatekeeper import SELECTOR_NAMESPACES, pod
from tests.engines.test_vap import run, selectors_config


def test_exact_messages_and_actions() -> None:
    cfg = selectors_config("kyverno-cel")
    obj = pod("prod-payments", {"name": "a", "image": "nginx:1", "imagePullPolicy": "IfNotPresent"})
    got = run(cfg, obj, SELECTOR_NAMESPACES, engine="kyverno-cel")
    assert [v for v in got if v.rule == "pullPolicy"] == [
        Violation(
            "pullPolicy",
            "",
            "",
            'container "a" must set imagePullPolicy: Always, not IfNotPresent',
            "warn",
        )
    ]


def _policy(example: config.Config) -> dict[str, Any]:
    return copy.deepcopy(policy_documents("kyverno-cel", example, EvalContext(NOW))[0])


def _refused(doc: dict[str, Any], where: str) -> None:
    with pytest.raises(
        UnsupportedConstruct, match=f"^unsupported kyverno-cel construct at {where}"
    ):
        ValidatingPolicySet.load([doc])


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            {"autogen": {"validatingAdmissionPolicy": {"enabled": True}}},
            r"acme-digest\.spec\.autogen\.validatingAdmissionPolicy",
        ),
        ({"evaluation": {"admission": {"enabled": False}}}, r"acme-digest\.spec\.evaluation"),
        ({"evaluation": {"mode": "Envoy"}}, r"acme-digest\.spec\.evaluation\.mode"),
        ({"validationActions": ["Deny", "Warn"]}, r"acme-digest\.spec\.validationActions"),
        ({"validationActions": []}, r"acme-digest\.spec\.validationActions"),
        (
            {"validations": [{"expression": "image.GetMetadata('x') != null"}]},
            "ValidatingPolicy/acme-digest: Kyverno CEL library image: not implemented",
        ),
    ],
)
def test_what_it_does_not_implement_is_refused(
    example: config.Config, change: dict[str, Any], where: str
) -> None:
    doc = _policy(example)
    doc["spec"].update(change)
    _refused(doc, where)


def test_other_kyverno_policy_kinds_are_refused() -> None:
    doc = {
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "PolicyException",
        "metadata": {"name": "x"},
    }
    _refused(doc, "PolicyException/x: only ValidatingPolicy")


def _vpol(spec: dict[str, Any], name: str = "p") -> dict[str, Any]:
    return {
        "apiVersion": "policies.kyverno.io/v1alpha1",
        "kind": "ValidatingPolicy",
        "metadata": {"name": name},
        "spec": {"validationActions": ["Deny"], **spec},
    }


PODS = {
    "resourceRules": [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["pods"],
        }
    ]
}
NEEDS_TEAM = {
    "expression": "object.metadata.?labels[?'team'].orValue('') != ''",
    "message": "a team label is required",
}


def _responses(
    doc: dict[str, Any], obj: dict[str, Any], namespace: str = "ns", **kw: Any
) -> list[tuple[str, str, str] | None]:
    policies = ValidatingPolicySet.load([doc])
    assert isinstance(policies, ValidatingPolicySet)
    policies.cli = True
    out: list[tuple[str, str, str] | None] = []
    for entry, response in policies.responses(obj, namespace, None, "CREATE", **kw):
        out.append(None if response is None else (entry.key, response.status, response.message))
    return out


def _deployment(labels: dict[str, str], namespace_label: str = "") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"team": namespace_label} if namespace_label else {}},
        "spec": {
            "template": {"metadata": {"labels": labels}, "spec": {"containers": []}},
        },
    }


def test_a_pod_policy_runs_on_pod_controllers_with_its_cel_rewritten() -> None:
    """Autogen (pkg/cel/autogen): the controller copy reads the template's
    metadata, not the controller's own."""
    doc = _vpol({"matchConstraints": PODS, "validations": [NEEDS_TEAM]})
    # labelled controller, unlabelled template: the template is what counts
    # the policy itself, its cronjob copy, its copy for the other controllers
    assert _responses(doc, _deployment({}, namespace_label="x")) == [
        None,
        None,
        ("p#autogen-defaults", "fail", "a team label is required"),
    ]
    assert _responses(doc, _deployment({"team": "a"}))[2] == ("p#autogen-defaults", "pass", "")
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {"team": "a"}}}}}},
    }
    assert _responses(doc, cronjob) == [None, ("p#autogen-cronjobs", "pass", ""), None]


def test_autogen_follows_the_controller_list_and_can_autogen() -> None:
    only_jobs = _vpol(
        {
            "matchConstraints": PODS,
            "validations": [NEEDS_TEAM],
            "autogen": {"podControllers": {"controllers": ["jobs"]}},
        }
    )
    assert _responses(only_jobs, _deployment({})) == [None, None]
    off = _vpol({**only_jobs["spec"], "autogen": {"podControllers": {"controllers": []}}})
    assert _responses(off, _deployment({})) == [None]
    # a second resource on the rule means no autogen (CanAutoGen)
    both = {"resourceRules": [{**PODS["resourceRules"][0], "resources": ["pods", "pods/status"]}]}
    assert _responses(
        _vpol({"matchConstraints": both, "validations": [NEEDS_TEAM]}), _deployment({})
    ) == [None]


def test_autogen_keeps_the_workloads_own_namespace() -> None:
    doc = _vpol(
        {
            "matchConstraints": PODS,
            "validations": [{"expression": "object.metadata.namespace == 'ns'"}],
        }
    )
    deployment = _deployment({})
    deployment["metadata"]["namespace"] = "ns"
    assert _responses(doc, deployment)[2] == ("p#autogen-defaults", "pass", "")


def test_kyverno_matching_takes_no_resource_rules_as_all_and_honours_generate_name() -> None:
    everything = _vpol({"matchConstraints": {}, "validations": [{"expression": "false"}]})
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
    assert _responses(everything, service) == [
        ("p", "fail", "CEL expression validation failed at index 0")
    ]
    rule = {**PODS["resourceRules"][0], "resourceNames": ["web-"]}
    named = _vpol({"matchConstraints": {"resourceRules": [rule]}, "validations": [NEEDS_TEAM]})
    generated = pod("ns", {"name": "a", "image": "nginx"})
    del generated["metadata"]["name"]
    generated["metadata"]["generateName"] = "web-"
    assert _responses(named, generated) == [("p", "fail", "a team label is required")]
    generated["metadata"]["generateName"] = "api-"
    assert _responses(named, generated) == [None]


def test_validations_stop_at_the_first_failure_and_errors_are_errors() -> None:
    doc = _vpol(
        {
            "matchConstraints": PODS,
            "validations": [
                {"expression": "true"},
                {"expression": "false", "messageExpression": "'second: ' + object.kind"},
                {"expression": "object.nope == 1"},
            ],
        }
    )
    obj = pod("ns", {"name": "a", "image": "nginx"})
    assert _responses(doc, obj)[0] == ("p", "fail", "second: Pod")
    doc["spec"]["validations"] = [{"expression": "object.nope == 1"}]
    [(_, status, message), *_] = _responses(doc, obj)  # type: ignore[misc]
    assert (status, message.split(":")[0]) == ("error", "ValidatingPolicy/p validations[0]")
    doc["spec"]["matchConditions"] = [{"name": "never", "expression": "false"}]
    assert _responses(doc, obj)[0] == ("p", "skip", "cel preconditions not met")


def test_or_value_on_a_plain_field_is_kyvernos_compatibility_form() -> None:
    """Kyverno accepts ``x.f.orValue(d)`` without ``.?``: a missing ``f``
    gives ``d`` and a present one its value."""
    doc = _vpol(
        {
            "matchConstraints": PODS,
            "validations": [
                {"expression": "object.spec.containers.all(c, c.volumeMounts.orValue([]) == [])"}
            ],
        }
    )
    obj = pod("ns", {"name": "a", "image": "nginx"})
    assert _responses(doc, obj)[0] == ("p", "pass", "")
    obj["spec"]["containers"][0]["volumeMounts"] = [{"name": "v", "mountPath": "/v"}]
    assert _responses(doc, obj)[0][1] == "fail"  # type: ignore[index]


def test_kyverno_cel_libraries_are_refused_by_name() -> None:
    doc = _vpol(
        {
            "matchConstraints": PODS,
            "validations": [{"expression": "resource.Get('v1', 'configmaps', 'ns', 'x') != null"}],
        }
    )
    _refused(doc, "ValidatingPolicy/p: Kyverno CEL library resource")


# --- validate.cel in ClusterPolicies -------------------------------------------


def _cel_policy(cel: dict[str, Any], **rule: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": "cp"},
        "spec": {
            "rules": [
                {
                    "name": "r",
                    "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                    "validate": {"message": "from the rule", "cel": cel},
                    **rule,
                }
            ]
        },
    }


def _cel_results(
    doc: dict[str, Any], obj: dict[str, Any], operation: str = "CREATE"
) -> list[tuple[str, str, str]]:
    from policygen.engines.kyverno import PolicySet as KyvernoPolicySet
    from policygen.engines.kyverno import Request

    namespace = str(obj["metadata"].get("namespace", ""))
    old = obj if operation == "UPDATE" else None
    request = Request(obj, namespace, None, operation=operation, old_obj=old)
    found = KyvernoPolicySet.load([doc]).validate(request)
    return [(r.rule, r.status, r.message) for r in found]


def test_validate_cel_passes_fails_and_defaults_its_message_to_the_rules() -> None:
    doc = _cel_policy(
        {
            "variables": [
                {"name": "images", "expression": "object.spec.containers.map(c, c.image)"}
            ],
            "expressions": [
                {"expression": "variables.images.all(i, i.contains('@'))"},
                {"expression": "true", "message": "never"},
            ],
        }
    )
    tagged = pod("ns", {"name": "a", "image": "nginx:1"})
    assert _cel_results(doc, tagged) == [("r", "fail", "from the rule")]
    pinned = pod("ns", {"name": "a", "image": f"nginx@sha256:{'a' * 64}"})
    assert _cel_results(doc, pinned) == [("r", "pass", "Validation rule passed.")]


def test_validate_cel_preconditions_errors_and_namespace_object() -> None:
    obj = pod("team-a", {"name": "a", "image": "nginx"})
    skipped = _cel_policy(
        {"expressions": [{"expression": "false"}]},
        celPreconditions=[{"name": "never", "expression": "object.kind == 'Deployment'"}],
    )
    assert _cel_results(skipped, obj) == [("r", "skip", "cel preconditions not met")]
    # an evaluation error denies: the validator's failure policy is Fail
    broken = _cel_policy({"expressions": [{"expression": "object.spec.nope == 1"}]})
    [(_, status, message)] = _cel_results(broken, obj)
    assert (status, "nope" in message) == ("fail", True)
    # offline the namespace is known by name only
    named = _cel_policy(
        {
            "expressions": [
                {"expression": "namespaceObject.metadata.name == 'team-a'"},
                {"expression": "!has(namespaceObject.metadata.labels)"},
            ]
        }
    )
    assert _cel_results(named, obj)[0][1] == "pass"


def test_validate_cel_autogen_rewrites_object_paths_for_controllers() -> None:
    doc = _cel_policy({"expressions": [{"expression": "has(object.spec.containers)"}]})
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "ns"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}},
    }
    assert _cel_results(doc, deployment) == [("autogen-r", "pass", "Validation rule passed.")]


def test_validate_cel_has_no_existing_violation_skip() -> None:
    """Kyverno's CEL handler judges the new object only: an UPDATE that keeps
    a violation still fails."""
    doc = _cel_policy({"expressions": [{"expression": "false"}]})
    obj = pod("ns", {"name": "a", "image": "nginx"})
    assert _cel_results(doc, obj, operation="UPDATE")[0][1] == "fail"


def test_validate_cel_params_are_refused() -> None:
    doc = _cel_policy({"paramKind": {"kind": "ConfigMap"}, "expressions": [{"expression": "true"}]})
    with pytest.raises(UnsupportedConstruct, match="params need a cluster"):
        _cel_results(doc, pod("ns", {"name": "a", "image": "nginx"}))


def test_a_null_template_metadata_is_selected_into_as_an_empty_object() -> None:
    """``metadata:`` left empty: Kyverno's CEL gives none for ``.?``."""
    doc = _vpol({"matchConstraints": PODS, "validations": [NEEDS_TEAM]})
    deployment = _deployment({})
    deployment["spec"]["template"]["metadata"] = None
    assert _responses(doc, deployment)[2] == (
        "p#autogen-defaults",
        "fail",
        "a team label is required",
    )


# --- MutatingPolicy ---------------------------------------------------------------


def _mpol(mutations: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policies.kyverno.io/v1alpha1",
        "kind": "MutatingPolicy",
        "metadata": {"name": "m"},
        "spec": {"matchConstraints": PODS, "mutations": mutations, **spec},
    }


def _mutated(
    doc: dict[str, Any], obj: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str, str] | None]]:
    policies = MutatingPolicySet.load([doc])
    assert isinstance(policies, MutatingPolicySet)
    policies.cli = True
    final, responses = policies.mutate(obj, "ns", None, "CREATE")
    return final, [
        None if r is None else (entry.key, r.status, r.message) for entry, r in responses
    ]


ALWAYS_PULL = {
    "patchType": "ApplyConfiguration",
    "applyConfiguration": {
        "expression": "Object{spec: Object.spec{containers: object.spec.containers.map(c, "
        'Object.spec.containers{name: c.name, imagePullPolicy: "Always"})}}'
    },
}


def test_an_apply_configuration_merges_containers_by_name() -> None:
    """``Object{…}`` construction is evaluated, and the list of containers
    is merged element by element on its ``name`` key, as server-side apply
    merges a list-map: images and the other containers' fields stay."""
    obj = pod("ns", {"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"})
    final, responses = _mutated(_mpol([ALWAYS_PULL]), obj)
    assert responses[0] == ("m", "pass", "success")
    assert final["spec"]["containers"] == [
        {"name": "a", "image": "nginx", "imagePullPolicy": "Always"},
        {"name": "b", "image": "redis", "imagePullPolicy": "Always"},
    ]


def test_an_apply_configuration_autogen_copy_wraps_the_template() -> None:
    deployment = _deployment({})
    deployment["spec"]["template"]["spec"]["containers"] = [{"name": "a", "image": "nginx"}]
    final, responses = _mutated(_mpol([ALWAYS_PULL]), deployment)
    assert responses == [None, None, ("m#autogen-defaults", "pass", "success")]
    assert final["spec"]["template"]["spec"]["containers"] == [
        {"name": "a", "image": "nginx", "imagePullPolicy": "Always"}
    ]


def test_an_atomic_list_in_an_apply_configuration_is_an_error_unless_ssa() -> None:
    tolerate = {
        "patchType": "ApplyConfiguration",
        "applyConfiguration": {
            "expression": "Object{spec: Object.spec{tolerations: [Object.spec.tolerations{key: 'k'}]}}"
        },
    }
    obj = pod("ns", {"name": "a", "image": "nginx"})
    _, responses = _mutated(_mpol([tolerate]), obj)
    assert responses[0] is not None and responses[0][1] == "error"
    assert "may not mutate atomic arrays" in responses[0][2]
    final, _ = _mutated(_mpol([tolerate], evaluation={"useServerSideApply": True}), obj)
    assert final["spec"]["tolerations"] == [{"key": "k"}]


def test_json_patches_apply_in_order_and_a_failed_test_applies_none() -> None:
    label = {
        "patchType": "JSONPatch",
        "jsonPatch": {
            "expression": "[JSONPatch{op: 'add', path: '/metadata/labels', value: {}}, "
            "JSONPatch{op: 'add', path: '/metadata/labels/' + jsonpatch.escapeKey('a/b'), "
            "value: 'x'}]"
        },
    }
    obj = pod("ns", {"name": "a", "image": "nginx"})
    final, responses = _mutated(_mpol([label]), obj)
    assert final["metadata"]["labels"] == {"a/b": "x"}
    guarded = {
        "patchType": "JSONPatch",
        "jsonPatch": {
            "expression": "[JSONPatch{op: 'test', path: '/metadata/name', value: 'other'}, "
            "JSONPatch{op: 'remove', path: '/spec'}]"
        },
    }
    final, responses = _mutated(_mpol([guarded]), obj)
    assert (final, responses[0]) == (obj, ("m", "pass", "success"))
    missing = {
        "patchType": "JSONPatch",
        "jsonPatch": {"expression": "[JSONPatch{op: 'replace', path: '/nope/x', value: 1}]"},
    }
    _, responses = _mutated(_mpol([missing]), obj)
    assert responses[0] is not None and responses[0][1] == "error"


def test_mutating_policy_match_conditions_skip() -> None:
    obj = pod("ns", {"name": "a", "image": "nginx"})
    doc = _mpol([ALWAYS_PULL], matchConditions=[{"name": "no", "expression": "false"}])
    final, responses = _mutated(doc, obj)
    assert (final, responses[0]) == (obj, ("m", "skip", "skip"))


def test_construction_is_rewritten_into_map_literals() -> None:
    rewritten, types = rewrite_construction(
        'Object{spec: Object.spec{x: a ? b : c, ?y: optional.of(1), z: {"k": [1]}}}'
    )
    assert rewritten == (
        'dyn({"spec": dyn({"x": a ? b : c, ?"y": optional.of(1), "z": {"k": [1]}})})'
    )
    assert types == [("Object",), ("Object", "spec")]


def test_a_constructed_object_may_meet_null_in_a_ternary() -> None:
    """An object type is nullable in Kyverno's CEL; a map literal is not, so
    the rewrite keeps it dynamic."""
    maybe = {
        "patchType": "ApplyConfiguration",
        "applyConfiguration": {
            "expression": "Object{metadata: has(object.metadata.labels) ? null : "
            "Object.metadata{labels: {'a': 'b'}}}"
        },
    }
    final, _ = _mutated(_mpol([maybe]), pod("ns", {"name": "a", "image": "nginx"}))
    assert final["metadata"]["labels"] == {"a": "b"}


# --- Kyverno's libraries from a kyverno test's Context ----------------------------

CONTEXT = {
    "apiVersion": "cli.kyverno.io/v1alpha1",
    "kind": "Context",
    "spec": {
        "resources": [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "allowed", "namespace": "default"},
                "data": {"registries": "ghcr.io/"},
            },
            {
                "apiVersion": "autoscaling/v1",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "h", "namespace": "ns"},
                "spec": {"scaleTargetRef": {"name": "web"}},
            },
        ],
        "images": [{"image": "nginx:1", "config": {"Volumes": ["/data"]}}],
    },
}


def _cli_responses(
    doc: dict[str, Any], obj: dict[str, Any], user_info: dict[str, Any] | None = None
) -> list[str]:
    policies = ValidatingPolicySet.load_for_cli([doc], CONTEXT, user_info)
    found = policies.responses(obj, "ns", None, "CREATE")
    return [f"{r.status}: {r.message}" if r.message else r.status for _, r in found if r]


def test_resource_get_and_list_read_the_tests_context() -> None:
    doc = _vpol(
        {
            "matchConstraints": PODS,
            "autogen": {"podControllers": {"controllers": []}},
            "variables": [
                {
                    "name": "allowed",
                    "expression": "resource.Get('v1', 'configmaps', 'default', 'allowed')"
                    ".data.registries",
                },
                {
                    "name": "hpas",
                    "expression": "resource.List('autoscaling/v1', 'horizontalpodautoscalers', "
                    "'ns').items.orValue([])",
                },
            ],
            "validations": [
                {
                    "expression": "object.spec.containers.all(c, c.image.startsWith(variables.allowed))"
                },
                {"expression": "variables.hpas.exists(h, h.spec.scaleTargetRef.name == 'web')"},
            ],
        }
    )
    assert _cli_responses(doc, pod("ns", {"name": "a", "image": "ghcr.io/x:1"})) == ["pass"]
    assert _cli_responses(doc, pod("ns", {"name": "a", "image": "nginx"}))[0].startswith("fail")
    missing = copy.deepcopy(doc)
    missing["spec"]["variables"][0]["expression"] = (
        "resource.Get('v1', 'configmaps', 'default', 'other').data.registries"
    )
    [answer] = _cli_responses(missing, pod("ns", {"name": "a", "image": "ghcr.io/x:1"}))
    # the variable fails, so the validation reading it does
    assert answer.startswith("error") and '"allowed"' in answer
    # without a test's context there is no cluster to ask: refused
    _refused(doc, "ValidatingPolicy/p: Kyverno CEL library resource")


def test_image_metadata_reads_the_tests_context() -> None:
    doc = _vpol(
        {
            "matchConstraints": PODS,
            "autogen": {"podControllers": {"controllers": []}},
            "validations": [
                {
                    "expression": "object.spec.containers.all(c, "
                    "size(image.GetMetadata(c.image).config.?Volumes.orValue([])) == 0)"
                }
            ],
        }
    )
    assert _cli_responses(doc, pod("ns", {"name": "a", "image": "nginx:1"}))[0].startswith("fail")
    [answer] = _cli_responses(doc, pod("ns", {"name": "a", "image": "redis:1"}))
    assert answer.startswith("error") and "image data for redis:1 not found" in answer


def test_parse_service_account_and_the_requesting_user() -> None:
    doc = _vpol(
        {
            "matchConstraints": PODS,
            "autogen": {"podControllers": {"controllers": []}},
            "matchConditions": [
                {
                    "name": "sa",
                    "expression": "parseServiceAccount(request.userInfo.username).Namespace "
                    "== 'ci' && parseServiceAccount(request.userInfo.username).Name == 'bot'",
                }
            ],
            "validations": [{"expression": "false", "message": "no"}],
        }
    )
    obj = pod("ns", {"name": "a", "image": "nginx"})
    assert _cli_responses(doc, obj, {"username": "system:serviceaccount:ci:bot"}) == ["fail: no"]
    assert _cli_responses(doc, obj, {"username": "alice"}) == ["skip: cel preconditions not met"]


def test_or_value_after_a_call_makes_the_selection_optional() -> None:
    assert orvalue_compat("f(x).items.orValue([])") == "f(x).?items.orValue([])"
    assert orvalue_compat("f(x).orValue([])") == "f(x).orValue([])"


@pytest.mark.parametrize("shared", [False, True])
def test_null_object_fields_read_as_empty_objects(shared: bool) -> None:
    import datetime as dt

    from policygen.engines.kyverno_cel import null_objects

    obj = {"spec": {"template": {"metadata": None, "spec": {"containers": [{"name": "a"}]}}}}
    assert null_objects(obj, shared=shared) == {
        "spec": {"template": {"metadata": {}, "spec": {"containers": [{"name": "a"}]}}}
    }
    # a value the encoder cannot write is walked as before
    dated = {"metadata": None, "x": dt.date(2026, 1, 1)}
    assert null_objects(dated, shared=shared) == {"metadata": {}, "x": dt.date(2026, 1, 1)}
    # no null object field: the same values (a null that is not an object's stays)
    plain = {"metadata": {"annotations": {"a": '"spec":null'}}, "data": None}
    assert null_objects(plain, shared=shared) == plain
