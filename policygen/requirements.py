"""What policygen needs installed, and what to say when one is missing.

Only the standard library here: this is read when ``policygen.cli`` itself
could not be imported. The requirement list is pyproject.toml's, kept here
because an installation's metadata can be as stale as the installation
(a virtualenv made before a dependency was declared has neither);
``tests/test_packaging.py`` checks that the two lists are the same."""

from __future__ import annotations

import re

#: pyproject.toml's ``[project] dependencies``, in its order.
REQUIREMENTS = (
    "jinja2>=3.1",
    "pydantic>=2.7",
    "pyyaml>=6.0",
    "yaml-rs>=0.1.6,<0.2",
    "orjson>=3.10",
    "typer>=0.12",
    "regopy>=1.5",
    "gordon-to-regorus>=0.13,<0.14",
    "jmespath>=1.0",
    "cel-expr-python>=0.1.3",
    "rich>=13",
    "jsonschema>=4.20",
    "referencing>=0.30",
    "kubernetes-validate>=1.37",
)

#: Modules of policygen's dependencies not named like their distributions.
DISTRIBUTION_OF = {"yaml": "pyyaml", "regorus": "gordon-to-regorus"}


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def missing_requirement(exc: ModuleNotFoundError) -> str | None:
    """The declared requirement (``kubernetes-validate>=1.37``) whose module
    is missing, or None: a module policygen does not depend on is a bug."""
    if not exc.name:
        return None
    module = exc.name.partition(".")[0]
    wanted = _normal(DISTRIBUTION_OF.get(module, module))
    for requirement in REQUIREMENTS:
        name = re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]
        if _normal(name) == wanted:
            return requirement
    return None


def lacking(exc: ModuleNotFoundError, requirement: str) -> str:
    """The one line that says what to install (after ``policygen: ``)."""
    return (
        f"this installation of policygen lacks its dependency {requirement} "
        f"(no module '{exc.name}'): reinstall policygen, or pip install '{requirement}'"
    )
