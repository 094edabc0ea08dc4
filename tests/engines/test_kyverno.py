"""The Kyverno evaluator: agreement with the model on our bundle, and each
construct of the pattern language, match, autogen, mutation and exceptions
exercised by small policies of our own."""

from __future__ import annotations

import re
from typing import Any

import pytest

from policygen import config
from policygen.engines import EvalContext, Review
from policygen.engines.kyverno import KyvernoEngine, PolicySet, Request, image_info
from policygen.errors import UnsupportedConstruct
from policygen.violations import Violation
from policygen.workloads import namespace_of
from tests import golden
from tests.conftest import NOW
from tests.engines.test_gatekeeper import (
    SELECTOR_NAMESPACES,
    first_good_then_bad,
    pod,
)

ENGINE = KyvernoEngine()


def run_bundle(
    cfg: config.Config, obj: dict[str, Any], namespaces: dict[str, Any] | None = None
) -> list[Violation]:
    ctx = EvalContext(NOW, namespaces or {})
    return ENGINE.evaluate(cfg, [Review(obj, namespace_of(obj, "default"))], ctx)[0]


# Agreement with the model over the corpora: tests/harness.py.


def test_first_failing_container_and_exact_messages(example: config.Config) -> None:
    obj = first_good_then_bad()
    assert run_bundle(example, obj) == [
        Violation(
            "digest",
            "bad",
            "Not An Image",
            'container "bad" image "Not An Image" is not a valid image reference',
            "deny",
        ),
        Violation(
            "pullPolicy",
            "init",
            "harbor.corp.example/team-a/init:1",
            'initContainer "init" must set imagePullPolicy: Always, not IfNotPresent',
            "deny",
        ),
        Violation(
            "registries",
            "bad",
            "Not An Image",
            'container "bad" image "Not An Image" is not a valid image reference',
            "deny",
        ),
    ]


def test_images_variable_is_kyvernos() -> None:
    """GetImageInfo parses without normalising the path: no library/ for a
    one-segment path, Docker Hub's or another registry's (infos_test.go)."""
    assert image_info("harbor.corp.example/app") == {
        "registry": "harbor.corp.example",
        "path": "app",
        "name": "app",
        "tag": "latest",
        "digest": "",
        "reference": "harbor.corp.example/app:latest",
        "referenceWithTag": "harbor.corp.example/app:latest",
    }
    assert image_info("nginx") == {
        "registry": "docker.io",
        "path": "nginx",
        "name": "nginx",
        "tag": "latest",
        "digest": "",
        "reference": "docker.io/nginx:latest",
        "referenceWithTag": "docker.io/nginx:latest",
    }
    assert image_info("index.docker.io/nginx@sha256:" + "a" * 64)["registry"] == "index.docker.io"  # type: ignore[index]
    assert image_info("Not An Image") is None


def test_one_segment_path_on_a_private_registry_is_allowed(example: config.Config) -> None:
    obj = pod(
        "default",
        {
            "name": "p",
            "image": f"registry.k8s.io/pause:3.9@sha256:{'a' * 64}",
            "imagePullPolicy": "Always",
        },
    )
    assert run_bundle(example, obj) == []


# --- constructs, on small policies of our own --------------------------------


def policy(
    *rules: dict[str, Any], name: str = "p", annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": meta,
        "spec": {"rules": list(rules)},
    }


def rule(name: str = "r", kinds: tuple[str, ...] = ("Pod",), **body: Any) -> dict[str, Any]:
    return {"name": name, "match": {"any": [{"resources": {"kinds": list(kinds)}}]}, **body}


def validate(pattern: Any = None, **extra: Any) -> dict[str, Any]:
    v: dict[str, Any] = {"failureAction": "Enforce", "message": "bad", **extra}
    if pattern is not None:
        v["pattern"] = pattern
    return {"validate": v}


def results(docs: list[dict[str, Any]], obj: dict[str, Any], **req: Any) -> list[tuple[str, str]]:
    ns = req.pop("namespace", (obj.get("metadata") or {}).get("namespace", "default"))
    outcome = PolicySet.load(docs).review(Request(obj, ns, req.pop("labels", {}), **req))
    return [(r.rule, r.status) for r in outcome.results]


def simple_pod(*containers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x", "namespace": "ns", **extra},
        "spec": {"containers": list(containers)},
    }


IMG = {"name": "c", "image": "nginx:1.0"}


