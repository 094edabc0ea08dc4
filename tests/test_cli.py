from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policygen.cli import app
from tests.conftest import CORPUS, EXAMPLE

runner = CliRunner()
NOW = "2026-11-28"


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_init_then_validate(tmp_path: Path) -> None:
    path = tmp_path / "policygen.yaml"
    assert run("init", str(path))[0] == 0
    assert run("validate", "-c", str(path)) == (0, f"{path}: ok (0 tenants, 0 exemptions)\n", "")
    code, _, err = run("init", str(path))
    assert (code, err) == (2, f"policygen: {path} exists; pass --force to overwrite it\n")


def test_validate_reports_file_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(EXAMPLE.read_text().replace("  targets:", "  targetz:"))
    code, _, err = run("build", "-c", str(bad), "-o", str(tmp_path / "out"), "--now", "2026-11-28")
    assert code == 2
    assert err == (
        f"policygen: {bad}:7:1: spec.targets: required field is missing\n"
        f"policygen: {bad}:8:3: spec.targetz: unknown field\n"
    )
    assert not (tmp_path / "out").exists()


def test_build_and_check(tmp_path: Path) -> None:
    cfg = tmp_path / "policygen.yaml"
    shutil.copy(EXAMPLE, cfg)
    out = tmp_path / "policies"
    code, stdout, _ = run("build", "-c", str(cfg), "-o", str(out), "--now", "2026-11-28")
    assert code == 0
    assert stdout.splitlines()[0] == f"wrote {out}/bundle.lock"
    assert run("build", "--check", "-c", str(cfg), "-o", str(out), "--now", "2026-11-28")[0] == 0
    cfg.write_text(
        cfg.read_text().replace("action: deny\n      algorithms", "action: warn\n      algorithms")
    )
    code, _, err = run("build", "--check", "-c", str(cfg), "-o", str(out), "--now", "2026-11-28")
    assert code == 1
    assert "-  enforcementAction: deny\n+  enforcementAction: warn\n" in err


def test_expired_exemption_refuses_to_render(tmp_path: Path) -> None:
    code, _, err = run(
        "build", "-c", str(EXAMPLE), "-o", str(tmp_path / "o"), "--now", "2027-04-01"
    )
    assert code == 2
    assert err.endswith(
        "spec.exemptions[0].expires: exemption expired on 2027-03-31 (today is 2027-04-01); renew it or remove it\n"
    )


def test_explain() -> None:
    code, out, _ = run(
        "explain",
        "index.docker.io/nginx",
        "-n",
        "logging",
        "-c",
        str(EXAMPLE),
        "--now",
        "2026-11-28",
    )
    assert code == 0
    assert out.splitlines()[:8] == [
        "image:      index.docker.io/nginx",
        "normalised: docker.io/library/nginx:latest",
        "registry:   docker.io",
        "repository: library/nginx",
        "tag:        -",
        "digest:     -",
        "pullPolicy: Always (API-server default)",
        "namespace:  logging",
    ]


def test_explain_names_the_exemption() -> None:
    code, out, _ = run(
        "explain",
        "harbor.corp.example/infra/scraper:27.15",
        "-n",
        "logging",
        "--pull-policy",
        "Always",
        "-c",
        str(EXAMPLE),
        "--now",
        "2026-11-28",
    )
    assert code == 0
    assert (
        "digest      pass (exempted by scraper-migration, owner platform@corp.example, expires 2027-03-31)"
        in out
    )


def scan_scraper_json(*options: str) -> tuple[int, str]:
    args = ["scan", str(CORPUS / "scraper.yaml"), *options, "--format", "json"]
    code, out, _ = run(*args, "-c", str(EXAMPLE), "--now", "2026-11-28")
    return code, out


def test_scan_json_and_exit_code() -> None:
    code, out = scan_scraper_json()
    assert code == 1
    report = json.loads(out)
    assert report["engine"] == "model"
    assert report["summary"] == {
        "objects": 4,
        "deny": 3,
        "warn": 0,
        "audit": 0,
        "allow": 1,
        "errors": 0,
        "other": 0,
        "skipped": 0,
        "ignored": 0,
    }
    first = report["results"][0]
    assert first["source"].endswith("scraper.yaml#1")
    assert (first["kind"], first["namespace"], first["name"], first["verdict"]) == (
        "DaemonSet",
        "monitoring",
        "log-scraper",
        "deny",
    )
    assert [v["rule"] for v in first["violations"]] == ["digest", "pullPolicy"]


