"""OPA in worker processes, for batches large enough to pay for them.

In one process OPA cannot use the machine: Python holds the GIL while it
prepares reviews, and Go's collector, sized for a heap of a few megabytes,
runs every few milliseconds. Go reads its ``GOGC`` only from the
environment a process starts with, so a worker process is the one place
policygen can set it. Each worker runs the same ``OpaProgram`` on the same
modules, so its answers are the in-process ones (tested).

Small batches stay in-process: a single review never starts a worker.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import itertools
import os
import selectors
import subprocess
import sys
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from policygen.errors import PolicygenError
from policygen.rego.errors import RegoError
from policygen.rego.programs import OpaProgram, Pending
from policygen.rego.worker import frame, unframe

#: Inputs per task sent to a worker: enough to amortise a round trip, few
#: enough that the workers of a pool share a batch evenly.
TASK_SIZE = 32
#: Below this many inputs a batch is evaluated in this process.
POOL_MIN = TASK_SIZE
#: Tasks a worker holds at once. This process hands out tasks and takes
#: answers only when it submits or waits (no threads, so no fight for the
#: GIL with the code preparing reviews); a worker with tasks in hand keeps
#: evaluating in between.
DEPTH = 4
#: Workers at most, however many CPUs: one process prepares the reviews for
#: all of them, and beyond about four it cannot keep more busy (each holds
#: about 50 MiB).
MAX_WORKERS = 4
#: Go's GC target for workers unless the user sets GOGC: the heap may grow
#: to five times what is live before a collection.
WORKER_GOGC = "400"


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count() -> int:
    """``POLICYGEN_OPA_WORKERS`` if set (0: OPA stays in this process),
    else one per usable CPU up to MAX_WORKERS, none on a single CPU."""
    setting = os.environ.get("POLICYGEN_OPA_WORKERS", "").strip()
    if setting:
        try:
            return max(0, int(setting))
        except ValueError:
            raise PolicygenError(
                f"POLICYGEN_OPA_WORKERS: expected a number of processes, got '{setting}'"
            ) from None
    cpus = usable_cpus()
    return min(cpus, MAX_WORKERS) if cpus > 1 else 0


def worker_environment() -> dict[str, str]:
    """The environment workers start with: this one, with Go's GC target
    set unless the user set one, and this policygen first on the path (the
    worker must run the code its parent runs, installed or not)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "GOGC": os.environ.get("GOGC", WORKER_GOGC), "PYTHONPATH": path}


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    compiled: set[int] = field(default_factory=set)
    #: Bytes not yet written to the worker, and bytes read but not yet whole messages.
    outgoing: bytearray = field(default_factory=bytearray)
    incoming: bytearray = field(default_factory=bytearray)
    #: The futures of the requests sent, in order (a worker answers in
    #: order), each with whether it is a task (compile requests are not).
    sent: collections.deque[tuple[Future[Any], bool]] = field(default_factory=collections.deque)
    tasks: int = 0

    def send(self, request: tuple[Any, ...], future: Future[Any], task: bool) -> None:
        self.sent.append((future, task))
        self.outgoing += frame(request)
        self.tasks += task


_Task = tuple[int, tuple[Any, ...], "Future[Any]"]

_LIVE: weakref.WeakSet[OpaPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_LIVE):
        pool.close()


class Answer:
    """A task's answer: waiting for it keeps the pool's workers fed."""

    def __init__(self, pool: OpaPool, future: Future[list[Any]]) -> None:
        self._pool = pool
        self._future = future

    def result(self) -> list[Any]:
        while not self._future.done():
            self._pool.pump(wait=True)
        return self._future.result()