@pytest.mark.parametrize(
    ("pattern", "status"),
    [
        ({"spec": {"containers": [{"image": "*:*"}]}}, "pass"),
        ({"spec": {"containers": [{"image": "*@*"}]}}, "fail"),
        ({"spec": {"containers": [{"image": "!*:latest"}]}}, "pass"),
        ({"spec": {"containers": [{"image": "foo/* | nginx:*"}]}}, "pass"),
        ({"spec": {"containers": [{"image": "nginx* & *:2.0"}]}}, "fail"),
        ({"spec": {"containers": [{"image": "ngin?:1.0"}]}}, "pass"),
        ({"spec": {"containers": [{"name": "?*", "ports": [{"containerPort": ">1000"}]}]}}, "fail"),
        # a plain key must be present; =() only checks what is there
        ({"spec": {"containers": [{"securityContext": {"runAsNonRoot": True}}]}}, "fail"),
        ({"spec": {"containers": [{"=(securityContext)": {"runAsNonRoot": True}}]}}, "pass"),
        (
            {"spec": {"=(initContainers)": [{"image": "*@*"}], "containers": [{"image": "*"}]}},
            "pass",
        ),
        # conditional anchor: the element is skipped unless it matches
        ({"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}}, "skip"),
        ({"spec": {"containers": [{"(image)": "nginx:*", "imagePullPolicy": "Always"}]}}, "fail"),
        ({"spec": {"containers": [{"X(hostPort)": "null"}]}}, "pass"),
        ({"spec": {"^(containers)": [{"image": "nginx:*"}]}}, "pass"),
        ({"spec": {"^(containers)": [{"image": "redis:*"}]}}, "fail"),
        # global anchor: the rule is skipped when it does not hold
        ({"spec": {"containers": [{"<(image)": "redis:*", "imagePullPolicy": "Always"}]}}, "skip"),
    ],
)
def test_patterns_and_anchors(pattern: dict[str, Any], status: str) -> None:
    obj = simple_pod({**IMG, "ports": [{"containerPort": 80}], "imagePullPolicy": "IfNotPresent"})
    outcome = PolicySet.load([policy(rule(**validate(pattern)))]).review(
        Request(obj, "ns", {}), api_defaults=False
    )
    assert [(r.rule, r.status) for r in outcome.results] == [("r", status)]


def test_any_pattern() -> None:
    docs = [
        policy(
            rule(
                validate={
                    "failureAction": "Enforce",
                    "message": "m",
                    "anyPattern": [
                        {"spec": {"containers": [{"image": "*@*"}]}},
                        {"spec": {"containers": [{"image": "nginx:*"}]}},
                    ],
                }
            )
        )
    ]
    assert results(docs, simple_pod(IMG)) == [("r", "pass")]
    assert results(docs, simple_pod({"name": "c", "image": "redis:1"})) == [("r", "fail")]


def test_deny_conditions_and_preconditions_with_jmespath_functions() -> None:
    deny = {
        "conditions": {
            "any": [
                {
                    "key": "{{ regex_match('^nginx:', request.object.spec.containers[0].image) }}",
                    "operator": "Equals",
                    "value": True,
                }
            ]
        }
    }
    pre = {
        "all": [{"key": "{{ request.namespace }}", "operator": "AnyIn", "value": ["ns", "other"]}]
    }
    docs = [
        policy(
            rule(
                preconditions=pre,
                validate={
                    "failureAction": "Enforce",
                    "message": "{{ to_upper(request.namespace) }} {{ request.object.spec.containers[0] }}",
                    "deny": deny,
                },
            )
        )
    ]
    outcome = PolicySet.load(docs).review(Request(simple_pod(IMG), "ns", {}))
    assert [(r.status, r.message) for r in outcome.results] == [
        ("fail", 'NS {"name":"c","image":"nginx:1.0","imagePullPolicy":"IfNotPresent"}')
    ]
    assert results(docs, simple_pod(IMG), namespace="elsewhere") == [("r", "skip")]


def test_foreach_element_index_and_unresolved_variables() -> None:
    fe = {
        "list": "request.object.spec.containers",
        "deny": {
            "conditions": {
                "all": [{"key": "{{ elementIndex }}", "operator": "GreaterThan", "value": 0}]
            }
        },
    }
    docs = [
        policy(
            rule(
                validate={
                    "failureAction": "Enforce",
                    "message": "{{ element.name }} at {{ elementIndex }}",
                    "foreach": [fe],
                }
            )
        )
    ]
    outcome = PolicySet.load(docs).review(
        Request(simple_pod(IMG, {"name": "d", "image": "x"}), "ns", {})
    )
    assert [(r.status, r.message) for r in outcome.results] == [("fail", "d at 1")]
    missing = [
        policy(
            rule(
                validate={
                    "failureAction": "Enforce",
                    "message": "m",
                    "deny": {
                        "conditions": {
                            "all": [
                                {
                                    "key": "{{ request.object.spec.nothing }}",
                                    "operator": "Equals",
                                    "value": 1,
                                }
                            ]
                        }
                    },
                }
            )
        )
    ]
    outcome = PolicySet.load(missing).review(Request(simple_pod(IMG), "ns", {}))
    # A path of plain fields to a missing key is go-jmespath's NotFoundError.
    assert [(r.status, r.message) for r in outcome.results] == [
        ("error", 'failed to check deny conditions: Unknown key "nothing" in path')
    ]


def deployment(image: str = "nginx:1.0") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "ns"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}},
    }


