"""policygen.apart: jobs in forked children give what they give here, and
their errors reach the error edge as they would have from here."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading

import pytest

from policygen import apart
from policygen.errors import EXIT_BUG, InputError, PolicygenError, Problem
from policygen.prove import prove_config
from tests.conftest import CORPUS, EXAMPLE, NOW, ROOT


def fresh(check: str) -> None:
    """Run ``check`` of this module in a fresh interpreter: children are
    forked only from a process with one thread, and by now pytest's may
    hold more (engines that other tests left loaded)."""
    code = f"import tests.test_apart as t; t.can_fork_here(); t.{check}()"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")


def can_fork_here() -> None:
    # CI and the development machine have two CPUs and Linux: the children
    # must really be forked there, or these checks prove nothing
    assert apart.can_fork()


def check_jobs_run_in_children_and_here_runs_here() -> None:
    told: list[str] = []
    results = apart.run(
        {"a": os.getpid, "b": lambda: [1, {"x": (2, 3)}]},
        {"here": os.getpid},
        lambda name, seconds: told.append(name),
    )
    assert list(results) == ["here", "a", "b"]
    assert results["here"] == os.getpid()
    assert results["a"] != os.getpid()
    assert results["b"] == [1, {"x": (2, 3)}]
    assert sorted(told) == ["a", "b", "here"]


def test_with_a_thread_running_everything_runs_here() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not apart.can_fork()
        assert apart.run({"a": os.getpid}, {}) == {"a": os.getpid()}
    finally:
        stop.set()
        thread.join()


def _input_error() -> None:
    raise InputError([Problem("f.yaml", 3, 4, "spec.x", "bad"), Problem("f.yaml", 1, 2, "y", "no")])


def check_a_childs_policygen_error_keeps_its_lines_and_exit_code() -> None:
    # InputError takes Problems but keeps a message: it does not pickle back
    with pytest.raises(PolicygenError) as raised:
        apart.run({"a": _input_error}, {})
    assert raised.value.problems_text() == ["f.yaml:1:2: y: no", "f.yaml:3:4: spec.x: bad"]
    assert raised.value.exit_code == 2


class _Odd(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a} and {b}")


def _odd() -> None:
    raise _Odd(1, 2)


def _missing() -> None:
    raise ModuleNotFoundError("No module named 'orjson'", name="orjson")


def check_a_childs_bug_is_the_same_bug_here() -> None:
    with pytest.raises(apart.RelayedBug) as raised:
        apart.run({"a": _odd}, {})
    assert (type(raised.value).__name__, str(raised.value)) == ("_Odd", "1 and 2")
    with pytest.raises(TypeError):  # the case it stands for: it does not unpickle
        pickle.loads(pickle.dumps(_Odd(1, 2)))
    # a missing module keeps its name: the edge names the requirement
    with pytest.raises(ModuleNotFoundError) as missing:
        apart.run({"a": _missing}, {})
    assert missing.value.name == "orjson"


def check_a_child_that_dies_is_a_bug_that_says_so() -> None:
    with pytest.raises(RuntimeError) as raised:
        apart.run({"gone": lambda: os._exit(9)}, {})
    assert str(raised.value) == (
        "the gone evaluator's process ended without answering (exit code 9)"
    )


def check_the_proof_apart_is_the_proof_here() -> None:
    from policygen import config

    loaded = config.load(EXAMPLE, today=NOW)
    from policygen.engines import EvalContext

    fixtures = [str(CORPUS)]
    here = prove_config(loaded, EvalContext(NOW), fixtures, builtin=False)
    there = prove_config(loaded, EvalContext(NOW), fixtures, builtin=False, apart=True)
    assert there.engines == here.engines
    assert [(r.fixture.source, r.by_engine, r.problems) for r in there.rows] == [
        (r.fixture.source, r.by_engine, r.problems) for r in here.rows
    ]
    assert len(here.rows) > 20


def test_exit_codes_cross_unchanged() -> None:
    relayed = apart.Relayed("m", ["m"], EXIT_BUG)
    back = pickle.loads(pickle.dumps(relayed))
    assert (back.problems_text(), back.exit_code, str(back)) == (["m"], EXIT_BUG, "m")


def test_jobs_run_in_children_and_here_runs_here() -> None:
    fresh("check_jobs_run_in_children_and_here_runs_here")


def test_a_childs_policygen_error_keeps_its_lines_and_exit_code() -> None:
    fresh("check_a_childs_policygen_error_keeps_its_lines_and_exit_code")


def test_a_childs_bug_is_the_same_bug_here() -> None:
    fresh("check_a_childs_bug_is_the_same_bug_here")


def test_a_child_that_dies_is_a_bug_that_says_so() -> None:
    fresh("check_a_child_that_dies_is_a_bug_that_says_so")


def test_the_proof_apart_is_the_proof_here() -> None:
    fresh("check_the_proof_apart_is_the_proof_here")
