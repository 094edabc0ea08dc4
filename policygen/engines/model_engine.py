"""The reference model as an evaluator, so scan and test treat it like any engine."""

from __future__ import annotations

from collections.abc import Sequence

from policygen import model
from policygen.config import Config
from policygen.engines import EvalContext, Review
from policygen.violations import Violation


class ModelEngine:
    name = "model"
    per_rule = False

    def evaluate(
        self, config: Config, reviews: Sequence[Review], ctx: EvalContext
    ) -> list[list[Violation]]:
        out = []
        for review in reviews:
            namespaces = ctx.namespaces
            if review.namespace_obj is not None:  # the request's own wins
                namespaces = {**namespaces, review.namespace: review.namespace_obj}
            mctx = model.Context(
                now=ctx.now, namespaces=namespaces, default_namespace=review.namespace
            )
            out.append(model.evaluate(config, review.obj, mctx))
        return out