def cronjob(image: str = "nginx:1.0") -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "j", "namespace": "ns"},
        "spec": {
            "jobTemplate": {
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}
            }
        },
    }


DIGEST = {"spec": {"containers": [{"image": "*@*"}]}}


def test_autogen_rules_for_controllers() -> None:
    docs = [policy(rule("digest", **validate(DIGEST)))]
    assert results(docs, deployment()) == [("autogen-digest", "fail")]
    assert results(docs, cronjob()) == [("autogen-cronjob-digest", "fail")]
    only = [
        policy(
            rule("digest", **validate(DIGEST)),
            annotations={"pod-policies.kyverno.io/autogen-controllers": "CronJob"},
        )
    ]
    assert results(only, deployment()) == []
    assert results(only, cronjob()) == [("autogen-cronjob-digest", "fail")]
    off = [
        policy(
            rule("digest", **validate(DIGEST)),
            annotations={"pod-policies.kyverno.io/autogen-controllers": "none"},
        )
    ]
    assert results(off, deployment()) == []


def test_autogen_is_off_when_a_rule_selects_by_name_or_labels() -> None:
    named = rule("digest", **validate(DIGEST))
    named["match"]["any"][0]["resources"]["names"] = ["*"]
    assert results([policy(named)], deployment()) == []
    excluded = rule(
        "digest",
        **validate(DIGEST),
        exclude={"any": [{"resources": {"namespaces": ["kube-system"]}}]},
    )
    assert results([policy(excluded)], deployment()) == [("autogen-digest", "fail")]


#: A foreach that denies each container whose image has no "@".
UNDIGESTED_FOREACH = {
    "list": "request.object.spec.containers",
    "deny": {
        "conditions": {
            "any": [
                {
                    "key": "{{ contains(element.image, '@') }}",
                    "operator": "Equals",
                    "value": False,
                }
            ]
        }
    },
}


def test_autogen_rewrites_jmespath_to_the_template() -> None:
    fe = UNDIGESTED_FOREACH
    docs = [
        policy(
            rule("digest", validate={"failureAction": "Enforce", "message": "m", "foreach": [fe]})
        )
    ]
    assert results(docs, deployment()) == [("autogen-digest", "fail")]
    assert results(docs, cronjob("nginx@sha256:" + "a" * 64)) == [
        ("autogen-cronjob-digest", "pass")
    ]


def test_match_kinds_namespaces_and_ephemeral_subresource() -> None:
    r = rule(**validate(DIGEST))
    r["match"]["any"][0]["resources"]["namespaces"] = ["team-?", "prod-*"]
    docs = [policy(r)]
    assert results(docs, simple_pod(IMG), namespace="team-a") == [("r", "fail")]
    assert results(docs, simple_pod(IMG), namespace="team-ab") == []
    assert results(
        docs,
        simple_pod(IMG),
        namespace="prod-x",
        subresource="ephemeralcontainers",
        operation="UPDATE",
    ) == [("r", "fail")]
    only_sub = [policy(rule(kinds=("Pod/ephemeralcontainers",), **validate(DIGEST)))]
    assert results(only_sub, simple_pod(IMG)) == []
    assert results(only_sub, simple_pod(IMG), subresource="ephemeralcontainers") == [("r", "fail")]
    versioned = [
        policy(rule(kinds=("apps/v1/Deployment",), **validate({"spec": {"replicas": ">1"}})))
    ]
    assert results(versioned, deployment()) == [("r", "fail")]


def test_namespace_selector_and_operations() -> None:
    r = rule(**validate(DIGEST))
    r["match"]["any"][0]["resources"].update(
        namespaceSelector={"matchLabels": {"tier": "prod"}}, operations=["CREATE"]
    )
    docs = [policy(r)]
    assert results(docs, simple_pod(IMG), labels={"tier": "prod"}) == [("r", "fail")]
    assert results(docs, simple_pod(IMG), labels={"tier": "dev"}) == []
    assert results(docs, simple_pod(IMG), labels={"tier": "prod"}, operation="UPDATE") == []
    outcome = PolicySet.load(docs).review(Request(simple_pod(IMG), "ns", None))
    assert [(r.status, r.message[:26]) for r in outcome.results] == [
        ("error", 'namespace "ns" is not know')
    ]


def test_existing_violations_on_update() -> None:
    old = simple_pod(IMG)
    new = simple_pod(IMG, {"name": "dbg", "image": "busybox"})
    lenient = [policy(rule(**validate(DIGEST)))]
    assert results(lenient, new, operation="UPDATE", old_obj=old) == [("r", "skip")]
    strict = [policy(rule(**validate(DIGEST, allowExistingViolations=False)))]
    assert results(strict, new, operation="UPDATE", old_obj=old) == [("r", "fail")]


