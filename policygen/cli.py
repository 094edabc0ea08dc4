"""The command line: parse arguments, call a command module, print, exit.

The only module that prints or exits. Exit codes: 0 ok; 1 "no" (a denial, a
disagreement, a stale bundle); 2 bad input or usage; 3 a bug in policygen.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from policygen import __version__, config
from policygen.errors import EXIT_BUG, EXIT_INPUT, EXIT_NO, EXIT_OK, PolicygenError
from policygen.requirements import lacking, missing_requirement

if TYPE_CHECKING:
    from policygen.pinverify import VerifyReport

T = TypeVar("T")

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 a denial, a disagreement or a stale bundle; "
    "2 bad input or usage; 3 a bug in policygen."
)

#: Click's own signals (usage errors, exits), from whichever click typer uses:
#: its own copy in recent typer (0.29 here), the click package in older ones.
_CLICK_SIGNALS: tuple[type[BaseException], ...] = (
    typer.Exit,
    typer.Abort,
    *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"),
)


class _Edge(TyperGroup):
    """The one error edge: every command's failure becomes one message on
    stderr and one exit code here, so no command catches anything itself.

    - a ``PolicygenError`` (bad input, a refusal, a stale bundle): each of its
      problems on a line of its own, ``policygen: file:line:col: field:
      message``, and the error's exit code (2, or 1 for a stale bundle, 3 for
      an object policygen rendered wrong);
    - an ``OSError`` (a full disk, a closed pipe): the environment said no,
      exit 2 with what it said;
    - anything else is a bug: exit 3, one line, no traceback unless
      ``POLICYGEN_DEBUG`` is set.

    Click's own exits (usage errors, ``typer.Exit``) pass through."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _CLICK_SIGNALS:
            raise
        except PolicygenError as exc:
            for problem in exc.problems_text():
                say(problem)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # click's main turns a closed pipe into exit 1
                raise
            raise typer.Exit(_environment_failed(exc)) from None
        except ModuleNotFoundError as exc:
            requirement = missing_requirement(exc)
            if requirement is None:
                raise typer.Exit(_bug(exc)) from None
            say(lacking(exc, requirement))
            raise typer.Exit(EXIT_INPUT) from None
        except Exception as exc:
            raise typer.Exit(_bug(exc)) from None


def say(line: str) -> None:
    """One message to the user on stderr, named as policygen's once."""
    print(f"policygen: {line}", file=sys.stderr)


def _bug(exc: BaseException) -> int:
    if os.environ.get("POLICYGEN_DEBUG"):
        traceback.print_exception(exc)
    with contextlib.suppress(OSError):
        say(f"internal error (a bug, please report it): {type(exc).__name__}: {exc}")
    return EXIT_BUG


app = typer.Typer(
    cls=_Edge,
    name="policygen",
    help="Admission policies that pin images by digest and pull them every time.\n\n"
    + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="The policygen config file.", show_default=True)
]
NowOpt = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="The clock: a date (YYYY-MM-DD, its first second UTC) or an RFC 3339 "
        "timestamp (2027-03-31T23:59:59Z). Exemptions lapse by it, in the model and "
        "in every engine's clock, so CI can check tomorrow's verdicts today.",
    ),
]
KubernetesOpt = Annotated[
    str, typer.Option("--kubernetes-version", help="The nodes' Kubernetes version, e.g. 1.36.")
]
ProgressOpt = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Show progress on stderr (default: when stderr is a terminal); "
        "never in the report itself.",
    ),
]
RegoEngineOpt = Annotated[
    str,
    typer.Option(
        help="Rego engine for gatekeeper: opa, regorus, regopy or auto (OPA, else regorus)."
    ),
]


def _now(value: str | None) -> dt.datetime:
    from policygen import clock

    return clock.parse(value)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter config.")] = Path(
        "policygen.yaml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter policygen.yaml."""
    from policygen import atomic

    if path.exists() and not force:
        raise PolicygenError(f"{path} exists; pass --force to overwrite it")
    atomic.write_text(path, config.starter())
    print(f"wrote {path}")


