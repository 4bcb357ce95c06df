"""The reports service's local view of units (with their review group) and of each unit's
tasks, kept from the directives and tasks services' events by an idempotent SQL consumer
(`SqlInbox`): each batch's rows and inbox entries commit together."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from dondoc_contracts import (
    TaskAssigned,
    TaskCompleted,
    TaskDeadlineAdjusted,
    TaskReassigned,
    TaskWithdrawn,
    UnitChanged,
    UnitRegistered,
)
from dondoc_platform.inbox import Delivery
from dondoc_platform.names import match_key
from dondoc_platform.projection import reading
from dondoc_reports.domain.obligations import TaskFacts

metadata = sa.MetaData()

units = sa.Table(
    "rpt_units", metadata,
    sa.Column("unit_id", sa.String(128), primary_key=True),
    sa.Column("code", sa.String(500), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("review_group", sa.String(500)),
    sa.Column("review_group_key", sa.String(500), index=True),
    sa.Column("parent_unit_id", sa.String(128)),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
)

tasks = sa.Table(
    "rpt_tasks", metadata,
    sa.Column("task_id", sa.String(128), primary_key=True),
    sa.Column("lead_unit_id", sa.String(128), nullable=False, index=True),
    sa.Column("directive_id", sa.String(128), nullable=False),
    sa.Column("directive_number", sa.String(500), nullable=False),
    sa.Column("paragraph", sa.String(500), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("assigned_on", sa.Date, nullable=False),
    sa.Column("deadline_kind", sa.String(20), nullable=False),
    sa.Column("frequency", sa.String(20)),
    sa.Column("due_on", sa.Date),
    sa.Column("original_due_on", sa.Date),
    sa.Column("completed_on", sa.Date),
    sa.Column("withdrawn_on", sa.Date),
    sa.Column("review_group", sa.String(500)),
    sa.Column("domain", sa.String(500)),
    sa.Column("key_task", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("secrecy", sa.String(20), nullable=False, server_default="thuong"),
)

CONSUMER = "dondoc-reports-directory"
#: what a change of this directory that may concern any unit names, and what every query
#: made of it alone declares (`longpoll.reads`): such a query waits for the directory's
#: batches, not for every report saved in the service's log
READS = "directory"


def unit_key(unit_id: str) -> str:
    """What a change of one unit's row or of the tasks it leads names, and what a query of
    that unit's tasks declares besides `READS`: it then waits for its own unit's changes
    only, not for every batch of the directory (a new notice's tasks concern five units of
    the province's hundreds)."""
    return f"{READS}:unit:{unit_id}"


_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], key: str,
            unit: str) -> set[str]:
    """Insert or replace rows (all with the same columns) in one statement execution, and
    return the keys of the units whose lists this changed (`unit_key`; `READS` if a row
    replaced may have belonged to another unit). The statement is built once per table and
    dialect, so SQLAlchemy compiles it once. On PostgreSQL it returns each row's unit and
    whether it was new (a row just inserted has no `xmax`): SQLAlchemy then sends the rows
    as one multi-row statement ("insertmanyvalues"), not one statement per row (a notice's
    five tasks were five round trips' worth of work for PostgreSQL). SQLite does not say
    which rows were new: its batches name `READS`."""
    if not rows:
        return set()
    cache = (conn.dialect.name, table.name)
    statement = _UPSERTS.get(cache)
    if statement is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table)
        statement = insert.on_conflict_do_update(
            index_elements=[key], set_={c.name: insert.excluded[c.name] for c in table.columns
                                        if c.name != key})
        if conn.dialect.name == "postgresql":
            statement = statement.returning(table.c[unit],
                                            sa.literal_column("xmax = 0").label("inserted"))
        _UPSERTS[cache] = statement
    result = conn.execute(statement, rows)
    if conn.dialect.name != "postgresql":
        return {READS}
    changed: set[str] = set()
    for row in result:
        changed.add(unit_key(row[0]) if row.inserted or table is units else READS)
    return changed


def _unit_row(event: UnitRegistered | UnitChanged) -> dict[str, Any]:
    return {"unit_id": event.unit_id, "code": event.code, "name": event.name,
            "review_group": event.review_group, "review_group_key": match_key(event.review_group),
            "parent_unit_id": event.parent_unit_id, "active": getattr(event, "active", True)}


def _task_row(event: TaskAssigned) -> dict[str, Any]:
    frequency = event.report_frequency or event.deadline_rule.frequency
    return {"task_id": event.task_id, "lead_unit_id": event.lead_unit_id,
            "directive_id": event.directive_id, "directive_number": event.directive_number,
            "paragraph": event.paragraph, "content": event.content,
            "assigned_on": event.assigned_on, "deadline_kind": event.deadline_rule.kind.value,
            "frequency": frequency.value if frequency else None,
            "due_on": event.due_on, "original_due_on": event.original_due_on,
            "completed_on": None, "withdrawn_on": None, "review_group": event.review_group,
            "domain": event.domain, "key_task": event.key_task, "secrecy": event.secrecy.value}


def _update_task(conn: sa.Connection, task_id: str, **values: Any) -> set[str]:
    """Change a task's row; the key of the unit that leads it (none if it is unknown)."""
    led_by = conn.execute(tasks.update().where(tasks.c.task_id == task_id).values(**values)
                          .returning(tasks.c.lead_unit_id)).scalar()
    return set() if led_by is None else {unit_key(led_by)}


