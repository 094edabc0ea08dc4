"""OPA in worker processes: the same answers as in this process, started
only for large batches, and a clear error rather than a hang when a worker
dies."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import policygen
from policygen.errors import PolicygenError
from policygen.rego import pool as pool_module
from policygen.rego.errors import RegoError
from policygen.rego.pool import POOL_MIN, TASK_SIZE, OpaPool, PooledOpaProgram
from policygen.rego.programs import compile_program
from tests.rego.test_programs import MODULE

REF = "data.t.violation"


@pytest.fixture
def pool() -> Iterator[OpaPool]:
    workers = OpaPool(2)
    yield workers
    workers.close()


def inputs(count: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = [{"x": f"n{i}"} for i in range(count)]
    out[3] = {"x": "bad", "zero": 0}  # fails to evaluate: its slot holds the error
    return out


def test_workers_answer_as_this_process_does(pool: OpaPool) -> None:
    local = compile_program("opa", {"t.rego": MODULE})
    pooled = compile_program("opa", {"t.rego": MODULE}, pool=pool)
    batch = inputs(3 * TASK_SIZE + 5)
    expected = local.query_many(REF, batch, {"suffix": "!"})
    answers = pooled.query_many(REF, batch, {"suffix": "!"})
    assert pool.running
    assert [str(a) if isinstance(a, RegoError) else a for a in answers] == [
        str(a) if isinstance(a, RegoError) else a for a in expected
    ]
    assert answers[0] == [{"msg": "n0 !"}]
    assert isinstance(answers[3], RegoError)
    local.close()
    pooled.close()


def test_submitted_tasks_are_answered_in_any_order_of_waiting(pool: OpaPool) -> None:
    program = PooledOpaProgram({"t.rego": MODULE}, None, pool)
    pending = [
        program.submit(REF, [{"x": f"t{t}-{i}"} for i in range(POOL_MIN)], {"suffix": "?"})
        for t in range(6)
    ]
    for t in reversed(range(6)):
        assert pending[t].result()[-1] == [{"msg": f"t{t}-{POOL_MIN - 1} ?"}]


def test_a_small_batch_stays_in_this_process(pool: OpaPool) -> None:
    program = PooledOpaProgram({"t.rego": MODULE}, None, pool)
    assert program.query_many(REF, inputs(POOL_MIN - 1), {"suffix": "!"})[0] == [{"msg": "n0 !"}]
    assert program.submit(REF, [{"x": "a"}], {"suffix": "!"}).result() == [[{"msg": "a !"}]]
    assert not pool.running


def test_a_worker_that_dies_fails_the_batch_with_a_clear_error(pool: OpaPool) -> None:
    program = PooledOpaProgram({"t.rego": MODULE}, None, pool)
    program.query_many(REF, inputs(POOL_MIN), {"suffix": "!"})
    pool._workers[0].process.kill()
    with pytest.raises(RegoError, match=r"an OPA worker process stopped \(exit code -9\)"):
        program.query_many(REF, inputs(4 * TASK_SIZE), {"suffix": "!"})
    with pytest.raises(RegoError, match="stopped"):  # and every batch after it
        program.query_many(REF, inputs(POOL_MIN), {"suffix": "!"})


def test_close_ends_the_workers(pool: OpaPool) -> None:
    program = PooledOpaProgram({"t.rego": MODULE}, None, pool)
    program.query_many(REF, inputs(POOL_MIN), {"suffix": "!"})
    processes = [w.process for w in pool._workers]
    pool.close()
    assert [p.returncode for p in processes] == [0, 0]


def test_workers_get_a_gc_target_unless_the_user_set_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOGC", raising=False)
    assert pool_module.worker_environment()["GOGC"] == pool_module.WORKER_GOGC
    monkeypatch.setenv("GOGC", "150")
    assert pool_module.worker_environment()["GOGC"] == "150"


def test_workers_import_the_policygen_their_parent_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    root = str(Path(policygen.__file__).resolve().parent.parent)
    assert pool_module.worker_environment()["PYTHONPATH"] == f"{root}{os.pathsep}/elsewhere"


def test_worker_count_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "usable_cpus", lambda: 3)
    monkeypatch.delenv("POLICYGEN_OPA_WORKERS", raising=False)
    assert pool_module.worker_count() == 3
    monkeypatch.setattr(pool_module, "usable_cpus", lambda: 64)
    assert pool_module.worker_count() == pool_module.MAX_WORKERS == 4
    monkeypatch.setenv("POLICYGEN_OPA_WORKERS", "0")
    assert pool_module.worker_count() == 0
    monkeypatch.setenv("POLICYGEN_OPA_WORKERS", "many")
    with pytest.raises(PolicygenError, match="POLICYGEN_OPA_WORKERS: expected a number"):
        pool_module.worker_count()
    monkeypatch.delenv("POLICYGEN_OPA_WORKERS")
    monkeypatch.setattr(pool_module, "usable_cpus", lambda: 1)
    assert pool_module.worker_count() == 0