@app.command()
def validate(cfg: ConfigOpt = Path("policygen.yaml"), now: NowOpt = None) -> None:
    """Check the config; errors are reported as FILE:LINE:COL: field: message."""
    loaded = config.load(cfg, today=_now(now))
    print(
        f"{cfg}: ok ({len(loaded.spec.tenants)} tenants, {len(loaded.spec.exemptions)} exemptions)"
    )


@app.command()
def schema() -> None:
    """Print the config's JSON schema, for editor completion."""
    print(json.dumps(config.json_schema(), indent=2, sort_keys=True))


@app.command()
def build(
    cfg: ConfigOpt = Path("policygen.yaml"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle folder.")] = Path("policies"),
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 with a diff if the bundle on disk is stale.")
    ] = False,
    now: NowOpt = None,
) -> None:
    """Render the bundle: one folder per target, kustomizations and bundle.lock."""
    # here, not at the top: validate and the commands that only read the
    # config start without the schema checks' imports (jsonschema, the CRDs)
    from policygen import bundle

    today = _now(now)
    loaded = config.load(cfg, today=today)
    rendered = bundle.render_bundle(loaded, cfg, today)
    for warning in rendered.warnings:
        print(f"policygen: warning: {warning}", file=sys.stderr)
    if check:
        bundle.check(rendered, out)
        print(f"{out}: up to date ({len(rendered.files)} files)")
        return
    bundle.write(rendered, out)
    for rel in rendered.files:
        print(f"wrote {out / rel}")


@app.command("test")
def test_command(
    cfg: ConfigOpt = Path("policygen.yaml"),
    bundle_dir: Annotated[
        Path | None,
        typer.Option(
            "--bundle", help="Evaluate this built bundle instead of rendering the config."
        ),
    ] = None,
    fixture_paths: Annotated[
        list[str] | None,
        typer.Option(
            "--fixtures",
            help="Folders or files of your fixtures; annotate one with "
            'policygen.dev/expect: "rule:container, …" (or "none") to declare its violations.',
        ),
    ] = None,
    no_builtin: Annotated[
        bool, typer.Option("--no-builtin", help="Skip the corpus generated from the config.")
    ] = False,
    rego_engine: RegoEngineOpt = "auto",
    show: Annotated[
        str, typer.Option("--show", help="Matrix rows to print: failed, all or none.")
    ] = "failed",
    progress: ProgressOpt = None,
    now: NowOpt = None,
) -> None:
    """Prove the bundle: every selected target's evaluator must agree with the
    reference model, and the model with your fixtures' expectations."""
    from policygen.engines import EvalContext
    from policygen.prove import prove_config

    today = _now(now)
    if show not in ("failed", "all", "none"):
        raise PolicygenError(f"--show: '{show}' is not failed, all or none")
    loaded = config.load(cfg, today=today, allow_lapsed=True)
    ctx = EvalContext(today, bundle=bundle_dir)
    counting = sys.stderr.isatty() if progress is None else progress

    def told(engine: str, objects: int, seconds: float) -> None:
        # a line per engine as it finishes, on stderr: stdout is the verdict
        print(
            f"proving: {_engine_label(engine, rego_engine)} answered {objects} objects "
            f"in {seconds:.2f} s",
            file=sys.stderr,
            flush=True,
        )

    proof = prove_config(
        loaded,
        ctx,
        fixture_paths or [],
        builtin=not no_builtin,
        rego_engine=rego_engine,
        progress=told if counting else None,
        apart=True,
    )
    _print_proof(proof, show, rego_engine)
    for note in _clockless(loaded, ctx.instant):
        print(f"policygen: {note}", file=sys.stderr)
    if proof.failed:
        raise typer.Exit(EXIT_NO)