def test_failure_actions() -> None:
    def action(emit_warning: bool | None = None, **v: Any) -> str:
        body = {"validate": {"message": "m", "pattern": DIGEST, **v}}
        doc = policy(rule(**body))
        if emit_warning is not None:
            doc["spec"]["emitWarning"] = emit_warning
        outcome = PolicySet.load([doc]).review(Request(simple_pod(IMG), "ns", {}))
        return outcome.results[0].action

    assert action(failureAction="Enforce") == "deny"
    assert action(failureAction="Audit") == "audit"
    # emitWarning is a policy field (api/kyverno/v1/spec_types.go)
    assert action(True, failureAction="Audit") == "warn"
    assert action(False, failureAction="Audit") == "audit"
    assert action(True, failureAction="Enforce") == "deny"
    assert action() == "audit"  # Kyverno's default


def test_rule_level_emit_warning_is_not_kyverno() -> None:
    """Kyverno's Validation has no emitWarning: the engine refuses it rather
    than honour a field the API server would reject or prune."""
    body = validate(DIGEST, failureAction="Audit", emitWarning=True)
    policies = PolicySet.load([policy(rule(**body))])
    with pytest.raises(UnsupportedConstruct, match=r"p\.r\.validate\.emitWarning: field"):
        policies.review(Request(simple_pod(IMG), "ns", {}))


def test_policy_exception_v2() -> None:
    exc = {
        "apiVersion": "kyverno.io/v2",
        "kind": "PolicyException",
        "metadata": {"name": "e", "namespace": "kyverno"},
        "spec": {
            "exceptions": [{"policyName": "p", "ruleNames": ["digest", "autogen-*"]}],
            "match": {
                "any": [{"resources": {"kinds": ["Pod", "Deployment"], "namespaces": ["ns"]}}]
            },
        },
    }
    docs = [policy(rule("digest", **validate(DIGEST))), exc]
    assert results(docs, simple_pod(IMG)) == [("digest", "skip")]
    assert results(docs, deployment()) == [("autogen-digest", "skip")]
    assert results(docs, simple_pod(IMG), namespace="other") == [("digest", "fail")]


def test_mutate_patch_strategic_merge_with_anchors_then_validate() -> None:
    mutate = {
        "mutate": {
            "patchStrategicMerge": {
                "spec": {
                    "containers": [{"(name)": "?*", "imagePullPolicy": "Always"}],
                    "+(priorityClassName)": "low",
                }
            }
        }
    }
    check = rule("check", **validate({"spec": {"containers": [{"imagePullPolicy": "Always"}]}}))
    docs = [policy(rule("set", **mutate), check)]
    outcome = PolicySet.load(docs).review(
        Request(simple_pod(IMG, {"name": "", "image": "x"}), "ns", {})
    )
    assert outcome.obj["spec"]["containers"] == [
        {"name": "c", "image": "nginx:1.0", "imagePullPolicy": "Always"},
        {"name": "", "image": "x", "imagePullPolicy": "Always"},  # API-server default for x:latest
    ]
    assert outcome.obj["spec"]["priorityClassName"] == "low"
    assert [(r.rule, r.status) for r in outcome.results] == [("set", "pass"), ("check", "pass")]
    # Nothing to patch once the add anchor's field exists and no name matches.
    unnamed = simple_pod({"name": "", "image": "x:1"})
    unnamed["spec"]["priorityClassName"] = "high"
    skipped = PolicySet.load(docs).review(Request(unnamed, "ns", {}))
    assert [(r.rule, r.status) for r in skipped.results] == [("set", "skip"), ("check", "fail")]


def test_mutate_foreach_by_merge_key() -> None:
    fe = {
        "list": "request.object.spec.containers",
        "patchStrategicMerge": {
            "spec": {"containers": [{"name": "{{ element.name }}", "imagePullPolicy": "Always"}]}
        },
    }
    docs = [policy(rule("set", mutate={"foreach": [fe]}))]
    outcome = PolicySet.load(docs).review(
        Request(simple_pod(IMG, {"name": "d", "image": "y:1"}), "ns", {})
    )
    assert [c["imagePullPolicy"] for c in outcome.obj["spec"]["containers"]] == ["Always", "Always"]


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        (
            policy(rule(validate={"cel": {"paramKind": {"kind": "ConfigMap"}, "expressions": []}})),
            "p.r.validate.cel.paramKind",
        ),
        (
            policy(rule(mutate={"targets": [{"kind": "ConfigMap"}], "patchStrategicMerge": {}})),
            "p.r.mutate: targets",
        ),
        (policy(rule(generate={"kind": "x"})), "p.rules[r].generate"),
        (
            policy(
                rule(
                    context=[{"name": "cm", "configMap": {"name": "x"}}],
                    validate={
                        "deny": {
                            "conditions": {
                                "any": [
                                    {"key": "{{ cm.data.x }}", "operator": "Equals", "value": "y"}
                                ]
                            }
                        }
                    },
                )
            ),
            "p.r.validate.context[0] (configMap) needs a cluster",
        ),
        (
            policy(
                rule(
                    preconditions={"all": [{"key": 1, "operator": "Matches", "value": 1}]},
                    **validate(DIGEST),
                )
            ),
            "p.r.validate condition",
        ),
        (
            {**policy(rule(**validate(DIGEST))), "apiVersion": "kyverno.io/v3"},
            "ClusterPolicy/kyverno.io/v3",
        ),
        (  # Kyverno allows celPreconditions only beside validate.cel
            policy(
                rule(
                    celPreconditions=[{"name": "never", "expression": "false"}],
                    **validate(DIGEST),
                )
            ),
            "p.rules[r].celPreconditions",
        ),
    ],
)
def test_unsupported_constructs_are_refused(doc: dict[str, Any], where: str) -> None:
    with pytest.raises(
        UnsupportedConstruct, match=re.escape(f"unsupported kyverno construct at {where}")
    ):
        PolicySet.load([doc]).review(
            Request(simple_pod({**IMG, "ports": [{"containerPort": 1}]}), "ns", {})
        )


