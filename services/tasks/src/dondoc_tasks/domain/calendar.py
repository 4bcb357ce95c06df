"""The holiday calendar an administrator corrects: official days off are decided every
year, and some Saturdays become working days in exchange. Corrections are events, so who
changed the calendar, and when, stays in the audit history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from dondoc_tasks.domain.tasks import TASKS

CALENDAR_ID: UUID = uuid5(TASKS, "calendar:VN")


class HolidayCalendar(Aggregate):
    @staticmethod
    def create_id() -> UUID:
        return CALENDAR_ID

    @event("Opened")
    def __init__(self) -> None:
        self.corrections: dict[str, dict[str, Any]] = {}

    @event("DayCorrected")
    def correct_day(self, day: date, kind: str, name: str, actor: dict[str, Any],
                    at: datetime) -> None:
        self.corrections[day.isoformat()] = {"day": day, "kind": kind, "name": name,
                                             "by": actor.get("id"), "at": at}

    @event("CorrectionRemoved")
    def remove_correction(self, day: date, actor: dict[str, Any], at: datetime) -> None:
        self.corrections.pop(day.isoformat(), None)
