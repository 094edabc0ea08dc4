"""Evaluators that share nothing, answering side by side in forked processes.

``policygen test`` asks every engine the same questions and the engines
share nothing, so on a machine with more than one CPU each can answer in a
process of its own: the proof then takes about as long as its slowest
engine rather than all of them together. Each child is forked before its
evaluator has loaded anything, and only while this process has a single
thread (no Go runtime, no worker threads: forking those is unsafe); it
evaluates, sends its answers back and exits. Otherwise the jobs run here,
one after the other, with the same answers.

A child's error comes back as what the CLI would have shown for it here:
a PolicygenError's lines and exit code, or a bug's type and message."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from policygen.errors import PolicygenError

T = TypeVar("T")

#: Told (job, seconds) as each job finishes.
Done = Callable[[str, float], None]


def can_fork() -> bool:
    """Whether jobs may run in forked children here: Linux's fork, more
    than one usable CPU, and this process's only thread is this one."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        return len(os.sched_getaffinity(0)) > 1 and len(os.listdir("/proc/self/task")) == 1
    except (AttributeError, OSError):  # not Linux
        return False


def run(
    jobs: Mapping[str, Callable[[], T]],
    here: Mapping[str, Callable[[], T]],
    done: Done | None = None,
) -> dict[str, T]:
    """Every job's result by name: ``jobs`` in forked children when
    ``can_fork()``, ``here`` in this process meanwhile (in order). Without
    fork, all of them here in order."""
    if not jobs or not can_fork():
        return {name: _timed(name, job, done) for name, job in {**here, **jobs}.items()}
    # Buffered output would be written again by each child as it exits.
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    context = multiprocessing.get_context("fork")
    children: dict[Connection, tuple[str, Any]] = {}
    results: dict[str, T] = {}
    try:
        for name, job in jobs.items():
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_child, args=(job, send))
            child.start()
            send.close()
            children[receive] = (name, child)
        for name, job in here.items():
            results[name] = _timed(name, job, done)
        pending = dict(children)
        while pending:
            for ready in wait(list(pending)):
                assert isinstance(ready, Connection)
                name, child = pending.pop(ready)
                results[name] = _received(name, ready, child, done)
    finally:
        for receive, (_, child) in children.items():
            receive.close()
            if child.is_alive():
                child.terminate()
            child.join()
    return {name: results[name] for name in [*here, *jobs]}


def _timed(name: str, job: Callable[[], T], done: Done | None) -> T:
    start = time.perf_counter()
    result = job()
    if done is not None:
        done(name, time.perf_counter() - start)
    return result


def _child(job: Callable[[], Any], send: Connection) -> None:
    start = time.perf_counter()
    try:
        outcome: tuple[str, Any] = ("ok", (job(), time.perf_counter() - start))
    except BaseException as exc:  # everything goes back to the parent's edge
        if os.environ.get("POLICYGEN_DEBUG") and not isinstance(exc, PolicygenError):
            traceback.print_exception(exc)
        outcome = _portable(exc)
    send.send_bytes(pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL))
    send.close()


def _received(name: str, conn: Connection, child: Any, done: Done | None) -> Any:
    try:
        kind, value = pickle.loads(conn.recv_bytes())
    except EOFError:
        child.join()
        raise RuntimeError(
            f"the {name} evaluator's process ended without answering (exit code {child.exitcode})"
        ) from None
    if kind == "error":
        raise value
    if kind == "bug":
        type_name, text = value
        # the same "TypeName: message" at the edge as the child's own
        raise type(type_name, (RelayedBug,), {})(text)
    result, seconds = value
    if done is not None:
        done(name, seconds)
    return result


class Relayed(PolicygenError):
    """A child's PolicygenError as the CLI shows it: its lines, its exit
    code (its own class may not survive pickling: many take other
    arguments than they keep)."""

    def __init__(self, message: str, problems: list[str], exit_code: int) -> None:
        super().__init__(message)
        self.problems = problems
        self.exit_code = exit_code

    def __reduce__(self) -> tuple[Any, ...]:
        return (Relayed, (self.message, self.problems, self.exit_code))

    def problems_text(self) -> list[str]:
        return list(self.problems)


class RelayedBug(Exception):
    """A child's exception that does not survive pickling, by its text."""


def _portable(exc: BaseException) -> tuple[str, Any]:
    """What the parent raises for ``exc``, such that its error edge says
    the same about it as it would have said in the child."""
    if isinstance(exc, PolicygenError):
        return "error", Relayed(str(exc), exc.problems_text(), exc.exit_code)
    try:
        back = pickle.loads(pickle.dumps(exc))
        if type(back) is type(exc) and str(back) == str(exc):
            return "error", exc
    except Exception:  # not picklable: sent as its text below
        pass
    return "bug", (type(exc).__name__, str(exc))
