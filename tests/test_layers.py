"""The reference model is one side of the agreement test: the engines, the
scan pipeline and the proof are the other, so none of them may use the
model's code. A helper both sides need lives in workloads.py or imageref.py
(issue #19: a bug there would sit on both sides and never show up as a
disagreement)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "policygen"
#: the model as an evaluator: the one engine module that is the model
MODEL_SIDE = {"engines/model_engine.py"}
OTHER_SIDE = sorted(
    str(p.relative_to(PACKAGE))
    for pattern in ("engines/**/*.py", "formatters/**/*.py", "scan.py", "prove.py")
    for p in PACKAGE.glob(pattern)
    if str(p.relative_to(PACKAGE)) not in MODEL_SIDE
)


def model_imports(source: str) -> list[str]:
    """Every import of policygen.model in ``source``, wherever it sits."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "policygen.model":
            found.append(f"from policygen.model import {node.names[0].name}")
        elif isinstance(node, ast.ImportFrom) and node.module == "policygen":
            found.extend(f"from policygen import {a.name}" for a in node.names if a.name == "model")
        elif isinstance(node, ast.Import):
            found.extend(f"import {a.name}" for a in node.names if a.name == "policygen.model")
    return found


def test_the_other_side_is_the_whole_engine_and_scan_code() -> None:
    assert "engines/kyverno/match.py" in OTHER_SIDE
    assert "engines/gatekeeper.py" in OTHER_SIDE
    assert "scan.py" in OTHER_SIDE
    assert "engines/model_engine.py" not in OTHER_SIDE


def test_the_check_sees_every_form_of_import() -> None:
    source = (
        "from policygen.model import namespace_of\n"
        "def f():\n    from policygen import model, config\n"
        "import policygen.model\n"
    )
    assert sorted(model_imports(source)) == [
        "from policygen import model",
        "from policygen.model import namespace_of",
        "import policygen.model",
    ]


@pytest.mark.parametrize("module", OTHER_SIDE)
def test_engines_and_scan_do_not_borrow_from_the_model(module: str) -> None:
    assert model_imports((PACKAGE / module).read_text()) == []