def _clockless(loaded: config.Config, now: dt.datetime) -> list[str]:
    """Why a target disagrees once an exemption has lapsed at ``now``: its
    engine has no clock, so the exemption holds until the bundle is rebuilt."""
    from policygen import clock
    from policygen.targets import clock as target_clock

    lapsed = [e.name for e in loaded.spec.exemptions if not clock.live(e.expires, now)]
    without = [t for t in loaded.spec.targets if target_clock(t, loaded) is None]
    if not lapsed or not without:
        return []
    return [
        f"{t} has no clock: exemption {', '.join(lapsed)}, lapsed at {clock.rfc3339(now)}, "
        "still holds there until the bundle is rebuilt without it"
        for t in without
    ]


def _print_proof(proof: Any, show: str, rego_engine: str = "auto") -> None:
    from rich.console import Console
    from rich.table import Table

    from policygen.prove import RULES

    console = Console(highlight=False, soft_wrap=True)
    marks = {"deny": "[red]deny[/]", "warn": "[yellow]warn[/]", "audit": "[cyan]audit[/]"}
    rows = proof.rows if show == "all" else proof.failed if show == "failed" else []
    if rows:
        table = Table(title="verdict matrix", show_lines=False)
        table.add_column("object")
        for rule in RULES:
            table.add_column(rule, justify="center")
        for row in rows:
            cells = []
            for rule in RULES:
                said = [row.cell(e, rule) for e in proof.engines]
                cells.append(" ".join(marks.get(a, "·") for a in said))
            meta = row.fixture.obj.get("metadata") or {}
            what = f"{row.fixture.obj.get('kind')} {row.namespace}/{meta.get('name', '')}"
            label = f"{row.fixture.source}\n  {what}"
            table.add_row(label, *cells)
        table.caption = "cells: " + " · ".join(proof.engines)
        console.print(table)
    for row in proof.failed:
        meta = row.fixture.obj.get("metadata") or {}
        console.print(
            f"[bold red]DISAGREE[/] {row.fixture.source} "
            f"({row.fixture.obj.get('kind')} {row.namespace}/{meta.get('name', '')})"
        )
        for problem in row.problems:
            console.print(f"  {problem}", markup=False)
    n, bad = len(proof.rows), len(proof.failed)
    status = "[green]all agree[/]" if not bad else f"[red]{bad} disagree[/]"
    names = [_engine_label(e, rego_engine) for e in proof.engines]
    console.print(f"{n} objects × {len(proof.engines)} engines ({', '.join(names)}): {status}")


@app.command()
def report(
    cfg: ConfigOpt = Path("policygen.yaml"),
    bundle_dir: Annotated[
        Path, typer.Option("--bundle", help="The committed bundle, for its hashes and staleness.")
    ] = Path("policies"),
    fixture_paths: Annotated[
        list[str] | None, typer.Option("--fixtures", help="Your fixtures, as for policygen test.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="markdown or html.")] = "markdown",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
    ] = None,
    rego_engine: RegoEngineOpt = "auto",
    now: NowOpt = None,
    kubernetes: KubernetesOpt = "1.36",
    fail_within: Annotated[
        int | None,
        typer.Option(
            "--fail-within",
            min=0,
            help="Exit 1 when an exemption expires within this many days.",
        ),
    ] = None,
) -> None:
    """A compliance report: status, scope, tenants and their isolation, exemptions
    with owners and expiry, node posture, scanner cross-walk, evidence that every
    target agrees with the model, engine versions and upstream suites, bundle
    hashes. Exit 1 when the bundle is missing or stale, the evidence shows a
    disagreement, or (with --fail-within) an exemption lapses soon."""
    from policygen import atomic
    from policygen import report as reporting
    from policygen.engines import EvalContext
    from policygen.prove import prove_config

    today = _now(now)
    if fmt not in reporting.FORMATS:
        raise PolicygenError(f"--format: '{fmt}' is not markdown or html")
    loaded = config.load(cfg, today=today, allow_lapsed=True)
    proof = prove_config(
        loaded, EvalContext(today), fixture_paths or [], rego_engine=rego_engine, apart=True
    )
    state = reporting.bundle_state(loaded, cfg, today.date(), bundle_dir)
    report_data = reporting.data(
        loaded, cfg, today.date(), proof, state, kubernetes=kubernetes, fail_within=fail_within
    )
    text = reporting.write(fmt, report_data)
    if out is None:
        sys.stdout.write(text)
    else:
        atomic.write_text(out, text)
    failures: list[str] = report_data["status"]["failures"]
    for failure in failures:
        say(f"report: {failure}")
    if failures:
        raise typer.Exit(EXIT_NO)


@app.command()
def node(
    cfg: ConfigOpt = Path("policygen.yaml"),
    kubernetes: KubernetesOpt = "1.36",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
    ] = None,
    now: NowOpt = None,
) -> None:
    """The kubelet side of cached images (KEP-2535): a KubeletConfiguration
    fragment that re-verifies pull credentials before a cached image is reused,
    with the shared registries as the only preloaded images exempt."""
    from policygen import atomic
    from policygen import node as node_posture

    loaded = config.load(cfg, today=_now(now))
    posture = node_posture.posture(loaded, kubernetes)
    if not posture.fragment:
        raise PolicygenError(
            f"Kubernetes {kubernetes}: the kubelet has no credential verification "
            f"for cached images ({posture.gate}); imagePullPolicy: Always at "
            "admission is the only protection"
        )
    if out is None:
        sys.stdout.write(posture.fragment)
    else:
        atomic.write_text(out, posture.fragment)
    say(f"node: {posture.gate}; policy {posture.policy}")


