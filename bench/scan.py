"""Scan throughput and memory per engine, as ratios to the YAML parse floor
measured in the same run.

    python bench/scan.py [--sizes 10000,100000] [--engines model,kyverno,kyverno-cel,gatekeeper,vap]
                         [--rego-engine opa|regopy|auto] [--repeat 3] [--tenants 1000]

For each corpus size: the parse floor (PyYAML's C loader building every
document, nothing else; the best of --repeat reads, as timeit takes the
best: on a shared machine the minimum is the run least disturbed). Then per
engine, in a child process so that its peak RSS is its own: a full
streaming scan (read, evaluate, JSON to /dev/null), and the engine alone on
objects already parsed, best of --repeat runs, each with a new evaluator
that has learnt nothing. Peak RSS counts the scan's worker processes too
(OPA's, for gatekeeper). On the smallest corpus, each engine again with
--tenants more tenants in the config (throughput kept). Finally the Python
heap peak of the model scan at each size (tracemalloc), which shows whether
scanning streams. Each figure is printed beside its goal (issue #20).
Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policygen import config  # noqa: E402
from policygen.engines import EvalContext, Evaluator, Review, create  # noqa: E402
from policygen.errors import PolicygenError  # noqa: E402
from policygen.formatters.json_format import JsonFormatter  # noqa: E402
from policygen.manifests import Document, read  # noqa: E402
from policygen.scan import CHUNK, ObjectResult, scan  # noqa: E402
from policygen.workloads import namespace_of  # noqa: E402

NOW = dt.date(2026, 11, 28)
DIGEST = "sha256:" + "ab" * 32
IMAGES = [
    "harbor.corp.example/team-a/app:1.2",
    f"harbor.corp.example/team-a/app@{DIGEST}",
    "nginx",
    f"ghcr.io/acme-team-b/db:16@{DIGEST}",
    "registry.k8s.io/pause:3.9",
]
KINDS = ["Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"]


def workload(i: int, rng: random.Random) -> dict:
    containers = [
        {
            "name": f"c{j}",
            "image": rng.choice(IMAGES),
            **({"imagePullPolicy": "Always"} if rng.random() < 0.5 else {}),
        }
        for j in range(rng.randint(1, 3))
    ]
    spec = {"containers": containers}
    ns = rng.choice(["team-a", "team-b", "default", "logging"])
    kind = rng.choice(KINDS)
    meta = {"name": f"w{i}", "namespace": ns}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    template = {"template": {"spec": spec}}
    if kind == "CronJob":
        return {
            "apiVersion": "batch/v1",
            "kind": kind,
            "metadata": meta,
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": template}},
        }
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": template}


def write_corpus(count: int) -> Path:
    path = ROOT / "bench" / f".corpus-{count}.yaml"
    rng = random.Random(42)
    with path.open("w") as out:
        for i in range(count):
            out.write("---\n")
            yaml.safe_dump(workload(i, rng), out)
    return path


def parse_floor(corpus: Path, repeat: int) -> tuple[float, float]:
    """PyYAML's C loader (CSafeLoader) building every document, nothing
    else: the issue's baseline, as (wall, CPU) seconds. The best of
    ``repeat`` reads: on a shared machine the minimum is the measurement
    least disturbed by neighbours."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        with corpus.open("rb") as fh:
            for _ in yaml.load_all(fh, Loader=yaml.CSafeLoader):
                pass
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu


def config_path(tenants: int) -> Path:
    """The example config, or it plus ``tenants`` generated tenants (as
    bench/config.py makes them)."""
    if not tenants:
        return ROOT / "policygen.yaml"
    extra = "".join(
        f"    - name: gen-{i:04d}\n"
        f"      namespaces: [gen-{i:04d}, gen-{i:04d}-*]\n"
        f"      registries: [harbor.corp.example/gen-{i:04d}, ghcr.io/acme-gen-{i:04d}]\n"
        for i in range(tenants)
    )
    text = (ROOT / "policygen.yaml").read_text()
    path = ROOT / "bench" / f".policygen-{tenants}.yaml"
    path.write_text(text.replace("  exemptions:\n", extra + "  exemptions:\n"))
    return path


