"""Applying consumed events to one generation of the read models.

`Projector.apply` is the effect of the live consumer (`SqlInbox` calls it inside the
transaction that records the inbox rows and the positions). `derive_all` fills the derived
tables of a generation whose `events` table was bulk-loaded (a rebuild, a scratch replay).
Both derive every row with the functions of `rows.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from dondoc_platform.inbox import Delivery

from dondoc_analytics.projections.rows import (
    DIRECTIVE_TYPES,
    LINKED_TYPES,
    REPORT_ROW_TYPES,
    UNIT_TYPES,
    Row,
    derive_directive,
    derive_report,
    derive_task,
    direct_rows,
    event_row,
)
from dondoc_analytics.projections.schema import ProjectionTables

CHUNK = 500
DIRECT_TYPES = (*LINKED_TYPES, *UNIT_TYPES, "NotificationSent", "NotificationFailed")


def _insert(conn: sa.Connection, table: sa.Table):
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def copy_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write rows as fast as the database takes them: COPY on PostgreSQL, else executemany."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), list(rows))
        return
    columns = [c.name for c in table.columns]
    cursor = conn.connection.dbapi_connection.cursor()
    names = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(tuple(row.get(c) for c in columns))


def copy_tuples(conn: sa.Connection, table: sa.Table, columns: Sequence[str],
                rows: Sequence[tuple], sent_as: Mapping[str, str] | None = None) -> None:
    """COPY rows given as tuples in `columns` order (PostgreSQL), in COPY's binary format:
    numbers, days and moments go as they are instead of being written as text and parsed
    back (a third of the client's cost per row, and less work for the server); each value
    still goes through its column's type (lengths, NOT NULL). `sent_as`: the type psycopg
    formats a column's values as, where it is not the column's own (binary COPY carries
    no types: "bytea" sends `bytes` as they are, which the server reads with the column's
    own input, e.g. a text column's UTF-8)."""
    cursor = conn.connection.dbapi_connection.cursor()
    names = ", ".join(f'"{c}"' for c in columns)
    sent_as = sent_as or {}
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT BINARY)') as copy:
        copy.set_types([sent_as.get(c) or
                        table.c[c].type.compile(dialect=conn.dialect).partition("(")[0].lower()
                        for c in columns])
        for row in rows:
            copy.write_row(row)


def fact_columns(events: sa.Table) -> list[sa.ColumnElement]:
    c = events.c
    return [c.task_id, c.fact_kind, c.business_day, c.topic, c.partition, c.kafka_offset,
            c.fact_lead_unit_id, c.fact_due_on, c.fact_original_due_on,
            sa.case((c.fact_kind.in_(("assigned", "reassigned")), c.payload),
                    else_=sa.null()).label("payload")]


def keyed_columns(events: sa.Table, key: sa.ColumnElement) -> list[sa.ColumnElement]:
    c = events.c
    return [key.label("key"), c.event_type, c.business_day, c.topic, c.partition,
            c.kafka_offset, c.payload]


class Projector:
    """The effect of consumed events on one generation's tables."""

    def __init__(self, tables: ProjectionTables) -> None:
        self.t = tables

    # -- live ---------------------------------------------------------------------------

    def apply(self, conn: sa.Connection, deliveries: Sequence[Delivery]) -> None:
        rows = [event_row(d) for d in deliveries]
        fresh = self._insert_events(conn, rows)
        self.apply_rows(conn, fresh)

    def _insert_events(self, conn: sa.Connection, rows: list[Row]) -> list[Row]:
        """Insert the event rows not recorded yet; returns those (an event counts once)."""
        if not rows:
            return []
        events = self.t.events
        new: set[str] = set()
        for chunk in chunks(rows):
            statement = _insert(conn, events).values(list(chunk)).on_conflict_do_nothing(
                index_elements=["event_id"]).returning(events.c.event_id)
            new.update(r[0] for r in conn.execute(statement))
        seen: set[str] = set()
        fresh = []
        for row in rows:
            if row["event_id"] in new and row["event_id"] not in seen:
                fresh.append(row)
                seen.add(row["event_id"])
        return fresh

    def apply_rows(self, conn: sa.Connection, fresh: Sequence[Row]) -> None:
        """Derive what newly recorded event rows change."""
        direct: dict[str, list[Row]] = {}
        for row in fresh:
            for name, items in direct_rows(row).items():
                direct.setdefault(name, []).extend(items)
        for name, items in direct.items():
            table = getattr(self.t, name)
            keys = [c.name for c in table.primary_key.columns]
            for chunk in chunks(items):
                conn.execute(_insert(conn, table).values(list(chunk)).on_conflict_do_nothing(
                    index_elements=keys))
        self.refresh(
            conn,
            tasks={r["task_id"] for r in fresh if r["fact_kind"]},
            reports={r["subject"] for r in fresh if r["event_type"] in REPORT_ROW_TYPES},
            directives={r["directive_id"] for r in fresh if r["event_type"] in DIRECTIVE_TYPES},
        )

    def refresh(self, conn: sa.Connection, *, tasks: Iterable[str] = (),
                reports: Iterable[str] = (), directives: Iterable[str] = ()) -> None:
        """Recompute the derived rows of these keys from all their recorded events."""
        e = self.t.events
        for chunk in chunks(sorted(tasks)):
            found = conn.execute(sa.select(*fact_columns(e)).where(
                e.c.task_id.in_(chunk), e.c.fact_kind.is_not(None)).order_by(e.c.task_id)).mappings()
            task_rows, period_rows = _derive_tasks(found)
            conn.execute(self.t.task_periods.delete().where(self.t.task_periods.c.task_id.in_(chunk)))
            conn.execute(self.t.tasks.delete().where(self.t.tasks.c.task_id.in_(chunk)))
            if task_rows:
                conn.execute(self.t.tasks.insert(), task_rows)
            if period_rows:
                conn.execute(self.t.task_periods.insert(), period_rows)
        self._refresh_keyed(conn, reports, e.c.subject, REPORT_ROW_TYPES, self.t.reports,
                            self.t.reports.c.report_id, derive_report)
        self._refresh_keyed(conn, directives, e.c.directive_id, DIRECTIVE_TYPES,
                            self.t.directives, self.t.directives.c.directive_id, derive_directive)

    def _refresh_keyed(self, conn: sa.Connection, keys: Iterable[str], key: sa.Column,
                       types: tuple[str, ...], table: sa.Table, table_key: sa.Column,
                       derive) -> None:
        e = self.t.events
        for chunk in chunks(sorted(keys)):
            found = conn.execute(keyed_lookup(e, key, chunk, types)).mappings()
            rows = _derive_keyed(found, derive)
            conn.execute(table.delete().where(table_key.in_(chunk)))
            if rows:
                conn.execute(table.insert(), rows)

    # -- after a bulk load --------------------------------------------------------------

    def derive_all(self, conn: sa.Connection, *, batch: int = 20_000) -> None:
        """Fill every derived table from the `events` table (empty derived tables), in
        Python (SQLite; a PostgreSQL rebuild's loaders fold the tasks and PostgreSQL derives
        the rest in SQL, `setbased`)."""
        e = self.t.events
        self.derive_tasks(conn, batch=batch)
        for key, types, table, derive in (
            (e.c.subject, REPORT_ROW_TYPES, self.t.reports, derive_report),
            (e.c.directive_id, DIRECTIVE_TYPES, self.t.directives, derive_directive),
        ):
            found = _stream(conn, sa.select(*keyed_columns(e, key)).where(
                e.c.event_type.in_(types)).order_by(key), batch)
            copy_rows(conn, table, _derive_keyed(found, derive))
        direct: dict[str, list[Row]] = {}
        for row in _stream(conn, sa.select(e).where(e.c.event_type.in_(DIRECT_TYPES)), batch):
            for name, items in direct_rows(row).items():
                direct.setdefault(name, []).extend(items)
        for name, items in direct.items():
            copy_rows(conn, getattr(self.t, name), _unique(items, getattr(self.t, name)))

    def derive_tasks(self, conn: sa.Connection, *, batch: int = 20_000) -> None:
        """Tasks and periods folded in Python, task by task, from the `events` table (empty
        `tasks` and `task_periods`)."""
        e = self.t.events
        task_rows: list[Row] = []
        period_rows: list[Row] = []
        facts = _stream(conn, sa.select(*fact_columns(e)).where(e.c.fact_kind.is_not(None))
                        .order_by(e.c.task_id), batch)
        for task_id, rows in groupby(facts, key=lambda r: r["task_id"]):
            task, periods = derive_task(task_id, list(rows))
            if task is not None:
                task_rows.append(task)
                period_rows.extend(periods)
            if len(period_rows) >= batch:
                self._flush(conn, task_rows, period_rows)
        self._flush(conn, task_rows, period_rows)

    def _flush(self, conn: sa.Connection, task_rows: list[Row], period_rows: list[Row]) -> None:
        copy_rows(conn, self.t.tasks, task_rows)
        copy_rows(conn, self.t.task_periods, period_rows)
        task_rows.clear()
        period_rows.clear()


def _stream(conn: sa.Connection, statement: sa.Select, batch: int) -> Iterator[Mapping[str, Any]]:
    result = conn.execute(statement, execution_options={"stream_results": True,
                                                        "yield_per": batch})
    for partition in result.mappings().partitions():
        yield from partition


def _derive_tasks(found: Iterable[Mapping[str, Any]]) -> tuple[list[Row], list[Row]]:
    task_rows: list[Row] = []
    period_rows: list[Row] = []
    for task_id, rows in groupby(found, key=lambda r: r["task_id"]):
        task, periods = derive_task(task_id, list(rows))
        if task is not None:
            task_rows.append(task)
            period_rows.extend(periods)
    return task_rows, period_rows


def _derive_keyed(found: Iterable[Mapping[str, Any]], derive) -> list[Row]:
    out = []
    for key, rows in groupby(found, key=lambda r: r["key"]):
        if key is None:
            continue
        row = derive(key, list(rows))
        if row is not None:
            out.append(row)
    return out


def _unique(rows: list[Row], table: sa.Table) -> list[Row]:
    keys = [c.name for c in table.primary_key.columns]
    seen: set[tuple] = set()
    out = []
    for row in rows:
        k = tuple(row[c] for c in keys)
        if k not in seen:
            seen.add(k)
            out.append(row)
    return out


def keyed_lookup(events: sa.Table, key: sa.Column, keys: Sequence[str], types: Sequence[str]):
    """The events of `types` whose `key` is one of `keys`, in key order (the live refresh).

    The types are sent as literals: the events' partial indexes (schema) hold some types
    only, and a planner proves a partial index usable from constants, not from parameters."""
    return sa.select(*keyed_columns(events, key)).where(
        key.in_(keys), events.c.event_type.in_(sa.bindparam(
            "types", list(types), expanding=True, literal_execute=True))).order_by(key)