def test_scan_stdin_list_and_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("a: [\n")
    (tmp_path / "bin.yaml").write_bytes(b"\0\1\2")
    stdin = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "p", "namespace": "team-a"},
                    "spec": {
                        "containers": [
                            {
                                "name": "c",
                                "image": "registry.k8s.io/pause:3.9@sha256:" + "a" * 64,
                                "imagePullPolicy": "Always",
                            }
                        ]
                    },
                }
            ],
        }
    )
    code, out, err = run(
        "scan", "-", str(tmp_path), "-c", str(EXAMPLE), "--show", "all", input=stdin
    )
    assert code == 2  # nothing denied, but two files could not be read
    assert "ALLOW Pod team-a/p (<stdin>#1.items[0])" in out.splitlines()
    assert out.splitlines()[-1] == "1 workload: 1 allow; 2 errors"
    assert (
        f"policygen: {tmp_path}/bad.yaml:2:1: invalid YAML: did not find expected node content"
        in err
    )
    assert f"policygen: {tmp_path}/bin.yaml: binary file, not a manifest" in err


def test_unknown_engine_is_usage_error() -> None:
    code, _, err = run("scan", str(CORPUS), "--engine", "nope", "-c", str(EXAMPLE))
    assert (code, err) == (
        2,
        "policygen: --engine: unknown engine 'nope' "
        "(model, kyverno, kyverno-cel, gatekeeper, gatekeeper-rego, vap, all)\n",
    )


@pytest.mark.parametrize("cmd", [["schema"]])
def test_schema_is_json(cmd: list[str]) -> None:
    code, out, _ = run(*cmd)
    assert code == 0
    assert json.loads(out)["title"] == "policygen ImagePolicyConfig"


@pytest.mark.parametrize("rego", ["opa", "regorus", "regopy"])
def test_scan_with_gatekeeper_engine(rego: str) -> None:
    code, out = scan_scraper_json("--engine", "gatekeeper", "--rego-engine", rego)
    assert code == 1
    report = json.loads(out)
    assert report["engine"] == "gatekeeper"
    assert [r["verdict"] for r in report["results"]] == ["deny", "deny", "allow", "deny"]
    assert report["results"][1]["violations"][0]["message"] == (
        '[Implied by acme-expand-workloads] container "scraper" must set imagePullPolicy: Always, not IfNotPresent'
    )


@pytest.mark.parametrize(
    ("engine", "rego", "label"),
    [
        ("gatekeeper", "regorus", "gatekeeper (Rego: regorus)"),
        ("gatekeeper", "auto", "gatekeeper (Rego: opa)"),
        ("all", "regopy", "all; gatekeeper Rego: regopy"),
        ("model", "regopy", "model"),
    ],
)
def test_scan_table_names_the_rego_engine_in_use(engine: str, rego: str, label: str) -> None:
    args = ["scan", str(CORPUS / "scraper.yaml"), "--engine", engine, "--rego-engine", rego]
    code, out, _ = run(*args, "-c", str(EXAMPLE), "--now", "2026-11-28")
    assert code == 1
    named = [line for line in out.splitlines() if line.startswith("engine: ")]
    assert named == ([] if engine == "model" else [f"engine: {label}"])


def test_unknown_rego_engine() -> None:
    code, _, err = run(
        "scan", str(CORPUS), "--engine", "gatekeeper", "--rego-engine", "wasm", "-c", str(EXAMPLE)
    )
    assert (code, err) == (
        2,
        "policygen: --rego-engine: unknown engine 'wasm' (opa, regorus, regopy, auto)\n",
    )


def test_python_dash_m_is_the_same_command() -> None:
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "policygen", "scan", "--help"], capture_output=True, text=True
    )
    assert run.returncode == 0
    assert "Usage: policygen scan [OPTIONS]" in run.stdout


