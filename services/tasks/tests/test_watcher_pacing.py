"""The deadline watcher is poked by every catch-up of the board that applied something; under
load every query catches the board up first, so those pokes come every few milliseconds. Its
rounds started by them are paced (`min_gap`): a poke is never lost, and the next deadline
moment is not delayed by the gap. In-memory parts: a board and an application that count
what they are asked."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from dondoc_tasks.adapters.watcher import DeadlineWatcher

pytestmark = pytest.mark.unit


class WallClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class CountingBoard(DeadlineWatcher):
    """The watcher with its board in memory: `schedule` maps a task to its moment."""

    def __init__(self, *, min_gap: float) -> None:
        super().__init__(app=None, projection=_Projection(), engine=None,  # type: ignore[arg-type]
                         clock=WallClock(), poll=3600, min_gap=min_gap)  # type: ignore[arg-type]
        self.schedule: dict[str, datetime] = {}
        self.fired: list[str] = []

    def fire(self) -> int:
        now = self.clock.now()
        due = [t for t, moment in self.schedule.items() if moment <= now]
        for task in due:
            del self.schedule[task]
        self.fired += due
        return len(due)

    def next_moment(self) -> datetime | None:
        return min(self.schedule.values(), default=None)


class _Projection:
    listeners: list = []


async def _until(condition, deadline: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    ends = loop.time() + deadline
    while not condition():
        assert loop.time() < ends, "the condition never held"
        await asyncio.sleep(0.005)


async def _running(watcher: DeadlineWatcher) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    await _until(lambda: watcher.rounds >= 1 and watcher._wake is not None)
    return stop, task


async def test_pokes_within_the_gap_share_one_round() -> None:
    watcher = CountingBoard(min_gap=3600)
    stop, task = await _running(watcher)  # its first round began the gap
    try:
        for _ in range(50):  # fifty catch-ups of the board within the gap
            watcher._poke()
            await asyncio.sleep(0)
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert watcher.rounds == 1  # the gap its first round opened holds them all
    finally:
        stop.set()
        await task


async def test_a_poke_in_the_gap_is_answered_when_it_ends() -> None:
    watcher = CountingBoard(min_gap=0.05)
    stop, task = await _running(watcher)
    try:
        watcher._poke()
        await _until(lambda: watcher.rounds >= 2)
        watcher.schedule["t"] = watcher.clock.now() - timedelta(seconds=1)  # due already
        watcher._poke()  # within the gap the last round opened
        await _until(lambda: watcher.fired == ["t"])
    finally:
        stop.set()
        await task


async def test_a_moment_within_the_gap_is_not_delayed_by_it() -> None:
    watcher = CountingBoard(min_gap=3600)
    watcher.schedule["t"] = watcher.clock.now() + timedelta(seconds=0.3)
    stop, task = await _running(watcher)  # its first round reads the moment, opens the gap
    try:
        watcher._poke()  # woken within the gap: it waits for the gap's end or the moment
        await _until(lambda: watcher.fired == ["t"], deadline=10)
        assert watcher.rounds == 2
    finally:
        stop.set()
        await task
