"""The model as an evaluator: answers kept by shape are the model's own."""

from __future__ import annotations

import copy
import random
from typing import Any

from policygen import config, model
from policygen.engines import EvalContext, Review, create
from policygen.fixtures import builtin_corpus
from tests.conftest import NOW
from tests.test_model import CONFIG, ns, pod


def reviews_of(objs: list[dict[str, Any]]) -> list[Review]:
    return [Review(o, (o.get("metadata") or {}).get("namespace", "default")) for o in objs]


def test_kept_answers_are_the_models_for_every_fixture(example: config.Config) -> None:
    fixtures, namespaces = builtin_corpus(example)
    objs = [f.obj for f in fixtures]
    # each object twice, renamed and relabelled: the second is answered by shape
    twins = []
    for obj in objs:
        twin = copy.deepcopy(obj)
        twin.setdefault("metadata", {})["name"] = "twin"
        twin["metadata"]["labels"] = {"copy": "yes"}
        twins.append(twin)
    every = objs + twins
    random.Random(7).shuffle(every)
    ctx = EvalContext(NOW, namespaces)
    engine = create("model")
    got = engine.evaluate(example, reviews_of(every), ctx)
    for obj, answer in zip(every, got, strict=True):
        mctx = model.Context(now=NOW, namespaces=namespaces, default_namespace="default")
        assert answer == model.evaluate(example, obj, mctx)
    assert create("model", fast=False).evaluate(example, reviews_of(every), ctx) == got


def test_the_shape_holds_what_the_model_reads() -> None:
    selectors = config.parse(CONFIG, "t.yaml", today=NOW)
    engine = create("model")
    obj = pod("apps", {"name": "a", "image": "ghcr.io/red/a:1"})
    other_image = pod("apps", {"name": "a", "image": "ghcr.io/blue/a:1"})
    other_name = pod("apps", {"name": "b", "image": "ghcr.io/red/a:1"})
    red = EvalContext(NOW, {"apps": ns("apps", env="prod", tenant="red")})
    blue = EvalContext(NOW, {"apps": ns("apps", env="prod", **{"tenant-blue": ""})})
    unknown = EvalContext(NOW, {})
    for ctx in (red, blue, unknown, red):
        for o in (obj, other_image, other_name, obj):
            mctx = model.Context(now=NOW, namespaces=ctx.namespaces)
            want = model.evaluate(selectors, o, mctx)
            assert engine.evaluate(selectors, reviews_of([o]), ctx) == [want]
    a, b = (model.shape_of(o, model.Context(NOW, red.namespaces)) for o in (obj, other_name))
    assert a != b  # the container's name is in its messages
