"""The ``policygen`` console script and ``python -m policygen``.

``policygen.cli`` imports its dependencies (typer, pydantic, orjson …) when
it is imported, before its error edge exists, so a dependency missing from
the installation was a traceback. Here it is what it is inside a command:
exit 2 naming the requirement, or exit 3 for a module policygen does not
depend on (a bug). Nothing but the standard library is imported first."""

from __future__ import annotations

import os
import sys
import traceback

from policygen.errors import EXIT_BUG, EXIT_INPUT
from policygen.requirements import lacking, missing_requirement


def main() -> None:
    try:
        from policygen.cli import main as cli_main
    except ModuleNotFoundError as exc:
        sys.exit(_cannot_start(exc))
    cli_main()


def _cannot_start(exc: ModuleNotFoundError) -> int:
    requirement = missing_requirement(exc)
    if requirement is not None:
        print(f"policygen: {lacking(exc, requirement)}", file=sys.stderr)
        return EXIT_INPUT
    # the same one line as a bug inside a command (cli._bug)
    if os.environ.get("POLICYGEN_DEBUG"):
        traceback.print_exception(exc)
    print(
        f"policygen: internal error (a bug, please report it): {type(exc).__name__}: {exc}",
        file=sys.stderr,
    )
    return EXIT_BUG
