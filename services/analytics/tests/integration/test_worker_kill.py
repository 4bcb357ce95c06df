"""The analytics worker killed (SIGKILL: no shutdown code runs) while it applies a stream of
events, then started again: every event is in the events table once, and the scorecards
equal a count made here from what was published, on the real Kafka broker and PostgreSQL.

The worker is a real `dondoc serve analytics` process (`dondoc.dev.suite.ProcessSuite`, as
the other services' kill test runs them) taking five records a poll, so it is killed between
and inside its small transactions, several times.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from dondoc.dev.suite import ProcessSuite
from services.analytics.tests import support as s
from tests.support.services import until

pytestmark = pytest.mark.integration

UNITS = 12
TASKS = 900
KILLS = 3


def published_stream() -> tuple[list, Counter, Counter]:
    """The events, and per lead unit the tasks assigned and those completed on time in 2018."""
    units = [s.unit(f"U{n:02d}", f"Đơn vị thử nghiệm số {n}") for n in range(UNITS)]
    events: list = list(units)
    assigned: Counter = Counter()
    on_time: Counter = Counter()
    for i in range(TASKS):
        lead = f"U{i % UNITS:02d}"
        day = date(2018, 1, 2) + timedelta(days=i % 200)
        due = day + timedelta(days=30)
        task = f"task-{i:05d}"
        events.append(s.assigned(task, lead, day, due))
        assigned[lead] += 1
        if i % 3 != 2:  # two in three completed, half of those late
            done = due if i % 2 else due + timedelta(days=5)
            events.append(s.completed(task, lead, done))
            if done <= due:
                on_time[lead] += 1
    return events, assigned, on_time


def applied(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("select count(*) from analytics_events").fetchone()[0]


async def test_a_worker_killed_while_applying_counts_every_event_once(
        kafka_bootstrap: str, infra, tmp_path: Path) -> None:
    events, assigned, on_time = published_stream()
    suite = ProcessSuite(tmp_path / "suite", kafka_bootstrap=kafka_bootstrap,
                         postgres_url=infra.postgres_url, names=("analytics",),
                         env={"DONDOC_CONSUMER_MAX_RECORDS": "5", "DONDOC_LOG_LEVEL": "WARNING"})
    suite.create()
    try:
        await s.create_topics(kafka_bootstrap, suite.topic_prefix)
        async with s.Publisher(kafka_bootstrap, suite.topic_prefix) as publisher:
            await publisher.publish(events)
        url = suite.databases["analytics"]
        await asyncio.to_thread(suite.start, "analytics")
        kills = []
        for _ in range(KILLS):
            kills.append(await kill_mid_work(suite, lambda: applied(url), len(events)))
            await asyncio.to_thread(suite.start, "analytics")
        assert kills == sorted(kills) and len(set(kills)) == KILLS, kills
        await until(lambda: applied(url) == len(events), timeout=180,
                    what="every published event applied")
        await the_account(suite, url, events, assigned, on_time)
    finally:
        await asyncio.to_thread(suite.close)


async def kill_mid_work(suite: ProcessSuite, progress, total: int) -> int:
    """SIGKILL the worker as soon as it has applied more than before and not everything."""
    before = await asyncio.to_thread(progress)
    async with asyncio.timeout(120):
        while True:
            done = await asyncio.to_thread(progress)
            if done >= total:
                raise AssertionError(f"the worker finished before it could be killed ({done})")
            if done > before:
                await asyncio.to_thread(suite["analytics"].kill)
                after = await asyncio.to_thread(progress)
                assert before < after < total, f"killed at {after}/{total}"
                return after
            await asyncio.sleep(0.005)


async def the_account(suite: ProcessSuite, url: str, events: list, assigned: Counter,
                      on_time: Counter) -> None:
    # the events table: each published (service, position) once, nothing else
    expected: Counter = Counter(e.service for e in events)
    with psycopg.connect(url) as conn:
        rows = conn.execute("select service, position from analytics_events").fetchall()
        tasks = conn.execute("select count(*), count(distinct task_id) from analytics_tasks"
                             ).fetchone()
    assert len(rows) == len(set(rows)) == len(events)
    assert set(rows) == {(service, n) for service, count in expected.items()
                         for n in range(1, count + 1)}
    assert tasks == (TASKS, TASKS)
    # the scorecards: each unit's figures as counted from the published stream
    async with httpx.AsyncClient(base_url=suite.url("analytics"), timeout=60) as client:
        response = await client.get("/v1/scorecards/tasks", headers=suite.headers("office"),
                                    params={"year": 2018})
    assert response.status_code == 200, response.text
    card = {row["key"]: row["figures"] for row in response.json()["rows"]}
    assert {u: f["assigned"] for u, f in card.items() if f["assigned"]} == dict(assigned)
    assert {u: f["completed_on_time"] for u, f in card.items()
            if f["completed_on_time"]} == dict(on_time)
    assert response.json()["total"]["figures"]["assigned"] == TASKS