@app.command()
def pin(
    paths: Annotated[
        list[str] | None, typer.Argument(help="Manifest files or folders to rewrite.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Write nothing; resolve every pinned repo:tag@digest (and the --lock "
            "entries) again and exit 1 when a tag now points elsewhere.",
        ),
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json (--verify).")] = "table",
    lock: Annotated[
        Path | None,
        typer.Option("--lock", help="Lock file recording each tag's digest and when."),
    ] = None,
    lock_only: Annotated[
        bool,
        typer.Option("--lock-only", help="Write the --lock file; leave manifests as they are."),
    ] = False,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            help="The registry host --username (or POLICYGEN_REGISTRY_*) credentials are for.",
        ),
    ] = None,
    username: Annotated[str | None, typer.Option("--username", help="Registry user.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password or token from stdin.")
    ] = False,
    token_realm: Annotated[
        list[str] | None,
        typer.Option(
            "--token-realm", help="Token realm host on another host that may see credentials."
        ),
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="CA bundle to trust besides the system's.")
    ] = None,
    plain_http: Annotated[
        list[str] | None,
        typer.Option("--plain-http", help="Registry host to reach over HTTP (localhost is)."),
    ] = None,
) -> None:
    """Resolve tags to digests (OCI distribution API) and rewrite manifests in
    place, keeping comments and layout; a file whose images do not all
    resolve is left untouched. Credentials are found as docker and podman
    find them (credential helpers, auth.json, ~/.docker/config.json)."""
    from policygen import pinlock, pinverify
    from policygen.credentials import Store, explicit
    from policygen.pin import pin_paths
    from policygen.registry import Client

    if fmt not in ("table", "json"):
        raise PolicygenError(f"--format: '{fmt}' is not table or json")
    if lock_only and lock is None:
        raise PolicygenError("--lock-only needs --lock FILE")
    if verify and (dry_run or lock_only):
        raise PolicygenError("--verify writes nothing: it takes no --dry-run or --lock-only")
    paths = paths or []
    if not paths and not (verify and lock is not None):
        raise PolicygenError("give the manifest files or folders to pin")
    password = None
    if password_stdin:
        if username is None:
            raise PolicygenError("--password-stdin needs --username")
        if sys.stdin is None:
            raise PolicygenError("--password-stdin: standard input is closed")
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    store = Store(explicit=explicit(registry, username, password, os.environ))
    client = Client(
        plain_http=plain_http or (),
        credentials=store,
        token_realms=token_realm or (),
        ca_file=str(ca_file) if ca_file else None,
    )
    if verify:
        checked = pinverify.verify(paths, client.digest, lock)
    else:
        locked = pinlock.read(lock) if lock is not None else []
        report = pin_paths(paths, client.digest, dry_run=dry_run or lock_only)
        if lock is not None and not dry_run:
            resolved_at = pinlock.now()
            fresh = [pinlock.entry(c.site.image, c.pinned, resolved_at) for c in report.changes]
            pinlock.update(lock, locked, fresh)
    if verify:
        _print_verify(checked, fmt)
        return
    verb = "would pin" if dry_run or lock_only else "pinned"
    for change in report.changes:
        site = change.site
        print(f"{change.path}:{site.line}: {verb} {site.container or '-'}: {change.pinned}")
    for problem in report.problems:
        say(str(problem))
    if report.problems:
        raise typer.Exit(EXIT_INPUT)


