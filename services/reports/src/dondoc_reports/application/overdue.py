"""The overdue watcher: ReportOverdue for a report not in by the end of its due day, once.

Its schedule is the read model's `rpt_overdue_schedule` (one row per report neither submitted
nor marked overdue, indexed by the moment it becomes overdue), rebuilt from the event store
like every other table of the view; each tick reads only the rows already due. Exactly once
holds because the mark is an event of the report itself: a second mark is refused by the
aggregate, and a concurrent one by the store's version check. The event's business time is
the overdue moment (the start of the day after the due day, Asia/Ho_Chi_Minh), not "now".

The worker's watcher also keeps the read model caught up: it is woken after each command the
process records and at the commits of other processes. Under load those wakes come every few
milliseconds; a round (the view's catch-up, then the schedule's head) runs at most every
`min_gap` seconds for them, taking every command of the gap in one view transaction, instead
of a round per command. The schedule's own moments are not delayed: the pause until the next
overdue moment ends the wait as before.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from prometheus_client import Counter, Gauge

from dondoc_platform.clock import Clock, ManualClock
from dondoc_platform.projection import FOLLOW_INTERVAL
from dondoc_reports.application.service import ReportsService
from dondoc_reports.projections.views import ReportsView

log = logging.getLogger(__name__)

REPORTS_OVERDUE = Counter("dondoc_reports_overdue_total", "Reports marked overdue by the watcher")
NEXT_OVERDUE = Gauge("dondoc_reports_next_overdue_timestamp_seconds",
                     "When the next pending report becomes overdue (0: none pending)")


class OverdueWatcher:
    def __init__(self, service: ReportsService, view: ReportsView, clock: Clock, *,
                 interval: float = 1.0, batch_size: int = 200,
                 min_gap: float = FOLLOW_INTERVAL) -> None:
        self.service = service
        self.view = view
        self.clock = clock
        self.interval = interval
        self.batch_size = batch_size
        self.min_gap = min_gap  # between two rounds started by wakes
        self.rounds = 0
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._upcoming: datetime | None = None  # the next overdue moment the last tick saw
        if isinstance(clock, ManualClock):
            clock.on_change(lambda _moment: self.wake())

    def wake(self) -> None:
        """Look again now (the manual clock moved, or a report was requested)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def tick(self) -> int:
        """Mark every report whose overdue moment has passed; returns how many were marked."""
        marked = 0
        while True:
            now = self.clock.now()
            due = self.view.overdue_due(now, self.batch_size)
            for report_id, moment in due:
                if self.service.mark_overdue(report_id, moment):
                    marked += 1
                    REPORTS_OVERDUE.inc()
                    log.info("report %s overdue since %s", report_id, moment.isoformat())
            if due:
                self.view.catch_up()  # the marks leave the schedule
            if len(due) < self.batch_size:
                break
        self._upcoming = self.view.next_overdue_moment()
        NEXT_OVERDUE.set(self._upcoming.timestamp() if self._upcoming else 0)
        return marked

    def _seconds_to_next(self) -> float:
        """Until the next moment the last `tick` saw, at most `interval`."""
        upcoming: datetime | None = self._upcoming
        if upcoming is None or isinstance(self.clock, ManualClock):
            return self.interval
        return max(0.0, min(self.interval, (upcoming - self.clock.now()).total_seconds()))

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not stop.is_set():
            self._wake.clear()  # before looking: a wake meanwhile brings the next look
            began = loop.time()
            self.rounds += 1
            try:
                await asyncio.to_thread(self.view.catch_up)
                await asyncio.to_thread(self.tick)
                pause = self._seconds_to_next()
            except Exception:
                log.exception("the overdue watcher failed; retrying")
                pause = self.interval
            waits = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
            await asyncio.wait(waits, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waits:
                waiter.cancel()
            if self._wake.is_set() and not stop.is_set():
                # woken: the wakes of the rest of the gap join this one's round (the next
                # overdue moment, if it comes sooner, still ends the wait)
                rest = min(began + self.min_gap - loop.time(), self._seconds_to_next())
                if rest > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), rest)
                    except TimeoutError:
                        pass