def test_a_cluster_only_context_entry_refuses_only_when_it_is_read() -> None:
    """The Kyverno CLI does not load configMap or apiCall entries offline;
    a test's values may stand in for them, and an entry nothing reads is
    harmless."""
    unread = policy(rule(context=[{"name": "cm", "configMap": {"name": "x"}}], **validate(DIGEST)))
    outcome = PolicySet.load([unread]).review(Request(simple_pod(IMG), "ns", {}))
    assert [(r.rule, r.status) for r in outcome.results] == [("r", "fail")]  # no digest
    read = policy(
        rule(
            context=[{"name": "cm", "configMap": {"name": "x"}}],
            validate={
                "message": "no",
                "deny": {
                    "conditions": {
                        "any": [{"key": "{{ cm.data.x }}", "operator": "Equals", "value": "y"}]
                    }
                },
            },
        )
    )
    given = Request(simple_pod(IMG), "ns", {}, rule_values={"r": {"cm": {"data": {"x": "y"}}}})
    outcome = PolicySet.load([read]).review(given)
    assert [(r.rule, r.status, r.message) for r in outcome.results] == [("r", "fail", "no")]


def test_autogen_rules_warn_with_their_policy() -> None:
    """emitWarning is the policy's (spec), not a rule's, so the rules autogen
    generates for controllers warn too (pkg/autogen/v1/rule.go copies rules;
    pkg/webhooks/resource/handlers.go reads spec.emitWarning)."""
    docs = [policy(rule("digest", **validate(DIGEST, failureAction="Audit")))]
    docs[0]["spec"]["emitWarning"] = True
    actions = {
        r.rule: r.action
        for obj in (simple_pod(IMG), deployment(), cronjob())
        for r in PolicySet.load(docs).review(Request(obj, "ns", {})).results
    }
    assert actions == {
        "digest": "warn",
        "autogen-digest": "warn",
        "autogen-cronjob-digest": "warn",
    }


def test_our_warn_policies_warn_for_controllers_too(example: config.Config) -> None:
    text = golden.cases()["mutate-selectors"].read_text()
    cfg = config.parse(text, "c.yaml", today=NOW)
    obj = pod(
        "prod-payments",
        {"name": "a", "image": "registry.k8s.io/x:1", "imagePullPolicy": "Always"},
        kind="Deployment",
    )
    got = run_bundle(cfg, obj, SELECTOR_NAMESPACES)
    assert [(v.rule, v.action) for v in got] == [("digest", "warn")]


def test_rule_outcomes_are_memoised_only_on_what_the_rule_reads() -> None:
    from policygen.engines.kyverno.reads import rule_inputs

    assert rule_inputs(rule(**validate(DIGEST))) is None  # a pattern reads the whole object
    fe = {
        "list": "request.object.spec.containers",
        "context": [
            {"name": "team", "variable": {"jmesPath": "request.object.metadata.labels.team || ''"}}
        ],
        "deny": {"conditions": {"any": [{"key": "{{ team }}", "operator": "Equals", "value": ""}]}},
    }
    r = rule(
        validate={
            "failureAction": "Enforce",
            "message": "{{ element.name }} needs a team",
            "foreach": [fe],
        }
    )
    assert rule_inputs(r) == (
        ("request", "object", "metadata", "labels", "team"),
        ("request", "object", "spec", "containers"),
    )
    docs = [policy(r)]
    policies = PolicySet.load(docs)
    labelled = simple_pod(IMG, labels={"team": "red"})
    assert [x.status for x in policies.review(Request(simple_pod(IMG), "ns", {})).results] == [
        "fail"
    ]
    assert [x.status for x in policies.review(Request(labelled, "ns", {})).results] == ["pass"]
    assert [x.status for x in policies.review(Request(simple_pod(IMG), "ns", {})).results] == [
        "fail"
    ]


