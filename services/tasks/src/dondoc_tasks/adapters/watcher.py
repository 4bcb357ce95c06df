"""The deadline watcher: TaskOverdue exactly once per (task, effective deadline), at the
moment the deadline passes.

Its schedule is durable: the `watch_at` column of the task board, kept from the event
store by the board projection (so it is rebuilt from the store on start and survives
restarts). Each round it asks only for the moments already reached (an indexed range,
earliest first) and for the next moment; it then sleeps until that moment, until the board
changes, until the clock is moved (a ManualClock drives it in tests and demos), or at most
`poll` seconds (other processes write to the store too). The task aggregate refuses a
second TaskOverdue for the same deadline, so two watchers never emit one twice.

The board changes at every catch-up under load (every query catches it up first); the rounds
those changes start run at most every `min_gap` seconds, a round taking every change of its
gap, instead of one round per catch-up. The schedule's own moments are not delayed: the
pause until the next moment ends the gap's wait as before.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import sqlalchemy as sa

from dondoc_platform.clock import Clock, ManualClock
from dondoc_platform.projection import FOLLOW_INTERVAL, StoreProjection, set_from_any_thread
from dondoc_tasks.application.tasks_app import TasksApp
from dondoc_tasks.projections.board import utc
from dondoc_tasks.projections.board import tasks as board

log = logging.getLogger(__name__)


class DeadlineWatcher:
    def __init__(self, app: TasksApp, projection: StoreProjection, engine: sa.Engine,
                 clock: Clock, *, batch: int = 200, poll: float = 2.0,
                 min_gap: float = FOLLOW_INTERVAL) -> None:
        self.app = app
        self.projection = projection
        self.engine = engine
        self.clock = clock
        self.batch = batch
        self.poll = poll
        self.min_gap = min_gap  # between two rounds started by changes of the board
        self.rounds = 0
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def reached(self, now: datetime) -> list[tuple[str, object]]:
        """(task id, due day) of the scheduled moments at or before `now`, earliest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(board.c.task_id, board.c.due_on)
                .where(board.c.watch_at.is_not(None), board.c.watch_at <= utc(now))
                .order_by(board.c.watch_at, board.c.task_id).limit(self.batch)).all()
        return [(r.task_id, r.due_on) for r in rows]

    def next_moment(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(board.c.watch_at))).scalar()

    def fire(self) -> int:
        """Emit TaskOverdue for every moment reached; returns how many were emitted."""
        self.projection.catch_up()
        emitted = 0
        while True:
            reached = self.reached(self.clock.now())
            if not reached:
                return emitted
            for task_id, due_on in reached:
                if self.app.mark_overdue(task_id, due_on):  # type: ignore[arg-type]
                    emitted += 1
            before = self.projection.position()
            self.projection.catch_up()
            if self.projection.position() == before:
                return emitted  # nothing moved (e.g. a due row another writer is changing)

    def _poke(self, *_: object) -> None:
        set_from_any_thread(self._loop, self._wake)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.projection.listeners.append(self._poke)
        if isinstance(self.clock, ManualClock):
            self.clock.on_change(self._poke)
        loop = self._loop
        try:
            while not stop.is_set():
                self._wake.clear()
                began = loop.time()
                self.rounds += 1
                try:
                    emitted = await asyncio.to_thread(self.fire)
                    if emitted:
                        log.info("deadline watcher: %d task(s) went overdue", emitted)
                    following = await asyncio.to_thread(self.next_moment)
                except Exception:  # noqa: BLE001 - the store may be away: retry, skip nothing
                    log.exception("deadline watcher failed; retrying")
                    following = None
                await self._sleep(stop, following)
                if self._wake.is_set() and not stop.is_set():
                    # woken: the changes of the rest of the gap join the next round (the
                    # next moment, if it comes sooner, still ends the wait)
                    rest = min(began + self.min_gap - loop.time(), self._until(following))
                    if rest > 0:
                        try:
                            await asyncio.wait_for(stop.wait(), rest)
                        except TimeoutError:
                            pass
        finally:
            if self._poke in self.projection.listeners:
                self.projection.listeners.remove(self._poke)
            self._loop = None

    def _until(self, following: datetime | None) -> float:
        """Seconds until `following` (the next moment), at most `poll`."""
        if following is None or isinstance(self.clock, ManualClock):
            return self.poll
        return max(0.0, min(self.poll, (following - self.clock.now()).total_seconds()))

    async def _sleep(self, stop: asyncio.Event, following: datetime | None) -> None:
        timeout = self._until(following)
        assert self._wake is not None
        waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
