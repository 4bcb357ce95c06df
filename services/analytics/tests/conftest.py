"""Fixtures of the analytics tests: a read-model database on each backend, private topics,
a running projection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import pytest

from dondoc_platform.clock import VN_TZ, ManualClock

from dondoc_analytics.bootstrap import Parts, Settings
from services.analytics.tests.support import create_topics, new_prefix


@pytest.fixture(params=["postgres", "sqlite"])
def read_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'analytics.sqlite'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
async def prefix(kafka_bootstrap: str) -> str:
    name = new_prefix()
    await create_topics(kafka_bootstrap, name)
    return name


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2019, 3, 1, 9, tzinfo=VN_TZ))


@pytest.fixture
def parts(read_url: str, prefix: str, kafka_bootstrap: str, clock: ManualClock) -> Parts:
    made = Parts(Settings(store_url=read_url, topic_prefix=prefix), clock=clock,
                 kafka_bootstrap=kafka_bootstrap)
    made.ensure_schema()
    yield made
    made.engine.dispose()


@asynccontextmanager
async def following(parts: Parts) -> AsyncIterator[asyncio.Task]:
    """The live consumer running in the background for the block."""
    stop = asyncio.Event()
    task = asyncio.create_task(parts.projection.follow(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