def _print_verify(report: VerifyReport, fmt: str) -> NoReturn:
    """``pin --verify``'s answer; exit 1 when a tag moved (or the lock file
    lacks one), else 2 when one could not be checked."""
    if fmt == "json":
        results = [
            {
                "source": c.source,
                "line": c.line,
                "container": c.container,
                "image": c.image,
                "pinned": c.pinned,
                "current": c.current,
                "status": c.status,
                "message": c.problem,
            }
            for c in report.checks
        ]
        out = {"results": results, "problems": report.problems, "summary": report.summary()}
        print(json.dumps(out, indent=2))
    else:
        for c in report.stale:
            if c.unlocked:
                print(f"{c.source}:{c.line}: {c.image}: not in the lock file")
            else:
                print(
                    f"{c.source}:{c.line}: {c.tagged}: pinned {c.pinned}, "
                    f"but the tag now points to {c.current}"
                )
        for problem in report.errors:
            say(str(problem))
        n = report.summary()
        unlocked = f", {n['unlocked']} not in the lock file" if n["unlocked"] else ""
        print(
            f"verified {n['checked']} pinned tags: {n['ok']} ok, {n['moved']} moved"
            f"{unlocked}, {n['errors']} errors"
        )
    if report.stale:
        raise typer.Exit(EXIT_NO)
    raise typer.Exit(EXIT_INPUT if report.errors else EXIT_OK)


@app.command()
def explain(
    image: Annotated[str, typer.Argument(help="An image reference, as written in a manifest.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n")] = "default",
    pull_policy: Annotated[
        str | None, typer.Option("--pull-policy", help="imagePullPolicy as written, if any.")
    ] = None,
    volume: Annotated[
        bool, typer.Option("--volume", help="The image of an image volume, not a container.")
    ] = False,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            help="KEY=VALUE label of the Namespace (repeatable); with any, the Namespace "
            "is known, so selectors are decided.",
        ),
    ] = None,
    cfg: ConfigOpt = Path("policygen.yaml"),
    now: NowOpt = None,
) -> None:
    """Show the parsed, normalised reference and each rule's verdict and why."""
    from policygen.explain import explain as run

    today = _now(now)
    namespaces = {}
    if label is not None:
        labels = {}
        for item in label:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise PolicygenError(f"--label: '{item}' is not KEY=VALUE")
            labels[key] = value
        namespaces[namespace] = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": labels},
        }
    loaded = config.load(cfg, today=today, allow_lapsed=True)
    text = run(loaded, image, namespace, pull_policy, today, volume=volume, namespaces=namespaces)
    print(text, end="")


