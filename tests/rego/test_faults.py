"""The regorus and regopy faults measured against OPA: each gives OPA's
answer or a refusal (EngineFault), never another answer."""

from __future__ import annotations

import time

import pytest

from policygen.rego.errors import RegoError
from policygen.rego.faults import CLOCK_INPUT, EngineFault, clock_of, prepare
from policygen.rego.programs import compile_program

ENGINES = ["opa", "regorus", "regopy"]


def answer(engine: str, module: str, input: object) -> object:
    program = compile_program(engine, {"m.rego": module})
    try:
        return program.query("data.m.v", input)
    finally:
        program.close()


NEGATED_UNDEFINED = """package m

ok(rule, _) if rule == "any"

v contains "denied" if {
	not ok(input.rule, input.params.missing)
}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_an_undefined_argument_of_a_negated_call_leaves_the_body_undefined(engine: str) -> None:
    # Both other engines negate the undefined call and report "denied".
    assert answer(engine, NEGATED_UNDEFINED, {"rule": "none", "params": {}}) == []
    assert answer(engine, NEGATED_UNDEFINED, {"rule": "none", "params": {"missing": 1}}) == [
        "denied"
    ]


PAREN_LINE = """package m

v contains "spread too small" if {
	spec := input.spec
	(spec.max - spec.min) < input.spread
}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_line_starting_with_a_parenthesis_is_a_new_expression(engine: str) -> None:
    assert answer(engine, PAREN_LINE, {"spec": {"max": 3, "min": 2}, "spread": 2}) == [
        "spread too small"
    ]
    assert answer(engine, PAREN_LINE, {"spec": {"max": 9, "min": 2}, "spread": 2}) == []


WILDCARD_ARGUMENT = """package m

v contains "prefixed" if startswith(input.image, input.prefixes[_])
"""


def test_a_wildcard_in_a_call_argument_is_refused_by_regopy() -> None:
    with pytest.raises(EngineFault, match="wildcard _"):
        compile_program("regopy", {"m.rego": WILDCARD_ARGUMENT})


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_a_wildcard_in_a_call_argument(engine: str) -> None:
    assert answer(engine, WILDCARD_ARGUMENT, {"image": "a/x", "prefixes": ["b/", "a/"]}) == [
        "prefixed"
    ]
    assert answer(engine, WILDCARD_ARGUMENT, {"image": "c/x", "prefixes": ["b/", "a/"]}) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_wildcard_in_a_negated_call_argument_is_refused(engine: str) -> None:
    # OPA: an unsafe variable; the others would iterate it wrongly.
    module = "package m\n\nv contains 1 if not startswith(input.image, input.prefixes[_])\n"
    with pytest.raises(RegoError):
        compile_program(engine, {"m.rego": module})


QUOTED_SPRINTF = """package m

v contains msg if {
	name := concat("", ["a", "b"])
	msg := sprintf("container <%v>", [name])
}
"""


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_sprintf_of_a_computed_string(engine: str) -> None:
    assert answer(engine, QUOTED_SPRINTF, {}) == ["container <ab>"]


def test_regopy_output_it_cannot_read_is_a_refusal_not_an_error_result() -> None:
    program = compile_program("regopy", {"m.rego": QUOTED_SPRINTF})
    with pytest.raises(EngineFault, match="cannot read"):
        program.query_many("data.m.v", [{}])


RFC3339 = """package m

v := [time.parse_rfc3339_ns(input.z), time.parse_rfc3339_ns(input.offset)]
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_an_rfc3339_timestamp_in_utc_with_z_is_read(engine: str) -> None:
    # regopy reads "+00:00" but leaves "Z" undefined; the rewrite makes one the other.
    stamps = {"z": "2027-03-31T23:59:59Z", "offset": "2027-04-01T01:59:59+02:00"}
    assert answer(engine, RFC3339, stamps) == [1806537599000000000] * 2


def test_regopy_reads_z_only_through_the_rewrite() -> None:
    from policygen.rego.programs import RegopyProgram

    program = RegopyProgram({"m.rego": RFC3339})
    try:
        with pytest.raises(RegoError):
            program.query(
                "data.m.v", {"z": "2027-03-31T23:59:59Z", "offset": "2027-03-31T23:59:59+00:00"}
            )
    finally:
        program.close()


CLOCK = """package m

v := [time.now_ns(), input.x]
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_the_clock_a_query_sets_is_the_clock_the_module_reads(engine: str) -> None:
    program = compile_program(engine, {"m.rego": CLOCK})
    try:
        assert program.query("data.m.v with time.now_ns as 1806537599000000000", {"x": 1}) == [
            1806537599000000000,
            1,
        ]
        before = time.time_ns()
        now, x = program.query("data.m.v", {"x": 2})
        assert before <= now <= time.time_ns() and x == 2
    finally:
        program.close()


def test_regopy_reads_the_clock_from_the_input_not_through_with() -> None:
    # "with time.now_ns as" makes rego-cpp keep ~100 MiB per query: the
    # rewrite leaves no clock call for it to replace.
    prepared = prepare("regopy", "m.rego", CLOCK)
    assert "time.now_ns" not in prepared
    assert f"input.{CLOCK_INPUT}" in prepared
    assert clock_of("data.m.v with time.now_ns as 42") == ("data.m.v", 42)
    assert clock_of("data.m.v") == ("data.m.v", None)
