"""What each public event means for analytics: its business day, the tasks it concerns,
and the timeliness fact it carries.

The business day is the day the office's record gives (assignment day, completion day,
decision day, submission day…); where an event has none, the local day of `occurred_at`
(the business time every event carries, also for imports recorded years later).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache
from operator import attrgetter
from typing import Any

from dondoc_contracts import events as ev
from dondoc_contracts.base import ContractEvent
from dondoc_platform.calendar import WorkingCalendar, local_day

from dondoc_analytics.domain.timeliness import FactKind, TaskFact


@lru_cache(maxsize=1)
def _calendar() -> WorkingCalendar:
    return WorkingCalendar()


def _decided_on(event: Any) -> date | None:
    return event.decision.decided_on if event.decision is not None else None


def _local_day_of(name: str) -> Callable[[Any], date]:
    moment = attrgetter(name)
    return lambda event: local_day(moment(event))


def _report_requested_on(event: Any) -> date:
    # the office entering its past records opens a cycle after its due day: the obligation
    # belongs to that due day, not to the day it was typed in
    return min(local_day(event.occurred_at), event.due_on)


#: Each kind's business day (None: the local day of `occurred_at`). By `event_type`, and
#: read by attribute, so that the rebuild's loaders give these functions the structs of
#: their compiled decoder (`adapters.compiled`) as the live consumer gives contract events.
_DAYS: dict[str, Callable[[Any], date | None]] = {
    "DirectiveIssued": attrgetter("issued_on"),
    "DirectiveAmended": _decided_on,
    "DirectiveRevoked": _decided_on,
    "TaskDeadlineAdjusted": _decided_on,
    "AdjustmentDecided": _decided_on,
    "TaskAssigned": attrgetter("assigned_on"),
    "TaskProgressRecorded": attrgetter("recorded_on"),
    "TaskCompleted": attrgetter("completed_on"),
    "TaskReassigned": attrgetter("reassigned_on"),
    "TaskWithdrawn": attrgetter("withdrawn_on"),
    "TaskOverdue": _local_day_of("overdue_at"),
    "ReportOverdue": _local_day_of("overdue_at"),
    "ReportRequested": _report_requested_on,
    "ReportSubmitted": attrgetter("submitted_on"),
    "ReportReviewed": attrgetter("reviewed_on"),
    "AdjustmentRequested": attrgetter("requested_on"),
    "NotificationSent": _local_day_of("sent_at"),
    "NotificationFailed": _local_day_of("failed_at"),
}


def business_day(event: ContractEvent) -> date:
    """The day the office's record gives for this event (a contract event, or the struct
    the rebuild's decoder made of one)."""
    return day_reader(event.event_type)(event)


def day_reader(event_type: str) -> Callable[[Any], date]:
    """`business_day` of the events of one type, as one function: a bulk loader looks it
    up once per type rather than once per event (`rows.event_values_and_fact`)."""
    reader = _DAY_READERS.get(event_type)
    if reader is None:
        day_of = _DAYS.get(event_type)
        if day_of is None:
            reader = _occurred_day
        else:
            def reader(event: Any) -> date:
                day = day_of(event)
                return day if day is not None else local_day(event.occurred_at)
        reader = _DAY_READERS[event_type] = reader
    return reader


def _occurred_day(event: Any) -> date:
    return local_day(event.occurred_at)


_DAY_READERS: dict[str, Callable[[Any], date]] = {}


def concerned_tasks(event: ContractEvent) -> tuple[str, ...]:
    """The tasks whose history shows this event (directive events are found by directive)."""
    match event:
        case ev.ReportRequested():
            ids: tuple[str, ...] = event.task_ids
        case ev.ReportSubmitted() | ev.ReportReviewed():
            ids = tuple(line.task_id for line in event.lines)
        case ev.NotificationSent() | ev.NotificationFailed():
            ids = (event.about.task_id,) if event.about.task_id else ()
        case _:
            task_id = getattr(event, "task_id", None)
            ids = (task_id,) if task_id else ()
    return tuple(dict.fromkeys(ids))  # once each, in order


def assigned_deadline(event: ev.TaskAssigned) -> date | None:
    """The effective deadline day of an assignment: the one the event gives, else the
    one its rule gives by the working calendar (a deadline on a day off moves on)."""
    if event.due_on is not None:
        return event.due_on
    if event.deadline_rule.has_deadline:
        return _calendar().due_date(event.deadline_rule, event.assigned_on)
    return None


def task_fact(event: ContractEvent, order: tuple[str, int, int],
              day: date | None = None) -> TaskFact | None:
    """The timeliness fact of a task event, or None for events that do not move figures
    (progress claims, overdue notices: overdue is derived from the deadline itself).
    `day`: the event's business day, if the caller has it already. Like `business_day`, by
    `event_type` and by attribute (a contract event or its struct)."""
    make = _FACTS.get(event.event_type)
    if make is None:
        return None
    return make(event, order, business_day(event) if day is None else day)


def fact_maker(event_type: str) -> Callable[[Any, tuple[str, int, int], date], TaskFact] | None:
    """`task_fact` of the events of one type given their business day, as one function, or
    None for a type that carries no fact (a bulk loader looks it up once per type)."""
    return _FACTS.get(event_type)


def _assigned(event: Any, order: tuple[str, int, int], day: date) -> TaskFact:
    due = assigned_deadline(event)
    original = event.original_due_on if event.original_due_on is not None else due
    return TaskFact(FactKind.ASSIGNED, day, order, event.lead_unit_id, due, original)


def _reassigned(event: Any, order: tuple[str, int, int], day: date) -> TaskFact:
    return TaskFact(FactKind.REASSIGNED, day, order, event.lead_unit_id)


def _deadline_adjusted(event: Any, order: tuple[str, int, int], day: date) -> TaskFact:
    return TaskFact(FactKind.DEADLINE_ADJUSTED, day, order, None, event.due_on)


def _completed(event: Any, order: tuple[str, int, int], day: date) -> TaskFact:
    return TaskFact(FactKind.COMPLETED, day, order)


def _withdrawn(event: Any, order: tuple[str, int, int], day: date) -> TaskFact:
    return TaskFact(FactKind.WITHDRAWN, day, order)


#: The fact of each kind of task event that moves the figures, by `event_type`.
_FACTS: dict[str, Callable[[Any, tuple[str, int, int], date], TaskFact]] = {
    "TaskAssigned": _assigned, "TaskReassigned": _reassigned,
    "TaskDeadlineAdjusted": _deadline_adjusted, "TaskCompleted": _completed,
    "TaskWithdrawn": _withdrawn}
