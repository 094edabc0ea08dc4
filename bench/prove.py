"""``policygen test`` on the example config, warm, as a user runs it: the
whole command in a fresh process (start-up, config, corpus, every engine,
the verdict), with the goal beside it (issue #20, goal 4: under 2 s warm).

    python bench/prove.py [--repeat 3]

One run first warms the byte-code and file caches (a user's second run has
them; PYTHONDONTWRITEBYTECODE is dropped for the runs so that it can), then
--repeat runs: the best wall time, the CPU seconds of that run (its own and
its children's: the engines' processes and OPA's workers), and its progress
lines, one per engine. The verdict must be the same every run: every
engine agreeing with the model on every object (exit 0). Prints; asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 2.0  # seconds, warm
NOW = "2026-11-28"


def once() -> tuple[float, float, int, str, str]:
    """(wall, CPU incl. children, exit code, stdout, stderr) of one run."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    argv = [sys.executable, "-m", "policygen", "test", "--progress", "--now", NOW]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode, done.stdout, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    once()  # warm
    runs = [once() for _ in range(args.repeat)]
    wall, cpu, code, out, err = min(runs)
    verdicts = {(r[2], r[3].strip().splitlines()[-1] if r[3].strip() else "") for r in runs}
    load = os.getloadavg()[0]
    print(
        f"policygen test on the example, warm, best of {args.repeat} "
        f"({os.cpu_count()} CPUs, load average {load:.1f})"
    )
    for line in err.splitlines():
        print(f"  {line}")
    print(f"  {out.strip().splitlines()[-1] if out.strip() else '(no verdict)'}")
    met = "met" if wall < GOAL else "NOT met"
    print(f"  {wall:.2f}s wall, {cpu:.2f}s CPU with its processes (goal <{GOAL}s warm: {met})")
    same = len(verdicts) == 1 and code == 0
    print(f"  every run: exit {code}, the same verdict ({'yes' if same else 'NO'})")


if __name__ == "__main__":
    main()
