"""Golden bundles: configs under tests/golden/<case>.yaml render to tests/golden/<case>/.

Refresh after an intended change with ``make golden`` and review the diff."""

from __future__ import annotations

import sys
from pathlib import Path

from policygen import bundle, config
from tests.conftest import EXAMPLE, NOW

GOLDEN = Path(__file__).parent / "golden"


def cases() -> dict[str, Path]:
    found = {p.stem: p for p in sorted(GOLDEN.glob("*.yaml"))}
    return {"example": EXAMPLE, **found}


def render(path: Path) -> bundle.Bundle:
    return bundle.render_bundle(config.load(path, today=NOW), path, NOW)


def main() -> None:
    for name, path in cases().items():
        bundle.write(render(path), GOLDEN / name)
        print(f"refreshed {GOLDEN / name}", file=sys.stderr)


if __name__ == "__main__":
    main()
