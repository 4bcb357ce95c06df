"""Which tasks a unit owes a report on in a cycle: its open tasks at the data cut-off, and its
recurring tasks whose report frequency falls due within the cycle's period."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS_PER_STEP = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12}


@dataclass(frozen=True)
class TaskFacts:
    """What the reports service knows of a task (from the tasks service's events)."""

    task_id: str
    lead_unit_id: str
    assigned_on: date
    deadline_kind: str  # date | working_days | calendar_days | none | recurring
    frequency: str | None = None
    due_on: date | None = None
    completed_on: date | None = None
    withdrawn_on: date | None = None
    secrecy: str = "thuong"

    def open_on(self, day: date) -> bool:
        """Assigned by `day` and neither completed nor withdrawn by then."""
        if self.assigned_on > day:
            return False
        if self.completed_on is not None and self.completed_on <= day:
            return False
        return not (self.withdrawn_on is not None and self.withdrawn_on <= day)

    @property
    def recurring(self) -> bool:
        return self.deadline_kind == "recurring"


def _month_end(year: int, month: int) -> date:
    first_of_next = date(year + month // 12, month % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


def report_days(frequency: str, starts_on: date, ends_on: date) -> list[date]:
    """The ends of the frequency's intervals (month, quarter, half year, year) that fall in
    [starts_on, ends_on]: the days a recurring task owes a report for."""
    step = MONTHS_PER_STEP[frequency]
    days = []
    year, month = starts_on.year, starts_on.month
    while (year, month) <= (ends_on.year, ends_on.month):
        if month % step == 0:
            end = _month_end(year, month)
            if starts_on <= end <= ends_on:
                days.append(end)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return days


def owed(task: TaskFacts, *, starts_on: date, ends_on: date, cutoff: date) -> bool:
    """Does the task's lead unit owe a line on it in a cycle of this period and cut-off?"""
    if not task.open_on(cutoff):
        return False
    if task.recurring:
        return bool(report_days(task.frequency or "yearly", starts_on, ends_on))
    return True


def obligations(tasks: Iterable[TaskFacts], *, starts_on: date, ends_on: date,
                cutoff: date) -> dict[str, list[str]]:
    """unit id → the ids of the tasks it owes a line on (sorted), for units owing any."""
    by_unit: dict[str, list[str]] = {}
    for task in tasks:
        if owed(task, starts_on=starts_on, ends_on=ends_on, cutoff=cutoff):
            by_unit.setdefault(task.lead_unit_id, []).append(task.task_id)
    return {unit: sorted(ids) for unit, ids in sorted(by_unit.items())}