def apply_upstream(conn: sa.Connection, deliveries: Sequence[Delivery]) -> set[str]:
    """The effect of the directory's and tasks' events on the local view; returns what it
    changed (`unit_key` of each unit concerned, `READS` for a change that may concern any),
    for the queries waiting on it. Events of other types change nothing and name nothing."""
    assigned: list[dict[str, Any]] = []  # consecutive new tasks go in one statement
    changed: set[str] = set()
    for delivery in deliveries:
        event = delivery.event
        if isinstance(event, TaskAssigned):
            row = _task_row(event)
            assigned = [r for r in assigned if r["task_id"] != row["task_id"]] + [row]
            continue
        changed |= _upsert(conn, tasks, assigned, "task_id", "lead_unit_id")
        assigned = []
        if isinstance(event, UnitRegistered | UnitChanged):
            changed |= _upsert(conn, units, [_unit_row(event)], "unit_id", "unit_id")
        elif isinstance(event, TaskCompleted):
            changed |= _update_task(conn, event.task_id, completed_on=event.completed_on)
        elif isinstance(event, TaskWithdrawn):
            changed |= _update_task(conn, event.task_id, withdrawn_on=event.withdrawn_on)
        elif isinstance(event, TaskReassigned):
            _update_task(conn, event.task_id, lead_unit_id=event.lead_unit_id)
            changed.add(READS)  # the unit it leaves too, whatever the row said before
        elif isinstance(event, TaskDeadlineAdjusted):
            values: dict[str, Any] = {"due_on": event.due_on}
            if event.original_due_on is not None:
                values["original_due_on"] = event.original_due_on
            changed |= _update_task(conn, event.task_id, **values)
    return changed | _upsert(conn, tasks, assigned, "task_id", "lead_unit_id")


def facts(row: Any) -> TaskFacts:
    return TaskFacts(task_id=row.task_id, lead_unit_id=row.lead_unit_id,
                     assigned_on=row.assigned_on, deadline_kind=row.deadline_kind,
                     frequency=row.frequency, due_on=row.due_on, completed_on=row.completed_on,
                     withdrawn_on=row.withdrawn_on, secrecy=row.secrecy)


class Directory:
    """Queries on the local view. The frequent ones (a submission's tasks, a unit) are built
    once: SQLAlchemy then neither rebuilds nor re-keys them at each call, and on PostgreSQL a
    list of ids travels as one array (`= ANY`), so the statement's text is the same whatever
    the list's length (psycopg prepares it once) instead of an `IN` list rendered per call."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.reader = reading(engine)
        if engine.dialect.name == "postgresql":
            ids = sa.bindparam("ids", type_=postgresql.ARRAY(sa.String))
            self._tasks_by_id = sa.select(tasks).where(tasks.c.task_id == sa.any_(ids))
        else:
            self._tasks_by_id = sa.select(tasks).where(
                tasks.c.task_id.in_(sa.bindparam("ids", expanding=True)))
        self._unit = sa.select(units).where(units.c.unit_id == sa.bindparam("unit_id"))

    def unit(self, unit_id: str) -> Any | None:
        with self.reader.connect() as conn:
            return conn.execute(self._unit, {"unit_id": unit_id}).first()

    def units(self, unit_ids: Iterable[str]) -> dict[str, Any]:
        wanted = list(set(unit_ids))
        if not wanted:
            return {}
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(units).where(units.c.unit_id.in_(wanted))).all()
        return {r.unit_id: r for r in rows}

    def units_in_group(self, review_group: str) -> set[str]:
        with self.reader.connect() as conn:
            return set(conn.scalars(sa.select(units.c.unit_id).where(
                units.c.review_group_key == match_key(review_group))))

    def review_group_of(self, unit_id: str, fallback: str | None = None) -> str | None:
        unit = self.unit(unit_id)
        return unit.review_group if unit is not None and unit.review_group else fallback

    def open_tasks_at(self, day: date) -> list[TaskFacts]:
        """Tasks assigned by `day` and neither completed nor withdrawn by then."""
        t = tasks.c
        query = sa.select(tasks).where(
            t.assigned_on <= day,
            sa.or_(t.completed_on.is_(None), t.completed_on > day),
            sa.or_(t.withdrawn_on.is_(None), t.withdrawn_on > day))
        with self.reader.connect() as conn:
            return [facts(r) for r in conn.execute(query)]

    def task_rows(self, task_ids: Iterable[str]) -> dict[str, Any]:
        wanted = list(set(task_ids))
        if not wanted:
            return {}
        with self.reader.connect() as conn:
            rows = conn.execute(self._tasks_by_id, {"ids": wanted}).all()
        return {r.task_id: r for r in rows}

    def task_facts(self, task_ids: Iterable[str]) -> dict[str, TaskFacts]:
        return {k: facts(r) for k, r in self.task_rows(task_ids).items()}

    def unit_tasks(self, unit_id: str, *, include_closed: bool, offset: int, limit: int) -> list[Any]:
        query = sa.select(tasks).where(tasks.c.lead_unit_id == unit_id)
        if not include_closed:
            query = query.where(tasks.c.completed_on.is_(None), tasks.c.withdrawn_on.is_(None))
        query = query.order_by(tasks.c.assigned_on, tasks.c.task_id).offset(offset).limit(limit)
        with self.reader.connect() as conn:
            return list(conn.execute(query))
