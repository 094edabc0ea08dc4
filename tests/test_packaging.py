"""What an installed policygen needs is what pyproject.toml declares."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions

from packaging.requirements import Requirement

from tests.conftest import ROOT

#: Installed apart, as the README says: it declares Python >= 3.14 but works
#: on 3.11, so pip needs --ignore-requires-python (make build does it).
INSTALLED_APART = {"opa_bindings": "opa-golib-python-bindings"}


def third_party_imports() -> set[str]:
    found = set()
    for path in (ROOT / "policygen").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return {
        m
        for m in found
        if m not in sys.stdlib_module_names and m not in ("policygen", "__future__")
    }


def test_every_imported_distribution_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {Requirement(r).name.lower() for r in project["dependencies"]}
    providers = packages_distributions()
    undeclared = {}
    for module in sorted(third_party_imports()):
        if module in INSTALLED_APART:
            continue
        names = {d.lower() for d in providers.get(module, [module])}
        if not names & declared:
            undeclared[module] = sorted(names)
    assert undeclared == {}


def test_the_imports_seen_are_the_ones_we_know() -> None:
    # the check above is only as good as this list is complete
    assert third_party_imports() == {
        "cel_expr_python",
        "jinja2",
        "jmespath",
        "jsonschema",
        "kubernetes_validate",
        "opa_bindings",
        "orjson",
        "pydantic",
        "referencing",
        "regopy",
        "regorus",
        "rich",
        "typer",
        "yaml",
        "yaml_rs",
    }


def test_the_requirement_list_the_cli_names_is_pyprojects() -> None:
    """What a missing module is named as comes from policygen.requirements,
    not from installed metadata (stale in an old virtualenv): the same list."""
    from policygen.requirements import REQUIREMENTS

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert list(REQUIREMENTS) == project["dependencies"]


def test_every_imported_module_names_its_requirement() -> None:
    """Each dependency module policygen imports maps to a declared
    requirement by the rule the error edge uses."""
    from policygen.requirements import missing_requirement

    named = {
        m: missing_requirement(ModuleNotFoundError(m, name=m))
        for m in sorted(third_party_imports() - INSTALLED_APART.keys())
    }
    assert {m: r for m, r in named.items() if r is None} == {}
    assert named["yaml"] == "pyyaml>=6.0"
    assert named["regorus"] == "gordon-to-regorus>=0.13,<0.14"
    assert named["cel_expr_python"] == "cel-expr-python>=0.1.3"


def test_the_console_script_is_the_entry_module() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"policygen": "policygen.entry:main"}
