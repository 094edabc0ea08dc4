"""The reuse layer (policygen/engines/reuse.py) wraps any engine from
outside, and the plain path leaves every reuse off."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest

from policygen import config
from policygen.engines import EvalContext, Review, create
from policygen.engines.gatekeeper import GatekeeperEngine
from policygen.engines.kyverno import KyvernoEngine
from policygen.engines.reuse import Reused
from policygen.engines.vap import VapEngine
from policygen.violations import Violation
from tests.conftest import NOW


class Counting:
    """A stand-in engine: one violation naming the request's namespace."""

    def __init__(self, pure: bool = True) -> None:
        self.pure = pure
        self.calls: list[int] = []
        self.closed = False

    def violations(self, reviews: Sequence[Review]) -> list[list[Violation]]:
        self.calls.append(len(reviews))
        return [[Violation("digest", "c", "", r.namespace, "deny")] for r in reviews]

    def close(self) -> None:
        self.closed = True


def pod(name: str = "p") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}}


def test_equal_requests_are_answered_once_in_a_call_and_across_calls() -> None:
    inner = Counting()
    reused = Reused(inner)
    reviews = [Review(pod(), "a"), Review(pod(), "a"), Review(pod(), "b")]
    first = reused.violations(reviews)
    assert [v[0].message for v in first] == ["a", "a", "b"]
    assert inner.calls == [2]
    assert reused.violations(reviews) == first
    assert inner.calls == [2]  # all from the memo


def test_everything_an_answer_depends_on_is_in_the_key() -> None:
    inner = Counting()
    reused = Reused(inner)
    base = Review(pod(), "a")
    variants = [
        base,
        Review(pod("q"), "a"),
        Review(pod(), "a", operation="UPDATE"),
        Review(pod(), "a", subresource="ephemeralcontainers"),
        Review(pod(), "a", old_obj=pod()),
        Review(pod(), "a", namespace_obj={"metadata": {"labels": {"x": "y"}}}),
    ]
    reused.violations(variants)
    assert inner.calls == [len(variants)]


def test_an_impure_engine_is_asked_every_time() -> None:
    inner = Counting(pure=False)
    reused = Reused(inner)
    for _ in range(2):
        reused.violations([Review(pod(), "a")])
    assert inner.calls == [1, 1]


def test_requests_go_to_the_engine_in_batches() -> None:
    inner = Counting()
    Reused(inner, batch=2).violations([Review(pod(str(i)), "a") for i in range(5)])
    assert inner.calls == [2, 2, 1]


def test_each_request_gets_its_own_list_and_close_reaches_the_engine() -> None:
    inner = Counting()
    reused = Reused(inner)
    one, two = reused.violations([Review(pod(), "a"), Review(pod(), "a")])
    one.clear()
    assert len(two) == 1
    assert len(reused.violations([Review(pod(), "a")])[0]) == 1
    reused.close()
    assert inner.closed


def test_an_engine_sees_the_namespace_object_of_the_context(example: config.Config) -> None:
    """The documents-in engine gets each request with its Namespace object."""
    engine = KyvernoEngine()
    seen: list[Review] = []
    policies = engine.policy_set(example, EvalContext(NOW, {}))
    original = policies.violations

    def spy(reviews: Sequence[Review]) -> list[list[Violation]]:
        seen.extend(reviews)
        return original(reviews)

    policies.violations = spy  # type: ignore[method-assign]
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    own = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "labels": {}}}
    engine.evaluate(
        example,
        [Review(pod("x"), "team-a"), Review(pod("y"), "team-a", namespace_obj=own)],
        EvalContext(NOW, {"team-a": ns}),
    )
    assert [r.namespace_obj for r in seen] == [ns, own]


def test_the_plain_path_reuses_nothing(
    example: config.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICYGEN_OPA_WORKERS", "2")
    ctx = EvalContext(NOW, {})
    plain = GatekeeperEngine("opa", fast=False)
    policies = plain.policy_set(example, ctx)
    assert (policies.workers, policies.plain, policies.answers.maxsize) == (None, True, 0)
    # no reuse layer around it: evaluate reaches the engine's own policies
    assert plain.loaded(example, ctx) is policies
    policies.close()
    kyverno = create("kyverno", fast=False)
    assert isinstance(kyverno, KyvernoEngine)
    assert kyverno.policy_set(example, ctx).memo.maxsize == 0
    fast = create("kyverno")
    assert isinstance(fast, KyvernoEngine)
    assert isinstance(fast.loaded(example, ctx), Reused)


def test_answers_are_reused_under_one_clock_only(example: config.Config) -> None:
    """An exemption lapses by the evaluation's clock, so a memo filled at
    one instant must not answer at another."""
    engine = create("vap")
    assert isinstance(engine, VapEngine)
    today = engine.loaded(example, EvalContext(NOW, {}))
    assert isinstance(today, Reused)
    assert engine.loaded(example, EvalContext(NOW, {})) is today
    tomorrow = engine.loaded(example, EvalContext(NOW + dt.timedelta(days=1), {}))
    assert isinstance(tomorrow, Reused) and tomorrow is not today
    assert tomorrow.inner is today.inner  # the same loaded policies
