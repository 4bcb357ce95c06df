"""The official status taxonomy (domain.md, metrics.md), as of a moment."""

from __future__ import annotations

from datetime import date
from enum import StrEnum


class TaskStatus(StrEnum):
    COMPLETED_ON_TIME = "completed_on_time"
    COMPLETED_LATE = "completed_late"
    OPEN_IN_TIME = "open_in_time"
    OPEN_OVERDUE = "open_overdue"
    OPEN_NO_DEADLINE = "open_no_deadline"
    WITHDRAWN = "withdrawn"


LABELS_VI = {
    TaskStatus.COMPLETED_ON_TIME: "Đã hoàn thành đúng hạn",
    TaskStatus.COMPLETED_LATE: "Đã hoàn thành quá hạn",
    TaskStatus.OPEN_IN_TIME: "Chưa hoàn thành, còn trong hạn",
    TaskStatus.OPEN_OVERDUE: "Chưa hoàn thành, quá hạn",
    TaskStatus.OPEN_NO_DEADLINE: "Không có thời hạn / thường xuyên",
    TaskStatus.WITHDRAWN: "Đã rút",
}

LABELS_EN = {
    TaskStatus.COMPLETED_ON_TIME: "Completed on time",
    TaskStatus.COMPLETED_LATE: "Completed late",
    TaskStatus.OPEN_IN_TIME: "Open, within the deadline",
    TaskStatus.OPEN_OVERDUE: "Open, overdue",
    TaskStatus.OPEN_NO_DEADLINE: "No deadline / recurring",
    TaskStatus.WITHDRAWN: "Withdrawn",
}


def status_of(state: str, due_on: date | None, completed_on: date | None,
              today: date) -> TaskStatus:
    """A deadline day counts in full: a task due on D is overdue from D+1 (local time)."""
    if state == "withdrawn":
        return TaskStatus.WITHDRAWN
    if state == "completed":
        if due_on is None or (completed_on is not None and completed_on <= due_on):
            return TaskStatus.COMPLETED_ON_TIME
        return TaskStatus.COMPLETED_LATE
    if due_on is None:
        return TaskStatus.OPEN_NO_DEADLINE
    return TaskStatus.OPEN_OVERDUE if today > due_on else TaskStatus.OPEN_IN_TIME
