"""The Gatekeeper bundle, run by real Rego engines, must agree with the model."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from policygen import config, model
from policygen.engines import EvalContext, Review
from policygen.engines.gatekeeper import GatekeeperEngine, PolicySet, Request
from policygen.errors import UnsupportedConstruct
from policygen.fixtures import builtin_corpus
from policygen.violations import Violation
from policygen.workloads import namespace_of
from tests import golden
from tests.conftest import NOW
from tests.corpus import case_id, cases

# The Rego entries, by engine (the CEL entries: test_gatekeeper_cel.py).
ENGINES = {name: GatekeeperEngine(name, code="rego") for name in ("opa", "regorus", "regopy")}
PREFIX = re.compile(r"^\[Implied by [a-z0-9-]+\] ")


def run(
    engine: str, cfg: config.Config, obj: dict[str, Any], namespaces: dict[str, Any] | None = None
) -> list[Violation]:
    ctx = EvalContext(NOW, namespaces or {})
    return ENGINES[engine].evaluate(cfg, [Review(obj, namespace_of(obj, "default"))], ctx)[0]


def unprefixed(vs: list[Violation]) -> list[Violation]:
    return sorted(
        Violation(v.rule, v.container, v.image, PREFIX.sub("", v.message), v.action) for v in vs
    )


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_corpus_agrees_with_model(example: config.Config, engine: str, case: Any) -> None:
    expected = model.evaluate(example, case.obj, model.Context(now=NOW, namespaces={}))
    assert unprefixed(run(engine, example, case.obj)) == expected


def pod(ns: str, *containers: dict[str, Any], kind: str = "Pod", **lists: Any) -> dict[str, Any]:
    spec = {"containers": list(containers), **lists}
    if kind == "Pod":
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": ns},
            "spec": spec,
        }
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "d", "namespace": ns},
        "spec": {"template": {"spec": spec}},
    }


def first_good_then_bad() -> dict[str, Any]:
    """A Deployment whose first container passes every rule and whose second
    and init container do not: engines that stop at the first offender
    (Kyverno, CEL messages) must still name the right one."""
    return pod(
        "team-a",
        {
            "name": "ok",
            "image": f"harbor.corp.example/team-a/ok@sha256:{'a' * 64}",
            "imagePullPolicy": "Always",
        },
        {"name": "bad", "image": "Not An Image", "imagePullPolicy": "Always"},
        initContainers=[{"name": "init", "image": "harbor.corp.example/team-a/init:1"}],
        kind="Deployment",
    )


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


SELECTOR_OBJECTS = [
    pod(
        "prod-a",
        {"name": "a", "image": "ghcr.io/red/a:1"},
        {"name": "b", "image": "ghcr.io/blue/b:1"},
    ),
    pod("prod-a", {"name": "a", "image": "docker.io/nicolaka/netshoot:latest"}),
    pod(
        "prod-a",
        {"name": "a", "image": "ghcr.io/red/a:1"},
        ephemeralContainers=[{"name": "dbg", "image": "ghcr.io/red/d:1"}],
    ),
    pod("prod-a", {"name": "a", "image": "reg.internal:5000/red/x"}, kind="Deployment"),
    pod("prod-payments", {"name": "a", "image": "nginx:1", "imagePullPolicy": "IfNotPresent"}),
    pod("prod-payments", {"name": "a", "image": f"registry.k8s.io/x@sha512:{'ab' * 64}"}),
    pod("prod-skip", {"name": "a", "image": "nginx"}),
    pod("prod-unknown", {"name": "a", "image": "nginx"}),
    pod("dev", {"name": "a", "image": "nginx"}),
]
SELECTOR_NAMESPACES = {
    "prod-a": namespace("prod-a", tenant="red"),
    "prod-payments": namespace("prod-payments"),
    "prod-skip": namespace("prod-skip", **{"policygen.dev/skip": "yes"}),
    "dev": namespace("dev"),
}


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("index", range(len(SELECTOR_OBJECTS)))
def test_selectors_mutation_and_expansion_agree(engine: str, index: int) -> None:
    cfg = config.load(golden.cases()["mutate-selectors"], today=NOW)
    obj = SELECTOR_OBJECTS[index]
    expected = model.evaluate(cfg, obj, model.Context(now=NOW, namespaces=SELECTOR_NAMESPACES))
    got = run(engine, cfg, obj, SELECTOR_NAMESPACES)
    # Gatekeeper autorejects once per constraint; the model reports the namespace once.
    assert sorted({v.key() for v in got}) == [v.key() for v in expected]


@pytest.mark.parametrize("engine", list(ENGINES))
def test_exact_messages_and_expansion_prefix(example: config.Config, engine: str) -> None:
    obj = pod(
        "team-a", {"name": "web", "image": "harbor.corp.example/team-a/web:1"}, kind="Deployment"
    )
    assert run(engine, example, obj) == [
        Violation(
            "digest",
            "web",
            "harbor.corp.example/team-a/web:1",
            '[Implied by acme-expand-workloads] container "web" image "harbor.corp.example/team-a/web:1" must be pinned by digest (@sha256:<64 hex>)',
            "deny",
        ),
        Violation(
            "pullPolicy",
            "web",
            "harbor.corp.example/team-a/web:1",
            '[Implied by acme-expand-workloads] container "web" must set imagePullPolicy: Always, not IfNotPresent',
            "deny",
        ),
    ]


@pytest.mark.parametrize("engine", list(ENGINES))
def test_an_unset_pull_policy_is_named_as_written(example: config.Config, engine: str) -> None:
    # gator and audit see the object as written, before defaulting. regopy
    # once printed object.get's "" default with its quotes here.
    obj = pod(
        "team-a", {"name": "web", "image": "harbor.corp.example/team-a/web@sha256:" + "ab" * 32}
    )
    policies = ENGINES[engine].policy_set(example, EvalContext(NOW, {}))
    results = policies.review_many([Request(obj, "team-a", None)], cluster=False)[0]
    assert [r.msg for r in results] == [
        'container "web" must set imagePullPolicy: Always, not unset'
    ]


@pytest.mark.parametrize("engine", list(ENGINES))
def test_unknown_namespace_autorejects(engine: str) -> None:
    cfg = config.load(golden.cases()["mutate-selectors"], today=NOW)
    got = run(engine, cfg, pod("prod-unknown", {"name": "a", "image": "nginx"}))
    assert {(v.rule, v.action) for v in got} == {("scope", "deny")}
    assert got[0].message.startswith(
        'namespace "prod-unknown" is not known, so the namespaceSelector of Beta'
    )


def test_engines_agree_on_every_message(example: config.Config) -> None:
    for case in cases():
        want = run("opa", example, case.obj)
        for other in ("regorus", "regopy"):
            assert run(other, example, case.obj) == want, (other, case.source)


def test_unsupported_assign_location_is_refused() -> None:
    from policygen.engines._gatekeeper_mutate import Assign

    doc = {
        "metadata": {"name": "x"},
        "spec": {
            "applyTo": [],
            "location": "metadata.labels.x",
            "parameters": {"assign": {"value": 1}},
        },
    }
    with pytest.raises(
        UnsupportedConstruct,
        match=r"^unsupported gatekeeper construct at spec.location: metadata.labels.x$",
    ):
        Assign.from_doc(doc)


def test_a_new_config_is_never_served_stale_policies(example: config.Config) -> None:
    engine = GatekeeperEngine("opa", code="rego")
    obj = pod(
        "team-a",
        {"name": "a", "image": "harbor.corp.example/team-a/a:1", "imagePullPolicy": "Always"},
    )
    ctx = EvalContext(NOW, {})
    assert [v.rule for v in engine.evaluate(example, [Review(obj, "team-a")], ctx)[0]] == ["digest"]
    relaxed = example.model_copy(
        update={
            "spec": example.spec.model_copy(
                update={
                    "rules": example.spec.rules.model_copy(
                        update={
                            "digest": example.spec.rules.digest.model_copy(update={"action": "off"})
                        }
                    )
                }
            )
        }
    )
    assert engine.evaluate(relaxed, [Review(obj, "team-a")], ctx)[0] == []


def _labels_template(rego_body: str) -> list[dict[str, Any]]:
    rego = (
        "package k8slabels\n\nimport future.keywords.contains\nimport future.keywords.if\n\n"
        + rego_body
    )
    return labels_documents({"rego": rego})


def labels_documents(code: dict[str, Any]) -> list[dict[str, Any]]:
    """A K8sLabels template with ``code`` in its one admission target, and
    a Constraint asking for the ``owner`` label."""
    return [
        {
            "apiVersion": "templates.gatekeeper.sh/v1",
            "kind": "ConstraintTemplate",
            "metadata": {"name": "k8slabels"},
            "spec": {
                "crd": {"spec": {"names": {"kind": "K8sLabels"}}},
                "targets": [{"target": "admission.k8s.gatekeeper.sh", **code}],
            },
        },
        {
            "apiVersion": "constraints.gatekeeper.sh/v1beta1",
            "kind": "K8sLabels",
            "metadata": {"name": "need-owner"},
            "spec": {"parameters": {"label": "owner"}},
        },
    ]


LABELS_RULE = """violation contains {"msg": sprintf("%s lacks %s", [input.review.object.metadata.labels.app, input.parameters.label])} if {
	not input.review.object.metadata.labels[input.parameters.label]
}
"""


class Counting:
    """A Rego program that counts the inputs it is asked to evaluate."""

    parallel_safe = False
    task_size = 0  # every batch through query_many, where it is counted

    def __init__(self, program: Any) -> None:
        self.program = program
        self.evaluated = 0

    def query_many(self, ref: str, inputs: Any, shared: Any = None) -> list[Any]:
        self.evaluated += len(inputs)
        return self.program.query_many(ref, inputs, shared)

    def close(self) -> None:
        self.program.close()


def _counting(docs: list[dict[str, Any]], engine: str) -> tuple[PolicySet, Counting]:
    policies = PolicySet.load(docs, engine)
    template = policies.templates["K8sLabels"]
    counter = Counting(template.program)
    policies.templates["K8sLabels"] = dataclasses.replace(template, program=counter)
    return policies, counter


def labelled(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}}


@pytest.mark.parametrize("engine", list(ENGINES))
def test_reviews_equal_in_what_the_template_reads_are_evaluated_once(engine: str) -> None:
    policies, counter = _counting(_labels_template(LABELS_RULE), engine)
    first = [Request(labelled(f"p{i}", app="web"), "ns", None) for i in range(3)]
    other = Request(labelled("q", app="db"), "ns", None)
    answers = policies.review_many([*first, other], cluster=False)
    assert [[r.msg for r in rs] for rs in answers] == [["web lacks owner"]] * 3 + [
        ["db lacks owner"]
    ]
    assert counter.evaluated == 2  # the name is never read; the labels are
    again = policies.review_many([Request(labelled("r", app="web"), "ns", None)], cluster=False)
    assert [r.msg for r in again[0]] == ["web lacks owner"]
    assert counter.evaluated == 2  # answered from the memo
    policies.close()


@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_template_reading_the_whole_input_is_reused_only_for_equal_reviews(engine: str) -> None:
    rule = LABELS_RULE + 'violation contains {"msg": "whole"} if count(input) < 0\n'
    policies, counter = _counting(_labels_template(rule), engine)
    requests = [Request(labelled(f"p{i % 2}", app="web"), "ns", None) for i in range(4)]
    policies.review_many(requests, cluster=False)
    assert counter.evaluated == 2  # p0 and p1 differ in their name, which is read now
    policies.close()


def test_impure_builtins_are_recognised() -> None:
    from policygen.engines.gatekeeper import IMPURE_BUILTINS

    for call in [
        "io.jwt.decode_verify(t, c)",
        "crypto.x509.parse_and_verify_certificates_with_options(a, b)",
        "http.send(r)",
    ]:
        assert IMPURE_BUILTINS.search(f"x := {call}"), call
    for call in [
        "time.now_ns()",  # the clock, which the evaluator sets (CLOCK)
        "time.parse_rfc3339_ns(s)",
        "io.jwt.decode(t)",
        "crypto.x509.parse_certificates(c)",
    ]:
        assert not IMPURE_BUILTINS.search(f"x := {call}"), call


@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_template_asking_the_engines_own_time_is_evaluated_afresh_each_call(
    engine: str,
) -> None:
    rule = LABELS_RULE + 'violation contains {"msg": "never"} if time.now_ns() < 0\n'
    policies, counter = _counting(_labels_template(rule), engine)
    for _ in range(2):
        policies.review_many([Request(labelled("p", app="web"), "ns", None)], cluster=False)
    assert counter.evaluated == 2
    policies.close()


@pytest.mark.parametrize("engine", list(ENGINES))
def test_the_clock_the_evaluator_sets_is_the_templates_and_keys_its_answers(
    engine: str,
) -> None:
    # 2027-03-31T23:59:59Z in nanoseconds: the instant itself is "not after".
    rule = LABELS_RULE + (
        'violation contains {"msg": "late"} if '
        'time.now_ns() > time.parse_rfc3339_ns("2027-03-31T23:59:59Z")\n'
    )
    policies, counter = _counting(_labels_template(rule), engine)
    at = 1806537599 * 1_000_000_000
    seen = []
    for clock in (at, at, at + 1_000_000_000, at):
        policies.clock_ns = clock
        [found] = policies.review_many(
            [Request(labelled("p", app="web"), "ns", None)], cluster=False
        )
        seen.append([r.msg for r in found if r.msg == "late"])
    assert seen == [[], [], ["late"], []]
    assert counter.evaluated == 2  # once per clock: the same clock's answer is kept
    policies.close()


def test_worker_processes_give_the_verdicts_of_this_process(
    example: config.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixtures, namespaces = builtin_corpus(example)
    reviews = [Review(f.obj, namespace_of(f.obj, "default")) for f in fixtures]
    ctx = EvalContext(NOW, namespaces)
    found = {}
    for workers in ("0", "2"):
        monkeypatch.setenv("POLICYGEN_OPA_WORKERS", workers)
        engine = GatekeeperEngine("opa", code="rego")
        found[workers] = engine.evaluate(example, reviews, ctx)
        pool = engine.policy_set(example, ctx).workers
        assert (pool is not None and pool.running) == (workers == "2")
        engine.policy_set(example, ctx).close()
    assert found["2"] == found["0"]
    assert sum(map(len, found["0"])) > len(reviews)  # the corpus has findings to agree on
