"""Config work as the organisation grows: ``validate`` and ``build`` of the
example config with 10 and with 1,000 generated tenants (each two namespace
globs and two registries), timed in the same run, with the goals beside them.

    python bench/config.py [--tenants 10,1000] [--repeat 3]

Each figure is the best of --repeat runs, in-process (the first run of each
size also warms imports, so it is not counted twice) and as the command a
user runs (a fresh process, start-up included, after a warming run). A
target that cannot build at the largest size (an object over a size limit)
is named and left out of both sizes, so that the ratio compares the same
work. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policygen import apicheck, bundle, config  # noqa: E402

NOW = dt.date(2026, 11, 28)
GOALS = {"validate": 0.5, "build": 2.0}  # seconds at 1,000 tenants
RATIO_GOAL = 3.0  # 1,000 tenants against 10, same run


def config_with(tenants: int, folder: Path, targets: tuple[str, ...] | None = None) -> Path:
    """The example config plus ``tenants`` generated tenants (and only
    ``targets``, when given)."""
    extra = "".join(
        f"    - name: gen-{i:04d}\n"
        f"      namespaces: [gen-{i:04d}, gen-{i:04d}-*]\n"
        f"      registries: [harbor.corp.example/gen-{i:04d}, ghcr.io/acme-gen-{i:04d}]\n"
        for i in range(tenants)
    )
    text = (
        (ROOT / "policygen.yaml").read_text().replace("  exemptions:\n", extra + "  exemptions:\n")
    )
    if targets is not None:
        text = re.sub(r"(?m)^  targets: \[.*\]$", f"  targets: [{', '.join(targets)}]", text)
    path = folder / f"policygen-{tenants}.yaml"
    path.write_text(text)
    return path


def best(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the best of ``repeat`` runs. The object-check
    memo is emptied first: a fresh ``policygen build`` has none, and only
    compiled schemas (per schema, not per config) may be reused."""
    walls, cpus = [], []
    for _ in range(repeat):
        apicheck._memo_errors.cache_clear()
        start, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def command(argv: list[str], repeat: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the best of ``repeat`` runs of ``policygen
    ARGV`` as a user runs it: a fresh process, start-up included, warm (one
    run first, byte-code written: PYTHONDONTWRITEBYTECODE is dropped)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    full = [sys.executable, "-m", "policygen", *argv, "--now", NOW.isoformat()]
    runs = []
    for i in range(repeat + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(full, cwd=ROOT, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        if i:  # the first warms
            runs.append((wall, cpu))
    return min(runs, key=lambda r: r[1])[0], min(r[1] for r in runs)


def refused(tenants: int, folder: Path) -> dict[str, str]:
    """The example's targets that cannot build at this size (an object over
    a size limit, issue #21), with the first line of why."""
    loaded = config.load(config_with(tenants, folder), today=NOW)
    out: dict[str, str] = {}
    for name in sorted(loaded.spec.targets):
        path = config_with(tenants, folder, (name,))
        try:
            bundle.render_bundle(config.load(path, today=NOW), path, NOW)
        except apicheck.ObjectTooLarge as exc:
            out[name] = str(exc).splitlines()[1].strip()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", default="10,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.tenants.split(",")]
    small, large = sizes[0], sizes[-1]
    with tempfile.TemporaryDirectory() as tmp:
        left_out = refused(large, Path(tmp))
        example = config.load(ROOT / "policygen.yaml", today=NOW).spec.targets
        targets = tuple(t for t in example if t not in left_out)
        results: dict[int, dict[str, tuple[float, float]]] = {}
        for size in sizes:
            path = config_with(size, Path(tmp), targets)
            validate = best(lambda p=path: config.load(p, today=NOW), args.repeat)
            loaded = config.load(path, today=NOW)
            build = best(lambda p=path, c=loaded: bundle.render_bundle(c, p, NOW), args.repeat)
            out = Path(tmp) / f"out-{size}"
            results[size] = {
                "validate": validate,
                "build": (validate[0] + build[0], validate[1] + build[1]),
                "policygen validate": command(["validate", "-c", str(path)], args.repeat),
                "policygen build": command(["build", "-c", str(path), "-o", str(out)], args.repeat),
            }
    load = os.getloadavg()[0]
    print(
        f"config work, best of {args.repeat} (build includes validate), "
        f"CPU seconds (wall in brackets), load average {load:.1f}"
    )
    print(f"build targets: {', '.join(targets)}")
    for name, why in left_out.items():
        print(f"  {name} left out: it cannot build {large} tenants ({why})")
    print(
        "in-process: the work alone; policygen …: the command as a user runs it, "
        "a fresh process, start-up included (best of the runs after a warming one)"
    )
    print(f"{'step':<20}{small:>18} t{large:>18} t{'ratio':>8}   goal")
    for step in results[small]:
        goal = GOALS[step.split()[-1]]
        (wa, a), (wb, b) = results[small][step], results[large][step]
        time_met = "met" if b < goal else "NOT met"
        ratio_met = "met" if b / a <= RATIO_GOAL else "NOT met"
        print(
            f"{step:<20}{a:>8.3f}s ({wa:.3f}s){b:>8.3f}s ({wb:.3f}s){b / a:>7.1f}x   "
            f"<{goal}s at {large} t: {time_met}; <={RATIO_GOAL}x: {ratio_met}"
        )


if __name__ == "__main__":
    main()
