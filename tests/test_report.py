"""policygen report: the compliance report in Markdown and HTML."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from policygen.cli import app
from tests.conftest import EXAMPLE, ROOT


@pytest.fixture(scope="module", autouse=True)
def one_proof_per_config() -> Iterator[None]:
    """Each config's proof is computed once in this module (by the real
    prove_config), not once per report: these tests check what the report
    says about a proof, which tests/test_prove.py and the test command's
    tests check for themselves. Seven of the reports below are of the
    example config."""
    from policygen import prove

    real = prove.prove_config
    kept: dict[tuple[Any, ...], prove.Proof] = {}

    def once(config: Any, ctx: Any, fixture_paths: list[str], **options: Any) -> prove.Proof:
        key = (
            config.model_dump_json(),
            ctx.now,
            ctx.bundle,
            tuple(fixture_paths),
            tuple(sorted(options.items())),
        )
        if key not in kept:
            kept[key] = real(config, ctx, fixture_paths, **options)
        return kept[key]

    patch = pytest.MonkeyPatch()
    patch.setattr(prove, "prove_config", once)
    yield
    patch.undo()


def report(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", "--now", "2026-11-28", *args])
    return result.exit_code, result.stdout, result.stderr


def test_markdown_report_of_the_example() -> None:
    code, out, _ = report("-c", str(EXAMPLE), "--bundle", str(ROOT / "policies"))
    assert code == 0, out
    assert out.startswith("# Image policy report: acme\n")
    assert "| payments | payments |  | harbor.corp.example:8443/payments |" in out
    assert (
        "| scraper-migration | digest | logging | `harbor.corp.example/infra/scraper:*` | platform@corp.example"
        " | SEC-1234 | 2027-03-31 (123 days) | vendor chart pins by tag until 28.0 |"
    ) in out
    assert "891 of 891 agree with the reference model." in out
    assert (
        "| pullPolicy | deny | imagePullPolicy, and an image volume's pullPolicy, must be Always |"
    ) in out
    assert f"`{ROOT / 'policies'}` is current for this config." in out
    assert "| `kyverno/require-image-digest.yaml` |" in out


def test_expiring_exemptions_stale_bundles_and_escaping(tmp_path: Path) -> None:
    cfg = tmp_path / "policygen.yaml"
    text = EXAMPLE.read_text().replace("expires: 2027-03-31", "expires: 2026-12-20")
    text = text.replace(
        "reason: vendor chart pins by tag until 28.0", 'reason: "tag | <b>pinned</b> until 28.0"'
    )
    cfg.write_text(text)
    bundle = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", bundle)
    code, out, _ = report("-c", str(cfg), "--bundle", str(bundle))
    assert code == 1  # the committed bundle no longer matches the config
    assert "2026-12-20 (22 days, soon)" in out
    assert "tag \\| <b>pinned</b> until 28.0" in out
    assert "is **stale**" in out


def test_html_report_is_well_formed_and_escaped(tmp_path: Path) -> None:
    cfg = tmp_path / "policygen.yaml"
    cfg.write_text(
        EXAMPLE.read_text().replace(
            "reason: vendor chart pins by tag until 28.0", "reason: <script>x</script>"
        )
    )
    out_file = tmp_path / "out" / "report.html"
    code, out, err = report(
        "-c", str(cfg), "--format", "html", "-o", str(out_file), "--bundle", str(tmp_path / "none")
    )
    # No bundle is a failed review: the report is written, and says why it exits 1.
    assert code == 1
    assert (
        err
        == f"policygen: report: no bundle at {tmp_path / 'none'}: run policygen build, or pass --bundle\n"
    )
    assert out == ""
    html = out_file.read_text()
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "No bundle at" in html

    class Checker(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[str] = []

        def handle_starttag(self, tag: str, attrs: object) -> None:
            if tag not in ("meta", "br"):
                self.stack.append(tag)

        def handle_endtag(self, tag: str) -> None:
            assert self.stack.pop() == tag

    checker = Checker()
    checker.feed(html)
    assert checker.stack == []


def test_unknown_format() -> None:
    code, _, err = report("-c", str(EXAMPLE), "--format", "pdf")
    assert (code, err) == (2, "policygen: --format: 'pdf' is not markdown or html\n")


def test_status_comes_first_and_says_what_fails(tmp_path: Path) -> None:
    bundle = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", bundle)
    (bundle / "kyverno" / "require-image-digest.yaml").write_text("# edited by hand\n")
    code, out, err = report("-c", str(EXAMPLE), "--bundle", str(bundle))
    assert code == 1
    assert err == f"policygen: report: the bundle at {bundle} is stale: run policygen build\n"
    sections = [line for line in out.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Status"
    status = out.split("## Status\n\n")[1].split("\n\n## ")[0]
    assert status.splitlines() == [
        f"- Bundle: **stale**: `{bundle}` does not match this config; run `policygen build`.",
        "- Evidence: every engine agrees with the reference model on 891 workloads.",
        "- Exemptions expiring within 30 days: none.",
    ]


def test_fail_within_days_of_an_expiry() -> None:
    # scraper-migration expires 2027-03-31: 123 days after 2026-11-28
    bundle = str(ROOT / "policies")
    code, _, err = report("-c", str(EXAMPLE), "--bundle", bundle, "--fail-within", "122")
    assert (code, err) == (0, "")
    code, _, err = report("-c", str(EXAMPLE), "--bundle", bundle, "--fail-within", "123")
    assert code == 1
    assert err == "policygen: report: exemptions expiring within 123 days: scraper-migration\n"
    code, _, err = report("-c", str(EXAMPLE), "--bundle", bundle, "--fail-within", "-1")
    assert code == 2


def test_isolation_node_crosswalk_and_fidelity_sections() -> None:
    code, out, _ = report("-c", str(EXAMPLE), "--bundle", str(ROOT / "policies"))
    assert code == 0
    assert (
        "| prefix | listed by | team-a | team-b | payments | (no tenant) | usable by several tenants |"
        in out
    )
    assert "| harbor.corp.example/infra | shared | shared | shared | shared | shared |  |" in out
    assert "| ghcr.io/acme-team-b | team-b |  | own |  |  |  |" in out
    assert (
        "| kyverno | ClusterPolicy/acme-restrict-image-registries | every namespace in scope |"
        in out
    )
    assert "No prefix outside the shared list is usable by more than one tenant." in out
    assert "imagePullCredentialsVerificationPolicy: NeverVerifyAllowlistedImages" in out
    assert "For Kubernetes 1.36: beta in 1.36: on by default." in out
    assert (
        "| pullPolicy | Checkov | CKV_K8S_15 | Image Pull Policy should be Always | stricter |"
        in out
    )
    assert "| gatekeeper (Rego) | opa-golib-python-bindings |" in out


def test_node_posture_follows_the_kubernetes_version() -> None:
    bundle = str(ROOT / "policies")
    _, out, _ = report("-c", str(EXAMPLE), "--bundle", bundle, "--kubernetes-version", "1.34")
    assert "For Kubernetes 1.34: alpha in 1.34: the feature gate must be enabled." in out
    assert "featureGates:\n  KubeletEnsureSecretPulledImages: true\n" in out
    _, out, _ = report("-c", str(EXAMPLE), "--bundle", bundle, "--kubernetes-version", "1.32")
    assert "For Kubernetes 1.32: unavailable before 1.33." in out
    assert "KubeletConfiguration" not in out


def test_many_tenants_get_one_row_per_prefix(tmp_path: Path) -> None:
    # nine tenants: a matrix of ten columns no longer reads, a list does
    extra = "".join(
        f"    - name: t{i}\n      namespaces: [t{i}]\n      registries: [harbor.corp.example/t{i}]\n"
        for i in range(6)
    )
    cfg = tmp_path / "policygen.yaml"
    text = EXAMPLE.read_text().replace("  exemptions:\n", extra + "  exemptions:\n")
    # one target: the isolation table is the config's, and proving nine
    # tenants' 2,565 fixtures in every engine is not what this test is about
    text = text.replace("targets: [kyverno, kyverno-cel, gatekeeper, vap]", "targets: [kyverno]")
    cfg.write_text(text)
    _, out, _ = report("-c", str(cfg), "--bundle", str(tmp_path / "none"))
    assert "| prefix | listed by | usable by |" in out
    assert "| registry.k8s.io/pause | shared | every namespace in scope |" in out
    assert "| harbor.corp.example/t0 | t0 | t0 (own) |" in out
    assert "| team-a | team-b |" not in out


def test_fidelity_lists_the_upstream_suites_reproduced() -> None:
    _, out, _ = report("-c", str(EXAMPLE), "--bundle", str(ROOT / "policies"))
    assert (
        "| kyverno/policies (every kyverno-test.yaml) | b9c4317 | kyverno, ClusterPolicy |"
        " folders | 343/353 | 10 | 0 | make upstream-kyverno UPSTREAM=<kyverno/policies checkout> |"
    ) in out
