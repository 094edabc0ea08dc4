"""The agreement harness: every evaluator × every corpus, against the model.

An evaluator is listed once in ``EVALUATORS`` (a name and how to make it),
a corpus once in ``CORPORA`` (a config and the objects with the Namespaces
they see); ``tests/test_harness.py`` runs each pair. An engine reviews a
corpus in one batch, as ``policygen test`` and ``scan`` call it, and each
object's answer must agree with the model's (``policygen.agreement``: per
container, or per rule for engines that stop a rule at its first failing
container). A config a target cannot express (``pullPolicy: mutate`` for a
target that does not mutate) is given that target with ``warn`` instead,
as the config check would demand.

A new evaluator, or a second path through one (a batched or memoised
wrapper beside the plain engine), is one line in ``EVALUATORS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from policygen import config, model
from policygen.agreement import disagreements
from policygen.engines import EvalContext, Evaluator, Review, create
from policygen.targets import registry
from policygen.workloads import namespace_of
from tests import golden
from tests.conftest import EXAMPLE, NOW
from tests.corpus import case_id, cases


@dataclass(frozen=True)
class Corpus:
    config_text: str
    objects: list[tuple[str, dict[str, Any]]]  # (id, object)
    namespaces: dict[str, dict[str, Any]]

    def config_for(self, target: str) -> config.Config:
        """The corpus's config with only ``target`` selected ("model": as
        written), and a pull-policy action the target can render."""
        text = self.config_text
        if target != "model":
            caps = registry()[target].capabilities
            text = _only_target(text, target)
            if not caps.mutates:
                text = text.replace("pullPolicy: {action: mutate}", "pullPolicy: {action: warn}")
        return config.parse(text, "corpus.yaml", today=NOW)


def _only_target(text: str, target: str) -> str:
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("  targets: ["):
            lines[i] = f"  targets: [{target}]\n"
            return "".join(lines)
    raise AssertionError("the corpus config has no one-line targets list")


def _fixture_corpus() -> Corpus:
    return Corpus(EXAMPLE.read_text(), [(case_id(c), c.obj) for c in cases()], {})


def _selector_corpus() -> Corpus:
    from tests.engines.test_gatekeeper import SELECTOR_NAMESPACES, SELECTOR_OBJECTS

    objects = [
        (f"{o['kind']}-{o['metadata']['namespace']}-{i}", o) for i, o in enumerate(SELECTOR_OBJECTS)
    ]
    text = golden.cases()["mutate-selectors"].read_text()
    return Corpus(text, objects, dict(SELECTOR_NAMESPACES))


#: corpus name → how to build it
CORPORA: dict[str, Callable[[], Corpus]] = {
    "fixtures": _fixture_corpus,  # tests/fixtures/corpus under the example config
    "selectors": _selector_corpus,  # tenants and scope by labels, mutation, exemptions
}

#: evaluator name → (the target whose config it evaluates, how to make it)
EVALUATORS: dict[str, tuple[str, Callable[[], Evaluator]]] = {
    "kyverno": ("kyverno", lambda: create("kyverno")),
    "kyverno-cel": ("kyverno-cel", lambda: create("kyverno-cel")),
    "vap": ("vap", lambda: create("vap")),
    # each template's K8sNativeValidation entry, as the cluster runs it
    "gatekeeper": ("gatekeeper", lambda: create("gatekeeper")),
    # and its Rego entry, as Gatekeeper runs it with the CEL driver off
    "gatekeeper-rego[opa]": ("gatekeeper", lambda: create("gatekeeper-rego", rego_engine="opa")),
    "gatekeeper-rego[regorus]": (
        "gatekeeper",
        lambda: create("gatekeeper-rego", rego_engine="regorus"),
    ),
    "gatekeeper-rego[regopy]": (
        "gatekeeper",
        lambda: create("gatekeeper-rego", rego_engine="regopy"),
    ),
    # the plain path: no reuse layer, no memos, no worker processes
    "kyverno[plain]": ("kyverno", lambda: create("kyverno", fast=False)),
    "kyverno-cel[plain]": ("kyverno-cel", lambda: create("kyverno-cel", fast=False)),
    "vap[plain]": ("vap", lambda: create("vap", fast=False)),
    "gatekeeper[plain]": ("gatekeeper", lambda: create("gatekeeper", fast=False)),
    "gatekeeper-rego[opa,plain]": (
        "gatekeeper",
        lambda: create("gatekeeper-rego", rego_engine="opa", fast=False),
    ),
}


def disagreeing(evaluator: str, corpus: str) -> dict[str, list[str]]:
    """Each object of ``corpus`` on which ``evaluator`` and the model
    disagree, with how; empty when they agree on every one."""
    target, make = EVALUATORS[evaluator]
    data = CORPORA[corpus]()
    cfg = data.config_for(target)
    engine = make()
    reviews = [Review(obj, namespace_of(obj, "default")) for _, obj in data.objects]
    got = engine.evaluate(cfg, reviews, EvalContext(NOW, data.namespaces))
    assert len(got) == len(reviews)
    out = {}
    for (ident, obj), review, found in zip(data.objects, reviews, got, strict=True):
        want = model.evaluate(cfg, obj, model.Context(now=NOW, namespaces=data.namespaces))
        known = review.namespace in data.namespaces
        problems = disagreements(want, found, per_rule=engine.per_rule, namespace_known=known)
        if problems:
            out[ident] = problems
    return out