@app.command()
def scan(
    paths: Annotated[list[str], typer.Argument(help="Files, folders, or - for stdin.")],
    engine: Annotated[
        str, typer.Option(help="Evaluator: model, kyverno, gatekeeper, or all of them.")
    ] = "model",
    rego_engine: RegoEngineOpt = "auto",
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="table, json, sarif, junit or policyreport (wgpolicyk8s.io/v1alpha2).",
        ),
    ] = "table",
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace for objects without one.")
    ] = "default",
    progress: ProgressOpt = None,
    show: Annotated[
        str,
        typer.Option(
            "--show",
            help="Table rows: failed (objects denied, warned or audited; the rest counted) "
            "or all (also allowed objects and skipped files).",
        ),
    ] = "failed",
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            help="Leave out files and folders matching this glob (repeatable; "
            ".gitignore-like, relative to the working directory); "
            "spec.scan.ignore in the config adds more.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the report to this file, complete or not at all (default: stdout).",
        ),
    ] = None,
    cfg: ConfigOpt = Path("policygen.yaml"),
    now: NowOpt = None,
) -> None:
    """Evaluate real manifests; exit 1 when anything would be denied.

    YAML that is not a Kubernetes object (CI workflows, Helm values,
    kustomization files) and Helm chart templates are skipped and counted."""
    from policygen import atomic
    from policygen.engines import EvalContext, create
    from policygen.engines import names as engine_names
    from policygen.formatters import registry as formatters
    from policygen.pathfilter import Ignore
    from policygen.scan import scan as run

    today = _now(now)
    known = engine_names()
    if engine not in (*known, "all"):
        raise PolicygenError(f"--engine: unknown engine '{engine}' ({', '.join((*known, 'all'))})")
    if fmt not in formatters():
        raise PolicygenError(f"--format: unknown format '{fmt}' ({', '.join(formatters())})")
    if show not in ("failed", "all"):
        raise PolicygenError(f"--show: '{show}' is not failed or all")
    loaded = config.load(cfg, today=today, allow_lapsed=True)
    names = list(known) if engine == "all" else [engine]
    skipped = _inexpressible(loaded, names)
    if skipped and len(skipped) == len(names):
        raise PolicygenError("; ".join(f"--engine {n}: {why}" for n, why in skipped.items()))
    for name, why in skipped.items():
        say(f"engine {name} not run: {why}")
    evaluators = [create(n, rego_engine=rego_engine) for n in names if n not in skipped]
    globs = Ignore.of((ignore or [], Path.cwd()), (loaded.spec.scan.ignore, cfg.parent))
    # By default only on a terminal, and never interleaved with a
    # machine-readable report on the same terminal.
    readable = fmt == "table" or not sys.stdout.isatty()
    counting = sys.stderr.isatty() and readable if progress is None else progress
    # A file, and a machine-read report on stdout, is complete or absent;
    # the table is for people and streams.
    sink = (
        atomic.open_text(output)
        if output is not None
        else contextlib.nullcontext(sys.stdout)
        if fmt == "table"
        else atomic.all_or_nothing(sys.stdout)
    )
    with sink as out:
        formatter = formatters()[fmt](out, engine)
        formatter.show = show
        formatter.config = loaded
        if now is not None:  # reproducible: the report's timestamps are the clock's
            formatter.when = today
        formatter.label = _engine_label(engine, rego_engine)
        items = run(loaded, paths, evaluators, EvalContext(today), namespace, ignore=globs)
        summary = formatter.write(_with_progress(items) if counting else items)
    for problem in summary.problems:
        say(str(problem))
    if summary.disagreements:
        say(f"{summary.disagreements} objects where engines disagree")
    if summary.denied:
        raise typer.Exit(EXIT_NO)
    if summary.problems:
        raise typer.Exit(EXIT_INPUT)


def _inexpressible(loaded: config.Config, names: list[str]) -> dict[str, str]:
    """Engines whose target cannot express this config, with why: they are
    left out, and the other engines still run."""
    from policygen.engines import target_of
    from policygen.targets import unsupported

    out = {}
    for name in names:
        target = target_of(name)
        why = None if target is None else unsupported(target, loaded)
        if why is not None:
            out[name] = f"target {target} {why}"
    return out


def _engine_label(engine: str, rego_engine: str) -> str:
    """The engine as people should read it: which Rego engine runs the
    Gatekeeper templates, so that nobody takes a fallback for OPA."""
    if engine not in ("gatekeeper", "gatekeeper-rego", "all"):
        return engine
    from policygen.rego.programs import resolve

    rego = f"Rego: {resolve(rego_engine)}"
    if engine in ("gatekeeper", "gatekeeper-rego"):
        return f"{engine} ({rego})"
    return f"all; gatekeeper {rego}"


