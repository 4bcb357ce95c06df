"""The task board (one row per task, for the query API) and the deadline schedule.

`watch_at` is the durable, due-time-ordered schedule of the deadline watcher: the moment
the task's effective deadline passes, while the task is open and has not gone overdue for
that deadline yet; NULL otherwise. It is indexed, so the watcher asks for the earliest
moments only and never walks every task.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from dondoc_platform.projection import Moment

from dondoc_platform.calendar import overdue_moment
from dondoc_tasks.domain.tasks import Task

metadata = sa.MetaData()

tasks = sa.Table(
    "board_tasks", metadata,
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("directive_id", sa.String(64), nullable=False, index=True),
    sa.Column("directive_number", sa.String(100), nullable=False),
    sa.Column("directive_kind", sa.String(40), nullable=False),
    sa.Column("issuing_body", sa.String(200), nullable=False),
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("paragraph", sa.String(500), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("lead_unit_id", sa.String(128), nullable=False, index=True),
    sa.Column("cooperating_unit_ids", sa.JSON, nullable=False),
    sa.Column("assigned_on", sa.Date, nullable=False),
    sa.Column("year_of_origin", sa.Integer, nullable=False, index=True),
    sa.Column("deadline_rule", sa.JSON, nullable=False),
    sa.Column("deadline_kind", sa.String(20), nullable=False),
    sa.Column("due_on", sa.Date, index=True),
    sa.Column("original_due_on", sa.Date),
    sa.Column("domain", sa.String(500)),
    sa.Column("review_group", sa.String(200), index=True),
    sa.Column("key_task", sa.Boolean, nullable=False),
    sa.Column("secrecy", sa.String(20), nullable=False),
    sa.Column("report_frequency", sa.String(20)),
    sa.Column("product", sa.Text),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("completed_on", sa.Date),
    sa.Column("completion", sa.JSON),
    sa.Column("withdrawn_on", sa.Date),
    sa.Column("withdrawal", sa.JSON),
    sa.Column("last_progress", sa.JSON),
    sa.Column("adjustments", sa.JSON, nullable=False),
    sa.Column("overdue_for", sa.JSON, nullable=False),
    sa.Column("watch_at", Moment, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("changed_at", Moment, nullable=False),
)

#: Units concerned by a task: its lead unit and its cooperating units.
parties = sa.Table(
    "board_task_units", metadata,
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("unit_id", sa.String(128), primary_key=True, index=True),
    sa.Column("role", sa.String(12), nullable=False),  # lead | cooperating
)


#: How long the watcher leaves a task alone after a change recorded when its deadline had
#: already passed (the office entering its history: the completion, adjustment or withdrawal
#: that follows must be recorded first, or the watcher would call overdue a task done in time).
HISTORY_HOLD_SECONDS = 600.0


def watch_moment(state: str, due_on: date | None, overdue_for: Sequence[str],
                 recorded_at: datetime | None = None,
                 hold_seconds: float = HISTORY_HOLD_SECONDS) -> Any:
    """When the watcher looks at the task: the moment its deadline passes, or, for a change
    recorded after that moment, `hold_seconds` after the change. Kept in UTC: SQLite stores
    moments as text, compared as text."""
    if state != "open" or due_on is None or due_on.isoformat() in overdue_for:
        return None
    moment = overdue_moment(due_on)
    if recorded_at is not None and recorded_at >= moment:
        return utc(recorded_at + timedelta(seconds=hold_seconds))
    return utc(moment)


def utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


def _decision(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return dict(value) if value else None


def _party_rows(task_id: str, lead: str, cooperating: Sequence[str]) -> list[dict[str, Any]]:
    rows = [{"task_id": task_id, "unit_id": lead, "role": "lead"}]
    rows += [{"task_id": task_id, "unit_id": u, "role": "cooperating"} for u in cooperating if u != lead]
    return rows


def _replace_parties(conn: sa.Connection, task_id: str, lead: str, cooperating: Sequence[str]) -> None:
    conn.execute(parties.delete().where(parties.c.task_id == task_id))
    conn.execute(parties.insert(), _party_rows(task_id, lead, cooperating))


def applier(hold_seconds: float = HISTORY_HOLD_SECONDS) -> Callable[[sa.Connection, Sequence[Any]], set[str]]:
    """The board's apply function with the watcher's hold for late-recorded changes."""
    return lambda conn, events: apply(conn, events, hold_seconds)


def task_key(task_id: str) -> str:
    """What a change of task `task_id` names (`longpoll.Changes`): its row, its history."""
    return f"task:{task_id}"


def directive_key(directive_id: str) -> str:
    """What a change of one of a directive's tasks names: the directive's list of tasks."""
    return f"directive:{directive_id}"


def saved_keys(events: Sequence[Any], aggregates: Mapping[Any, Any]) -> frozenset[str] | None:
    """What a save of this process will change on the board, named as `apply` names it
    (`task_key`, `directive_key`), for the queries waiting on them (`longpoll.Changes`);
    None when a task's directive is not known here (anything may have changed)."""
    keys: set[str] = set()
    for event in events:
        if not isinstance(event, Task.Event):
            continue  # ledgers, known units, the calendar: not on the board
        keys.add(task_key(str(event.originator_id)))
        if isinstance(event, Task.Assigned):
            keys.add(directive_key(event.directive_id))
            continue
        task = aggregates.get(event.originator_id)
        if task is None:
            return None
        keys.add(directive_key(task.directive_id))
    return frozenset(keys)


