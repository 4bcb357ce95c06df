"""What each public event means for analytics: its business day, the tasks it concerns,
and the timeliness fact it carries.

The business day is the day the office's record gives (assignment day, completion day,
decision day, submission day…); where an event has none, the local day of `occurred_at`
(the business time every event carries, also for imports recorded years later).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from dondoc_contracts import events as ev
from dondoc_contracts.base import ContractEvent
from dondoc_platform.calendar import WorkingCalendar, local_day

from dondoc_analytics.domain.timeliness import FactKind, TaskFact


@lru_cache(maxsize=1)
def _calendar() -> WorkingCalendar:
    return WorkingCalendar()


def business_day(event: ContractEvent) -> date:
    match event:
        case ev.DirectiveIssued():
            return event.issued_on
        case ev.DirectiveAmended() if event.decision is not None:
            return event.decision.decided_on
        case ev.DirectiveRevoked() | ev.TaskDeadlineAdjusted() | ev.AdjustmentDecided():
            return event.decision.decided_on
        case ev.TaskAssigned():
            return event.assigned_on
        case ev.TaskProgressRecorded():
            return event.recorded_on
        case ev.TaskCompleted():
            return event.completed_on
        case ev.TaskReassigned():
            return event.reassigned_on
        case ev.TaskWithdrawn():
            return event.withdrawn_on
        case ev.TaskOverdue() | ev.ReportOverdue():
            return local_day(event.overdue_at)
        case ev.ReportRequested():
            # the office entering its past records opens a cycle after its due day: the
            # obligation belongs to that due day, not to the day it was typed in
            return min(local_day(event.occurred_at), event.due_on)
        case ev.ReportSubmitted():
            return event.submitted_on
        case ev.ReportReviewed():
            return event.reviewed_on
        case ev.AdjustmentRequested():
            return event.requested_on
        case ev.NotificationSent():
            return local_day(event.sent_at)
        case ev.NotificationFailed():
            return local_day(event.failed_at)
    return local_day(event.occurred_at)


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
    `day`: the event's business day, if the caller has it already."""
    if day is None:
        day = business_day(event)
    match event:
        case ev.TaskAssigned():
            due = assigned_deadline(event)
            original = event.original_due_on if event.original_due_on is not None else due
            return TaskFact(FactKind.ASSIGNED, day, order, event.lead_unit_id, due, original)
        case ev.TaskReassigned():
            return TaskFact(FactKind.REASSIGNED, day, order, lead_unit_id=event.lead_unit_id)
        case ev.TaskDeadlineAdjusted():
            return TaskFact(FactKind.DEADLINE_ADJUSTED, day, order, due_on=event.due_on)
        case ev.TaskCompleted():
            return TaskFact(FactKind.COMPLETED, day, order)
        case ev.TaskWithdrawn():
            return TaskFact(FactKind.WITHDRAWN, day, order)
    return None
