"""Every evaluator × every corpus agrees with the model (tests/harness.py)."""

from __future__ import annotations

import pytest

from policygen.engines import names
from policygen.targets import registry
from tests import harness


@pytest.mark.parametrize("corpus", list(harness.CORPORA))
@pytest.mark.parametrize("evaluator", list(harness.EVALUATORS))
def test_evaluator_agrees_with_the_model_on_corpus(evaluator: str, corpus: str) -> None:
    assert harness.disagreeing(evaluator, corpus) == {}


def test_every_target_has_an_evaluator_in_the_harness() -> None:
    assert {target for target, _ in harness.EVALUATORS.values()} == set(registry())
    # and each of its variants (gatekeeper-rego) too
    made = {make().name for _, make in harness.EVALUATORS.values()}
    assert made == set(names()) - {"model"}


def test_the_harness_sees_a_disagreement(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that forgets one rule is caught, object by object."""
    target, make = harness.EVALUATORS["vap"]

    class Forgetful:
        def __init__(self) -> None:
            self.real = make()
            self.name = self.real.name
            self.per_rule = self.real.per_rule

        def evaluate(self, cfg, reviews, ctx):  # type: ignore[no-untyped-def]
            found = self.real.evaluate(cfg, reviews, ctx)
            return [[v for v in vs if v.rule != "digest"] for vs in found]

    monkeypatch.setitem(harness.EVALUATORS, "vap", (target, Forgetful))
    missed = harness.disagreeing("vap", "fixtures")
    assert missed  # the corpus has unpinned images
    assert all(p.startswith("missing: rule digest") for ps in missed.values() for p in ps)
