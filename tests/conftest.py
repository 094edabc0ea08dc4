from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from policygen import config

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "policygen.yaml"
CORPUS = Path(__file__).parent / "fixtures" / "corpus"
NOW = dt.date(2026, 11, 28)


@pytest.fixture(scope="session")
def example() -> config.Config:
    return config.load(EXAMPLE, today=NOW)
