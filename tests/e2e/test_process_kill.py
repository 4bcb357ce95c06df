"""SIGKILL in the middle of the work, then a restart: nothing lost, nothing twice.

The three services run as `dondoc serve` processes on their own PostgreSQL databases and the
real Kafka broker, on manual clocks. A backlog of notices waits on Kafka when the tasks
service starts; it is killed (SIGKILL: no shutdown code runs) while it is turning them into
tasks, and started again. The reports service is killed while it applies the tasks' events
to its view. The tasks service is killed again while its deadline watcher marks tasks
overdue, and the reports service while its watcher marks reports overdue.

Afterwards: every task exists once in the store, in the query API and on Kafka (a relay may
publish an event again after a crash, always with the same `ce_id`: consumers deduplicate
on it; never a second event); every (task, deadline) went overdue once, every missing report
once.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from dondoc.dev.suite import ProcessSuite
from dondoc_contracts import ReportOverdue, ReportRequested, TaskAssigned, TaskOverdue
from dondoc_platform.clock import VN_TZ
from tests.support.services import TopicReader, until

pytestmark = pytest.mark.e2e

UNITS = 40
NOTICES = 100
ITEMS = 6
TASKS = NOTICES * ITEMS
START = datetime(2018, 3, 10, 9, tzinfo=VN_TZ)
TASKS_OVERDUE_AT = datetime(2018, 6, 30, tzinfo=VN_TZ)  # every task is due 29/6/2018
REPORTS_OVERDUE_AT = datetime(2018, 3, 21, tzinfo=VN_TZ)  # the cycle's reports are due 20/3

GROUPS = ("Kinh tế - xã hội", "Xây dựng Đảng, hệ thống chính trị, nội chính", "Mặt trận, đoàn thể")


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def events_of(kind: str) -> str:
    """How many events of one private type a store holds (and for how many aggregates)."""
    return f"select count(*), count(distinct originator_id) from {{table}} where topic like '%:{kind}'"


def stored(url: str, table: str, kind: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute(events_of(kind).format(table=table)).fetchone()


async def kill_mid_work(suite: ProcessSuite, name: str, progress: Any, total: int) -> int:
    """SIGKILL `name` as soon as `progress()` shows work begun and not finished."""
    async with asyncio.timeout(120):
        while True:
            done = await asyncio.to_thread(progress)
            if done >= total:
                raise AssertionError(f"{name} finished before it could be killed")
            if done > 0:
                await asyncio.to_thread(suite[name].kill)
                after = await asyncio.to_thread(progress)
                assert 0 < after < total, f"{name} killed at {after}/{total}"
                return after
            await asyncio.sleep(0.005)


async def killed_and_restarted(suite: ProcessSuite, name: str, progress: Any, total: int,
                               what: str, **env: str) -> None:
    """Kill `name` mid-work, start it again (with `env`), wait until the work is all done."""
    await kill_mid_work(suite, name, progress, total)
    await asyncio.to_thread(suite.start, name, **env)
    await until(lambda: progress() == total, timeout=180, what=what)


async def move_clock(suite: ProcessSuite, name: str, moment: datetime) -> None:
    async with httpx.AsyncClient(base_url=suite.url(name), timeout=30) as client:
        moved = await client.post("/admin/clock", headers=suite.headers("admin"),
                                  json={"to": moment.isoformat()})
        assert moved.status_code == 200, moved.text


def once_each(reader: TopicReader, kind: type, key: Any) -> dict[Any, set[str]]:
    """Event ids per business key; a republished event keeps its id."""
    ids: dict[Any, set[str]] = defaultdict(set)
    for envelope, event in zip(reader.envelopes, reader.events, strict=True):
        if isinstance(event, kind):
            ids[key(event)].add(envelope.id)
    return ids


async def test_killed_services_lose_nothing_and_repeat_nothing(kafka_bootstrap: str, infra,
                                                               tmp_path: Path) -> None:
    suite = ProcessSuite(tmp_path / "suite", kafka_bootstrap=kafka_bootstrap,
                         postgres_url=infra.postgres_url, manual_clock_start=START,
                         env={"DONDOC_WATCHER_POLL_SECONDS": "1", "DONDOC_LOG_LEVEL": "WARNING"})
    suite.create()
    try:
        await scenario(suite)
    finally:
        await asyncio.to_thread(suite.close)


async def scenario(suite: ProcessSuite) -> None:
    office = suite.headers("office")
    tasks_db, reports_db = suite.databases["tasks"], suite.databases["reports"]
    await asyncio.to_thread(suite.start, "directives")
    async with httpx.AsyncClient(base_url=suite.url("directives"), timeout=30) as directives:
        for n in range(UNITS):
            response = await directives.post("/units", headers=office, json={
                "code": f"U{n:02d}", "name": f"Đơn vị thử nghiệm số {n}",
                "review_group": GROUPS[n % 3]})
            assert response.status_code == 201, response.text
        gate = asyncio.Semaphore(4)

        async def issue(i: int) -> None:
            items = [{"paragraph": str(j + 1), "text": f"Nhiệm vụ {j + 1} của thông báo {i}",
                      "lead_unit_id": f"U{(i * ITEMS + j) % UNITS:02d}",
                      "deadline": {"kind": "date", "due_on": "2018-06-29"}} for j in range(ITEMS)]
            async with gate:
                response = await directives.post("/directives", headers=office, json={
                    "number": f"{i + 1}-TB/TU", "kind": "thong_bao_ket_luan",
                    "issuing_body": "BTV", "issued_on": "2018-03-05",
                    "summary": f"Thông báo kết luận số {i + 1}", "items": items})
            assert response.status_code == 201, response.text

        await asyncio.gather(*(issue(i) for i in range(NOTICES)))

    assigned = lambda: stored(tasks_db, "tasks_events", "Task.Assigned")[0]  # noqa: E731
    # the tasks service starts on a backlog of notices and is killed while assigning them
    await asyncio.to_thread(suite.start, "tasks")
    await killed_and_restarted(suite, "tasks", assigned, TASKS, "every task assigned")

    # the reports service, applying the tasks' events a few at a time, is killed midway
    known = lambda: count(reports_db, "select count(*) from rpt_tasks")  # noqa: E731
    await asyncio.to_thread(suite.start, "reports", DONDOC_CONSUMER_MAX_RECORDS="5")
    await killed_and_restarted(suite, "reports", known, TASKS, "the reports' view of every task")

    # a cycle: every unit owes a report due 20/3; then each clock passes its moment
    async with httpx.AsyncClient(base_url=suite.url("reports"), timeout=30) as reports:
        opened = await reports.post("/cycles", headers=office, json={
            "period": {"kind": "half_year", "label": "6 tháng đầu năm 2018",
                       "starts_on": "2018-01-01", "ends_on": "2018-06-30"},
            "data_cutoff_on": "2018-03-10", "due_on": "2018-03-20"})
        assert opened.status_code == 201, opened.text
        assert len(opened.json()["obligations"]) == UNITS
    marked = lambda: stored(reports_db, "reports_events", "Report.MarkedOverdue")[0]  # noqa: E731
    await move_clock(suite, "reports", REPORTS_OVERDUE_AT)
    await killed_and_restarted(suite, "reports", marked, UNITS, "every report marked overdue",
                               DONDOC_MANUAL_CLOCK_START=REPORTS_OVERDUE_AT.isoformat())
    overdue = lambda: stored(tasks_db, "tasks_events", "Task.WentOverdue")[0]  # noqa: E731
    await move_clock(suite, "tasks", TASKS_OVERDUE_AT)
    await killed_and_restarted(suite, "tasks", overdue, TASKS, "every task overdue",
                               DONDOC_MANUAL_CLOCK_START=TASKS_OVERDUE_AT.isoformat())

    await the_account(suite)


async def the_account(suite: ProcessSuite) -> None:
    office = suite.headers("office")
    tasks_db, reports_db = suite.databases["tasks"], suite.databases["reports"]
    # the stores: one Assigned and one WentOverdue per task, one MarkedOverdue per report
    assert stored(tasks_db, "tasks_events", "Task.Assigned") == (TASKS, TASKS)
    assert stored(tasks_db, "tasks_events", "Task.WentOverdue") == (TASKS, TASKS)
    assert stored(reports_db, "reports_events", "Report.MarkedOverdue") == (UNITS, UNITS)
    # the query APIs
    async with httpx.AsyncClient(base_url=suite.url("tasks"), timeout=30) as tasks:
        rows: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = (await tasks.get("/tasks", headers=office, params={
                "limit": 200, **({"cursor": cursor} if cursor else {})})).json()
            rows += page["items"]
            if not (cursor := page["next_cursor"]):
                break
    assert len({r["task_id"] for r in rows}) == len(rows) == TASKS
    assert {(r["status"], tuple(r["overdue_for"])) for r in rows} == {
        ("open_overdue", ("2018-06-29",))}
    async with httpx.AsyncClient(base_url=suite.url("reports"), timeout=30) as reports:
        late = (await reports.get("/reports", headers=office, params={"overdue": "true"})).json()
        assert late["total"] == UNITS
        for n in (0, UNITS - 1):
            owned = (await reports.get(f"/units/U{n:02d}/tasks", headers=office,
                                       params={"limit": 200})).json()["items"]
            assert len(owned) == TASKS // UNITS
    # Kafka: one event per fact (a crash may republish it, with the same id)
    async with TopicReader(suite.kafka_bootstrap, suite.topic("tasks"),
                           suite.topic("reports")) as reader:
        await until(lambda: _relayed(suite), timeout=120, what="the outboxes relayed")
        await reader.drain()
    for kind, key, total in ((TaskAssigned, lambda e: e.task_id, TASKS),
                             (TaskOverdue, lambda e: (e.task_id, e.due_on), TASKS),
                             (ReportRequested, lambda e: e.report_id, UNITS),
                             (ReportOverdue, lambda e: e.report_id, UNITS)):
        ids = once_each(reader, kind, key)
        assert len(ids) == total, f"{kind.__name__}: {len(ids)} of {total}"
        twice = {k: v for k, v in ids.items() if len(v) > 1}
        assert not twice, f"{kind.__name__} published as two events: {list(twice.items())[:3]}"
    assert {e.overdue_at for e in reader.events if isinstance(e, TaskOverdue)} == {
        TASKS_OVERDUE_AT}


def _relayed(suite: ProcessSuite) -> bool:
    """Each store's outbox position has reached the end of its log."""
    for name, table in (("tasks", "tasks_events"), ("reports", "reports_events")):
        url = suite.databases[name]
        head = count(url, f"select coalesce(max(notification_id), 0) from {table}")
        position = count(url, "select coalesce(max(position), 0) from dondoc_outbox")
        if position < head:
            return False
    return True
