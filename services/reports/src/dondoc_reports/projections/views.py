"""The service's own read model: cycles, reports with their revisions and reviews, adjustment
requests, and the overdue schedule. It follows the service's event log in order and records
its position in the same transaction as the rows (a crash replays nothing twice)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from typing import Any

import sqlalchemy as sa
from eventsourcing.domain import DomainEvent

from dondoc_platform.calendar import overdue_moment
from dondoc_platform.names import match_key
from dondoc_platform.projection import SharedRound, reading, relaxed_commit
from dondoc_reports.adapters.directory import tasks as known_tasks
from dondoc_reports.adapters.sql import UtcDateTime, jsonable
from dondoc_reports.adapters.store import ReportsLog
from dondoc_reports.domain.adjustment import AdjustmentRequest
from dondoc_reports.domain.cycle import ReportCycle
from dondoc_reports.domain.report import Report

metadata = sa.MetaData()

positions = sa.Table(
    "rpt_view_positions", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
)

cycles = sa.Table(
    "rpt_cycles", metadata,
    sa.Column("cycle_id", sa.String(36), primary_key=True),
    sa.Column("title", sa.String(500)),
    sa.Column("period_kind", sa.String(20), nullable=False),
    sa.Column("period_label", sa.String(500), nullable=False),
    sa.Column("starts_on", sa.Date, nullable=False),
    sa.Column("ends_on", sa.Date, nullable=False),
    sa.Column("data_cutoff_on", sa.Date, nullable=False),
    sa.Column("due_on", sa.Date, nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("unit_ids", sa.JSON, nullable=False),
    sa.Column("opened_at", UtcDateTime, nullable=False, index=True),
    sa.Column("opened_by", sa.JSON, nullable=False),
    sa.Column("closed_at", UtcDateTime),
    sa.Column("closed_by", sa.JSON),
    sa.Column("version", sa.Integer, nullable=False),
)

reports = sa.Table(
    "rpt_reports", metadata,
    sa.Column("report_id", sa.String(36), primary_key=True),
    sa.Column("cycle_id", sa.String(36), nullable=False, index=True),
    sa.Column("unit_id", sa.String(128), nullable=False, index=True),
    sa.Column("unit_name", sa.String(500)),
    sa.Column("review_group", sa.String(500)),
    sa.Column("review_group_key", sa.String(500), index=True),
    sa.Column("period", sa.JSON, nullable=False),
    sa.Column("data_cutoff_on", sa.Date, nullable=False),
    sa.Column("due_on", sa.Date, nullable=False, index=True),
    sa.Column("task_ids", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("first_submitted_on", sa.Date),
    sa.Column("last_submitted_on", sa.Date),
    sa.Column("last_reviewed_on", sa.Date),
    sa.Column("overdue_at", UtcDateTime),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

submissions = sa.Table(
    "rpt_submissions", metadata,
    sa.Column("report_id", sa.String(36), primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True),
    sa.Column("submitted_at", UtcDateTime, nullable=False),
    sa.Column("submitted_on", sa.Date, nullable=False),
    sa.Column("submitted_by", sa.JSON, nullable=False),
    sa.Column("summary", sa.Text),
    sa.Column("lines", sa.JSON, nullable=False),
)

reviews = sa.Table(
    "rpt_reviews", metadata,
    sa.Column("report_id", sa.String(36), primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True),
    sa.Column("reviewed_at", UtcDateTime, nullable=False),
    sa.Column("reviewed_on", sa.Date, nullable=False),
    sa.Column("reviewed_by", sa.JSON, nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("lines", sa.JSON, nullable=False),
)

adjustments = sa.Table(
    "rpt_adjustments", metadata,
    sa.Column("request_id", sa.String(36), primary_key=True),
    sa.Column("task_id", sa.String(128), nullable=False, index=True),
    sa.Column("unit_id", sa.String(128), nullable=False, index=True),
    sa.Column("review_group_key", sa.String(500), index=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("proposed_due_on", sa.Date),
    sa.Column("current_due_on", sa.Date),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("requested_on", sa.Date, nullable=False),
    sa.Column("requested_at", UtcDateTime, nullable=False, index=True),
    sa.Column("requested_by", sa.JSON, nullable=False),
    sa.Column("report_id", sa.String(36)),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("due_on", sa.Date),
    sa.Column("decision", sa.JSON),
    sa.Column("comment", sa.Text),
    sa.Column("decided_at", UtcDateTime),
    sa.Column("decided_by", sa.JSON),
    sa.Column("version", sa.Integer, nullable=False),
)

#: Reports neither submitted nor marked overdue, by the moment they become overdue: the
#: watcher reads only the head of this index, never every report.
overdue_schedule = sa.Table(
    "rpt_overdue_schedule", metadata,
    sa.Column("report_id", sa.String(36), primary_key=True),
    sa.Column("overdue_at", UtcDateTime, nullable=False, index=True),
    sa.Column("due_on", sa.Date, nullable=False),
)

VIEW = "reports-view"


def _common(event: DomainEvent) -> tuple[str, int]:
    return str(event.originator_id), event.originator_version


def _cycle_opened(conn: sa.Connection, e: Any) -> None:
    ident, version = _common(e)
    period = e.period
    conn.execute(cycles.insert().values(
        cycle_id=ident, title=e.title, period_kind=period["kind"], period_label=period["label"],
        starts_on=period["starts_on"], ends_on=period["ends_on"], data_cutoff_on=e.data_cutoff_on,
        due_on=e.due_on, status="open", unit_ids=list(e.unit_ids), opened_at=e.at,
        opened_by=e.actor, version=version))


def _cycle_closed(conn: sa.Connection, e: Any) -> None:
    ident, version = _common(e)
    conn.execute(cycles.update().where(cycles.c.cycle_id == ident).values(
        status="closed", closed_at=e.at, closed_by=e.actor, version=version))


def _report_requested(conn: sa.Connection, e: Any) -> None:
    ident, version = _common(e)
    conn.execute(reports.insert().values(
        report_id=ident, cycle_id=str(e.cycle_id), unit_id=e.unit_id, unit_name=e.unit_name,
        review_group=e.review_group, review_group_key=match_key(e.review_group),
        period=jsonable(e.period), data_cutoff_on=e.data_cutoff_on, due_on=e.due_on,
        task_ids=list(e.task_ids), status="requested", revision=0, requested_at=e.at,
        version=version))
    moment = overdue_moment(e.due_on)
    if e.at < moment:  # opened after its due day: overdue is decided when the cycle closes
        conn.execute(overdue_schedule.insert().values(report_id=ident, overdue_at=moment,
                                                      due_on=e.due_on))


def _report_submitted(conn: sa.Connection, e: Any) -> None:
    ident, version = _common(e)
    r = reports.c
    conn.execute(reports.update().where(r.report_id == ident).values(
        status="submitted", revision=e.revision, last_submitted_on=e.submitted_on,
        first_submitted_on=sa.func.coalesce(r.first_submitted_on, e.submitted_on), version=version))
    conn.execute(submissions.insert().values(
        report_id=ident, revision=e.revision, submitted_at=e.at, submitted_on=e.submitted_on,
        submitted_by=e.actor, summary=e.summary, lines=jsonable(e.lines)))
    conn.execute(overdue_schedule.delete().where(overdue_schedule.c.report_id == ident))


_SUBMITTED = reports.update().where(reports.c.report_id == sa.bindparam("b_report_id")).values(
    status="submitted", revision=sa.bindparam("b_revision"),
    last_submitted_on=sa.bindparam("b_submitted_on"),
    first_submitted_on=sa.func.coalesce(reports.c.first_submitted_on, sa.bindparam("b_submitted_on")),
    version=sa.bindparam("b_version"))


def _reports_submitted(conn: sa.Connection, events: list[Any]) -> None:
    """`_report_submitted` for consecutive submissions (of any reports, in log order), in
    three statement executions for them all, not three each: the reports' rows updated in
    order (one prepared statement sent once with every row's values; a report submitted
    twice in the run ends with its later revision, its first day kept), their submissions
    inserted in one multi-row statement, the schedule's rows deleted in one."""
    if len(events) == 1:
        _report_submitted(conn, events[0])
        return
    conn.execute(_SUBMITTED, [
        {"b_report_id": str(e.originator_id), "b_revision": e.revision,
         "b_submitted_on": e.submitted_on, "b_version": e.originator_version} for e in events])
    conn.execute(submissions.insert(), [
        {"report_id": str(e.originator_id), "revision": e.revision, "submitted_at": e.at,
         "submitted_on": e.submitted_on, "submitted_by": e.actor, "summary": e.summary,
         "lines": jsonable(e.lines)} for e in events])
    conn.execute(overdue_schedule.delete().where(
        overdue_schedule.c.report_id.in_({str(e.originator_id) for e in events})))


