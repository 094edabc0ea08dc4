"""A real browser for tests: Debian's Chromium, driven by Playwright.

Installs Chromium with apt-get when it is missing (saying so on stderr), and
uses Playwright only as the driver: no browser is downloaded, the system
Chromium is launched by path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "chromium"
# No background traffic: this machine's network is closed, and Chromium's
# own update and sync calls would only fail and slow the start.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ensure_chromium() -> str:
    found = shutil.which(CHROMIUM)
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise RuntimeError(
            "the report browser test needs Chromium (Debian: apt-get install chromium)"
        )
    print("installing chromium with apt-get for the report browser test", file=sys.stderr)
    install = ["apt-get", "install", "-y", "-q", CHROMIUM]
    if subprocess.run(install, capture_output=True).returncode != 0:
        # A new machine has no package lists yet.
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
        subprocess.run(install, check=True, capture_output=True)
    found = shutil.which(CHROMIUM)
    if not found:
        raise RuntimeError("apt-get installed chromium but it is not on PATH")
    return found


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()
