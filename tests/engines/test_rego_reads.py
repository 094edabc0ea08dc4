"""What Rego can read of its input, and the input cut down to it."""

from __future__ import annotations

from typing import Any

import pytest

from policygen import config
from policygen.engines import EvalContext, policy_documents
from policygen.engines._projection import project
from policygen.engines._rego_reads import input_paths
from policygen.engines.gatekeeper import Request, _review_document
from policygen.rego.programs import compile_program
from tests.conftest import NOW


def test_each_ref_contributes_its_static_prefix() -> None:
    rego = """package t
    a := input.review.object.spec.containers[_].image
    b := input["parameters"].names[0]
    c := input.review.object.metadata[k]
    d := object.get(input.review.namespaceObject, "metadata", {})
    """
    assert input_paths([rego]) == {
        ("review", "object", "spec", "containers"),
        ("parameters", "names"),
        ("review", "object", "metadata"),
        ("review", "namespaceObject"),
    }


def test_a_path_under_another_is_dropped() -> None:
    rego = "x := input.review.object\ny := input.review.object.metadata.name\n"
    assert input_paths([rego]) == {("review", "object")}


@pytest.mark.parametrize(
    "ref",
    [
        "x := input",
        "x := input[k]",
        "x := input .review",
        "import input",
        'x := input["re\\"view"]',
        'x := $"name {input.review.name}"',
    ],
)
def test_refs_it_cannot_follow_read_the_whole_input(ref: str) -> None:
    assert input_paths(["package t\n", f"{ref}\n"]) is None


def test_input_in_strings_comments_and_fields_is_not_a_ref() -> None:
    rego = """package t
    # reads input whole? no: a comment
    msg := "see input for details"
    raw := `input`
    y := data.input
    z := x.input
    w := input.parameters
    my_input := 1
    """
    assert input_paths([rego]) == {("parameters",)}


def _templates(cfg: config.Config) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """(package, modules, constraint parameters) of each rendered template."""
    docs = policy_documents("gatekeeper", cfg, EvalContext(NOW))
    params = {d["kind"].lower(): d["spec"].get("parameters", {}) for d in docs
              if d["apiVersion"].startswith("constraints.")}  # fmt: skip
    out = []
    for doc in docs:
        if doc["kind"] == "ConstraintTemplate":
            target = doc["spec"]["targets"][0]
            modules = {f"lib{i}.rego": lib for i, lib in enumerate(target.get("libs", []))}
            modules["t.rego"] = target["rego"]
            out.append((target["rego"].split()[1], modules, params[doc["metadata"]["name"]]))
    return out


REVIEWS = [
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
     "spec": {"containers": [{"name": "c", "image": image, "imagePullPolicy": policy}],
              "initContainers": [{"name": "i", "image": "busybox"}]}}
    for image in ("nginx", "harbor.corp.example/team-a/app@sha256:" + "ab" * 32, "Bad Image")
    for policy in ("Always", "IfNotPresent")
]  # fmt: skip


@pytest.mark.parametrize("engine", ["opa", "regorus", "regopy"])
def test_our_templates_answer_the_same_on_what_they_read(
    example: config.Config, engine: str
) -> None:
    answers = 0
    for package, modules, parameters in _templates(example):
        paths = input_paths(modules.values())
        assert paths is not None, f"{package} reads its whole input: nothing could be reused"
        assert ("review", "name") not in paths
        program = compile_program(engine, modules)
        for obj in REVIEWS:
            for ns, ns_obj in [("team-a", None), ("logging", {"metadata": {"name": "logging"}})]:
                whole = {"review": _review_document(obj, Request(obj, ns, ns_obj))}
                whole["parameters"] = parameters
                ref = f"data.{package}.violation"
                expected = program.query(ref, whole)
                assert program.query(ref, project(whole, paths)) == expected
                answers += len(expected or [])
        program.close()
    assert answers > 0  # the templates did find something to compare
