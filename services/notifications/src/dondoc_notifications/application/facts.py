"""Reactions to the other services' events: keep the facts the rules need and put the
occasions they imply on the durable schedule, in the consumer's transaction (with its inbox
rows, see `dondoc_platform.inbox.SqlInbox`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa

from dondoc_contracts import (
    AdjustmentDecided, ReportOverdue, ReportRequested, ReportReviewed, ReportSubmitted,
    TaskAssigned, TaskCompleted, TaskDeadlineAdjusted, TaskOverdue, TaskReassigned,
    TaskWithdrawn, UnitChanged, UnitRegistered, Verdict,
)
from dondoc_platform.calendar import WorkingCalendar
from dondoc_platform.inbox import Delivery

from dondoc_notifications.adapters.tables import reports, schedule, tasks, units, upsert
from dondoc_notifications.domain import rules as r


class FactsKeeper:
    """`apply(conn, deliveries)` for the SqlInbox of the notifications service."""

    def __init__(self, calendar: WorkingCalendar, rule_settings: Callable[[], r.RuleSettings]) -> None:
        self.calendar = calendar
        self.rule_settings = rule_settings

    def apply(self, conn: sa.Connection, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            handler = getattr(self, f"when_{type(delivery.event).__name__}", None)
            if handler is not None:  # other events of these topics say nothing to notify
                handler(conn, delivery.event)

    # -- the unit directory ------------------------------------------------------------

    def when_UnitRegistered(self, conn: sa.Connection, e: UnitRegistered) -> None:
        self._unit(conn, e, active=True)

    def when_UnitChanged(self, conn: sa.Connection, e: UnitChanged) -> None:
        self._unit(conn, e, active=e.active)

    def _unit(self, conn: sa.Connection, e: UnitRegistered | UnitChanged, *, active: bool) -> None:
        values = {"unit_id": e.unit_id, "code": e.code, "name": e.name, "emails": list(e.emails),
                  "leadership_emails": list(e.leadership_emails), "webhook_url": e.webhook_url,
                  "active": active}
        if e.daily_digest is not None:  # not stated: keep what we knew
            values["daily_digest"] = e.daily_digest
        upsert(conn, units, values, ["unit_id"])

    # -- tasks -------------------------------------------------------------------------

    def when_TaskAssigned(self, conn: sa.Connection, e: TaskAssigned) -> None:
        upsert(conn, tasks, {
            "task_id": e.task_id, "directive_id": e.directive_id,
            "directive_number": e.directive_number, "paragraph": e.paragraph,
            "content": e.content, "lead_unit_id": e.lead_unit_id,
            "cooperating_unit_ids": list(e.cooperating_unit_ids), "due_on": e.due_on,
            "original_due_on": e.original_due_on or e.due_on, "secrecy": e.secrecy.value,
            "key_task": e.key_task, "status": "open",
        }, ["task_id"])
        if e.due_on is not None:
            self._plan_task(conn, e.task_id, e.due_on, e.occurred_at)

    def _plan_task(self, conn: sa.Connection, task_id: str, due, known_at: datetime) -> None:
        for occasion in r.task_occasions(task_id, due, known_at, self.calendar, self.rule_settings()):
            put_on_schedule(conn, occasion)

    def when_TaskDeadlineAdjusted(self, conn: sa.Connection, e: TaskDeadlineAdjusted) -> None:
        if not self._task_exists(conn, e.task_id):
            return
        conn.execute(tasks.update().where(tasks.c.task_id == e.task_id).values(
            due_on=e.due_on, lead_unit_id=e.lead_unit_id))
        # occasions of the old deadline will not come: one message per (…, deadline)
        conn.execute(schedule.update().where(
            schedule.c.subject_kind == "task", schedule.c.subject_id == e.task_id,
            schedule.c.state == "pending",
            sa.or_(schedule.c.deadline.is_(None), schedule.c.deadline != e.due_on)
            if e.due_on is not None else sa.true(),
        ).values(state="cancelled", outcome="deadline adjusted", settled_at=e.occurred_at))
        if e.due_on is not None:
            self._plan_task(conn, e.task_id, e.due_on, e.occurred_at)

    def when_TaskReassigned(self, conn: sa.Connection, e: TaskReassigned) -> None:
        conn.execute(tasks.update().where(tasks.c.task_id == e.task_id).values(
            lead_unit_id=e.lead_unit_id, cooperating_unit_ids=list(e.cooperating_unit_ids)))

    def when_TaskCompleted(self, conn: sa.Connection, e: TaskCompleted) -> None:
        self._close_task(conn, e.task_id, "completed", e.occurred_at)

    def when_TaskWithdrawn(self, conn: sa.Connection, e: TaskWithdrawn) -> None:
        self._close_task(conn, e.task_id, "withdrawn", e.occurred_at)

    def _close_task(self, conn: sa.Connection, task_id: str, status: str, at: datetime) -> None:
        conn.execute(tasks.update().where(tasks.c.task_id == task_id).values(status=status))
        conn.execute(schedule.update().where(
            schedule.c.subject_kind == "task", schedule.c.subject_id == task_id,
            schedule.c.state == "pending",
        ).values(state="cancelled", outcome=f"task {status}", settled_at=at))

    def when_TaskOverdue(self, conn: sa.Connection, e: TaskOverdue) -> None:
        """The tasks service is the authority on overdue: make sure the notice is planned
        (it normally is already, from the deadline; the key makes it the same occasion)."""
        if not self._task_exists(conn, e.task_id):
            upsert(conn, tasks, {"task_id": e.task_id, "lead_unit_id": e.lead_unit_id,
                                 "cooperating_unit_ids": [], "due_on": e.due_on,
                                 "original_due_on": e.due_on, "status": "open"}, ["task_id"])
        rules = self.rule_settings()
        put_on_schedule(conn, r.Occasion(r.TASK_OVERDUE, "task", e.task_id, e.due_on,
                                         r.first_overdue_notice(e.due_on, self.calendar, rules)))

    def _task_exists(self, conn: sa.Connection, task_id: str) -> bool:
        return conn.execute(sa.select(tasks.c.task_id).where(tasks.c.task_id == task_id)).first() is not None

    # -- reports -----------------------------------------------------------------------

    def when_ReportRequested(self, conn: sa.Connection, e: ReportRequested) -> None:
        upsert(conn, reports, {"report_id": e.report_id, "cycle_id": e.cycle_id,
                               "unit_id": e.unit_id, "period_label": e.period.label,
                               "due_on": e.due_on, "status": "requested"}, ["report_id"])
        for occasion in r.report_occasions(e.report_id, e.due_on, e.occurred_at, self.calendar,
                                           self.rule_settings()):
            put_on_schedule(conn, occasion)

    def when_ReportSubmitted(self, conn: sa.Connection, e: ReportSubmitted) -> None:
        conn.execute(reports.update().where(reports.c.report_id == e.report_id).values(status="submitted"))
        conn.execute(schedule.update().where(
            schedule.c.subject_kind == "report", schedule.c.subject_id == e.report_id,
            schedule.c.state == "pending", schedule.c.rule != r.REPORT_RETURNED,
        ).values(state="cancelled", outcome="report submitted", settled_at=e.occurred_at))

    def when_ReportOverdue(self, conn: sa.Connection, e: ReportOverdue) -> None:
        if conn.execute(sa.select(reports.c.report_id).where(reports.c.report_id == e.report_id)).first() is None:
            upsert(conn, reports, {"report_id": e.report_id, "cycle_id": e.cycle_id,
                                   "unit_id": e.unit_id, "due_on": e.due_on, "status": "requested"},
                   ["report_id"])
        put_on_schedule(conn, r.Occasion(r.REPORT_MISSING, "report", e.report_id, e.due_on,
                                         r.first_overdue_notice(e.due_on, self.calendar,
                                                                self.rule_settings())))

    def when_ReportReviewed(self, conn: sa.Connection, e: ReportReviewed) -> None:
        returned = e.outcome is Verdict.RETURNED
        status = "returned" if returned else "accepted"
        if conn.execute(reports.update().where(reports.c.report_id == e.report_id)
                        .values(status=status)).rowcount == 0:
            return  # a report we never heard of: nothing to say about it
        if returned:
            lines = [{"task_id": line.task_id, "comment": line.comment}
                     for line in e.lines if line.verdict is Verdict.RETURNED]
            put_on_schedule(conn, r.Occasion(
                r.REPORT_RETURNED, "report", e.report_id, None, e.occurred_at, e.revision,
                {"comment": e.comment, "reviewed_on": e.reviewed_on.isoformat(), "lines": lines,
                 "revision": e.revision}))

    def when_AdjustmentDecided(self, conn: sa.Connection, e: AdjustmentDecided) -> None:
        put_on_schedule(conn, r.Occasion(
            r.ADJUSTMENT_DECIDED, "request", e.request_id, None, e.occurred_at, 0,
            {"task_id": e.task_id, "unit_id": e.unit_id, "kind": e.kind.value,
             "approved": e.approved, "due_on": e.due_on.isoformat() if e.due_on else None,
             "decision_number": e.decision.number, "decided_on": e.decision.decided_on.isoformat(),
             "decider": e.decision.decider, "comment": e.comment}))


def put_on_schedule(conn: sa.Connection, occasion: r.Occasion) -> None:
    """Plan an occasion once: the same key planned again (a replay) changes nothing."""
    upsert(conn, schedule, {
        "key": occasion.key, "rule": occasion.rule, "subject_kind": occasion.subject_kind,
        "subject_id": occasion.subject_id, "deadline": occasion.deadline,
        "occurrence": occasion.occurrence, "fire_at": occasion.fire_at,
        "payload": occasion.payload, "state": "pending",
    }, ["key"], update=False)
