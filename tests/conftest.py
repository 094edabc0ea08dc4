from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import settings

from policygen import config

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "policygen.yaml"
CORPUS = Path(__file__).parent / "fixtures" / "corpus"
NOW = dt.date(2026, 11, 28)


@pytest.fixture(scope="session")
def example() -> config.Config:
    return config.load(EXAMPLE, today=NOW)


# Property tests run a bounded number of examples in CI; the differential
# test's long run is one flag: pytest --hypothesis-profile=long
settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile("default")
