"""Run gatekeeper-library's own gator suites through `policygen gatekeeper
verify` with every Rego engine, in both of gator's modes, and print the
README's fidelity table.

    python scripts/upstream_gatekeeper.py PATH/TO/gatekeeper-library [--commit SHA]

PATH is a checkout (or an extracted snapshot) of
open-policy-agent/gatekeeper-library; its `library/` folder holds the suites.
Nothing of it is copied. Not part of CI: the whole library takes minutes
per engine and mode.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from policygen.gatekeeper_suite import find_suites, verify
from policygen.rego.programs import ENGINES, available

MODES = {"CEL first (gator's default)": True, "Rego only": False}


@dataclass
class Tally:
    suites: int = 0
    suites_passed: int = 0
    cases: int = 0
    passed: int = 0
    failed: int = 0
    refused: int = 0
    seconds: float = 0.0


def run(suites: list[Path], engine: str, cel: bool) -> Tally:
    tally = Tally()
    start = time.monotonic()
    for suite in suites:
        report = verify([suite], engine, cel=cel)
        tally.suites += 1
        statuses = [r.status for r in report.results]
        tally.cases += len(statuses)
        tally.passed += statuses.count("pass")
        tally.failed += statuses.count("fail")
        tally.refused += statuses.count("refused")
        if statuses and all(s == "pass" for s in statuses):
            tally.suites_passed += 1
        for r in report.results:
            if r.status != "pass":
                print(f"  {engine} {r.status}: {r.title}: {'; '.join(r.failures)}", file=sys.stderr)
    tally.seconds = time.monotonic() - start
    return tally


def commit_of(root: Path, given: str | None) -> str:
    if given:
        return given
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("library", type=Path, help="a gatekeeper-library checkout")
    parser.add_argument("--commit", help="the library's commit, for the table")
    parser.add_argument("--engine", action="append", choices=ENGINES, help="default: all")
    args = parser.parse_args()
    suites = find_suites([args.library / "library"])
    engines = [e for e in args.engine or ENGINES if available(e)]
    print(f"gatekeeper-library {commit_of(args.library, args.commit)}: {len(suites)} suites\n")
    print("| engine | mode | suites passed | cases passed | failed | refused | seconds |")
    print("|---|---|---|---|---|---|---|")
    wrong = 0
    for engine in engines:
        for mode, cel in MODES.items():
            t = run(suites, engine, cel)
            wrong += t.failed
            print(
                f"| {engine} | {mode} | {t.suites_passed}/{t.suites} | {t.passed}/{t.cases} "
                f"| {t.failed} | {t.refused} | {t.seconds:.0f} |",
                flush=True,
            )
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