def test_test_progress_goes_to_stderr_only() -> None:
    argv = ["test", "-c", str(EXAMPLE), "--now", "2026-11-28", "--no-builtin"]
    argv += ["--fixtures", str(CORPUS)]
    quiet = CliRunner().invoke(app, [*argv, "--no-progress"])
    loud = CliRunner().invoke(app, [*argv, "--progress"])
    assert (quiet.exit_code, loud.exit_code) == (0, 0)
    assert loud.stdout == quiet.stdout
    assert "proving" not in loud.stdout
    assert quiet.stderr == ""
    # a line per engine as it finishes: the model here first, then the
    # targets' engines as their processes answer
    from policygen.rego.programs import resolve

    objects = quiet.stdout.splitlines()[-1].split()[0]
    rego = resolve("auto")
    engines = ["kyverno", "kyverno-cel", f"gatekeeper (Rego: {rego})", "vap"]
    engines.append(f"gatekeeper-rego (Rego: {rego})")  # the templates' Rego on its own
    lines = [re.sub(r"in \d+\.\d\d s$", "in N s", line) for line in loud.stderr.splitlines()]
    assert (lines[0], sorted(lines[1:])) == (
        f"proving: model answered {objects} objects in N s",
        sorted(f"proving: {e} answered {objects} objects in N s" for e in engines),
    )


def test_scan_all_engines_with_mutate_runs_every_engine(tmp_path: Path) -> None:
    """Every target expresses pullPolicy: mutate, so every engine runs and
    agrees: the pod's unset pull policy is mutated to Always by each."""
    from tests import golden

    cfg = golden.cases()["mutate-selectors"]
    manifest = tmp_path / "p.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod-a}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: prod-a}\n"
        "spec: {containers: [{name: c, image: 'ghcr.io/x/y:1'}]}\n"
    )
    code, out, err = run(
        "scan", str(manifest), "--engine", "all", "--format", "json", "-c", str(cfg),
        "--now", "2026-11-28",
    )  # fmt: skip
    assert (code, err) == (0, "")
    (result,) = json.loads(out)["results"]
    assert list(result["engines"]) == [
        "model",
        "kyverno",
        "kyverno-cel",
        "gatekeeper",
        "gatekeeper-rego",
        "vap",
    ]
    assert result["verdict"] == "audit"
    assert {
        (name, v["rule"], v["action"])
        for name, engine in result["engines"].items()
        for v in engine["violations"]
    } == {(name, "registries", "audit") for name in result["engines"]}


