"""Structural checks of the rendered Gatekeeper bundle: YAML shape, Rego
that compiles in both real engines as v0 and v1, and a Rego image parser
that agrees with policygen.imageref."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policygen import config, imageref
from policygen.rego.programs import RegoProgram, compile_program
from policygen.render import render
from policygen.targets import gatekeeper
from policygen.targets._common import common_data
from tests import golden
from tests.conftest import NOW
from tests.test_imageref import IMAGE_CASES, references

CASES = list(golden.cases())


def templates(name: str) -> list[dict]:
    files = gatekeeper.TARGET.render(config.load(golden.cases()[name], today=NOW), NOW)
    return [yaml.safe_load(t) for p, t in sorted(files.items()) if p.startswith("template-")]


@pytest.mark.parametrize("name", CASES)
def test_template_shape(name: str) -> None:
    for tpl in templates(name):
        kind = tpl["spec"]["crd"]["spec"]["names"]["kind"]
        assert tpl["metadata"]["name"] == kind.lower()  # Gatekeeper requires it
        (target,) = tpl["spec"]["targets"]
        assert target["target"] == "admission.k8s.gatekeeper.sh"
        assert "import rego.v1" not in target["rego"]  # rejected by Gatekeeper (#3907)
        assert target["rego"].startswith(f"package {kind.lower()}\n")
        assert all(lib.startswith("package lib.") for lib in target["libs"])


@pytest.mark.parametrize("name", CASES)
def test_rego_compiles_in_regopy(name: str) -> None:
    for tpl in templates(name):
        target = tpl["spec"]["targets"][0]
        modules = {f"lib{i}.rego": lib for i, lib in enumerate(target["libs"])}
        modules["template.rego"] = target["rego"]
        program = compile_program("regopy", modules)  # raises RegoError if it does not compile
        assert (
            program.query("data.lib.policygen.namespace", {"review": {"object": {"spec": {}}}})
            == "default"
        )
        program.close()


@pytest.mark.parametrize("name", CASES)
def test_rego_compiles_in_opa_as_v1(name: str) -> None:
    from opa_bindings import OpaEngine

    for tpl in templates(name):
        target = tpl["spec"]["targets"][0]
        engine = OpaEngine()
        try:
            for i, lib in enumerate(target["libs"]):
                engine.add_policy(f"lib{i}.rego", lib)
            engine.add_policy("template.rego", target["rego"])
            pkg = target["rego"].split("\n", 1)[0].removeprefix("package ")
            result = engine.eval_query(
                f"x := data.{pkg}.violation", {"review": {"object": {"spec": {}}}, "parameters": {}}
            )
            assert result == [{"x": []}]
        finally:
            engine.close()


@pytest.mark.parametrize("name", CASES)
def test_rego_parses_and_runs_as_v0(name: str) -> None:
    """Gatekeeper reads a template's Rego as v0 unless told otherwise. The
    OPA binding parses v1 only, so a real v0 parser reads it: regorus in its
    v0 mode, then OPA runs the program policygen's v0 reading makes of it,
    as the Gatekeeper evaluator does. (This test once handed OPA the v1
    text under the name v0, so it could not fail.)"""
    import regorus

    for tpl in templates(name):
        target = tpl["spec"]["targets"][0]
        modules = {f"lib{i}.rego": lib for i, lib in enumerate(target["libs"])}
        modules["template.rego"] = target["rego"]
        pkg = target["rego"].split("\n", 1)[0].removeprefix("package ")
        review = {"review": {"object": {"spec": {}}}, "parameters": {}}
        v0 = regorus.Engine()
        v0.set_rego_v0(True)
        for file, source in modules.items():
            v0.add_policy(file, source)  # RuntimeError if v0 cannot parse it
        v0.set_input_json(json.dumps(review))
        rows = json.loads(v0.eval_query_as_json(f"x := data.{pkg}.violation"))["result"]
        assert [r["bindings"]["x"] for r in rows] == [[]]
        program = compile_program("opa", modules, v0=True)
        try:
            assert program.query(f"data.{pkg}.violation", review) == []
        finally:
            program.close()


def test_gatekeeper_parameters(example: config.Config) -> None:
    params = gatekeeper.GatekeeperTarget.parameters(example, "registries")
    assert (
        params["sharedRegex"]
        == "^(?:registry\\.k8s\\.io/pause|harbor\\.corp\\.example/infra)(?:/|$)"
    )
    # tenants indexed by what a review looks up: a literal glob by itself,
    # "team-a-*" by its head alone (no regex needed to confirm it)
    assert params["ownersByNamespace"]["team-a"] == ["team-a"]
    assert params["ownersByPrefix"]["team-a-"] == [{"tenant": "team-a"}]
    assert params["prefixLengths"] == [7]
    # the tenant's own entries: the shared ones are tested apart
    assert params["tenantRegistries"]["team-a"] == "^(?:harbor\\.corp\\.example/team\\-a)(?:/|$)"
    assert gatekeeper.GatekeeperTarget.parameters(example, "digest")["exemptions"] == [
        {
            "name": "scraper-migration",
            "namespaces": ["^logging$"],
            "images": ["^harbor\\.corp\\.example/infra/scraper:.*$"],
            # the last second it holds, which the Rego compares with time.now_ns()
            "expiresAt": "2027-03-31T23:59:59Z",
        }
    ]


def test_example_golden_dir_exists() -> None:
    assert Path(golden.GOLDEN / "example" / "bundle.lock").is_file()


# -- the Rego library parses images as policygen.imageref does ------------------


@pytest.fixture(scope="module", params=["opa", "regopy"])
def lib(request: pytest.FixtureRequest, example: config.Config) -> Iterator[RegoProgram]:
    source = render("gatekeeper/rego/lib.rego.j2", **common_data(example))
    program = compile_program(request.param, {"lib.rego": source})
    yield program
    program.close()


def rego_parse(program: RegoProgram, image: str) -> list[Any] | None:
    review = {"object": {"spec": {"containers": [{"name": "c", "image": image}]}}}
    ref = "data.lib.policygen.parse(input.review.object.spec.containers[0].image)"
    return cast("list[Any] | None", program.query(ref, {"review": review}))


def expected(image: str) -> list[Any] | None:
    ref = imageref.try_parse(image)
    return None if ref is None else [ref.name, ref.tag or "", ref.digest or ""]


@pytest.mark.parametrize("image", IMAGE_CASES)
def test_rego_parse_cases(lib: RegoProgram, image: str) -> None:
    assert rego_parse(lib, image) == expected(image)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(references(), st.text(max_size=30)))
def test_rego_parse_agrees_with_imageref(lib: RegoProgram, image: str) -> None:
    assert rego_parse(lib, image) == expected(image)


def test_templates_sync_before_constraints(example: config.Config) -> None:
    """A Constraint's kind exists only once Gatekeeper has processed its
    template: Argo CD applies templates a wave earlier and skips the dry run
    of a Constraint whose kind is still missing."""
    files = gatekeeper.TARGET.render(example, NOW)
    for rel, text in files.items():
        for doc in yaml.safe_load_all(text):
            notes = (doc.get("metadata") or {}).get("annotations") or {}
            wave = notes.get("argocd.argoproj.io/sync-wave")
            if doc["kind"] == "ConstraintTemplate":
                assert wave == "-1", rel
            elif doc["apiVersion"].startswith("constraints.gatekeeper.sh/"):
                assert wave == "1", rel
                assert (
                    notes["argocd.argoproj.io/sync-options"] == "SkipDryRunOnMissingResource=true"
                )
            else:
                assert wave is None, rel  # Gatekeeper's own CRDs: the default wave 0
