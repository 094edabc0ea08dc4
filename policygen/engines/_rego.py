"""Two real Rego engines behind one small interface.

OPA itself (``opa-golib-python-bindings``, Go's OPA compiled as a C library) is
preferred; ``regopy`` (rego-cpp) is the fallback pip can always install. The
generated Rego avoids ``with … as`` and unification comprehensions, which
regopy cannot run, so both give the same answers (tested)."""

from __future__ import annotations

import atexit
import json
import weakref
from typing import Any, Protocol

from policygen.errors import PolicygenError

ENGINES = ("opa", "regopy")


class RegoError(PolicygenError):
    """A module failed to compile or a query failed to evaluate."""


class RegoProgram(Protocol):
    def query(self, ref: str, input: Any) -> Any:
        """The value of ``ref`` for ``input``; None when undefined."""
        ...

    def close(self) -> None: ...


class OpaProgram:
    def __init__(self, modules: dict[str, str]) -> None:
        from opa_bindings import OpaEngine, OpaError

        self._error = OpaError
        self._engine = OpaEngine()
        try:
            for name, source in modules.items():
                self._engine.add_policy(name, source)
        except OpaError as exc:
            self._engine.close()
            raise RegoError(f"Rego does not compile under OPA: {exc}") from exc

    def query(self, ref: str, input: Any) -> Any:
        try:
            rows = self._engine.eval_query(f"__x := {ref}", input)
        except self._error as exc:
            raise RegoError(f"OPA evaluation failed: {exc}") from exc
        return rows[0]["__x"] if rows else None

    def close(self) -> None:
        self._engine.close()


_LIVE_REGOPY: weakref.WeakSet[RegopyProgram] = weakref.WeakSet()


@atexit.register
def _release_regopy() -> None:
    # regopy's Interpreter.__del__ fails with a traceback when it runs during
    # interpreter teardown (its module globals are gone); free them first.
    for program in list(_LIVE_REGOPY):
        program.close()


class RegopyProgram:
    def __init__(self, modules: dict[str, str]) -> None:
        import regopy

        self._rego: Any = regopy.Interpreter()
        _LIVE_REGOPY.add(self)
        for name, source in modules.items():
            try:
                self._rego.add_module(name, source)
            except Exception as exc:  # regopy raises bare RegoError types
                raise RegoError(f"Rego does not compile under regopy: {exc}") from exc

    def query(self, ref: str, input: Any) -> Any:
        self._rego.set_input_term(json.dumps(input))
        out = self._rego.query(f"__x := {ref}")
        text = str(out)
        if text == "undefined":
            return None
        if not out.ok():
            raise RegoError(f"regopy evaluation failed: {text}")
        return json.loads(text)["bindings"]["__x"]

    def close(self) -> None:
        self._rego = None


def available(engine: str) -> bool:
    try:
        if engine == "opa":
            import opa_bindings  # noqa: F401
        else:
            import regopy  # noqa: F401
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


def compile_program(engine: str, modules: dict[str, str]) -> RegoProgram:
    return OpaProgram(modules) if engine == "opa" else RegopyProgram(modules)