def test_scan_all_engines_runs_those_whose_target_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target that cannot express the config (a stand-in vap that cannot
    mutate): scan says so and the other engines still run."""
    from tests import golden
    from tests.test_config import stand_in_registry

    stand_in_registry(monkeypatch)
    cfg = tmp_path / "policygen.yaml"  # vap is not among its targets, but --engine all runs it
    cfg.write_text(
        golden.cases()["mutate-selectors"]
        .read_text()
        .replace("targets: [gatekeeper, kyverno, kyverno-cel, vap]", "targets: [kyverno]")
    )
    manifest = tmp_path / "p.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod-a}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: prod-a}\n"
        "spec: {containers: [{name: c, image: 'ghcr.io/x/y:1'}]}\n"
    )
    code, out, err = run(
        "scan", str(manifest), "--engine", "all", "--format", "json", "-c", str(cfg),
        "--now", "2026-11-28",
    )  # fmt: skip
    assert code == 0, err
    assert err.splitlines() == [
        "policygen: engine vap not run: target vap cannot mutate (no mutating kind)",
    ]
    (result,) = json.loads(out)["results"]
    assert list(result["engines"]) == [
        "model",
        "kyverno",
        "kyverno-cel",
        "gatekeeper",
        "gatekeeper-rego",
    ]
    assert result["verdict"] == "audit"
    code, out, err = run("scan", str(manifest), "--engine", "vap", "-c", str(cfg))
    assert (code, out) == (2, "")
    assert err == "policygen: --engine vap: target vap cannot mutate (no mutating kind)\n"


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit"])
def test_scan_output_is_complete_or_absent(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import policygen.scan

    target = tmp_path / f"out.{fmt}"
    code, out, _ = run("scan", str(CORPUS), "--format", fmt, "-o", str(target), "-c", str(EXAMPLE))
    assert (code, out) == (1, "")
    whole = target.read_text()
    assert whole == run("scan", str(CORPUS), "--format", fmt, "-c", str(EXAMPLE))[1]

    real = policygen.scan._evaluate

    def fails_later(*args: object, **kw: object) -> object:
        yield from real(*args, **kw)  # type: ignore[arg-type]
        raise RuntimeError("engine crashed")

    monkeypatch.setattr(policygen.scan, "_evaluate", fails_later)
    result = runner.invoke(app, ["scan", str(CORPUS), "--format", fmt, "-c", str(EXAMPLE)])
    assert (result.exit_code, result.stderr) == (
        3,
        "policygen: internal error (a bug, please report it): RuntimeError: engine crashed\n",
    )
    assert result.stdout == ""  # not a prefix that parses as a clean report
    result = runner.invoke(
        app, ["scan", str(CORPUS), "--format", fmt, "-o", str(target), "-c", str(EXAMPLE)]
    )
    assert (result.exit_code, result.stderr) == (
        3,
        "policygen: internal error (a bug, please report it): RuntimeError: engine crashed\n",
    )
    assert target.read_text() == whole  # the last complete report stays
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_explain_an_image_volume_with_namespace_labels() -> None:
    from tests import golden

    cfg = str(golden.cases()["mutate-selectors"])
    args = ["explain", "ghcr.io/red/app:1", "-n", "prod-a", "-c", cfg, "--now", "2026-11-28"]
    code, out, _ = run(*args, "--volume", "--label", "tenant=red")
    assert code == 0
    assert out.splitlines()[-4:] == [
        "tenants:    red",
        "digest      pass (namespace not opted in to digest pinning)",
        'pullPolicy  DENY: volume "explain" must set pullPolicy: Always, not IfNotPresent',
        "registries  pass",
    ]
    code, out, err = run(*args, "--label", "tenant")
    assert (code, out, err) == (2, "", "policygen: --label: 'tenant' is not KEY=VALUE\n")


# --- the one error edge ---------------------------------------------------------


def test_every_problem_is_one_line_named_once(tmp_path: Path) -> None:
    """A bad fixture used to read ``policygen: policygen: …``, and one config
    problem had the prefix where two had none: each problem is one line,
    prefixed once, whichever command and however many."""
    (tmp_path / "a.yaml").write_text("a: [\n")
    (tmp_path / "b.yaml").write_bytes(b"\0\1")
    code, out, err = run(
        "test", "-c", str(EXAMPLE), "--no-builtin", "--fixtures", str(tmp_path), "--now", NOW
    )
    assert (code, out, err) == (
        2,
        "",
        f"policygen: {tmp_path}/a.yaml:2:1: invalid YAML: did not find expected node content\n"
        f"policygen: {tmp_path}/b.yaml: binary file, not a manifest\n",
    )
    one = tmp_path / "one.yaml"
    one.write_text(EXAMPLE.read_text().replace("[kyverno, kyverno-cel, gatekeeper, vap]", "[x]"))
    code, _, err = run("validate", "-c", str(one), "--now", NOW)
    assert (code, err) == (
        2,
        f"policygen: {one}:8:13: spec.targets[0]: "
        "Input should be 'kyverno', 'kyverno-cel', 'gatekeeper' or 'vap'\n",
    )


def test_a_problem_over_several_lines_is_prefixed_once(tmp_path: Path) -> None:
    """A stale bundle's diff goes on below its first line, unprefixed."""
    cfg = tmp_path / "policygen.yaml"
    shutil.copy(EXAMPLE, cfg)
    out = tmp_path / "policies"
    assert run("build", "-c", str(cfg), "-o", str(out), "--now", NOW)[0] == 0
    cfg.write_text(
        cfg.read_text().replace("action: deny\n      algorithms", "action: warn\n      algorithms")
    )
    code, _, err = run("build", "--check", "-c", str(cfg), "-o", str(out), "--now", NOW)
    # the warnings come first: the digest template has no CEL (the example
    # exempts from digest), the ClusterPolicy is deprecated (Kyverno 1.19)
    cel, deprecated, *lines = err.splitlines()
    assert cel.startswith("policygen: warning: gatekeeper 3.23: the digest template has Rego only")
    assert deprecated.startswith("policygen: warning: kyverno.io/v1 ClusterPolicy on kyverno 1.19")
    assert code == 1
    assert lines[0] == f"policygen: {out} is stale: run `policygen build` and commit the result."
    assert [line for line in lines if line.startswith("policygen:")] == [lines[0]]


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom")


