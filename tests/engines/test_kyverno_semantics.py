"""Kyverno semantics the kyverno/policies suite showed we had wrong, each
pinned by a small case of our own (the facts are from kyverno/kyverno's
pkg/engine: variables, jmespath, variables/operator, validate, pattern,
wildcards, handlers/validation)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from policygen.engines.kyverno import PolicySet, Request
from policygen.engines.kyverno.api import NotFound
from policygen.engines.kyverno.operator import evaluate
from policygen.engines.kyverno.pattern import value_matches
from policygen.engines.kyverno.validate import validate_pattern
from policygen.engines.kyverno.values import parse_duration, parse_quantity
from policygen.engines.kyverno.variables import substitute, substitute_string


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "labels": {"team": "a"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1"}], **spec},
    }


def data(obj: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"request": {"object": obj or pod(), "operation": "CREATE"}, **extra}


def rule_results(rule: dict[str, Any], obj: dict[str, Any], **req: Any) -> list[tuple[str, str]]:
    doc = {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": "p"},
        "spec": {
            "rules": [{"name": "r", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]}, **rule}]
        },
    }
    outcome = PolicySet.load([doc]).review(Request(obj, "ns", {}, **req), api_defaults=False)
    return [(r.rule, r.status) for r in outcome.results]


# --- variables ------------------------------------------------------------------


def test_a_variable_can_build_another() -> None:
    d = data(which="team")
    assert substitute_string("{{ request.object.metadata.labels.{{ which }} }}", d) == "a"


def test_a_whole_string_variable_keeps_its_type_and_null() -> None:
    d = data(n=3, nothing=None)
    assert substitute_string("{{ n }}", d) == 3
    assert substitute_string("{{ nothing }}", d) is None
    assert substitute_string("x{{ nothing }}", d) == "xnull"
    assert substitute_string("x{{ n }}", d) == "x3"


def test_a_missing_key_on_a_plain_path_is_unknown_but_null_elsewhere() -> None:
    d = data()
    with pytest.raises(NotFound, match='Unknown key "nope" in path'):
        substitute_string("{{ request.object.metadata.nope }}", d)
    # `||`, functions and projections see null instead
    assert substitute_string("{{ request.object.metadata.nope || 'x' }}", d) == "x"
    assert substitute_string("{{ request.object.metadata.annotations.values(@) }}", d) is None


def test_map_keys_are_substituted() -> None:
    assert substitute({"{{ key }}": "{{ value }}"}, {"key": "k", "value": 1}) == {"k": 1}


def test_an_escaped_variable_is_text() -> None:
    assert substitute_string("\\{{ x }}", {"x": 1}) == "{{ x }}"


# --- condition operators ---------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "key", "value", "holds"),
    [
        ("Equals", 5, "5", True),  # numbers and strings by parsing the string
        ("Equals", "5", 5, False),  # a string key wants a string value
        ("Equals", "1Gi", "1024Mi", True),  # quantities
        ("Equals", "1h", "60m", True),  # durations
        ("Equals", "nginx:1", "nginx:*", True),  # the value is the wildcard
        ("Equals", "nginx:*", "nginx:1", False),
        ("equals", True, True, True),  # operator names ignore case
        ("NotEquals", "a", "b", True),
        ("AnyIn", "team-a", ["team-*"], True),  # wildcards both ways
        ("AnyIn", "team-*", ["team-a"], True),
        ("In", "team-*", ["team-a"], True),
        ("AnyIn", ["a", "b"], '["b", "c"]', True),  # a JSON array in a string
        ("AllIn", ["a", "b"], '["b", "c"]', False),
        ("AnyNotIn", ["a", "b"], '["b", "c"]', True),
        ("AllNotIn", ["x"], '["b", "c"]', True),
        ("AnyIn", "3", "1-5", True),  # a range string
        ("AnyIn", "7", "1-5", False),
        ("AnyIn", 8080, [8080], True),
        ("GreaterThan", "2Gi", "1Gi", True),
        ("GreaterThan", "10", 9, True),
        ("LessThan", "1.2.3", "1.10.0", True),  # versions
        ("GreaterThan", "abc", 1, False),  # not comparable: false, not an error
        ("DurationGreaterThan", "2h", "90m", True),
        ("AnyIn", None, ["x"], False),
    ],
)
def test_operators(op: str, key: Any, value: Any, holds: bool) -> None:
    assert evaluate(op, key, value, "here") is holds


def test_an_empty_any_block_holds_nothing() -> None:
    deny = {"deny": {"conditions": {"any": []}}}
    assert rule_results({"validate": {"message": "m", **deny}}, pod()) == [("r", "pass")]
    assert rule_results({"validate": {"message": "m", "deny": {}}}, pod()) == [("r", "fail")]


def test_quantities_and_durations_parse_as_upstream() -> None:
    assert parse_quantity("1.5Gi") == 1.5 * 2**30
    assert parse_quantity("100m") == Fraction(1, 10)
    assert parse_quantity("1e3") == 1000
    assert parse_quantity("Gi") is None
    assert parse_duration("1h30m") == 5400
    assert parse_duration("0") == 0
    assert parse_duration("10") is None


# --- patterns --------------------------------------------------------------------


def test_wildcard_keys_under_labels_take_the_resources_key() -> None:
    pattern = {"metadata": {"labels": {"app.kubernetes.io/*": "?*"}}}
    labelled = {"metadata": {"labels": {"app.kubernetes.io/name": "web"}}}
    assert validate_pattern(labelled, pattern)[0] == "pass"
    assert validate_pattern({"metadata": {"labels": {"other": "x"}}}, pattern)[0] == "fail"


def test_a_scalar_pattern_checks_every_item_of_a_list() -> None:
    pattern = {"spec": {"args": "!*--privileged*"}}
    assert validate_pattern({"spec": {"args": ["-v", "-x"]}}, pattern)[0] == "pass"
    assert validate_pattern({"spec": {"args": ["-v", "--privileged"]}}, pattern)[0] == "fail"


@pytest.mark.parametrize(
    ("value", "pattern", "holds"),
    [
        (3, "1-5", True),
        (7, "1-5", False),
        (7, "1!-5", True),
        ("512Mi", "<=1Gi", True),
        ("2Gi", "<=1Gi", False),
        (None, "<1", True),  # a missing number reads as 0
        (80, "80", True),
        (80, "8*", True),  # a number matches as Go prints it (8E+01 for a float)
        (True, "true", True),
        ("a", "a | b", True),
        ("c", "a | b", False),
        ("ab", "a* & *b", True),
    ],
)
def test_scalar_patterns(value: Any, pattern: str, holds: bool) -> None:
    assert value_matches(value, pattern) is holds


def test_a_failed_condition_beside_a_nested_list_skips_the_map() -> None:
    pattern = {"spec": {"(hostNetwork)": True, "containers": [{"name": "x"}]}}
    assert validate_pattern({"spec": {"containers": [{"name": "c"}]}}, pattern)[0] == "skip"
    assert validate_pattern(
        {"spec": {"hostNetwork": True, "containers": [{"name": "c"}]}}, pattern
    ) == ("fail", "/spec/containers/0/name/")


def test_a_negation_anchor_fails_and_a_global_anchor_skips() -> None:
    assert validate_pattern({"spec": {"hostPID": True}}, {"spec": {"X(hostPID)": "null"}}) == (
        "fail",
        "/spec/hostPID/",
    )
    pattern = {"spec": {"containers": [{"<(image)": "nginx*", "name": "x"}]}}
    assert validate_pattern(pod(), pattern)[0] == "fail"
    assert (
        validate_pattern({"spec": {"containers": [{"image": "redis", "name": "c"}]}}, pattern)[0]
        == "skip"
    )


# --- validate rules -------------------------------------------------------------


def test_a_foreach_over_a_missing_list_gives_no_response() -> None:
    foreach = [{"list": "request.object.spec.initContainers", "deny": {}}]
    assert rule_results({"validate": {"message": "m", "foreach": foreach}}, pod()) == []


def test_only_enforce_rules_allow_existing_violations() -> None:
    rule = {"validate": {"message": "m", "pattern": {"spec": {"hostNetwork": True}}}}
    old = pod()
    for action, want in (("Enforce", "skip"), ("Audit", "fail")):
        rule["validate"]["failureAction"] = action
        got = rule_results(rule, pod(), operation="UPDATE", old_obj=old)
        assert got == [("r", want)], action


def test_the_old_object_is_checked_as_created() -> None:
    """The re-check of the old object runs with operation CREATE, so a rule
    only for updates does not apply to it and the violation stands."""
    rule = {
        "preconditions": {
            "all": [{"key": "{{ request.operation }}", "operator": "Equals", "value": "UPDATE"}]
        },
        "validate": {"failureAction": "Enforce", "message": "m", "deny": {}},
    }
    assert rule_results(rule, pod(), operation="UPDATE", old_obj=pod()) == [("r", "fail")]


def test_a_context_variable_takes_its_default_when_the_query_fails() -> None:
    rule = {
        "context": [
            {"name": "v", "variable": {"jmesPath": "request.object.metadata.nope", "default": "d"}}
        ],
        "validate": {
            "message": "m",
            "deny": {
                "conditions": {"all": [{"key": "{{ v }}", "operator": "Equals", "value": "d"}]}
            },
        },
    }
    assert rule_results(rule, pod()) == [("r", "fail")]


def test_a_mutation_that_changes_nothing_is_a_skip() -> None:
    patch = {"metadata": {"labels": {"team": "a"}}}
    assert rule_results({"mutate": {"patchStrategicMerge": patch}}, pod()) == [("r", "skip")]
    patch = {"metadata": {"labels": {"team": "b"}}}
    assert rule_results({"mutate": {"patchStrategicMerge": patch}}, pod()) == [("r", "pass")]


# --- mutation -------------------------------------------------------------------


def test_strategic_merge_lists_by_merge_key_and_null_deletes() -> None:
    from policygen.engines.kyverno.patch import strategic_merge

    resource = {
        "spec": {
            "containers": [{"name": "a", "env": [{"name": "X", "value": "1"}], "args": ["-v"]}],
            "hostNetwork": True,
        }
    }
    patch = {
        "spec": {
            "containers": [
                {"name": "a", "env": [{"name": "Y", "value": "2"}], "args": ["-q"]},
                {"name": "sidecar", "image": "s:1"},
            ],
            "hostNetwork": None,
        }
    }
    assert strategic_merge(resource, patch, "w") == {
        "spec": {
            "containers": [
                # what a patch adds comes first, as kustomize merges
                {"name": "sidecar", "image": "s:1"},
                # env merges by name; args has no merge key and is replaced
                {
                    "name": "a",
                    "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}],
                    "args": ["-q"],
                },
            ]
        }
    }


def test_conditions_in_a_list_patch_each_element_they_hold_for() -> None:
    from policygen.engines.kyverno.patch import strategic_merge

    resource = {
        "spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}
    }
    patch = {"spec": {"containers": [{"(image)": "x:*", "imagePullPolicy": "Always"}]}}
    assert strategic_merge(resource, patch, "w")["spec"]["containers"] == [
        {"name": "a", "image": "x:1", "imagePullPolicy": "Always"},
        {"name": "b", "image": "y:1"},
    ]
    # No element to patch, and the emptied list adds nothing.
    assert strategic_merge(
        {"spec": {}}, {"spec": {"initContainers": patch["spec"]["containers"]}}, "w"
    ) == {"spec": {}}


def test_a_failed_condition_outside_a_list_voids_the_whole_patch() -> None:
    from policygen.engines.kyverno.patch import strategic_merge

    resource = {"metadata": {"labels": {"a": "1"}}, "spec": {}}
    patch = {"metadata": {"labels": {"(a)": "2", "b": "x"}}, "spec": {"x": 1}}
    assert strategic_merge(resource, patch, "w") == resource
    patch["metadata"]["labels"]["(a)"] = "1"
    assert strategic_merge(resource, patch, "w") == {
        "metadata": {"labels": {"a": "1", "b": "x"}},
        "spec": {"x": 1},
    }


def test_an_add_anchor_adds_only_what_is_missing() -> None:
    from policygen.engines.kyverno.patch import strategic_merge

    patch = {"spec": {"+(dnsPolicy)": "None"}}
    assert strategic_merge({"spec": {}}, patch, "w") == {"spec": {"dnsPolicy": "None"}}
    assert strategic_merge({"spec": {"dnsPolicy": "Default"}}, patch, "w") == {
        "spec": {"dnsPolicy": "Default"}
    }


def test_json6902_with_kyvernos_options() -> None:
    from policygen.engines.kyverno.patch import json6902

    ops = """
