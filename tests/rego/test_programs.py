"""The Rego engines behind one interface, batching included."""

from __future__ import annotations

import pytest

from policygen.rego.errors import RegoError
from policygen.rego.programs import BATCH_SIZE, compile_program

MODULE = """package t

import future.keywords.contains
import future.keywords.if

violation contains {"msg": concat(" ", [input.x, input.suffix])} if input.x != "bad"

violation contains {"msg": sprintf("%v", [1 / input.zero])} if input.x == "bad"
"""


@pytest.mark.parametrize("engine", ["opa", "regorus", "regopy"])
def test_query_many_keeps_order_merges_shared_input_and_isolates_errors(engine: str) -> None:
    program = compile_program(engine, {"t.rego": MODULE})
    inputs = [{"x": f"n{i}"} for i in range(BATCH_SIZE + 3)]
    inputs[5] = {"x": "bad", "zero": 0}
    answers = program.query_many("data.t.violation", inputs, {"suffix": "!"})
    assert len(answers) == len(inputs)
    assert answers[0] == [{"msg": "n0 !"}]
    assert answers[-1] == [{"msg": f"n{BATCH_SIZE + 2} !"}]
    assert isinstance(answers[5], RegoError)
    assert answers[6] == [{"msg": "n6 !"}]
    program.close()


@pytest.mark.parametrize("engine", ["opa", "regorus", "regopy"])
def test_data_is_visible_to_policies(engine: str) -> None:
    module = "package t\n\nv := data.inventory.cluster.v1.Namespace.x.metadata.name\n"
    data = {"inventory": {"cluster": {"v1": {"Namespace": {"x": {"metadata": {"name": "x"}}}}}}}
    program = compile_program(engine, {"t.rego": module}, data)
    assert program.query("data.t.v", {}) == "x"
    assert program.query_many("data.t.v", [{}, {}]) == ["x", "x"]
    program.close()
