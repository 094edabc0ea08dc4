"""Scan throughput per engine, as ratios to the YAML parse floor measured in
the same run. Usage: python bench/scan.py [--count N] [--engines model,kyverno,gatekeeper]
[--rego-engine opa|regopy]. Prints; asserts nothing."""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
import tracemalloc
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policygen import config
from policygen.engines import EvalContext, Review, create
from policygen.manifests import read
from policygen.model import namespace_of

ROOT = Path(__file__).resolve().parent.parent
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
    for c in containers:
        if rng.random() < 0.5:
            c["imagePullPolicy"] = "Always"
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--engines", default="model,kyverno,gatekeeper")
    parser.add_argument("--rego-engine", default="auto")
    args = parser.parse_args()
    rng = random.Random(42)
    corpus = ROOT / "bench" / f".corpus-{args.count}.yaml"
    corpus.write_text(yaml.safe_dump_all([workload(i, rng) for i in range(args.count)]))
    cfg = config.load(ROOT / "policygen.yaml", today=dt.date(2026, 11, 28))

    start = time.perf_counter()
    docs = [d for d in read([str(corpus)]) if hasattr(d, "obj")]
    parse = time.perf_counter() - start
    rate = args.count / parse
    print(f"{args.count} workloads; YAML parse floor {parse:.2f}s ({rate:,.0f} objects/s)")
    reviews = [Review(d.obj, namespace_of(d.obj, "default")) for d in docs]  # type: ignore[union-attr]
    ctx = EvalContext(dt.date(2026, 11, 28))
    for name in args.engines.split(","):
        engine = create(name, rego_engine=args.rego_engine)
        engine.evaluate(cfg, reviews[:1], ctx)  # compile outside the timing
        start = time.perf_counter()
        engine.evaluate(cfg, reviews, ctx)
        took = time.perf_counter() - start
        tracemalloc.start()  # a second pass: tracing slows Python, so never time it
        engine.evaluate(cfg, reviews, ctx)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(
            f"{name:11} {args.count / took:9,.0f} objects/s  {took / parse:6.2f}x parse time  "
            f"peak {peak / 2**20:.1f} MiB"
        )
    corpus.unlink()


if __name__ == "__main__":
    main()