class OpaPool:
    """Worker processes, started at the first task. Tasks wait in a queue
    until a worker has fewer than DEPTH in hand."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._programs: dict[int, tuple[dict[str, str], Any]] = {}
        self._ids = itertools.count()
        self._queue: collections.deque[_Task] = collections.deque()
        self._workers: list[_Worker] = []
        self._selector = selectors.DefaultSelector()
        self._lock = threading.RLock()  # one thread pumps at a time
        self._broken: RegoError | None = None
        _LIVE.add(self)

    @property
    def running(self) -> bool:
        return bool(self._workers)

    def register(self, modules: dict[str, str], data: Any) -> int:
        pid = next(self._ids)
        self._programs[pid] = (dict(modules), data)
        return pid

    def submit(
        self, pid: int, ref: str, inputs: Sequence[dict[str, Any]], shared: dict[str, Any]
    ) -> Answer:
        """One task: its answer is ``query_many``'s."""
        future: Future[list[Any]] = Future()
        with self._lock:
            self._start()
            self._queue.append((pid, ("query", pid, ref, list(inputs), shared), future))
            self.pump(wait=False)
        return Answer(self, future)

    def query_many(
        self, pid: int, ref: str, inputs: Sequence[dict[str, Any]], shared: dict[str, Any]
    ) -> list[Any]:
        answers = [
            self.submit(pid, ref, inputs[start : start + TASK_SIZE], shared)
            for start in range(0, len(inputs), TASK_SIZE)
        ]
        return [value for answer in answers for value in answer.result()]

    def _start(self) -> None:
        if self._broken is not None:
            raise self._broken
        if self._workers:
            return
        env = worker_environment()
        argv = [sys.executable, "-m", "policygen.rego.worker"]
        for _ in range(self.size):
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
            assert process.stdin is not None and process.stdout is not None
            os.set_blocking(process.stdin.fileno(), False)
            os.set_blocking(process.stdout.fileno(), False)
            worker = _Worker(process)
            self._workers.append(worker)
            self._selector.register(process.stdout, selectors.EVENT_READ, worker)

    def pump(self, wait: bool) -> None:
        """Hand out queued tasks, write what the pipes take and read the
        answers that have come; with ``wait``, first block until one of
        those can happen."""
        with self._lock:
            if self._broken is not None:
                self._fail_all()
                return
            self._hand_out()
            self._flush()
            ready = self._selector.select(timeout=0)
            if wait and not ready:
                self._block()
                self._flush()
                ready = self._selector.select(timeout=0)
            for key, _ in ready:
                self._read(key.data)

    def _hand_out(self) -> None:
        for worker in self._workers:
            while self._queue and worker.tasks < DEPTH:
                pid, request, future = self._queue.popleft()
                if pid not in worker.compiled:
                    modules, data = self._programs[pid]
                    worker.send(("compile", pid, modules, data), Future(), task=False)
                    worker.compiled.add(pid)
                worker.send(request, future, task=True)

    def _flush(self) -> None:
        for worker in self._workers:
            if not worker.outgoing:
                continue
            stdin = worker.process.stdin
            assert stdin is not None
            try:
                written = os.write(stdin.fileno(), worker.outgoing)
            except BlockingIOError:
                continue
            except OSError:
                self._stopped(worker)
                return
            del worker.outgoing[:written]

    def _block(self) -> None:
        """Until an answer comes in or a pipe with bytes waiting takes more."""
        with selectors.DefaultSelector() as waiting:
            for worker in self._workers:
                waiting.register(worker.process.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
                if worker.outgoing:
                    waiting.register(worker.process.stdin, selectors.EVENT_WRITE)  # type: ignore[arg-type]
            waiting.select()

    def _read(self, worker: _Worker) -> None:
        stdout = worker.process.stdout
        assert stdout is not None
        try:
            data = os.read(stdout.fileno(), 1 << 20)
        except BlockingIOError:
            return
        if not data:
            self._stopped(worker)
            return
        worker.incoming += data
        for status, value in unframe(worker.incoming):
            future, task = worker.sent.popleft()
            worker.tasks -= task
            if status == "ok":
                future.set_result(value)
            else:
                future.set_exception(RegoError(f"an OPA worker process failed: {value}"))

    def _stopped(self, worker: _Worker) -> None:
        """A worker that ended takes the pool with it: every task fails at
        once rather than wait for answers that never come."""
        code = worker.process.wait()
        self._broken = self._broken or RegoError(
            f"an OPA worker process stopped (exit code {code}); see its output above"
        )
        self._fail_all()

    def _fail_all(self) -> None:
        assert self._broken is not None
        for worker in self._workers:
            while worker.sent:
                future, _ = worker.sent.popleft()
                if not future.done():
                    future.set_exception(self._broken)
            worker.tasks = 0
        while self._queue:
            self._queue.popleft()[2].set_exception(self._broken)

    def close(self) -> None:
        with self._lock:
            self._broken = self._broken or RegoError("the OPA worker pool is closed")
            for worker in self._workers:
                _close_stream(worker.process.stdin)
            for worker in self._workers:
                try:
                    worker.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    worker.process.wait()
                _close_stream(worker.process.stdout)
            self._fail_all()
            self._workers.clear()
            self._selector.close()


def _close_stream(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError):
            stream.close()


class PooledOpaProgram:
    """An ``OpaProgram`` in this process for single queries and small
    batches, and the same program in a pool's workers for large ones."""

    parallel_safe = True
    task_size = TASK_SIZE

    def __init__(self, modules: dict[str, str], data: Any, pool: OpaPool) -> None:
        self._local = OpaProgram(modules, data)  # compile errors surface here
        self._pool = pool
        self._pid = pool.register(modules, data)

    def query(self, ref: str, input: Any) -> Any:
        return self._local.query(ref, input)

    def query_many(
        self, ref: str, inputs: Sequence[dict[str, Any]], shared: dict[str, Any] | None = None
    ) -> list[Any]:
        if not self._worth_sending(inputs):
            return self._local.query_many(ref, inputs, shared)
        return self._pool.query_many(self._pid, ref, inputs, shared or {})

    def submit(
        self, ref: str, inputs: Sequence[dict[str, Any]], shared: dict[str, Any] | None = None
    ) -> Pending:
        if not self._worth_sending(inputs):
            return self._local.submit(ref, inputs, shared)
        return self._pool.submit(self._pid, ref, inputs, shared or {})

    def _worth_sending(self, inputs: Sequence[Any]) -> bool:
        """Workers start for a large batch; once running they take any."""
        return self._pool.running or len(inputs) >= POOL_MIN

    def close(self) -> None:
        self._local.close()
