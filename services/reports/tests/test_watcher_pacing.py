"""The overdue watcher is woken after every command the worker records (it keeps the view
caught up too): under load those wakes come every few milliseconds, and a round per wake cost
a view transaction and two schedule queries per command. Its rounds started by wakes are
paced (`min_gap`); a wake is never lost, and the next overdue moment is not delayed by the
gap. In-memory parts: a view and a service that count what they are asked."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
import pytest

from dondoc_reports.application.overdue import OverdueWatcher
from services.reports.tests.harness import until

pytestmark = pytest.mark.unit


class WallClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class CountingView:
    def __init__(self) -> None:
        self.catch_ups = 0
        self.schedule: dict[str, datetime] = {}

    def catch_up(self) -> int:
        self.catch_ups += 1
        return 0

    def overdue_due(self, now: datetime, limit: int) -> list[tuple[str, datetime]]:
        return sorted(((r, m) for r, m in self.schedule.items() if m <= now),
                      key=lambda item: item[1])[:limit]

    def next_overdue_moment(self) -> datetime | None:
        return min(self.schedule.values(), default=None)


class MarkingService:
    def __init__(self, view: CountingView) -> None:
        self.view = view
        self.marked: list[str] = []

    def mark_overdue(self, report_id: str, moment: datetime) -> bool:
        self.marked.append(report_id)
        del self.view.schedule[report_id]
        return True


async def _running(watcher: OverdueWatcher) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    await until(lambda: watcher.rounds >= 1 and watcher._wake is not None, what="first round")
    return stop, task


async def test_wakes_within_the_gap_share_one_round() -> None:
    view = CountingView()
    watcher = OverdueWatcher(MarkingService(view), view, WallClock(), interval=3600,
                             min_gap=3600)  # type: ignore[arg-type]
    stop, task = await _running(watcher)  # its first round began the gap
    try:
        for _ in range(50):  # fifty commands recorded within the gap
            watcher.wake()
            await asyncio.sleep(0)
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert watcher.rounds == 1 and view.catch_ups == 1
    finally:
        stop.set()
        await task


async def test_a_wake_in_the_gap_is_answered_when_it_ends() -> None:
    view = CountingView()
    watcher = OverdueWatcher(MarkingService(view), view, WallClock(), interval=3600,
                             min_gap=0.05)  # type: ignore[arg-type]
    stop, task = await _running(watcher)
    try:
        watcher.wake()
        watcher.wake()
        await until(lambda: watcher.rounds >= 2, what="a round for the wakes")
        rounds = watcher.rounds
        watcher.wake()  # recorded after that round began: it needs a round of its own
        await until(lambda: watcher.rounds > rounds, what="the round after the gap")
    finally:
        stop.set()
        await task


async def test_the_next_overdue_moment_is_not_delayed_by_the_gap() -> None:
    view = CountingView()
    service = MarkingService(view)
    watcher = OverdueWatcher(service, view, WallClock(), interval=3600,
                             min_gap=3600)  # type: ignore[arg-type]
    view.schedule["r1"] = datetime.now(timezone.utc) + timedelta(milliseconds=300)
    stop, task = await _running(watcher)
    try:
        watcher.wake()  # a wake now starts an hour's gap: the moment must not wait for it
        await until(lambda: service.marked == ["r1"], timeout=30, what="r1 marked at its moment")
    finally:
        stop.set()
        await task
