"""Two real Rego engines behind one small interface.

OPA itself (``opa-golib-python-bindings``, Go's OPA compiled as a C library) is
preferred; ``regopy`` (rego-cpp) is the fallback pip can always install. The
generated Rego avoids ``with … as`` and unification comprehensions, which
regopy cannot run, so both give the same answers (tested)."""

from __future__ import annotations

import atexit
import contextlib
import json
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from policygen.errors import PolicygenError

if TYPE_CHECKING:
    from policygen.rego.pool import OpaPool

ENGINES = ("opa", "regopy")


class RegoError(PolicygenError):
    """A module failed to compile or a query failed to evaluate."""


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
        self._rego.set_input_term(json.dumps(input))
        try:
            out = self._rego.query(f"__x := {ref}")
        except ValueError as exc:  # regopy parses its own output as JSON
            raise RegoError(f"regopy returned output it cannot read: {exc}") from exc
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


def _try(query: Any, ref: str, item: Any) -> Any:
    try:
        return query(ref, item)
    except RegoError as exc:
        return exc


def available(engine: str) -> bool:
    try:
        if engine == "opa":
            import opa_bindings  # noqa: F401
        else:
            _import_regopy()
    except ImportError:
        return False
    return True


def resolve(engine: str) -> str:
    """``auto`` prefers OPA and falls back to regopy."""
    if engine == "auto":
        return "opa" if available("opa") else "regopy"
    if engine not in ENGINES:
        raise PolicygenError(f"--rego-engine: unknown engine '{engine}' (opa, regopy, auto)")
    if not available(engine):
        raise PolicygenError(f"--rego-engine {engine}: the engine is not installed")
    return engine


def compile_program(
    engine: str, modules: dict[str, str], data: Any = None, pool: OpaPool | None = None
) -> RegoProgram:
    """``data`` is merged into the data document (gator's ``data.inventory``);
    with a ``pool``, OPA evaluates large batches in its worker processes."""
    if engine != "opa":
        return RegopyProgram(modules, data)
    if pool is None:
        return OpaProgram(modules, data)
    from policygen.rego.pool import PooledOpaProgram

    return PooledOpaProgram(modules, data, pool)
