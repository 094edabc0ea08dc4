"""The table, from result values to the exact text, with no CLI in between."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policygen.cli import app
from policygen.formatters.table import TableFormatter
from policygen.manifests import FileProblem, Skipped
from policygen.scan import ObjectResult
from policygen.violations import Violation
from tests.conftest import CORPUS, EXAMPLE

DIGEST = Violation(
    "digest",
    "api",
    "ghcr.io/acme/api:2.4",
    'container "api" image "ghcr.io/acme/api:2.4" must be pinned by digest (@sha256:<64 hex>)',
    "deny",
)
PULL = Violation(
    "pullPolicy",
    "api",
    "ghcr.io/acme/api:2.4",
    'container "api" must set imagePullPolicy: Always, not IfNotPresent',
    "warn",
)


def result(
    name: str, *violations: Violation, engines: tuple[str, ...] = ("model",), **kw: object
) -> ObjectResult:
    return ObjectResult(
        source=f"apps/{name}.yaml#1",
        kind="Deployment",
        namespace="team-a",
        name=name,
        by_engine={e: list(violations) for e in engines},
        **kw,  # type: ignore[arg-type]
    )


def table(*items: object, show: str = "failed", engine: str = "model") -> str:
    out = io.StringIO()
    formatter = TableFormatter(out, engine)
    formatter.show = show
    formatter.write(items)  # type: ignore[arg-type]
    return out.getvalue()


def test_failures_first_then_problems_and_a_summary() -> None:
    text = table(
        result("ok"),
        result("warned", PULL),
        FileProblem("apps/bad.yaml:3:1", "invalid YAML: did not find expected node content"),
        result("denied", DIGEST, PULL),
        Skipped("ci.yaml#1", "not-kubernetes"),
        Skipped("apps/cm.yaml#1", "not-a-workload", "ConfigMap"),
    )
    assert text == (
        "DENY  Deployment team-a/denied (apps/denied.yaml#1)\n"
        '  digest      container "api" image "ghcr.io/acme/api:2.4" must be pinned by\n'
        "              digest (@sha256:<64 hex>)\n"
        '  pullPolicy  warn: container "api" must set imagePullPolicy: Always, not\n'
        "              IfNotPresent\n"
        "WARN  Deployment team-a/warned (apps/warned.yaml#1)\n"
        '  pullPolicy  container "api" must set imagePullPolicy: Always, not IfNotPresent\n'
        "ERROR apps/bad.yaml:3:1: invalid YAML: did not find expected node content\n"
        "3 workloads: 1 deny, 1 warn, 1 allow; 1 error; also 1 other object, 1 skipped\n"
    )


def test_show_all_lists_allowed_objects_and_skipped_files() -> None:
    text = table(
        result("ok"),
        Skipped("charts/web/templates/d.yaml", "helm-template", "charts/web"),
        Skipped("vendor", "ignored", "vendor/"),
        Skipped("kustomization.yaml", "kustomize", "a kustomization"),
        Skipped("apps/cm.yaml#1", "not-a-workload", "ConfigMap"),
        show="all",
    )
    assert text == (
        "ALLOW Deployment team-a/ok (apps/ok.yaml#1)\n"
        "SKIP  charts/web/templates/d.yaml: a template of the Helm chart charts/web\n"
        "SKIP  vendor: ignored by vendor/\n"
        "SKIP  kustomization.yaml: a kustomization\n"
        "1 workload: 1 allow; also 1 other object, 2 skipped, 1 ignored\n"
    )


def test_engines_are_named_only_where_they_do_not_all_agree() -> None:
    five = ("model", "kyverno", "kyverno-cel", "gatekeeper", "vap")
    r = ObjectResult(
        "apps/x.yaml#1",
        "Deployment",
        "team-a",
        "x",
        {
            "model": [DIGEST, PULL],
            "kyverno": [DIGEST],
            "kyverno-cel": [DIGEST, PULL],
            "gatekeeper": [DIGEST, PULL],
            "vap": [DIGEST, PULL],
        },
        disagreements={"kyverno": ["missing pullPolicy on container 'api'"]},
    )
    assert list(r.by_engine) == list(five)
    assert table(r, engine="all") == (
        "DENY  Deployment team-a/x (apps/x.yaml#1)\n"
        '  digest      container "api" image "ghcr.io/acme/api:2.4" must be pinned by\n'
        "              digest (@sha256:<64 hex>)\n"
        '  pullPolicy  warn: container "api" must set imagePullPolicy: Always, not\n'
        "              IfNotPresent [model, kyverno-cel, gatekeeper, vap]\n"
        "  DISAGREES   kyverno: missing pullPolicy on container 'api'\n"
        "1 workload: 1 deny; 1 where engines disagree\n"
    )


def test_a_long_heading_puts_the_source_on_its_own_line() -> None:
    r = ObjectResult(
        "clusters/production/eu-west-1/apps/payments/deployment.yaml#12",
        "Deployment",
        "payments",
        "payments-ledger-reconciliation",
        {"model": [DIGEST]},
    )
    assert table(r).splitlines()[:2] == [
        "DENY  Deployment payments/payments-ledger-reconciliation",
        "      (clusters/production/eu-west-1/apps/payments/deployment.yaml#12)",
    ]


def test_nothing_to_report() -> None:
    assert table() == "0 workloads: none\n"


def test_every_line_of_the_corpus_fits_80_columns_but_unbreakable_words(tmp_path: Path) -> None:
    argv = ["scan", str(CORPUS), "-c", str(EXAMPLE), "--now", "2026-11-28", "--engine", "all"]
    out = CliRunner().invoke(app, argv).stdout
    assert (
        out.splitlines()[-1] == "25 workloads: 21 deny, 4 allow; engines agree; also 1 other object"
    )
    for line in out.splitlines():
        assert len(line) <= 80 or " " not in line.strip(), line


LONG = "harbor.corp.example/platform/observability/very-long-repository-name/collector:v1.2.3"
AUDIT = Violation(
    "registries",
    "api",
    "ghcr.io/acme/api:2.4",
    'container "api" image "ghcr.io/acme/api:2.4" is not from a registry allowed in '
    'namespace "team-a"',
    "audit",
)


def _label(items: list[object], label: str) -> str:
    out = io.StringIO()
    formatter = TableFormatter(out, "gatekeeper")
    formatter.label = label
    formatter.write(items)  # type: ignore[arg-type]
    return out.getvalue()


# Result values and the exact text each gives, as kubeconform's text_test.go.
CASES: list[tuple[str, list[object], str]] = [
    (
        "audited objects come after denied and warned ones",
        [result("audited", AUDIT), result("warned", PULL), result("denied", DIGEST)],
        "DENY  Deployment team-a/denied (apps/denied.yaml#1)\n"
        '  digest      container "api" image "ghcr.io/acme/api:2.4" must be pinned by\n'
        "              digest (@sha256:<64 hex>)\n"
        "WARN  Deployment team-a/warned (apps/warned.yaml#1)\n"
        '  pullPolicy  container "api" must set imagePullPolicy: Always, not IfNotPresent\n'
        "AUDIT Deployment team-a/audited (apps/audited.yaml#1)\n"
        '  registries  container "api" image "ghcr.io/acme/api:2.4" is not from a\n'
        '              registry allowed in namespace "team-a"\n'
        "3 workloads: 1 deny, 1 warn, 1 audit\n",
    ),
    (
        "an image reference longer than a line is never broken",
        [
            result(
                "long",
                Violation(
                    "digest", "c", LONG, f'container "c" image "{LONG}" must be pinned', "deny"
                ),
            )
        ],
        "DENY  Deployment team-a/long (apps/long.yaml#1)\n"
        '  digest      container "c" image\n'
        f'              "{LONG}"\n'
        "              must be pinned\n"
        "1 workload: 1 deny\n",
    ),
    (
        "errors are counted in the plural, after the failures",
        [
            FileProblem("a.yaml", "binary file, not a manifest"),
            FileProblem("b.yaml:1:1", "invalid YAML: found character that cannot start any token"),
        ],
        "ERROR a.yaml: binary file, not a manifest\n"
        "ERROR b.yaml:1:1: invalid YAML: found character that cannot start any token\n"
        "0 workloads: none; 2 errors\n",
    ),
    (
        "YAML that is not Kubernetes is counted as skipped, and listed with --show all",
        [Skipped(".github/workflows/ci.yaml#1", "not-kubernetes"), result("ok")],
        "1 workload: 1 allow; also 1 skipped\n",
    ),
]


@pytest.mark.parametrize(
    ("items", "expected"), [(i, e) for _, i, e in CASES], ids=[c[0] for c in CASES]
)
def test_table_text(items: list[object], expected: str) -> None:
    assert table(*items) == expected


def test_show_all_names_why_yaml_was_skipped() -> None:
    assert table(Skipped(".github/workflows/ci.yaml#1", "not-kubernetes"), show="all") == (
        "SKIP  .github/workflows/ci.yaml#1: not a Kubernetes object\n"
        "0 workloads: none; also 1 skipped\n"
    )


def test_the_rego_engine_that_ran_is_named_above_the_summary() -> None:
    assert _label([result("denied", DIGEST)], "gatekeeper (Rego: regorus)") == (
        "DENY  Deployment team-a/denied (apps/denied.yaml#1)\n"
        '  digest      container "api" image "ghcr.io/acme/api:2.4" must be pinned by\n'
        "              digest (@sha256:<64 hex>)\n"
        "engine: gatekeeper (Rego: regorus)\n"
        "1 workload: 1 deny\n"
    )
    assert _label([], "gatekeeper") == "0 workloads: none\n"