def _report_reviewed(conn: sa.Connection, e: Any) -> None:
    ident, version = _common(e)
    conn.execute(reports.update().where(reports.c.report_id == ident).values(
        status=e.outcome, last_reviewed_on=e.reviewed_on, version=version))
    conn.execute(reviews.insert().values(
        report_id=ident, revision=e.revision, reviewed_at=e.at, reviewed_on=e.reviewed_on,
        reviewed_by=e.actor, outcome=e.outcome, comment=e.comment, lines=jsonable(e.assessments)))


def _report_overdue(conn: sa.Connection, e: Any) -> None:
    ident, version = _common(e)
    conn.execute(reports.update().where(reports.c.report_id == ident).values(
        overdue_at=e.overdue_at, version=version))
    conn.execute(overdue_schedule.delete().where(overdue_schedule.c.report_id == ident))


def _adjustment_requested(conn: sa.Connection, e: Any) -> None:
    ident, version = _common(e)
    conn.execute(adjustments.insert().values(
        request_id=ident, task_id=e.task_id, unit_id=e.unit_id,
        review_group_key=match_key(e.review_group),
        kind=e.kind, proposed_due_on=e.proposed_due_on, current_due_on=e.current_due_on,
        reason=e.reason, requested_on=e.requested_on, requested_at=e.at, requested_by=e.actor,
        report_id=e.report_id, status="pending", version=version))


