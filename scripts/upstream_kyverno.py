"""Run every ``kyverno-test.yaml`` of a kyverno/policies checkout through
``policygen kyverno test`` (without API-server defaulting, as the Kyverno
CLI) and classify each test folder:

- pass: every expected result agrees;
- wrong: at least one result disagrees (a wrong verdict);
- refused: nothing wrong, but some result was refused with a reason;
- crash: policygen raised something other than its own errors (a bug).

Usage: ``python scripts/upstream_kyverno.py /path/to/kyverno-policies [-v] [--json FILE]``
(``make upstream-kyverno UPSTREAM=/path``). Not part of CI: it takes minutes.
The upstream files are read in place and never copied into the project.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from policygen.errors import PolicygenError
from policygen.kyverno_suite import DEFAULT_FILE, Row, run_test
from policygen.yamlio import read_objects

STATUSES = ("pass", "wrong", "refused", "crash")


def classify(rows: list[Row]) -> tuple[str, list[str]]:
    wrong = [r for r in rows if not r.ok and not r.refused]
    refused = [r for r in rows if r.refused]
    if wrong:
        return "wrong", [
            f"{r.policy}/{r.rule} {r.resource}: want {r.expected}, got {r.actual}"
            + (f"; {r.detail}" if r.detail else "")
            + (f" ({r.message[:300]})" if r.message else "")
            for r in wrong
        ]
    if refused:
        return "refused", sorted({r.refused for r in refused})
    return "pass", []


def policy_kinds(path: Path) -> str:
    """The kinds of the policies a test names, to tell the engines' shares apart."""
    try:
        doc = next(d for d in read_objects(path) if d.get("kind") == "Test")
        files = doc.get("policies") or []
        kinds = {
            str(p.get("kind"))
            for f in files
            for p in read_objects(path.parent / str(f))
            if isinstance(p, dict)
        }
    except Exception:
        return "?"
    return "+".join(sorted(kinds)) or "?"


def run_folder(path: Path) -> dict[str, Any]:
    kinds = policy_kinds(path)
    result = _run_folder(path)
    result["kinds"] = kinds
    return result


def _run_folder(path: Path) -> dict[str, Any]:
    try:
        rows = run_test(path, api_defaults=False)
    except PolicygenError as exc:
        return {"status": "refused", "reasons": [str(exc)], "rows": 0}
    except Exception as exc:  # a bug: keep going, report it
        tb = traceback.format_exception(exc)[-3:]
        return {"status": "crash", "reasons": [f"{type(exc).__name__}: {exc}", *tb], "rows": 0}
    status, reasons = classify(rows)
    return {
        "status": status,
        "reasons": reasons,
        "rows": len(rows),
        "wrong_rows": sum(1 for r in rows if not r.ok and not r.refused),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("upstream", type=Path, help="a kyverno/policies checkout")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every folder")
    parser.add_argument("--json", type=Path, help="write per-folder results here")
    parser.add_argument("--only", default="", help="only folders whose path contains this")
    args = parser.parse_args(argv)
    tests = sorted(args.upstream.rglob(DEFAULT_FILE))
    tests = [t for t in tests if args.only in str(t.relative_to(args.upstream))]
    results: dict[str, dict[str, Any]] = {}
    for test in tests:
        folder = str(test.parent.relative_to(args.upstream))
        results[folder] = run_folder(test)
        r = results[folder]
        if args.verbose or r["status"] in ("wrong", "crash"):
            print(f"{r['status']:8} {folder}")
            for reason in r["reasons"][: 8 if args.verbose else 20]:
                print(f"         {reason}")
    counts = Counter(r["status"] for r in results.values())
    reasons = Counter(
        reason.split(": ", 1)[0] if "unsupported" not in reason else _short(reason)
        for r in results.values()
        if r["status"] == "refused"
        for reason in r["reasons"][:1]
    )
    print()
    print("refusals by reason (first reason of each folder):")
    for reason, n in reasons.most_common(40):
        print(f"  {n:4}  {reason}")
    wrong_rows = sum(r.get("wrong_rows", 0) for r in results.values())
    print()
    print(
        f"{len(results)} folders: "
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)
        + f" ({wrong_rows} wrong rows)"
    )
    by_kind: dict[str, Counter[str]] = {}
    for r in results.values():
        by_kind.setdefault(r["kinds"], Counter())[r["status"]] += 1
    for kind, c in sorted(by_kind.items(), key=lambda kv: -sum(kv[1].values())):
        print(f"  {kind}: " + ", ".join(f"{c.get(s, 0)} {s}" for s in STATUSES))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True))
    return 1 if counts.get("wrong") or counts.get("crash") else 0


def _short(reason: str) -> str:
    """An unsupported-construct reason without the path to the upstream file."""
    head, _, what = reason.partition(" construct at ")
    where, _, detail = what.rpartition(": ")
    where = where.split(": ")[-1]
    last = where.rsplit(".", 1)[-1] if "." in where else where
    return f"{head}: …{last}: {detail}"


if __name__ == "__main__":
    sys.exit(main())
