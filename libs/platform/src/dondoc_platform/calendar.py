"""The working calendar and the deadline rules of metrics.md.

- Time zone Asia/Ho_Chi_Minh; a deadline day D counts in full: overdue from D+1 00:00.
- A deadline falling on a Saturday, a Sunday or a day off moves to the next working day.
- Working-day rules ("within 5 working days") and calendar-day rules.
- Days off are seeded from the maintained `holidays` library (Vietnam, with its official
  substitute days) and corrected by an administrator: official days off change every year
  by decision, and some Saturdays become working days to make up for them.
"""

from __future__ import annotations

import re

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache

from dondoc_contracts.values import DeadlineKind, DeadlineRule
from dondoc_platform.clock import VN_TZ


class DayKind(StrEnum):
    DAY_OFF = "day_off"
    WORKING_DAY = "working_day"


@dataclass(frozen=True)
class DayCorrection:
    """An administrator's correction of the seeded calendar."""

    day: date
    kind: DayKind
    name: str = ""


_MADE_UP = re.compile(r"thay cho ngày (\d{2})/(\d{2})/(\d{4})")


@lru_cache(maxsize=64)
def _seeded_days_off(year: int) -> dict[date, str]:
    import holidays

    return dict(holidays.country_holidays("VN", years=year, language="vi"))


@lru_cache(maxsize=64)
def _seeded_working_days(year: int) -> dict[date, str]:
    """Weekend days made working days in exchange for a day off ("thay cho ngày dd/mm/yyyy")."""
    found: dict[date, str] = {}
    for y in (year - 1, year, year + 1):
        for day_off, name in _seeded_days_off(y).items():
            if match := _MADE_UP.search(name):
                worked = date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
                if worked.year == year:
                    found[worked] = f"Làm bù cho ngày nghỉ {day_off:%d/%m/%Y}"
    return found


class WorkingCalendar:
    def __init__(self, corrections: Iterable[DayCorrection] = ()) -> None:
        self._corrections: dict[date, DayCorrection] = {c.day: c for c in corrections}

    @property
    def corrections(self) -> Mapping[date, DayCorrection]:
        return dict(self._corrections)

    def correct(self, correction: DayCorrection) -> None:
        self._corrections[correction.day] = correction

    def remove_correction(self, day: date) -> None:
        self._corrections.pop(day, None)

    def day_off_name(self, day: date) -> str | None:
        """Why `day` is not a working day, or None if it is one."""
        correction = self._corrections.get(day)
        if correction is not None:
            return None if correction.kind is DayKind.WORKING_DAY else (correction.name or "Ngày nghỉ")
        name = _seeded_days_off(day.year).get(day)
        if name:
            return name
        if day in _seeded_working_days(day.year):
            return None
        if day.weekday() == 5:
            return "Thứ Bảy"
        if day.weekday() == 6:
            return "Chủ nhật"
        return None

    def is_working_day(self, day: date) -> bool:
        return self.day_off_name(day) is None

    def next_working_day(self, day: date) -> date:
        """`day` itself if it is a working day, else the first working day after it."""
        current = day
        for _ in range(60):
            if self.is_working_day(current):
                return current
            current += timedelta(days=1)
        raise ValueError(f"no working day within 60 days of {day}")

    def add_working_days(self, start: date, days: int) -> date:
        """The `days`-th working day after `start` (start itself does not count)."""
        if days < 0:
            return self.subtract_working_days(start, -days)
        current, counted = start, 0
        while counted < days:
            current += timedelta(days=1)
            if self.is_working_day(current):
                counted += 1
        return current

    def subtract_working_days(self, start: date, days: int) -> date:
        current, counted = start, 0
        while counted < days:
            current -= timedelta(days=1)
            if self.is_working_day(current):
                counted += 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many working days `end` lies after `start`."""
        if end <= start:
            return -self.working_days_between(end, start) if end < start else 0
        return sum(1 for n in range(1, (end - start).days + 1)
                   if self.is_working_day(start + timedelta(days=n)))

    def effective_due(self, due: date) -> date:
        """A deadline on a day off moves to the next working day (Civil Code 2015, art. 148)."""
        return self.next_working_day(due)

    def due_date(self, rule: DeadlineRule, assigned_on: date) -> date | None:
        """The effective deadline day of a rule, or None for tasks without a deadline."""
        if rule.kind is DeadlineKind.DATE:
            assert rule.due_on is not None
            return self.effective_due(rule.due_on)
        if rule.kind is DeadlineKind.WORKING_DAYS:
            assert rule.days is not None
            return self.add_working_days(assigned_on, rule.days)
        if rule.kind is DeadlineKind.CALENDAR_DAYS:
            assert rule.days is not None
            return self.effective_due(assigned_on + timedelta(days=rule.days))
        return None


def overdue_moment(due: date) -> datetime:
    """The moment a task due on `due` becomes overdue: the next day at 00:00 local time."""
    return datetime.combine(due + timedelta(days=1), time(0, 0), tzinfo=VN_TZ)


def local_day(moment: datetime) -> date:
    """The calendar day in Asia/Ho_Chi_Minh of an aware moment."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return moment.astimezone(VN_TZ).date()


def is_overdue(due: date | None, at: datetime) -> bool:
    return due is not None and at >= overdue_moment(due)


def days_overdue(due: date, at: datetime) -> int:
    """Whole days past the deadline at `at` (0 before it is overdue)."""
    return max(0, (local_day(at) - due).days)
