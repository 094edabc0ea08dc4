"""Rego v0 as Gatekeeper reads a template: each v0 reading that differs from
v1 gives OPA's v0 answer under every engine, and what cannot be read the
same way is refused."""

from __future__ import annotations

import pytest

from policygen.rego.errors import RegoError
from policygen.rego.programs import compile_program
from policygen.rego.v0 import split_chained_bodies, to_v1

ENGINES = ["opa", "regorus", "regopy"]


def answer(engine: str, module: str, ref: str, input: object = None) -> object:
    program = compile_program(engine, {"m.rego": module}, v0=True)
    try:
        return program.query(ref, input or {})
    finally:
        program.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_partial_set_with_two_bodies_has_both_members(engine: str) -> None:
    module = "package m\n\nv[x] {\n  x := input.a\n} {\n  x := input.b\n}\n"
    got = answer(engine, module, "data.m.v", {"a": "one", "b": "two"})
    assert sorted(got) == ["one", "two"]  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_function_with_two_bodies_holds_when_either_does(engine: str) -> None:
    # regorus alone would read the second body as an else and miss f(2).
    module = 'package m\n\nf(x) = "small" { x == 1 } { x == 2 }\n'
    assert answer(engine, module, "[data.m.f(1), data.m.f(2)]") == ["small", "small"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_function_head_without_body_is_true(engine: str) -> None:
    module = 'package m\n\nok("any", _)\nok("even", n) := n % 2 == 0\n\nv[n] { n := input.n[_]; ok(input.rule, n) }\n'
    assert answer(engine, module, "data.m.v", {"rule": "any", "n": [1, 2]}) == [1, 2]


@pytest.mark.parametrize("engine", ENGINES)
def test_else_with_and_without_a_body(engine: str) -> None:
    module = (
        "package m\n\n"
        'size := "big" { input.n > 10 } else := sprintf("mid %v", [input.n]) {\n'
        "  input.n > 5\n"
        '} else := "small"\n'
    )
    assert [answer(engine, module, "data.m.size", {"n": n}) for n in (11, 6, 1)] == [
        "big",
        "mid 6",
        "small",
    ]


def test_the_v1_text_is_the_same_program() -> None:
    module = 'package m\n\nv[{"msg": m}] { m := "a" } { m := "b" }\nok(_)\n'
    assert to_v1(module) == (
        'package m\n\nv contains {"msg": m} if { m := "a" } \n'
        'v contains {"msg": m} if { m := "b" }\nok(_) = true\n'
    )


def test_braces_inside_strings_and_values_are_not_bodies() -> None:
    module = 'package m\n\np = {"k": "} {"} { true }\nq := 1\n'
    assert split_chained_bodies(module) == module


def test_v0_that_does_not_read_as_v1_is_refused() -> None:
    # ``if`` is a plain name in v0 and a keyword in v1.
    with pytest.raises(RegoError, match="Rego v0 that cannot be read as v1"):
        compile_program("opa", {"m.rego": "package m\n\np { if := 1; if == 1 }\n"}, v0=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_re_match_is_regex_match(engine: str) -> None:
    module = 'package m\n\np { re_match("^a", input.s) }\n'
    assert answer(engine, module, "data.m.p", {"s": "ab"}) is True
    assert answer(engine, module, "data.m.p", {"s": "ba"}) is None


@pytest.mark.parametrize("engine", ENGINES)
def test_other_deprecated_builtins_are_refused_by_name(engine: str) -> None:
    module = "package m\n\np { any([false, input.t]) }\n"
    with pytest.raises(RegoError, match="deprecated v0 built-in any"):
        compile_program(engine, {"m.rego": module}, v0=True)


def test_v1_modules_are_not_converted() -> None:
    module = "package m\n\nv contains 1 if true\n"
    assert compile_program("opa", {"m.rego": module}).query("data.m.v", {}) == [1]
    with pytest.raises(RegoError):
        # v0 has no ``contains`` or ``if`` without future imports.
        compile_program("opa", {"m.rego": module}, v0=True)