def apply(conn: sa.Connection, events: Sequence[Any],
          hold_seconds: float = HISTORY_HOLD_SECONDS) -> set[str]:
    """Apply `events` to the board; returns what they changed (`task_key`, `directive_key`),
    for the queries waiting on them."""
    touched: set[str] = set()
    # New tasks are inserted together (a notice assigns several at once): their rows wait
    # here until an event that reads a task row, or the end of the page.
    assigned: list[dict[str, Any]] = []
    assigned_parties: list[dict[str, Any]] = []

    def insert_assigned() -> None:
        if assigned:
            insert_rows(conn, tasks, assigned)
            insert_rows(conn, parties, assigned_parties)
            assigned.clear()
            assigned_parties.clear()

    for event in events:
        if not isinstance(event, Task.Event):
            continue
        task_id = str(event.originator_id)
        touched.add(task_key(task_id))
        if isinstance(event, Task.Assigned):
            touched.add(directive_key(event.directive_id))
            assigned.append(dict(
                task_id=task_id, directive_id=event.directive_id,
                directive_number=event.directive_number, directive_kind=event.directive_kind,
                issuing_body=event.issuing_body, item_id=event.item_id, paragraph=event.paragraph,
                content=event.content, lead_unit_id=event.lead_unit_id,
                cooperating_unit_ids=list(event.cooperating_unit_ids),
                assigned_on=event.assigned_on, year_of_origin=event.assigned_on.year,
                deadline_rule=event.deadline_rule, deadline_kind=event.deadline_rule["kind"],
                due_on=event.due_on, original_due_on=event.original_due_on, domain=event.domain,
                review_group=event.review_group, key_task=event.key_task, secrecy=event.secrecy,
                report_frequency=event.report_frequency, product=event.product, state="open",
                adjustments=[], overdue_for=[],
                watch_at=watch_moment("open", event.due_on, [], event.at, hold_seconds),
                version=event.originator_version, changed_at=event.at))
            assigned_parties.extend(_party_rows(task_id, event.lead_unit_id,
                                                event.cooperating_unit_ids))
            continue
        insert_assigned()
        row = conn.execute(sa.select(tasks).where(tasks.c.task_id == task_id)).one()
        touched.add(directive_key(row.directive_id))
        values: dict[str, Any] = {"version": event.originator_version, "changed_at": event.at}
        state, due_on, overdue_for = row.state, row.due_on, list(row.overdue_for)
        if isinstance(event, Task.ProgressRecorded):
            # an older claim arriving late stays in the history; the board shows the latest
            # by its date, whatever order the reports reached this service in
            if not row.last_progress or event.recorded_on.isoformat() >= row.last_progress["recorded_on"]:
                values["last_progress"] = {
                    "status_claimed": event.status_claimed, "progress": event.progress,
                    "evidence": event.evidence, "delay_reason": event.delay_reason,
                    "report_id": event.report_id, "recorded_on": event.recorded_on.isoformat(),
                    "by": event.actor.get("id")}
        elif isinstance(event, Task.Completed):
            state = "completed"
            values.update(completed_on=event.completed_on, completion={
                "result": event.result, "evidence": event.evidence, "report_id": event.report_id,
                "confirmed_by": event.actor.get("id"), "confirmed_role": event.actor.get("role")})
        elif isinstance(event, Task.DeadlineAdjusted):
            due_on = event.due_on
            values["adjustments"] = [*row.adjustments, {
                "kind": event.kind, "previous_due_on": _iso(event.previous_due_on),
                "due_on": _iso(event.due_on), "decision": _decision(event.decision),
                "request_id": event.request_id, "reason": event.reason}]
            values["due_on"] = due_on
        elif isinstance(event, Task.Reassigned):
            values.update(lead_unit_id=event.lead_unit_id,
                          cooperating_unit_ids=list(event.cooperating_unit_ids))
            _replace_parties(conn, task_id, event.lead_unit_id, event.cooperating_unit_ids)
        elif isinstance(event, Task.Withdrawn):
            state = "withdrawn"
            values.update(withdrawn_on=event.withdrawn_on, withdrawal={
                "decision": _decision(event.decision), "reason": event.reason,
                "request_id": event.request_id})
        elif isinstance(event, Task.WentOverdue):
            overdue_for.append(event.due_on.isoformat())
            values["overdue_for"] = overdue_for
        elif isinstance(event, Task.ContentAmended):
            values.update(paragraph=event.paragraph, content=event.content, domain=event.domain,
                          review_group=event.review_group, key_task=event.key_task,
                          product=event.product, deadline_rule=event.deadline_rule,
                          deadline_kind=event.deadline_rule["kind"])
        values.update(state=state, watch_at=watch_moment(state, due_on, overdue_for, event.at,
                                                         hold_seconds))
        conn.execute(tasks.update().where(tasks.c.task_id == task_id).values(**values))
    insert_assigned()
    return touched


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` into `table` in one statement. On PostgreSQL the statement is the same
    whatever the number of rows, and has one parameter: the rows as a JSON document, made
    into the table's rows by the server (`json_populate_recordset`), so psycopg parses the
    statement once and has one value to send (`json.dumps`, in C). A multi-row `VALUES`
    has a parameter per value: psycopg parses again at every execution a statement of more
    than 50 (it caches only the shorter ones) and adapts each value in Python, and arrays
    (`unnest`) are dumped element by element in Python too. Elsewhere (SQLite),
    SQLAlchemy's multi-row insert. A JSON column's None is stored as SQL NULL here (JSON
    null through SQLAlchemy): both read back as None, and no query tells them apart."""
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), list(rows))
        return
    conn.exec_driver_sql(_json_insert(table, conn.dialect), (json.dumps(rows, default=_json_value),))


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()  # with its offset: the server keeps the instant
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not a value of the board: {type(value).__name__}")


_JSON_INSERTS: dict[str, str] = {}


def _json_insert(table: sa.Table, dialect: Any) -> str:
    statement = _JSON_INSERTS.get(table.name)
    if statement is None:
        quote = dialect.identifier_preparer.quote
        name = dialect.identifier_preparer.format_table(table)
        columns = ", ".join(quote(c.name) for c in table.columns)
        statement = _JSON_INSERTS[table.name] = (
            f"INSERT INTO {name} ({columns}) SELECT {columns} "
            f"FROM json_populate_recordset(NULL::{name}, %s::json)")
    return statement


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
