"""The reports service's tests use the suite's real infrastructure fixtures (root conftest.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.reports.tests.harness import Harness, at


@pytest.fixture
async def harness(kafka_bootstrap: str, postgres_database: str, tmp_path: Path):
    """A running service on a fresh PostgreSQL database, its clock at 1 June 2018."""
    h = Harness(kafka_bootstrap, postgres_database, tmp_path, start=at(date(2018, 6, 1)))
    await h.start_service()
    yield h
    await h.close()
