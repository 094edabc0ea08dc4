"""The HTML report as a reviewer sees it: rendered by a real Chromium, on
screen and printed on A4, with every section present and nothing cut off."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from policygen.cli import app
from tests.conftest import EXAMPLE, ROOT
from tests.support.browser import browser

SECTIONS = [
    "Status",
    "Scope",
    "Rules",
    "Tenants",
    "Tenant isolation",
    "Exemptions",
    "Node posture",
    "Scanner cross-walk",
    "Evidence",
    "Fidelity of the offline proof",
    "Bundle",
]
A4_POINTS = (595.0, 842.0)  # 210 × 297 mm, rounded as PDF writers round it
# Elements whose right edge passes the viewport: what "cut off" means on a page.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 0.5)
    .map(e => e.tagName + ': ' + e.textContent.trim().slice(0, 60));
}"""

# Long names with no spaces, a selector-only tenant and a sixth column: what
# stretches the tables.
EXTRA_TENANTS = """\
    - name: platform-observability-long-tenant-name
      namespaceSelector:
        matchLabels: {platform.corp.example/tenant: observability}
      registries: [registry.a-very-long-internal-hostname.corp.example:8443/observability/collectors]
    - name: tools
      namespaces: [tools]
      registries: [harbor.corp.example/tools, ghcr.io/acme-tools]
"""


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    cfg = folder / "policygen.yaml"
    cfg.write_text(
        EXAMPLE.read_text().replace("  exemptions:\n", EXTRA_TENANTS + "  exemptions:\n")
    )
    out = folder / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "-c",
            str(cfg),
            "--now",
            "2026-11-28",
            "--format",
            "html",
            "-o",
            str(out),
            "--bundle",
            str(ROOT / "policies"),
        ],
    )
    # The bundle in the repository is the example's, so for this config it is stale.
    assert result.exit_code == 1, result.stderr
    assert "stale" in result.stderr
    return out


def _open(page: Any, html: Path) -> None:
    page.goto(html.as_uri())
    page.wait_for_load_state("load")


def test_every_section_is_there_in_order_and_readable(report_html: Path, tmp_path: Path) -> None:
    with browser() as chromium:
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        _open(page, report_html)
        headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
        assert headings == SECTIONS
        status = page.inner_text("#status")
        assert "stale" in status and "every engine agrees" in status
        text = page.inner_text("body")
        assert "No prefix outside the shared list is usable by more than one tenant." in text
        assert "none: selector only" in text
        assert "NeverVerifyAllowlistedImages" in text and "CKV_K8S_43" in text
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        # A blank or error page compresses to a few kilobytes; this one is tall and full of text.
        assert shot.stat().st_size > 100_000
        assert page.evaluate(OVERFLOWING) == []


def test_nothing_is_cut_off_on_a_narrow_screen(report_html: Path) -> None:
    with browser() as chromium:
        page = chromium.new_page(viewport={"width": 700, "height": 900})
        _open(page, report_html)
        assert page.evaluate(OVERFLOWING) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 700


def test_prints_on_a4_without_cutting_anything(report_html: Path, tmp_path: Path) -> None:
    with browser() as chromium:
        # 210 mm minus the 12 mm margins each side, at CSS's 96 px per inch.
        printable = round((210 - 24) / 25.4 * 96)
        page = chromium.new_page(viewport={"width": printable, "height": 1000})
        _open(page, report_html)
        page.emulate_media(media="print")
        assert page.evaluate(OVERFLOWING) == []
        pdf = tmp_path / "report.pdf"
        page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    reader = PdfReader(str(pdf))
    assert len(reader.pages) >= 2
    for pdf_page in reader.pages:
        size = (float(pdf_page.mediabox.width), float(pdf_page.mediabox.height))
        assert size == pytest.approx(A4_POINTS, abs=1.0)
    # NFKC undoes the ligatures the PDF text layer keeps ("oﬄine").
    printed = unicodedata.normalize(
        "NFKC", " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
    )
    for section in SECTIONS:
        assert section in printed, section
    # Every file hash is printed whole (wrapped, never clipped at the page edge).
    hashes = re.findall(r"<td>([0-9a-f]{64})</td>", report_html.read_text())
    assert len(hashes) > 10
    unwrapped = "".join(printed.split())
    assert [h for h in hashes if h not in unwrapped] == []