def test_a_bug_is_exit_3_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("policygen.config.load", _boom)
    monkeypatch.delenv("POLICYGEN_DEBUG", raising=False)
    assert run("validate", "-c", str(EXAMPLE)) == (
        3,
        "",
        "policygen: internal error (a bug, please report it): RuntimeError: boom\n",
    )


def test_a_bug_in_a_subcommand_group_is_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("policygen.kyverno_suite.run_tests", _boom)
    code, _, err = run("kyverno", "test", ".")
    assert (code, err) == (
        3,
        "policygen: internal error (a bug, please report it): RuntimeError: boom\n",
    )


def test_a_bug_shows_its_traceback_with_policygen_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("policygen.config.load", _boom)
    monkeypatch.setenv("POLICYGEN_DEBUG", "1")
    code, _, err = run("validate", "-c", str(EXAMPLE))
    assert code == 3
    assert err.startswith("Traceback (most recent call last):\n")
    assert err.endswith(
        "RuntimeError: boom\npolicygen: internal error (a bug, please report it): RuntimeError: boom\n"
    )


def test_a_rendering_bug_is_exit_3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An object policygen renders that the API server would refuse is
    policygen's bug, although it is a PolicygenError."""
    from policygen import apicheck

    def refuse(*args: object, **kwargs: object) -> None:
        raise apicheck.InvalidObject("policygen rendered objects …:\n  x.yaml: y: z")

    monkeypatch.setattr(apicheck, "check_texts", refuse)
    code, _, err = run("build", "-c", str(EXAMPLE), "-o", str(tmp_path / "o"), "--now", NOW)
    assert (code, err) == (3, "policygen: policygen rendered objects …:\n  x.yaml: y: z\n")


def test_the_environment_saying_no_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", "/x/policies")

    monkeypatch.setattr("policygen.config.load", full)
    assert run("validate", "-c", str(EXAMPLE)) == (
        2,
        "",
        "policygen: /x/policies: No space left on device\n",
    )


def test_main_is_the_same_edge(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The installed entry point, not only typer's runner, gives exit 3."""
    from policygen import cli

    monkeypatch.setattr("policygen.config.load", _boom)
    monkeypatch.delenv("POLICYGEN_DEBUG", raising=False)
    monkeypatch.setattr("sys.argv", ["policygen", "validate", "-c", str(EXAMPLE)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    assert (exited.value.code, captured.out, captured.err) == (
        3,
        "",
        "policygen: internal error (a bug, please report it): RuntimeError: boom\n",
    )


def test_a_missing_dependency_is_named_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installation made before a dependency was declared (or one pip
    uninstalled) is the environment, not a bug: it says what to install."""

    def missing(*args: object, **kwargs: object) -> None:
        raise ModuleNotFoundError(
            "No module named 'kubernetes_validate'", name="kubernetes_validate"
        )

    monkeypatch.setattr("policygen.config.load", missing)
    assert run("validate", "-c", str(EXAMPLE)) == (
        2,
        "",
        "policygen: this installation of policygen lacks its dependency kubernetes-validate>=1.37 "
        "(no module 'kubernetes_validate'): reinstall policygen, or pip install "
        "'kubernetes-validate>=1.37'\n",
    )


def test_a_missing_module_policygen_does_not_depend_on_is_a_bug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(*args: object, **kwargs: object) -> None:
        raise ModuleNotFoundError("No module named 'policygen_nothing'", name="policygen_nothing")

    monkeypatch.setattr("policygen.config.load", missing)
    monkeypatch.delenv("POLICYGEN_DEBUG", raising=False)
    assert run("validate", "-c", str(EXAMPLE)) == (
        3,
        "",
        "policygen: internal error (a bug, please report it): ModuleNotFoundError: "
        "No module named 'policygen_nothing'\n",
    )
