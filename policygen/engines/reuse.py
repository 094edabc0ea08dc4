"""The reuse layer: any engine's loaded policies, made cheaper from outside.

An answer is a function of the policies and the request alone (for an
engine whose ``pure`` says so), so equal requests are evaluated once: in
one call, and across calls through a bounded memo (a scan of a large
repository meets the same Pods again and again). What is left goes to the
engine in batches, so that an engine that works best on many requests at
once (OPA's worker processes) gets them together while memory stays
bounded. The engine never knows: without this layer it gives the same
answers, which the differential test checks."""

from __future__ import annotations

from collections.abc import Sequence

from policygen.engines import Loaded, Review
from policygen.memo import MISSING, Memo, fingerprint
from policygen.violations import Violation

#: answers kept across calls: the distinct requests of a large repository
MEMO_SIZE = 16384
#: requests sent to the engine at once
BATCH = 4096


def request_key(review: Review) -> bytes:
    """Everything an answer can depend on, as one short key."""
    return fingerprint(
        (
            review.obj,
            review.namespace,
            review.operation,
            review.subresource,
            review.old_obj,
            review.namespace_obj,
        )
    )


class Reused:
    """``inner`` with equal requests answered once and the rest batched."""

    def __init__(self, inner: Loaded, memo_size: int = MEMO_SIZE, batch: int = BATCH) -> None:
        self.inner = inner
        self.pure = inner.pure
        self.batch = batch
        self._memo: Memo[bytes, list[Violation]] = Memo(memo_size if inner.pure else 0)

    def violations(self, reviews: Sequence[Review]) -> list[list[Violation]]:
        keys = [request_key(r) for r in reviews]
        answers: dict[bytes, list[Violation]] = {}
        todo: dict[bytes, Review] = {}
        for key, review in zip(keys, reviews, strict=True):
            if key in answers or key in todo:
                continue
            hit = self._memo.get(key)
            if hit is MISSING:
                todo[key] = review
            else:
                answers[key] = hit  # type: ignore[assignment]
        pending = list(todo.items())
        for start in range(0, len(pending), self.batch):
            part = pending[start : start + self.batch]
            found = self.inner.violations([review for _, review in part])
            for (key, _), violations in zip(part, found, strict=True):
                answers[key] = self._memo.put(key, violations)
        # a fresh list per request: callers may extend what they are given
        return [list(answers[key]) for key in keys]

    def close(self) -> None:
        self.inner.close()