def run_scan(
    corpus: Path, engine: str, rego_engine: str, cfg_path: Path = ROOT / "policygen.yaml"
) -> tuple[int, Evaluator]:
    """Objects scanned, and the evaluator (alive: its workers still run)."""
    cfg = config.load(cfg_path, today=NOW)
    evaluator = create(engine, rego_engine=rego_engine)
    with open(os.devnull, "w") as sink:
        summary = JsonFormatter(sink, engine).write(
            scan(cfg, [str(corpus)], [evaluator], EvalContext(NOW))
        )
    return summary.counts["objects"], evaluator


def cpu_seconds() -> float:
    """CPU time of this process and of its children, live (OPA's workers,
    read from /proc) or ended: on a shared machine the steadier measure."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = time.process_time()
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    total += ended.ru_utime + ended.ru_stime
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if fields[1] == me:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def own_peak_rss() -> float:
    """This process's peak RSS in MiB, from VmHWM: getrusage's ru_maxrss
    would not do, since Linux carries it over exec from the process that
    forked this one (the bench's parent, which at 100,000 workloads is the
    larger of the two)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def children_peak_rss() -> float:
    """Peak RSS of this process's live children (OPA workers), summed, in
    MiB: they are part of what a scan costs."""
    total = 0
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] != me:
                continue
            status = (stat.parent / "status").read_text()
        except OSError:
            continue  # ended meanwhile
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def child(corpus: Path, engine: str, rego_engine: str, repeat: int, cfg_path: Path) -> None:
    """One timed scan in this process, then the engine alone on the objects
    already in memory, best of ``repeat`` runs, each with a new evaluator
    (nothing learnt carries over); prints JSON for the parent."""
    start, start_cpu = time.perf_counter(), cpu_seconds()
    try:
        objects, scanner = run_scan(corpus, engine, rego_engine, cfg_path)
    except PolicygenError as exc:  # a target that cannot render this config
        print(json.dumps({"error": " ".join(str(exc).splitlines()[:2])}))
        return
    took, took_cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
    rss = own_peak_rss() + children_peak_rss()
    del scanner
    cfg = config.load(cfg_path, today=NOW)
    reviews = [
        Review(d.obj, namespace_of(d.obj, "default"))
        for d in read([str(corpus)])
        if isinstance(d, Document)
    ]
    alone = alone_cpu = float("inf")
    for _ in range(repeat):
        gc.collect()  # the previous evaluator and its workers go first
        evaluator = create(engine, rego_engine=rego_engine)
        evaluator.evaluate(cfg, reviews[:1], EvalContext(NOW))  # load policies outside the timing
        start, start_cpu = time.perf_counter(), cpu_seconds()
        for i in range(0, len(reviews), CHUNK):
            evaluator.evaluate(cfg, reviews[i : i + CHUNK], EvalContext(NOW))
        alone = min(alone, time.perf_counter() - start)
        alone_cpu = min(alone_cpu, cpu_seconds() - start_cpu)
        del evaluator
    print(
        json.dumps(
            {
                "objects": objects,
                "seconds": took,
                "cpu_seconds": took_cpu,
                "engine_seconds": alone,
                "engine_cpu_seconds": alone_cpu,
                "rss_mib": rss,
            }
        )
    )


def agreement(corpus: Path, engines: list[str], rego_engine: str) -> tuple[int, int]:
    """(objects, objects on which some engine disagrees with the model):
    one scan with the model first, as ``scan --engine all`` runs it. The
    figures above are only worth having while this stays at 0."""
    cfg = config.load(ROOT / "policygen.yaml", today=NOW)
    names = ["model", *(e for e in engines if e != "model")]
    evaluators = [create(n, rego_engine=rego_engine) for n in names]
    objects = differ = 0
    for item in scan(cfg, [str(corpus)], evaluators, EvalContext(NOW)):
        if isinstance(item, ObjectResult):
            objects += 1
            differ += bool(item.disagreements)
    return objects, differ


def heap_peak(corpus: Path) -> float:
    tracemalloc.start()
    run_scan(corpus, "model", "auto")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


#: Full scan time as a multiple of the parse floor, per engine (issue #20).
SCAN_GOAL = {"model": 0.5}
SCAN_GOAL_OTHERS = 1.0
TENANT_GOAL = 0.7  # throughput with 1,000 more tenants, against without
RSS_GOAL = 1.3  # peak RSS at the largest size against the smallest