def test_memoised_rules_still_honour_exceptions() -> None:
    fe = UNDIGESTED_FOREACH
    exc = {
        "apiVersion": "kyverno.io/v2",
        "kind": "PolicyException",
        "metadata": {"name": "e"},
        "spec": {
            "exceptions": [{"policyName": "p", "ruleNames": ["r"]}],
            "match": {"any": [{"resources": {"names": ["exempt-*"]}}]},
        },
    }
    policies = PolicySet.load(
        [policy(rule(validate={"failureAction": "Enforce", "message": "m", "foreach": [fe]})), exc]
    )
    plain, exempt = (
        simple_pod(IMG),
        {**simple_pod(IMG), "metadata": {"name": "exempt-1", "namespace": "ns"}},
    )
    assert [x.status for x in policies.review(Request(plain, "ns", {})).results] == ["fail"]
    assert [x.status for x in policies.review(Request(exempt, "ns", {})).results] == ["skip"]


def test_a_context_value_is_substituted_only_where_it_holds_a_variable() -> None:
    """A policy's own value without a variable is read as it is, never
    walked per request (a tenant index is as large as the organisation);
    one with a variable is substituted, and a query over each answers for
    that value, not for another one read before."""
    from policygen.engines.kyverno.context import load_context

    constant = {"k": ["a"]}
    data: dict[str, Any] = {"request": {"namespace": "ns"}}
    entries = [
        {"name": "c", "variable": {"value": constant}},
        {"name": "v", "variable": {"value": {"k": ["{{request.namespace}}"]}}},
        {"name": "cq", "variable": {"value": constant, "jmesPath": "k[0]"}},
        {"name": "oq", "variable": {"value": {"k": ["b"]}, "jmesPath": "k[0]"}},
    ]
    load_context(entries, data, {}, "rule")
    assert data["c"] is constant
    assert data["v"] == {"k": ["ns"]}
    assert (data["cq"], data["oq"]) == ("a", "b")


# The memos inside the engine (a foreach element's answer, a context value's
# query, a rule's match) are keyed on what each reads. Each request below
# repeats a container of an earlier one that differs from it in one input
# only, in a new container list (so the rule-level memo misses): dropping
# that input from a key would give the earlier answer.
PULL_RULE = rule(
    context=[
        {
            "name": "want",
            "variable": {
                "value": [["open", "IfNotPresent"]],
                "jmesPath": "[?@[0] == '{{ request.namespace }}'][1] | [0] || 'Always'",
            },
        }
    ],
    validate={
        "failureAction": "Enforce",
        "message": "{{ element.name }} must pull {{ want }}",
        "foreach": [
            {
                "list": "request.object.spec.containers",
                "deny": {
                    "conditions": {
                        "any": [
                            {
                                "key": "{{ element.imagePullPolicy || 'unset' }}",
                                "operator": "NotEquals",
                                "value": "{{ want }}",
                            }
                        ]
                    }
                },
            }
        ],
    },
)


def _pull_messages(policies: PolicySet, ns: str, *containers: dict[str, Any]) -> list[str]:
    obj = {**simple_pod(*containers), "metadata": {"name": "x", "namespace": ns}}
    return [r.message for r in policies.review(Request(obj, ns, {})).results if r.status == "fail"]


def test_foreach_elements_are_memoised_on_all_they_read() -> None:
    from policygen.engines.kyverno.reads import element_inputs

    fe = PULL_RULE["validate"]["foreach"][0]
    assert element_inputs(fe, PULL_RULE["validate"]["message"]) == (
        ("element", "imagePullPolicy"),
        ("element", "name"),
        ("want",),
    )
    policies = PolicySet.load([policy(PULL_RULE)])
    a_lazy = {"name": "a", "image": "x:1", "imagePullPolicy": "IfNotPresent"}
    a_always = {**a_lazy, "imagePullPolicy": "Always"}
    assert _pull_messages(policies, "open", a_lazy) == []
    # the namespace, through the rule's context variable
    assert _pull_messages(policies, "other", a_lazy, a_always) == ["a must pull Always"]
    # the element's imagePullPolicy
    assert _pull_messages(policies, "other", a_always, {**a_lazy, "name": "b"}) == [
        "b must pull Always"
    ]
    # the element's name, which only the message reads
    assert _pull_messages(policies, "other", {**a_lazy, "name": "c"}, a_always) == [
        "c must pull Always"
    ]
    # the plain path gives the same answers without any memo
    plain = PolicySet.load([policy(PULL_RULE)], fast=False)
    assert _pull_messages(plain, "other", a_always, {**a_lazy, "name": "b"}) == [
        "b must pull Always"
    ]


def test_probe_tells_absent_from_null() -> None:
    from policygen.engines.kyverno.validation import probe

    assert probe({"e": {"p": None}}, ("e", "p")) != probe({"e": {}}, ("e", "p"))
    assert probe({"e": "text"}, ("e", "p")) != probe({"e": {"p": "text"}}, ("e", "p"))