def _adjustment_decided(conn: sa.Connection, e: Any) -> None:
    ident, version = _common(e)
    conn.execute(adjustments.update().where(adjustments.c.request_id == ident).values(
        status="approved" if e.approved else "rejected", due_on=e.due_on,
        decision=jsonable(e.decision), comment=e.comment, decided_at=e.at, decided_by=e.actor,
        version=version))


def answered_rows(report: Report) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows this view holds for `report` once it has applied the report's events (its
    `rpt_reports` row, its submissions and its reviews), from the aggregate itself: a command
    answers with them before the view has caught up. Moments in UTC, as the view reads
    them back; the JSON columns' dates as dates (the answer's model reads either)."""
    ident = str(report.id)

    def utc(moment: datetime | None) -> datetime | None:
        return None if moment is None else moment.astimezone(timezone.utc)

    row = {
        "report_id": ident, "cycle_id": str(report.cycle_id), "unit_id": report.unit_id,
        "unit_name": report.unit_name, "review_group": report.review_group,
        "review_group_key": match_key(report.review_group), "period": report.period,
        "data_cutoff_on": report.data_cutoff_on, "due_on": report.due_on,
        "task_ids": list(report.task_ids), "status": report.status, "revision": report.revision,
        "first_submitted_on": report.first_submitted_on,
        "last_submitted_on": report.submissions[-1]["submitted_on"] if report.submissions else None,
        "last_reviewed_on": report.reviews[-1]["reviewed_on"] if report.reviews else None,
        "overdue_at": utc(report.overdue_at), "requested_at": utc(report.requested_at),
        "version": report.version}
    submitted = [{"report_id": ident, "revision": s["revision"], "submitted_at": utc(s["submitted_at"]),
                  "submitted_on": s["submitted_on"], "submitted_by": s["submitted_by"],
                  "summary": s["summary"], "lines": s["lines"]} for s in report.submissions]
    reviewed = [{"report_id": ident, "revision": r["revision"], "reviewed_at": utc(r["reviewed_at"]),
                 "reviewed_on": r["reviewed_on"], "reviewed_by": r["reviewed_by"],
                 "outcome": r["outcome"], "comment": r["comment"], "lines": r["lines"]}
                for r in report.reviews]
    return row, submitted, reviewed


HANDLERS: dict[type, Callable[[sa.Connection, Any], None]] = {
    ReportCycle.Opened: _cycle_opened,
    ReportCycle.Closed: _cycle_closed,
    Report.Requested: _report_requested,
    Report.Submitted: _report_submitted,
    Report.Reviewed: _report_reviewed,
    Report.MarkedOverdue: _report_overdue,
    AdjustmentRequest.Requested: _adjustment_requested,
    AdjustmentRequest.Decided: _adjustment_decided,
}


class ReportsView:
    """Follows the log; `catch_up()` is called after each command (read your writes) and by
    the worker (events recorded by the consumers and the overdue watcher)."""

    def __init__(self, engine: sa.Engine, log: ReportsLog, *, batch_size: int = 500) -> None:
        self.engine = engine
        self.reader = reading(engine)
        self.log = log
        self.batch_size = batch_size
        self._round = SharedRound()

    def create(self) -> None:
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            if conn.execute(sa.select(positions.c.position).where(positions.c.name == VIEW)).first() is None:
                conn.execute(positions.insert().values(name=VIEW, position=0))

    def position(self) -> int:
        with self.reader.connect() as conn:
            return conn.execute(sa.select(positions.c.position).where(positions.c.name == VIEW)).scalar_one()

    def catch_up(self) -> int:
        """Apply what the log holds beyond the view's position, every commit made before
        this call included. Callers that arrive while a catch-up runs share the next one
        (`SharedRound`): a burst of commands and queries costs one look at the log and one
        transaction, not one each. Returns how many events this caller applied."""
        return self._round.run(self._catch_up)

    def _catch_up(self) -> int:
        target = self.log.recorder.max_notification_id() or 0
        if target <= self.position():
            return 0
        applied = 0
        while True:  # one run at a time in this process (`SharedRound`); the row lock across processes
            step = self._step()
            applied += step
            if step < self.batch_size:
                return applied

    def _step(self) -> int:
        with self.engine.begin() as conn:
            relaxed_commit(conn)
            # the row lock makes a second process (api and worker apart) wait, then see our position
            query = sa.select(positions.c.position).where(positions.c.name == VIEW)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            position = conn.execute(query).scalar_one()
            notifications = self.log.recorder.select_notifications(position + 1, self.batch_size)
            submitted: list[Any] = []  # consecutive submissions, applied together
            for notification in notifications:
                event = self.log.mapper.to_domain_event(notification)
                if type(event) is Report.Submitted:
                    submitted.append(event)
                    continue
                if submitted:
                    _reports_submitted(conn, submitted)
                    submitted = []
                handler = HANDLERS.get(type(event))
                if handler is not None:
                    handler(conn, event)
            if submitted:
                _reports_submitted(conn, submitted)
            if notifications:
                conn.execute(positions.update().where(positions.c.name == VIEW)
                             .values(position=notifications[-1].id))
            return len(notifications)

    # -- the overdue schedule -------------------------------------------------------------

    def overdue_due(self, now: datetime, limit: int = 200) -> list[tuple[str, datetime]]:
        s = overdue_schedule.c
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(s.report_id, s.overdue_at).where(s.overdue_at <= now)
                                .order_by(s.overdue_at, s.report_id).limit(limit)).all()
        return [(r.report_id, r.overdue_at) for r in rows]

    def next_overdue_moment(self) -> datetime | None:
        with self.reader.connect() as conn:
            return conn.execute(sa.select(sa.func.min(overdue_schedule.c.overdue_at))).scalar()

    # -- queries --------------------------------------------------------------------------

    def cycle(self, cycle_id: str) -> Any | None:
        with self.reader.connect() as conn:
            return conn.execute(sa.select(cycles).where(cycles.c.cycle_id == cycle_id)).first()

    def cycles(self, *, status: str | None, year: int | None, unit_id: str | None,
               group_key: str | None, offset: int, limit: int) -> tuple[list[Any], int]:
        query = sa.select(cycles)
        if status:
            query = query.where(cycles.c.status == status)
        if year:
            query = query.where(cycles.c.due_on.between(date(year, 1, 1), date(year, 12, 31)))
        if unit_id or group_key:
            owing = sa.select(reports.c.cycle_id)
            owing = owing.where(reports.c.unit_id == unit_id) if unit_id else \
                owing.where(reports.c.review_group_key == group_key)
            query = query.where(cycles.c.cycle_id.in_(owing))
        return self._page(query, [cycles.c.opened_at.desc(), cycles.c.cycle_id], offset, limit)

    def report(self, report_id: str) -> Any | None:
        with self.reader.connect() as conn:
            return conn.execute(sa.select(reports).where(reports.c.report_id == report_id)).first()

    def reports(self, *, cycle_id: str | None = None, unit_id: str | None = None,
                group_key: str | None = None, status: str | None = None, overdue: bool | None = None,
                offset: int = 0, limit: int = 50) -> tuple[list[Any], int]:
        r = reports.c
        query = sa.select(reports)
        for column, value in ((r.cycle_id, cycle_id), (r.unit_id, unit_id),
                              (r.review_group_key, group_key), (r.status, status)):
            if value is not None:
                query = query.where(column == value)
        if overdue is not None:
            query = query.where(r.overdue_at.is_not(None) if overdue else r.overdue_at.is_(None))
        return self._page(query, [r.due_on, r.unit_id, r.report_id], offset, limit)

    def submissions(self, report_id: str) -> list[Any]:
        with self.reader.connect() as conn:
            return list(conn.execute(sa.select(submissions).where(submissions.c.report_id == report_id)
                                     .order_by(submissions.c.revision)))

    def reviews(self, report_id: str) -> list[Any]:
        with self.reader.connect() as conn:
            return list(conn.execute(sa.select(reviews).where(reviews.c.report_id == report_id)
                                     .order_by(reviews.c.revision)))

    def adjustment(self, request_id: str) -> Any | None:
        with self.reader.connect() as conn:
            return conn.execute(sa.select(adjustments).where(adjustments.c.request_id == request_id)).first()

    def pending_adjustment(self, task_id: str) -> str | None:
        a = adjustments.c
        with self.reader.connect() as conn:
            return conn.execute(sa.select(a.request_id).where(a.task_id == task_id, a.status == "pending")
                                ).scalar()

    def adjustments(self, *, task_id: str | None, unit_id: str | None, group_key: str | None,
                    status: str | None, offset: int, limit: int,
                    cleared: Sequence[str] | None = None) -> tuple[list[Any], int]:
        """`cleared`: the secrecy levels the reader may see; requests on tasks above them are
        left out (the reason speaks of the task)."""
        a = adjustments.c
        query = sa.select(adjustments)
        if cleared is not None:
            query = query.where(a.task_id.not_in(
                sa.select(known_tasks.c.task_id).where(known_tasks.c.secrecy.not_in(list(cleared)))))
        for column, value in ((a.task_id, task_id), (a.unit_id, unit_id),
                              (a.review_group_key, group_key), (a.status, status)):
            if value is not None:
                query = query.where(column == value)
        return self._page(query, [a.requested_at.desc(), a.request_id], offset, limit)

    def _page(self, query: sa.Select, order: list[Any], offset: int, limit: int) -> tuple[list[Any], int]:
        with self.reader.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
            rows = list(conn.execute(query.order_by(*order).offset(offset).limit(limit + 1)))
        return rows, total
