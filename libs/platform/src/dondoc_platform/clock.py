"""Time, injectable: services ask a clock, tests and demos move a manual one."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock:
    """A clock that only moves when told to (thread-safe)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a manual clock needs an aware datetime")
        self._now = start
        self._lock = threading.Lock()
        self._listeners: list = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("an aware datetime is required")
        with self._lock:
            if moment < self._now:
                raise ValueError("a manual clock does not go backwards")
            self._now = moment
        for listener in list(self._listeners):
            listener(moment)

    def advance(self, delta: timedelta) -> datetime:
        self.set(self.now() + delta)
        return self.now()

    def on_change(self, listener) -> None:
        self._listeners.append(listener)


def local_now(clock: Clock) -> datetime:
    return clock.now().astimezone(VN_TZ)
