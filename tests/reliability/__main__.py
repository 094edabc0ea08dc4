"""Run the reliability checks and print how many held.

python -m tests.reliability           # the fast checks (CI runs them too)
python -m tests.reliability --slow    # and the slow ones: 50 kills, floods,
                                      # full and read-only tmpfs (root), deadline
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.reliability.checks import FAST, SLOW, Lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slow", action="store_true", help="run the slow checks too")
    parser.add_argument("-k", default="", help="only checks whose name contains this")
    args = parser.parse_args()
    checks = [c for c in FAST + (SLOW if args.slow else []) if args.k in c.__name__]
    held = 0
    for check in checks:
        with tempfile.TemporaryDirectory(prefix="policygen-reliability-") as tmp:
            start = time.monotonic()
            try:
                check(Lab(Path(tmp)))
            except AssertionError as exc:
                print(f"BROKEN {check.__name__}: {exc}", flush=True)
                continue
            held += 1
            print(f"held   {check.__name__} ({time.monotonic() - start:.1f} s)", flush=True)
    print(f"{held} of {len(checks)} checks held")
    return 0 if held == len(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
