"""Three real Rego engines behind one small interface.

OPA itself (``opa-golib-python-bindings``, Go's OPA compiled as a C library) is
preferred: it is what Gatekeeper runs. ``regorus`` (Microsoft's Rust engine,
the ``gordon-to-regorus`` wheel) is the fallback pip always installs; it also
parses Rego v0, which the OPA binding cannot (``policygen.rego.v0``).
``regopy`` (rego-cpp) is kept for comparison; it refuses the constructs it
is measured to get wrong (``policygen.rego.faults``)."""

from __future__ import annotations

import atexit
import contextlib
import json
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from policygen.errors import PolicygenError
from policygen.rego.errors import RegoError

if TYPE_CHECKING:
    from policygen.rego.pool import OpaPool

ENGINES = ("opa", "regorus", "regopy")


#: Inputs per OPA call when batching: large enough to amortise the call and
#: JSON crossing, small enough to keep one batch's results in memory.
BATCH_SIZE = 256


class Pending(Protocol):
    """An answer on its way."""

    def result(self) -> list[Any]: ...


class RegoProgram(Protocol):
    #: Whether programs may evaluate in parallel threads (the engine runs
    #: outside the GIL and one program's state is its own).
    parallel_safe: bool
    #: Inputs per task for ``submit``; 0 when evaluating as the caller goes
    #: gains nothing (the program evaluates in this process).
    task_size: int

    def query(self, ref: str, input: Any) -> Any:
        """The value of ``ref`` for ``input``; None when undefined."""
        ...

    def query_many(
        self, ref: str, inputs: Sequence[dict[str, Any]], shared: dict[str, Any] | None = None
    ) -> list[Any]:
        """``query`` for each input merged with ``shared``, in order; a failed
        input's slot holds its RegoError instead of a value."""
        ...

    def submit(
        self, ref: str, inputs: Sequence[dict[str, Any]], shared: dict[str, Any] | None = None
    ) -> Pending:
        """``query_many``, started now and answered later."""
        ...

    def close(self) -> None: ...


class _InProcess(ABC):
    """Programs that evaluate in this process, when asked: ``submit``
    answers at once."""

    task_size = 0

    @abstractmethod
    def query_many(
        self, ref: str, inputs: Sequence[dict[str, Any]], shared: dict[str, Any] | None = None
    ) -> list[Any]: ...

    def submit(
        self, ref: str, inputs: Sequence[dict[str, Any]], shared: dict[str, Any] | None = None
    ) -> Future[list[Any]]:
        future: Future[list[Any]] = Future()
        future.set_result(self.query_many(ref, inputs, shared))
        return future


class OpaProgram(_InProcess):
    parallel_safe = True  # Go code, called through ctypes without the GIL

    def __init__(self, modules: dict[str, str], data: Any = None) -> None:
        from opa_bindings import OpaEngine, OpaError

        self._error = OpaError
        self._engine = OpaEngine()
        try:
            for name, source in modules.items():
                self._engine.add_policy(name, source)
            if data:
                self._engine.add_data(data)
            # OPA compiles on the first query: compile now, so that a module
            # that does not compile is refused, not reported per review.
            self._engine.eval_query("__x := 1", {})
        except OpaError as exc:
            self._engine.close()
            raise RegoError(f"Rego does not compile under OPA: {exc}") from exc

    def query(self, ref: str, input: Any) -> Any:
        try:
            rows = self._engine.eval_query(f"__x := {ref}", input)
        except self._error as exc:
            raise RegoError(f"OPA evaluation failed: {exc}") from exc
        return rows[0]["__x"] if rows else None

    def query_many(
        self, ref: str, inputs: Sequence[dict[str, Any]], shared: dict[str, Any] | None = None
    ) -> list[Any]:
        # One call per batch: ``with input as`` swaps each input in inside
        # OPA, so the per-call cost is paid once per batch, not per input,
        # and ``shared`` crosses into Go once. Most of the cost of a call is
        # converting its input, so sending the shared part once matters.
        # An undefined value becomes [] rather than dropping its slot.
        query = (
            "__x := [__v | some __in in input.batch; "
            f"__v := [x | x := {ref} with input as object.union(__in, input.shared)]]"
        )
        shared = shared or {}
        out: list[Any] = []
        for start in range(0, len(inputs), BATCH_SIZE):
            chunk = list(inputs[start : start + BATCH_SIZE])
            try:
                rows = self._engine.eval_query(query, {"batch": chunk, "shared": shared})
                out.extend(v[0] if v else None for v in rows[0]["__x"])
            except self._error:
                # Find which inputs fail; the rest keep their answers.
                out.extend(_try(self.query, ref, {**item, **shared}) for item in chunk)
        return out

    def close(self) -> None:
        self._engine.close()


_LIVE_REGOPY: weakref.WeakSet[RegopyProgram] = weakref.WeakSet()


@atexit.register
def _release_regopy() -> None:
    # regopy's Interpreter.__del__ fails with a traceback when it runs during
    # interpreter teardown (its module globals are gone); free them first.
    for program in list(_LIVE_REGOPY):
        program.close()


def _import_regopy() -> Any:
    # regopy loads rego-cpp with its symbols global (RE2 and abseil among
    # them); a CEL runtime loaded afterwards would bind to those and crash
    # ("free(): invalid pointer"). Loading cel_expr_python first binds it to
    # its own.
    with contextlib.suppress(ImportError):  # the VAP engine needs it, not this one
        import cel_expr_python.cel  # noqa: F401
    import regopy

    return regopy