def run_child(corpus: Path, engine: str, args: argparse.Namespace, cfg: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", str(corpus), engine, "--config", str(cfg)]
    argv += ["--rego-engine", args.rego_engine, "--repeat", str(args.repeat)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--engines", default="model,kyverno,kyverno-cel,gatekeeper,vap")
    parser.add_argument("--rego-engine", default="auto")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the parse floor and of each engine alone"
    )
    parser.add_argument(
        "--tenants",
        type=int,
        default=1000,
        help="also scan the smallest corpus with this many more tenants (0: skip)",
    )
    parser.add_argument("--config", default=str(ROOT / "policygen.yaml"), help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("CORPUS", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], args.rego_engine, args.repeat, Path(args.config))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("ratios are of CPU time (a shared machine stretches wall time; wall ratios in brackets)")
    heaps = {}
    rss: dict[int, dict[str, float]] = {}
    rates: dict[str, float] = {}
    for size in sizes:
        corpus = write_corpus(size)
        try:
            floor, floor_cpu = parse_floor(corpus, args.repeat)
            print(
                f"\n{size:,} workloads; PyYAML C loader parse floor {floor:.2f}s wall, "
                f"{floor_cpu:.2f}s CPU ({size / floor_cpu:,.0f} objects/CPU-s); parse and "
                f"engine alone: best of {args.repeat}; ratios are of CPU time (wall in brackets)"
            )
            rss[size] = {}
            for engine in engines:
                out = run_child(corpus, engine, args, Path(args.config))
                if "error" in out:
                    print(f"  {engine:11} cannot scan: {out['error']}")
                    continue
                rate = out["objects"] / out["cpu_seconds"]
                ratio = out["cpu_seconds"] / floor_cpu
                wall = out["seconds"] / floor
                alone = out["engine_cpu_seconds"] / floor_cpu
                goal = SCAN_GOAL.get(engine, SCAN_GOAL_OTHERS)
                rss[size][engine] = out["rss_mib"]
                if size == sizes[0]:
                    rates[engine] = rate
                print(
                    f"  {engine:11} scan {rate:7,.0f} objects/CPU-s  {ratio:6.2f}x parse time"
                    f" ({wall:5.2f}x) (goal <={goal}x: {met(ratio <= goal)})"
                    f"  engine alone {alone:5.2f}x  peak RSS {out['rss_mib']:5.0f} MiB"
                )
            if size == sizes[0] and args.tenants:
                cfg = config_path(args.tenants)
                try:
                    print(
                        f"  with {args.tenants:,} more tenants (goal >={TENANT_GOAL}x throughput):"
                    )
                    for engine in engines:
                        out = run_child(corpus, engine, args, cfg)
                        if "error" in out:
                            print(f"  {engine:11} cannot scan: {out['error']}")
                            continue
                        rate = out["objects"] / out["cpu_seconds"]
                        kept = rate / rates[engine] if engine in rates else float("nan")
                        print(
                            f"  {engine:11} scan {rate:7,.0f} objects/CPU-s  {kept:6.2f}x of the"
                            f" example's ({met(kept >= TENANT_GOAL)})"
                        )
                finally:
                    cfg.unlink()
            if size == sizes[0]:
                objects, differ = agreement(corpus, engines, args.rego_engine)
                print(
                    f"  agreement with the model: {differ:,} of {objects:,} objects disagree"
                    f" (goal 0: {met(differ == 0)})"
                )
            heaps[size] = heap_peak(corpus)
        finally:
            corpus.unlink()
    small, large = sizes[0], sizes[-1]
    if large != small:
        print(f"\npeak RSS at {large:,} against {small:,} (goal <={RSS_GOAL}x)")
        for engine in engines:
            if engine in rss[small] and engine in rss[large]:
                ratio = rss[large][engine] / rss[small][engine]
                print(f"  {engine:11} {ratio:5.2f}x ({met(ratio <= RSS_GOAL)})")
    print("\nstreaming: Python heap peak of a model scan")
    for size, peak in heaps.items():
        ratio = (
            f"  ({peak / heaps[sizes[0]]:.2f}x the {sizes[0]:,} run)" if size != sizes[0] else ""
        )
        print(f"  {size:>9,} objects  {peak:6.1f} MiB{ratio}")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