def test_foreach_elements_are_memoised_per_clock() -> None:
    expiring = rule(
        validate={
            "failureAction": "Enforce",
            "message": "{{ element.name }} expired",
            "foreach": [
                {
                    "list": "request.object.spec.containers",
                    "deny": {
                        "conditions": {
                            "any": [
                                {
                                    "key": "{{ time_after(time_now_utc(), '2027-01-01T00:00:00Z') }}",
                                    "operator": "Equals",
                                    "value": True,
                                }
                            ]
                        }
                    },
                }
            ],
        },
    )
    policies = PolicySet.load([policy(expiring)])
    before, after = "2026-12-31T00:00:00+00:00", "2027-01-02T00:00:00+00:00"
    import datetime as dt

    def failed(moment: str, *containers: dict[str, Any]) -> list[str]:
        policies.now = dt.datetime.fromisoformat(moment)
        obj = simple_pod(*containers)
        found = policies.violations([Review(obj, "ns")])[0]
        return [v.message for v in found]

    assert failed(before, IMG) == []
    assert failed(after, IMG, {**IMG, "name": "d"}) == ["c expired"]


def test_rule_matches_are_memoised_on_the_metadata_they_read() -> None:
    by_label = {
        "name": "r",
        "match": {
            "any": [{"resources": {"kinds": ["Pod"], "selector": {"matchLabels": {"a": "b"}}}}]
        },
        "exclude": {"any": [{"resources": {"names": ["skip-*"]}}]},
        **validate(DIGEST),
    }
    policies = PolicySet.load([policy(by_label)])

    def statuses(**meta: Any) -> list[str]:
        obj = {**simple_pod(IMG), "metadata": {"name": "x", "namespace": "ns", **meta}}
        return [r.status for r in policies.review(Request(obj, "ns", {})).results]

    assert statuses(labels={"a": "b"}) == ["fail"]
    assert statuses(labels={"a": "c"}) == []
    assert statuses(labels={"a": "b"}, name="skip-1") == []
    assert statuses(labels={"a": "b"}, name="keep-1") == ["fail"]


# The context memo (context.py): a list of variable entries' results by the
# values of what they read. Each step below changes one input only, and
# the memoised answer must equal the plain one: a key that dropped that
# input would replay the step before.
TEAM_ENTRIES: list[dict[str, Any]] = [
    {
        "name": "team",
        "variable": {"jmesPath": "request.object.metadata.labels.team", "default": "none"},
    },
    {"name": "tagged", "variable": {"jmesPath": "join('/', [team, request.namespace])"}},
    {
        "name": "lapsed",
        "variable": {
            "value": ["2027-01-01T00:00:00Z"],
            "jmesPath": "[?time_after(time_now_utc(), @)] | length(@)",
        },
    },
    {"name": "fromConfig", "variable": {"value": "{{ settings.data.level }}"}},
]


def _team_context(memo: Any, ns: str, labels: dict[str, Any], moment: str, **outer: Any) -> Any:
    import datetime as dt

    from policygen.engines.kyverno.api import VariableError
    from policygen.engines.kyverno.context import load_context
    from policygen.engines.kyverno.functions import clock

    obj = {"metadata": {"name": "x", "labels": labels}}
    data: dict[str, Any] = {"request": {"namespace": ns, "object": obj}, **outer}
    try:
        with clock(dt.datetime.fromisoformat(moment)):
            load_context(TEAM_ENTRIES, data, {}, "p.r.validate", memo)
    except (VariableError, UnsupportedConstruct) as exc:
        return type(exc).__name__, str(exc), {k: data.get(k) for k in ("team", "tagged")}
    return {e["name"]: data[e["name"]] for e in TEAM_ENTRIES}


def test_context_entries_are_memoised_on_all_they_read() -> None:
    from policygen.engines.kyverno.context import CLUSTER_ONLY, ContextMemo

    memo = ContextMemo(100)
    assert memo.inputs(TEAM_ENTRIES) == (
        ("request", "namespace"),
        ("request", "object", "metadata", "labels", "team"),
        ("settings", "data", "level"),
        ("team",),  # read by "tagged" after "team" sets it: an input as it stood
    )
    before, after = "2026-12-31T00:00:00+00:00", "2027-01-02T00:00:00+00:00"
    settings = {"settings": {"data": {"level": "high"}}}
    steps: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
        ("a", {"team": "red"}, before, settings),
        ("b", {"team": "red"}, before, settings),  # the namespace
        ("b", {"team": "blue"}, before, settings),  # a label
        ("b", {"team": "blue"}, after, settings),  # the clock
        ("b", {"team": "blue"}, after, {"settings": {"data": {"level": "low"}}}),  # a value
        ("b", {"team": "blue"}, after, {}),  # an error, kept with what was set before it
        # the same error, but naming an entry only a cluster fills: a refusal
        ("b", {"team": "blue"}, after, {CLUSTER_ONLY: {"settings": "p.r.context[0] (configMap)"}}),
        ("b", {"team": "blue"}, after, {}),  # the error again, from the memo
    ]
    for ns, labels, moment, outer in steps:
        plain = _team_context(None, ns, labels, moment, **outer)
        assert _team_context(memo, ns, labels, moment, **outer) == plain, (ns, labels, moment)
    # every step but the last was a new key; a refusal is never kept
    assert len(memo) == len(steps) - 2
    assert _team_context(memo, "b", {"team": "blue"}, after) == (
        "NotFound",  # the error's own type
        _team_context(None, "b", {"team": "blue"}, after)[1],
        {"team": "blue", "tagged": "blue/b"},
    )


