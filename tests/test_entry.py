"""policygen.entry: the console script, where a dependency missing at
import time (before the CLI's error edge exists) is still exit 2 naming the
requirement, and a module policygen does not depend on is a bug."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, ROOT

#: Run before ``policygen.entry.main()`` in a fresh interpreter: orjson made
#: unimportable (as in a virtualenv made before it was declared), which
#: policygen.cli reaches at import through policygen.yamlio.
NO_ORJSON = "import sys; sys.modules['orjson'] = None"

#: policygen.cli's import failing on a module policygen does not depend on.
NO_NOTHING = """
import importlib.abc, sys
class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "policygen.cli":
            raise ModuleNotFoundError("No module named 'policygen_nothing'", name="policygen_nothing")
        return None
sys.meta_path.insert(0, Finder())
"""


def entry(prelude: str, *args: str, debug: bool = False) -> tuple[int, str, str]:
    code = (
        f"{prelude}\nfrom policygen.entry import main\nsys.argv = ['policygen', *{args!r}]\nmain()"
    )
    env = {k: v for k, v in os.environ.items() if k != "POLICYGEN_DEBUG"}
    if debug:
        env["POLICYGEN_DEBUG"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=False
    )
    return done.returncode, done.stdout, done.stderr


def test_a_dependency_missing_at_import_is_named_and_exit_2() -> None:
    assert entry(NO_ORJSON, "validate", "-c", str(EXAMPLE)) == (
        2,
        "",
        "policygen: this installation of policygen lacks its dependency orjson>=3.10 "
        "(no module 'orjson'): reinstall policygen, or pip install 'orjson>=3.10'\n",
    )


def test_a_missing_module_policygen_does_not_depend_on_is_a_bug_at_import() -> None:
    assert entry(NO_NOTHING, "validate", "-c", str(EXAMPLE)) == (
        3,
        "",
        "policygen: internal error (a bug, please report it): ModuleNotFoundError: "
        "No module named 'policygen_nothing'\n",
    )


def test_the_bug_at_import_shows_its_traceback_with_policygen_debug() -> None:
    code, out, err = entry(NO_NOTHING, "validate", debug=True)
    assert (code, out) == (3, "")
    assert err.startswith("Traceback (most recent call last):\n")
    assert err.endswith(
        "ModuleNotFoundError: No module named 'policygen_nothing'\n"
        "policygen: internal error (a bug, please report it): ModuleNotFoundError: "
        "No module named 'policygen_nothing'\n"
    )


@pytest.mark.parametrize(
    "argv",
    [[sys.executable, "-m", "policygen"], [str(Path(sys.executable).parent / "policygen")]],
    ids=["python -m policygen", "console script"],
)
def test_both_commands_go_through_the_entry(argv: list[str]) -> None:
    """The installed script and ``python -m policygen`` are the same command."""
    done = subprocess.run(
        [*argv, "validate", "-c", str(EXAMPLE), "--now", "2026-11-28"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"{EXAMPLE}: ok (3 tenants, 1 exemptions)\n",
        "",
    )


def test_validate_starts_without_the_schema_checks_or_jinja() -> None:
    """Start-up is most of a small command's time: validate imports neither
    the schema checks (jsonschema, the CRDs) nor Jinja, which only build,
    test and the other rendering commands need."""
    heavy = ("jsonschema", "jinja2", "policygen.apicheck", "policygen.bundle")
    prelude = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print(sorted(m for m in {heavy!r} if m in sys.modules)))"
    )
    code, out, err = entry(prelude, "validate", "-c", str(EXAMPLE), "--now", "2026-11-28")
    assert (code, out, err) == (0, f"{EXAMPLE}: ok (3 tenants, 1 exemptions)\n[]\n", "")
