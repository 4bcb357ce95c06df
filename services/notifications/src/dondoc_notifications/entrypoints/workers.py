"""The worker loops: the planner (schedule → notices) and the deliverer (notices → SMTP /
webhooks). Each sleeps until woken (new facts, a new notice, the manual clock moved) or
until its next known moment, with a bounded poll as a safety net."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from dondoc_platform.clock import Clock, ManualClock

log = logging.getLogger(__name__)


class Wakeup:
    """An asyncio.Event that threads (API handlers, the clock) can set safely."""

    def __init__(self, action: Callable[[], None] | None = None) -> None:
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._action = action

    @classmethod
    def for_callable(cls, action: Callable[[], None]) -> Wakeup:
        return cls(action)

    def bind(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def __call__(self) -> None:
        self.set()

    def set(self) -> None:
        if self._loop is None:
            return
        target = self._action or self._event.set  # type: ignore[union-attr]
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            target()
        else:
            self._loop.call_soon_threadsafe(target)

    async def wait(self, stop: asyncio.Event, timeout: float) -> None:
        if self._event is None:
            self.bind()
        assert self._event is not None
        waiter = asyncio.ensure_future(self._event.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiter, stopper}, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()
        self._event.clear()


def _seconds_until(moment: datetime | None, now: datetime, cap: float) -> float:
    if moment is None:
        return cap
    return min(cap, max(0.0, (moment - now).total_seconds()))


async def planner_worker(planner, stop: asyncio.Event, wake: Wakeup, deliver: Wakeup, clock: Clock,
                         poll: float) -> None:
    while not stop.is_set():
        try:
            fired = await asyncio.to_thread(planner.run_once)
        except Exception:  # noqa: BLE001 - a database hiccup: try again, never give up
            log.exception("planner failed; retrying")
            await wake.wait(stop, min(poll, 2.0))
            continue
        if fired:  # firing may have put follow-ups on the schedule that are due already
            deliver.set()
            continue
        timeout = poll
        if not isinstance(clock, ManualClock):  # a manual clock wakes us when it moves
            timeout = _seconds_until(await asyncio.to_thread(planner.next_moment), clock.now(), poll)
        await wake.wait(stop, timeout)


async def delivery_worker(deliverer, stop: asyncio.Event, wake: Wakeup, poll: float) -> None:
    while not stop.is_set():
        try:
            handled = await asyncio.to_thread(deliverer.run_once)
        except Exception:  # noqa: BLE001
            log.exception("delivery failed; retrying")
            await wake.wait(stop, min(poll * 2, 5.0))
            continue
        if handled:
            continue
        retry = await asyncio.to_thread(deliverer.next_retry)
        await wake.wait(stop, _seconds_until(retry, datetime.now(timezone.utc), poll))