def test_context_entries_only_a_cluster_fills_are_not_memoised() -> None:
    from policygen.engines.kyverno.context import ContextMemo

    memo = ContextMemo(100)
    assert memo.inputs([{"name": "cm", "configMap": {"name": "c"}}]) is None
    assert memo.inputs([{"name": "all", "variable": {"jmesPath": "@"}}]) is None


def test_a_rule_without_context_leaves_the_context_memo_empty() -> None:
    """Such a rule passes a new empty list each time: kept by identity, the
    lists would pile up for as long as the scan runs."""
    from policygen.engines.kyverno.context import ContextMemo, load_context

    memo = ContextMemo(100)
    for _ in range(3):
        load_context([], {}, {}, "p.r.validate", memo)
    assert (len(memo), memo._inputs) == (0, {})


def test_constant_values_queried_with_the_clock_are_kept_per_clock() -> None:
    import datetime as dt

    from policygen.engines.kyverno.functions import clock
    from policygen.engines.kyverno.variables import query

    expiries = ["2027-01-01T00:00:00Z"]
    expression = "[?time_after(time_now_utc(), @)] | length(@)"
    answers = []
    for moment in ("2026-12-31T00:00:00+00:00", "2027-01-02T00:00:00+00:00"):
        with clock(dt.datetime.fromisoformat(moment)):
            answers.append(query(expression, expiries, constant=True))
    assert answers == [0, 1]


def test_the_images_variable_is_built_for_the_rules_that_may_read_it() -> None:
    """It costs a walk of the object, so a rule whose reads are known and
    do not include it goes without; a rule that reads it, and any rule
    while an exception's conditions may, gets it."""
    tag_rule = rule(
        validate={
            "failureAction": "Enforce",
            "message": "tag {{ images.containers.c.tag }}",
            "deny": {
                "conditions": {
                    "any": [
                        {
                            "key": "{{ images.containers.c.tag }}",
                            "operator": "Equals",
                            "value": "1.0",
                        }
                    ]
                }
            },
        }
    )
    policies = PolicySet.load([policy(tag_rule), policy(PULL_RULE, name="q")])
    assert [(p.name, r.images) for p in policies.policies for r in p.rules if r.name == "r"] == [
        ("p", True),
        ("q", False),
    ]
    got = policies.review(Request(simple_pod(IMG), "ns", {})).results
    assert [(r.policy, r.status, r.message) for r in got] == [
        ("p", "fail", "tag 1.0"),
        ("q", "fail", "c must pull Always"),
    ]
    by_tag = {
        "apiVersion": "kyverno.io/v2",
        "kind": "PolicyException",
        "metadata": {"name": "e"},
        "spec": {
            "exceptions": [{"policyName": "q", "ruleNames": ["r"]}],
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "conditions": {
                "any": [
                    {"key": "{{ images.containers.c.tag }}", "operator": "Equals", "value": "1.0"}
                ]
            },
        },
    }
    excepted = PolicySet.load([policy(PULL_RULE, name="q"), by_tag])
    got = excepted.review(Request(simple_pod(IMG), "ns", {})).results
    assert [(r.status, r.message) for r in got] == [("skip", "exception")]


def test_rules_share_a_match_view_only_when_they_read_the_same_metadata() -> None:
    """The match memo's view of one request is computed once for the rules
    that read the same metadata; a rule that reads more gets its own."""
    plain_rule = {"name": "any-pod", **validate(DIGEST)} | rule("any-pod")
    by_label = {
        "name": "labelled",
        "match": {
            "any": [{"resources": {"kinds": ["Pod"], "selector": {"matchLabels": {"a": "b"}}}}]
        },
        **validate(DIGEST),
    }
    policies = PolicySet.load([policy(plain_rule, by_label)])

    def matched(**labels: str) -> list[str]:
        obj = {**simple_pod(IMG), "metadata": {"name": "x", "namespace": "ns", "labels": labels}}
        return [r.rule for r in policies.review(Request(obj, "ns", {})).results]

    assert matched(a="b") == ["any-pod", "labelled"]
    assert matched(a="c") == ["any-pod"]
    assert matched(a="b") == ["any-pod", "labelled"]
    # and the view of one request is never another's
    policies = PolicySet.load([policy(by_label)])
    assert matched(a="b") == ["labelled"]
    assert matched(a="c") == []
