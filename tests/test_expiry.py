"""Exemptions lapse in the cluster by the engine's own clock, which every
evaluator takes from ``--now``; the model decides by the same clock.

The example's ``scraper-migration`` expires 2027-03-31 (inclusive): it holds
through 2027-03-31T23:59:59Z, the instant the policies carry, and at that
instant itself (Kyverno's PolicyException: ``time.Now().After(expiresAt)``
is false at equality), and lapses at the next second."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policygen import clock, config
from policygen.engines import EvalContext, Evaluator, Review, create
from policygen.engines.gatekeeper import GatekeeperEngine
from policygen.errors import ConfigError, PolicygenError
from policygen.violations import Violation
from tests.conftest import EXAMPLE

IMAGE = "harbor.corp.example/infra/scraper:27.15"
POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "scraper", "namespace": "logging"},
    "spec": {"containers": [{"name": "scraper", "image": IMAGE, "imagePullPolicy": "Always"}]},
}
LAPSED = [
    Violation(
        "digest",
        "scraper",
        IMAGE,
        f'container "scraper" image "{IMAGE}" must be pinned by digest (@sha256:<64 hex>)',
        "deny",
    )
]
UTC = dt.UTC
#: the clock on both sides of the boundary, and the boundary itself
CLOCKS = [
    (dt.date(2027, 3, 31), []),  # the day's first second
    (dt.datetime(2027, 3, 31, 23, 59, 58, tzinfo=UTC), []),
    (dt.datetime(2027, 3, 31, 23, 59, 59, tzinfo=UTC), []),  # expiresAt itself: still held
    (dt.datetime(2027, 4, 1, 0, 0, 0, tzinfo=UTC), LAPSED),
    (dt.datetime(2027, 4, 1, 1, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=2))), []),
    (dt.date(2027, 4, 2), LAPSED),
]
#: the engines whose policies carry the clock
CLOCKED: dict[str, Callable[[], Evaluator]] = {
    "model": lambda: create("model"),
    "kyverno": lambda: create("kyverno"),
    "kyverno-cel": lambda: create("kyverno-cel"),
    "gatekeeper-opa": lambda: GatekeeperEngine("opa"),
    "gatekeeper-regorus": lambda: GatekeeperEngine("regorus"),
    "gatekeeper-regopy": lambda: GatekeeperEngine("regopy"),
}


@pytest.fixture(scope="module")
def lapsing() -> config.Config:
    """The example, loaded as the evaluators load it: lapsed exemptions kept."""
    return config.load(EXAMPLE, today=dt.date(2027, 4, 2), allow_lapsed=True)


@pytest.mark.parametrize("engine", list(CLOCKED))
@pytest.mark.parametrize(("now", "expected"), CLOCKS, ids=[str(c[0]) for c in CLOCKS])
def test_an_exemption_lapses_by_the_engines_clock(
    lapsing: config.Config, engine: str, now: dt.date, expected: list[Violation]
) -> None:
    evaluator = CLOCKED[engine]()
    found = evaluator.evaluate(lapsing, [Review(POD, "logging")], EvalContext(now))[0]
    if engine == "kyverno-cel":  # a policy's answer is its message, per rule
        expected = [Violation(v.rule, "", "", v.message, v.action) for v in expected]
    assert found == expected


def test_one_evaluator_follows_the_clock_from_call_to_call(lapsing: config.Config) -> None:
    # The Gatekeeper evaluator keeps answers across calls: the clock is
    # part of what they are kept by.
    engine = GatekeeperEngine("opa")
    seen = [
        engine.evaluate(lapsing, [Review(POD, "logging")], EvalContext(now))[0]
        for now in (dt.date(2027, 3, 31), dt.date(2027, 4, 1), dt.date(2027, 3, 31))
    ]
    assert seen == [[], LAPSED, []]


def test_vap_has_no_clock_so_its_exemption_holds_after_the_model_lets_it_lapse(
    lapsing: config.Config,
) -> None:
    # Kubernetes' CEL environment (apiserver pkg/cel/environment/base.go)
    # has no function that reads the time and admission passes none: the
    # exemption is lifted only by rebuilding the bundle without it.
    engine = create("vap")
    after = engine.evaluate(lapsing, [Review(POD, "logging")], EvalContext(dt.date(2027, 4, 2)))
    assert after == [[]]


def test_the_gatekeeper_parameters_carry_the_last_second() -> None:
    from policygen.targets.gatekeeper import GatekeeperTarget

    cfg = config.load(EXAMPLE, today=dt.date(2026, 11, 28))
    [exemption] = GatekeeperTarget.parameters(cfg, "digest")["exemptions"]
    assert exemption["expiresAt"] == "2027-03-31T23:59:59Z"
    assert GatekeeperTarget.parameters(cfg, "registries")["exemptions"] == []


def test_build_refuses_a_lapsed_exemption_and_the_evaluators_keep_it() -> None:
    with pytest.raises(ConfigError) as caught:
        config.load(EXAMPLE, today=dt.datetime(2027, 4, 1, tzinfo=UTC))
    assert str(caught.value).endswith(
        "spec.exemptions[0].expires: exemption expired on 2027-03-31 "
        "(today is 2027-04-01); renew it or remove it"
    )
    config.load(EXAMPLE, today=dt.datetime(2027, 3, 31, 23, 59, 59, tzinfo=UTC))
    kept = config.load(EXAMPLE, today=dt.date(2030, 1, 1), allow_lapsed=True)
    assert [e.name for e in kept.spec.exemptions] == ["scraper-migration"]


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2027-03-31", dt.datetime(2027, 3, 31, tzinfo=UTC)),
        ("2027-03-31T23:59:59Z", dt.datetime(2027, 3, 31, 23, 59, 59, tzinfo=UTC)),
        ("2027-04-01t01:00:00+02:00", dt.datetime(2027, 3, 31, 23, 0, 0, tzinfo=UTC)),
    ],
)
def test_now_is_a_date_or_an_rfc3339_instant(text: str, instant: dt.datetime) -> None:
    assert clock.parse(text) == instant


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "31/03/2027",
            "--now: '31/03/2027' is not a date (YYYY-MM-DD) or an RFC 3339 timestamp "
            "(YYYY-MM-DDTHH:MM:SSZ)",
        ),
        (
            "2027-03-31T23:59:59",
            "--now: '2027-03-31T23:59:59' has no time zone; end it with Z or an offset",
        ),
        (
            "2027-03-31T23:59:59.5Z",
            "--now: '2027-03-31T23:59:59.5Z' has fractions of a second; the engines' clocks "
            "tick in whole seconds (Kyverno's time_now_utc())",
        ),
    ],
)
def test_a_bad_now_is_refused(text: str, message: str) -> None:
    with pytest.raises(PolicygenError) as caught:
        clock.parse(text)
    assert str(caught.value) == message


def test_cli_test_checks_tomorrows_verdicts_today(tmp_path: Path) -> None:
    """``policygen test --now`` past the expiry runs (the config is not
    refused) and shows the vap target, which has no clock, disagreeing."""
    from typer.testing import CliRunner

    from policygen.cli import app

    cfg = tmp_path / "policygen.yaml"
    cfg.write_text(
        EXAMPLE.read_text().replace("[kyverno, kyverno-cel, gatekeeper, vap]", "[gatekeeper]")
    )
    runner = CliRunner()
    before = runner.invoke(app, ["test", "-c", str(cfg), "--now", "2027-03-31T23:59:59Z"])
    assert before.exit_code == 0, before.output
    after = runner.invoke(app, ["test", "-c", str(cfg), "--now", "2027-04-01T00:00:00Z"])
    assert after.exit_code == 0, after.output
    cfg.write_text(EXAMPLE.read_text().replace("[kyverno, kyverno-cel, gatekeeper, vap]", "[vap]"))
    lapsed = runner.invoke(app, ["test", "-c", str(cfg), "--now", "2027-04-01"])
    assert lapsed.exit_code == 1, lapsed.output
    assert lapsed.output.count("  vap: missing: rule digest (deny)\n") == 3
    assert lapsed.output.endswith(
        "891 objects × 2 engines (model, vap): 3 disagree\n"
        "policygen: vap has no clock: exemption scraper-migration, lapsed at "
        "2027-04-01T00:00:00Z, still holds there until the bundle is rebuilt without it\n"
    )
    built = runner.invoke(
        app, ["build", "-c", str(cfg), "--now", "2027-04-01", "-o", str(tmp_path / "p")]
    )
    assert built.exit_code == 2


@pytest.mark.parametrize(
    ("now", "exit_code"),
    [("2027-03-31T23:59:59Z", 0), ("2027-04-01T00:00:00Z", 1)],
)
def test_gatekeeper_verify_takes_the_clock(tmp_path: Path, now: str, exit_code: int) -> None:
    """A gator suite over the committed bundle's digest template: the case
    expects the exemption to hold, which it does until the clock passes it."""
    import yaml
    from typer.testing import CliRunner

    from policygen.cli import app

    bundle = EXAMPLE.parent / "policies" / "gatekeeper"
    for name in ("template-digest.yaml", "constraint-digest.yaml"):
        (tmp_path / name).write_text((bundle / name).read_text())
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(POD))
    suite = {
        "kind": "Suite",
        "apiVersion": "test.gatekeeper.sh/v1alpha1",
        "metadata": {"name": "expiry"},
        "tests": [
            {
                "name": "digest",
                "template": "template-digest.yaml",
                "constraint": "constraint-digest.yaml",
                "cases": [
                    {"name": "exempt", "object": "pod.yaml", "assertions": [{"violations": "no"}]}
                ],
            }
        ],
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    result = CliRunner().invoke(
        app, ["gatekeeper", "verify", str(tmp_path / "suite.yaml"), "--now", now, "-v"]
    )
    assert result.exit_code == exit_code, result.output


@pytest.mark.parametrize("engine", ["kyverno", "kyverno-cel"])
def test_the_kyverno_evaluators_follow_the_clock_from_call_to_call(
    lapsing: config.Config, engine: str
) -> None:
    # Their policies read the clock (time_now_utc(), time.now()), so the
    # loaded policies take it on every call and the reuse layer keeps
    # answers per clock.
    evaluator = create(engine)
    seen = [
        len(evaluator.evaluate(lapsing, [Review(POD, "logging")], EvalContext(now))[0])
        for now in (dt.date(2027, 3, 31), dt.date(2027, 4, 1), dt.date(2027, 3, 31))
    ]
    assert seen == [0, 1, 0]
