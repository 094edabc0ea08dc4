"""How far the offline proof can be trusted: the engines it ran on and the
upstream suites its evaluators reproduce.

``SUITES`` records runs of upstream's own test suites (which nobody here
wrote) through policygen's evaluators. The numbers are measured, never
typed from hope: regenerate them with the scripts named in each entry and
update this table in the same commit as the change that moved them."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from policygen import __version__

#: The packages whose code decides verdicts, by the evaluator that uses them.
ENGINE_PACKAGES = (
    ("gatekeeper (Rego)", "opa-golib-python-bindings"),
    ("gatekeeper (Rego, fallback; Rego v0 parser)", "gordon-to-regorus"),
    ("gatekeeper (Rego, for comparison)", "regopy"),
    ("vap, kyverno-cel, CEL entries", "cel-expr-python"),
)


@dataclass(frozen=True)
class SuiteResult:
    suite: str  # upstream repository and folder
    commit: str
    evaluator: str  # policygen's evaluator, with engine and mode
    unit: str  # what is counted: suites, cases, test folders
    passed: int
    total: int
    refused: int  # refused with a reason (unsupported construct, cluster-only)
    wrong: int  # a verdict that differs from upstream's expectation
    how: str  # the command that reproduces the row

    @property
    def share(self) -> str:
        return f"{self.passed}/{self.total}"


KYVERNO_POLICIES = "kyverno/policies (every kyverno-test.yaml)"
KYVERNO_HOW = "make upstream-kyverno UPSTREAM=<kyverno/policies checkout>"

_GATOR = "open-policy-agent/gatekeeper-library library/"
_GATOR_COMMIT = "5c441fb645f2"
_GATOR_HOW = "make upstream-gatekeeper UPSTREAM=<gatekeeper-library>"


def _gator(evaluator: str, unit: str, passed: int, total: int, refused: int) -> SuiteResult:
    return SuiteResult(
        _GATOR, _GATOR_COMMIT, evaluator, unit, passed, total, refused, 0, _GATOR_HOW
    )


SUITES: tuple[SuiteResult, ...] = (
    # scripts/upstream_gatekeeper.py; a suite passes when all its cases do.
    _gator("gatekeeper verify, opa, CEL first", "cases", 270, 270, 0),
    _gator("gatekeeper verify, opa, Rego only", "cases", 270, 270, 0),
    _gator("gatekeeper verify, regorus, CEL first", "cases", 270, 270, 0),
    _gator("gatekeeper verify, regorus, Rego only", "cases", 270, 270, 0),
    _gator("gatekeeper verify, regopy, CEL first", "cases", 251, 270, 19),
    _gator("gatekeeper verify, regopy, Rego only", "cases", 234, 270, 36),
    # measured 2026-12-02 on i19-engines (match by requester, v2beta1, time_since),
    # no API-server defaulting (as the Kyverno CLI)
    SuiteResult(
        KYVERNO_POLICIES,
        "b9c4317",
        "kyverno, ClusterPolicy",
        "folders",
        343,
        353,
        10,
        0,
        KYVERNO_HOW,
    ),
    SuiteResult(
        KYVERNO_POLICIES,
        "b9c4317",
        "kyverno-cel, ValidatingPolicy",
        "folders",
        99,
        100,
        1,
        0,
        KYVERNO_HOW,
    ),
    SuiteResult(
        KYVERNO_POLICIES,
        "b9c4317",
        "kyverno-cel, MutatingPolicy",
        "folders",
        36,
        37,
        1,
        0,
        KYVERNO_HOW,
    ),
    SuiteResult(
        KYVERNO_POLICIES, "b9c4317", "kyverno, GeneratingPolicy", "folders", 0, 2, 2, 0, KYVERNO_HOW
    ),
)


def engine_versions() -> list[tuple[str, str, str]]:
    """(evaluator, package, version) for every engine, ``not installed`` when absent."""
    rows = [("kyverno (policygen's own engine)", "policygen", __version__)]
    for evaluator, package in ENGINE_PACKAGES:
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "not installed"
        rows.append((evaluator, package, version))
    return rows