class RegopyProgram(_InProcess):
    parallel_safe = False  # rego-cpp's thread safety is not documented

    def __init__(self, modules: dict[str, str], data: Any = None) -> None:
        regopy = _import_regopy()

        self._rego: Any = regopy.Interpreter()
        # OPA halts on a built-in's error (and Gatekeeper fails closed on
        # it); regopy turns it into undefined unless told otherwise.
        self._rego.strict_built_in_errors = True
        _LIVE_REGOPY.add(self)
        try:
            for name, source in modules.items():
                self._rego.add_module(name, source)
            if data:
                self._rego.add_data_json(json.dumps(data))
        except Exception as exc:  # regopy raises bare RegoError types
            raise RegoError(f"Rego does not compile under regopy: {exc}") from exc

    def query(self, ref: str, input: Any) -> Any:
        from policygen.rego.faults import CLOCK_INPUT, clock_of

        ref, clock = clock_of(ref)
        if isinstance(input, dict):
            input = {**input, CLOCK_INPUT: time.time_ns() if clock is None else clock}
        self._rego.set_input_term(json.dumps(input))
        try:
            out = self._rego.query(f"__x := {ref}")
        except ValueError as exc:  # regopy parses its own output as JSON
            from policygen.rego.faults import EngineFault

            # Measured: sprintf("%v") of some strings keeps their quotes.
            raise EngineFault(f"regopy returned output it cannot read: {exc}") from exc
        text = str(out)
        if text == "undefined":
            return None
        if not out.ok():
            raise RegoError(f"regopy evaluation failed: {text}")
        return json.loads(text)["bindings"]["__x"]

    def query_many(
        self, ref: str, inputs: Sequence[dict[str, Any]], shared: dict[str, Any] | None = None
    ) -> list[Any]:
        # regopy crashes on ``with … as``: one query per input.
        return [_try(self.query, ref, {**item, **(shared or {})}) for item in inputs]

    def close(self) -> None:
        self._rego = None


class RegorusProgram(_InProcess):
    parallel_safe = False  # one Engine holds its input between calls

    def __init__(self, modules: dict[str, str], data: Any = None) -> None:
        import regorus

        from policygen.rego.v0 import brief

        self._brief = brief
        self._engine: Any = regorus.Engine()
        try:
            for name, source in modules.items():
                self._engine.add_policy(name, source)
            if data:
                self._engine.add_data_json(json.dumps(data))
        except RuntimeError as exc:
            raise RegoError(f"Rego does not compile under regorus: {brief(exc)}") from None

    def query(self, ref: str, input: Any) -> Any:
        try:
            self._engine.set_input_json(json.dumps(input))
            out = json.loads(self._engine.eval_query_as_json(f"__x := {ref}"))
        except RuntimeError as exc:
            raise RegoError(f"regorus evaluation failed: {self._brief(exc)}") from None
        rows = out.get("result") or []
        return rows[0]["bindings"]["__x"] if rows else None

    def query_many(
        self, ref: str, inputs: Sequence[dict[str, Any]], shared: dict[str, Any] | None = None
    ) -> list[Any]:
        return [_try(self.query, ref, {**item, **(shared or {})}) for item in inputs]

    def close(self) -> None:
        self._engine = None


def _try(query: Any, ref: str, item: Any) -> Any:
    """An evaluation error is an answer (Gatekeeper reports it as a
    result); an engine's own fault is not, and propagates."""
    from policygen.rego.faults import EngineFault

    try:
        return query(ref, item)
    except EngineFault:
        raise
    except RegoError as exc:
        return exc


def available(engine: str) -> bool:
    try:
        if engine == "opa":
            import opa_bindings  # noqa: F401
        elif engine == "regorus":
            import regorus  # noqa: F401
        else:
            _import_regopy()
    except ImportError:
        return False
    return True


def resolve(engine: str) -> str:
    """``auto`` prefers OPA and falls back to regorus, then regopy."""
    if engine == "auto":
        return next((e for e in ENGINES if available(e)), "regopy")
    if engine not in ENGINES:
        raise PolicygenError(
            f"--rego-engine: unknown engine '{engine}' ({', '.join(ENGINES)}, auto)"
        )
    if not available(engine):
        raise PolicygenError(f"--rego-engine {engine}: the engine is not installed")
    return engine


def compile_program(
    engine: str,
    modules: dict[str, str],
    data: Any = None,
    pool: OpaPool | None = None,
    *,
    v0: bool = False,
) -> RegoProgram:
    """``data`` is merged into the data document (gator's ``data.inventory``);
    with a ``pool``, OPA evaluates large batches in its worker processes.
    ``v0``: the modules are Rego v0, as Gatekeeper reads a template unless
    it says ``version: v1``: they are converted to the same program in v1
    syntax (checked with regorus's v0 and v1 parsers), or refused."""
    if v0:
        from policygen.rego.v0 import to_v1

        converted = {}
        for name, source in modules.items():
            try:
                converted[name] = to_v1(source)
            except RegoError as exc:
                raise RegoError(f"{name}: Rego v0 that cannot be read as v1: {exc}") from None
        modules = converted
    if engine in ("regorus", "regopy"):
        from policygen.rego.faults import prepare

        modules = {n: prepare(engine, n, m) for n, m in modules.items()}
        cls = RegorusProgram if engine == "regorus" else RegopyProgram
        return cls(modules, data)
    if pool is None:
        return OpaProgram(modules, data)
    from policygen.rego.pool import PooledOpaProgram

    return PooledOpaProgram(modules, data, pool)