- op: add
  path: /spec/affinity/terms/-1/expressions/-1
  value: {key: zone}
- op: remove
  path: /spec/nothing/here
- op: add
  path: /spec/list/-
  value: 3
- op: replace
  path: /spec/list/0
  value: 0
"""
    assert json6902({"spec": {"list": [1, 2]}}, ops, "w") == {
        "spec": {"affinity": {"terms": [{"expressions": [{"key": "zone"}]}]}, "list": [0, 2, 3]}
    }


def test_a_json_patch_that_cannot_apply_is_an_error() -> None:
    rule = {"mutate": {"patchesJson6902": "- {op: replace, path: /spec/nothing, value: 1}"}}
    assert rule_results(rule, pod()) == [("r", "error")]
    rule = {"mutate": {"patchesJson6902": "- {op: add, path: /spec/priority, value: 1}"}}
    assert rule_results(rule, pod()) == [("r", "pass")]


def test_images_has_no_library_prefix() -> None:
    from policygen.engines.kyverno import image_info

    info = image_info("redis:7")
    assert info is not None
    assert (info["registry"], info["path"], info["reference"]) == (
        "docker.io",
        "redis",
        "docker.io/redis:7",
    )


# --- match by requester ------------------------------------------------------------


def test_exclude_by_cluster_role_subject_and_the_legacy_form() -> None:
    def block(rule_exclude: dict[str, Any]) -> dict[str, Any]:
        return {"exclude": rule_exclude, "validate": {"message": "m", "deny": {}}}

    by_role = block({"any": [{"clusterRoles": ["cluster-admin"]}]})
    assert rule_results(by_role, pod()) == [("r", "fail")]
    assert rule_results(by_role, pod(), cluster_roles=("cluster-admin",)) == []
    legacy = block({"clusterRoles": ["cluster-admin"]})
    assert rule_results(legacy, pod(), cluster_roles=("cluster-admin",)) == []
    by_subject = block({"any": [{"subjects": [{"kind": "Group", "name": "system:*"}]}]})
    assert rule_results(by_subject, pod(), user_info={"groups": ["system:masters"]}) == []
    sa = {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}
    by_sa = block({"any": [{"subjects": [sa]}]})
    user = {"username": "system:serviceaccount:tools:ci"}
    assert rule_results(by_sa, pod(), user_info=user) == []
    assert rule_results(by_sa, pod(), user_info={"username": "alice"}) == [("r", "fail")]


def test_a_namespace_never_matches_a_namespace_selector() -> None:
    doc = {
        "apiVersion": "kyverno.io/v2beta1",  # served like v1
        "kind": "ClusterPolicy",
        "metadata": {"name": "p"},
        "spec": {
            "rules": [
                {
                    "name": "r",
                    "match": {
                        "any": [
                            {"resources": {"kinds": ["Namespace", "Pod"], "namespaceSelector": {}}}
                        ]
                    },
                    "validate": {"message": "m", "deny": {}},
                }
            ]
        },
    }
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}
    policies = PolicySet.load([doc])
    assert policies.review(Request(ns, "", {}), api_defaults=False).results == []
    assert [r.status for r in policies.review(Request(pod(), "ns", {})).results] == ["fail"]


def test_time_since_is_go_durations() -> None:
    from policygen.engines.kyverno.values import go_duration

    d = data()
    assert (
        substitute_string(
            "{{ time_since('', '2020-01-01T00:00:00Z', '2020-01-02T01:02:03.5Z') }}", d
        )
        == "25h2m3.5s"
    )
    assert go_duration(0) == "0s"
    assert go_duration(0.0015) == "1.5ms"
    assert go_duration(61) == "1m1s"