def _with_progress(items: Iterator[T]) -> Iterator[T]:
    """A running count of workloads on stderr; stdout carries only the report."""
    from policygen.scan import ObjectResult

    with _progress_bar("scanned {task.completed} workloads") as advance:
        for item in items:
            if isinstance(item, ObjectResult):
                advance(1, None)
            yield item


@contextlib.contextmanager
def _progress_bar(text: str) -> Iterator[Callable[[int, int | None], None]]:
    """A transient bar on stderr; yields ``advance(steps, total)``."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn(text), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("work", total=None)

        def advance(steps: int, total: int | None) -> None:
            bar.update(task, advance=steps, total=total)

        yield advance


@app.command("diff")
def diff_command(
    exported: Annotated[
        list[str],
        typer.Argument(help="Objects exported from a cluster (files, folders, - for stdin)."),
    ],
    bundle_dir: Annotated[
        Path, typer.Option("--bundle", help="The committed bundle and its bundle.lock.")
    ] = Path("policies"),
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            help="Bundle folder(s) the cluster runs (default: those with objects in the export).",
        ),
    ] = None,
    cfg: ConfigOpt = Path("policygen.yaml"),
    now: NowOpt = None,
) -> None:
    """Compare the policies a cluster runs with the committed bundle, after
    removing what the API server and GitOps tools set; exit 1 on drift."""
    from policygen import diff

    loaded = config.load(cfg, today=_now(now))
    drift = diff.compare(bundle_dir, exported, loaded.name, target)
    for ident, found in drift.changed.items():
        print(f"DRIFT {diff.describe(ident)}")
        for line in found:
            print(f"      {line}")
    for ident in drift.missing:
        print(f"MISSING {diff.describe(ident)}: in the bundle, not in the cluster")
    for ident in drift.extra:
        print(f"EXTRA {diff.describe(ident)}: in the cluster, not in the bundle")
    for problem in drift.problems:
        say(str(problem))
    targets = ", ".join(drift.targets) or "none: no bundle object is in the export"
    bad = len(drift.changed) + len(drift.missing) + len(drift.extra)
    verdict = f"{bad} differ" if bad else "no drift"
    print(f"{drift.compared} objects compared (targets: {targets}): {verdict}")
    if drift.drifted or not drift.targets:
        raise typer.Exit(EXIT_NO)
    if drift.problems:
        raise typer.Exit(EXIT_INPUT)


gatekeeper_app = typer.Typer(help="Gatekeeper tools.", no_args_is_help=True)
app.add_typer(gatekeeper_app, name="gatekeeper")


@gatekeeper_app.command("verify")
def gatekeeper_verify(
    paths: Annotated[list[Path], typer.Argument(help="Suite files, or folders to search.")],
    run: Annotated[
        str | None, typer.Option("--run", help="Only test/case names matching this regex.")
    ] = None,
    rego_engine: RegoEngineOpt = "auto",
    native_validation: Annotated[
        bool,
        typer.Option(
            "--enable-k8s-native-validation/--disable-k8s-native-validation",
            help="Evaluate a template's K8sNativeValidation (CEL) code when it has "
            "some, as gator does by default; disabled, its Rego.",
        ),
    ] = True,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every case's messages.")
    ] = False,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="The clock the Rego's time.now_ns() reads: a date or an RFC 3339 "
            "timestamp (default: the engine's own, as gator's).",
        ),
    ] = None,
) -> None:
    """Run gator verify suites (test.gatekeeper.sh/v1alpha1); exit 1 on a failed case."""
    from policygen.gatekeeper_suite import verify

    clock = None if now is None else _now(now)
    report = verify(paths, rego_engine, run, cel=native_validation, now=clock)
    for r in report.results:
        marks = {"pass": "ok  ", "fail": "FAIL", "skip": "skip", "refused": "REFUSED"}
        print(f"{marks[r.status]} {r.title}")
        for failure in r.failures:
            print(f"     {failure}")
        if r.failures or verbose:
            for msg in r.messages:
                print(f"     | {msg}")
    states = ("pass", "fail", "skip", "refused")
    counts = {s: sum(1 for r in report.results if r.status == s) for s in states}
    print(f"engines: {', '.join(sorted(report.engines)) or 'none'}")
    refused = f", {counts['refused']} refused" if counts["refused"] else ""
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped{refused}")
    if report.failed:
        raise typer.Exit(EXIT_NO)
    if report.refused:
        say("the engine refused some templates (see REFUSED)")
        raise typer.Exit(EXIT_INPUT)
    if not report.results:
        say("no suite cases found")
        raise typer.Exit(EXIT_INPUT)


kyverno_app = typer.Typer(help="Kyverno tools.", no_args_is_help=True)
app.add_typer(kyverno_app, name="kyverno")


@kyverno_app.command("test")
def kyverno_test(
    paths: Annotated[list[Path], typer.Argument(help="Test files, or folders to search.")],
    file_name: Annotated[
        str, typer.Option("--file-name", help="Test file name to look for in folders.")
    ] = "kyverno-test.yaml",
    api_defaults: Annotated[
        bool,
        typer.Option(
            "--api-defaults/--no-api-defaults",
            help="Default imagePullPolicy as the API server does before admission; "
            "off by default, as in the Kyverno CLI.",
        ),
    ] = False,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="The clock Kyverno's time functions and PolicyException expiresAt read: "
            "a date or an RFC 3339 timestamp (default: the real one, as the Kyverno CLI's).",
        ),
    ] = None,
) -> None:
    """Run kyverno test files (cli.kyverno.io/v1alpha1) as the Kyverno CLI reads
    them; exit 1 on a wrong result, 2 when a result could not be evaluated."""
    from policygen.kyverno_suite import run_tests

    clock = None if now is None else _now(now)
    report = run_tests(paths, api_defaults=api_defaults, file_name=file_name, now=clock)
    for r in report.rows:
        where = f"{r.test}  {r.policy}/{r.rule}  {r.resource}"
        if r.refused:
            print(f"REFUSED {where}: {r.refused}")
            continue
        mark = "ok  " if r.ok else "FAIL"
        line = f"{mark} {where}  want {r.expected}"
        if r.excluded:
            line += " (no rule response: excluded, a pass for the Kyverno CLI)"
        print(line if r.ok else f"{line}, got {r.actual}{'; ' + r.detail if r.detail else ''}")
    wrong, refused = len(report.failed), len(report.refused)
    print(f"{len(report.rows) - wrong - refused} passed, {wrong} failed, {refused} refused")
    if wrong:
        raise typer.Exit(EXIT_NO)
    if refused:
        raise typer.Exit(EXIT_INPUT)
    if not report.files:
        say("no test files found")
        raise typer.Exit(EXIT_INPUT)


@app.command()
def version() -> None:
    """Print the policygen version."""
    print(__version__)


def main() -> None:
    """Entry point. The commands' errors are turned into messages and exit
    codes by ``_Edge``; here only what happens outside a command: closed
    standard streams, Ctrl-C, and a full disk behind stdout that shows only
    when it is flushed."""
    if sys.stderr is None:  # policygen 2>&-: nowhere to say anything
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    if sys.stdout is None:  # policygen >&-
        say("standard output is closed")
        sys.exit(EXIT_INPUT)
    code: int = EXIT_OK
    try:
        app(prog_name="policygen")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_OK if exc.code is None else EXIT_BUG
    except KeyboardInterrupt:
        code = 130
    except OSError as exc:  # outside a command: while click parses or prints usage
        code = _environment_failed(exc)
    except Exception as exc:  # outside a command, still a bug
        code = _bug(exc)
    try:
        sys.stdout.flush()  # a full disk behind stdout shows only here
    except OSError as exc:
        code = _environment_failed(exc)
    sys.exit(code)


def _environment_failed(exc: OSError) -> int:
    where = f"{exc.filename}: " if exc.filename else "writing the output: "
    with contextlib.suppress(OSError):
        say(f"{where}{exc.strerror or exc}")
    # Python flushes stdout again at exit; let that write go nowhere.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_INPUT
