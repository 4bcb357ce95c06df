"""A report cycle: the office asks units for their self-review reports for a period."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from dondoc_platform.errors import DomainError, conflict


def check_cycle_dates(*, starts_on: date, ends_on: date, data_cutoff_on: date, due_on: date) -> None:
    if ends_on < starts_on:
        raise DomainError("period_ends_before_start", "Kỳ báo cáo kết thúc trước khi bắt đầu",
                          "The period ends before it starts", field="period.ends_on")
    if data_cutoff_on < starts_on:
        raise DomainError("cutoff_before_period", "Ngày chốt số liệu trước đầu kỳ báo cáo",
                          "The data cut-off date is before the period starts", field="data_cutoff_on")
    if due_on < data_cutoff_on:
        raise DomainError("due_before_cutoff", "Hạn nộp báo cáo trước ngày chốt số liệu",
                          "The due date is before the data cut-off date", field="due_on")


class ReportCycle(Aggregate):
    """Period, data cut-off, due date and the units that owe a report (one Report each)."""

    @event("Opened")
    def __init__(self, *, period: dict[str, Any], data_cutoff_on: date, due_on: date,
                 title: str | None, unit_ids: list[str], actor: dict[str, Any], at: datetime) -> None:
        self.period = period
        self.data_cutoff_on = data_cutoff_on
        self.due_on = due_on
        self.title = title
        self.unit_ids = list(unit_ids)
        self.opened_by = actor
        self.opened_at = at
        self.closed_at: datetime | None = None
        self.closed_by: dict[str, Any] | None = None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def close(self, *, actor: dict[str, Any], at: datetime) -> None:
        if self.closed:
            raise conflict("cycle_closed", "Kỳ báo cáo đã đóng", "The report cycle is closed already",
                           field="cycle_id")
        self._closed(actor=actor, at=at)

    @event("Closed")
    def _closed(self, *, actor: dict[str, Any], at: datetime) -> None:
        self.closed_at = at
        self.closed_by = actor
