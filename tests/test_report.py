"""policygen report: the compliance report in Markdown and HTML."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

from typer.testing import CliRunner

from policygen.cli import app
from tests.conftest import EXAMPLE, ROOT


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
    code, out, _ = report(
        "-c", str(cfg), "--format", "html", "-o", str(out_file), "--bundle", str(tmp_path / "none")
    )
    assert code == 0
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
