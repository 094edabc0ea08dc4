"""The reference model as an evaluator, so scan and test treat it like any engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from policygen import model
from policygen.config import Config
from policygen.engines import EvalContext, Review
from policygen.memo import MISSING, Memo
from policygen.violations import Violation

#: Shapes kept: a large repository's distinct pod specs, small enough that
#: memory stays flat on any scan.
MEMO_SIZE = 8192
#: namespaces and images judge keeps, at most
KEPT_SIZE = 65536


class ModelEngine:
    name = "model"
    per_rule = False

    def __init__(self, *, fast: bool = True) -> None:
        # The model's answer is a function of the config, the date and the
        # object's shape (model.Shape): workloads repeat their pod specs.
        # fast=False (the plain path) keeps nothing.
        self.fast = fast
        self._memo: Memo[model.Shape, list[Violation]] = Memo(MEMO_SIZE if fast else 0)
        #: namespaces' tenants and images' violations (model.judge)
        self._kept: model.Kept | None = {} if fast else None
        self._for: tuple[Config, dt.date] | None = None

    def evaluate(
        self, config: Config, reviews: Sequence[Review], ctx: EvalContext
    ) -> list[list[Violation]]:
        if self._for is None or self._for[0] is not config or self._for[1] != ctx.now:
            self._memo = Memo(MEMO_SIZE if self.fast else 0)
            self._kept = {} if self.fast else None
            self._for = (config, ctx.now)
        if self._kept is not None and len(self._kept) > KEPT_SIZE:
            self._kept.clear()  # memory stays flat: what is needed is soon kept again
        out = []
        for review in reviews:
            namespaces = ctx.namespaces
            if review.namespace_obj is not None:  # the request's own wins
                namespaces = {**namespaces, review.namespace: review.namespace_obj}
            mctx = model.Context(
                now=ctx.now, namespaces=namespaces, default_namespace=review.namespace
            )
            shape = model.shape_of(review.obj, mctx)
            found = self._memo.get(shape)
            if found is MISSING:
                found = self._memo.put(shape, model.judge(config, shape, ctx.now, self._kept))
            out.append(list(found))  # type: ignore[call-overload]
        return out
