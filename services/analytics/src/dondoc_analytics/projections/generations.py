"""Generations of the read models and the stable views over the active one.

- `ensure_schema` creates the fixed tables and, on a fresh database, generation 1 as the
  live one, with the views dashboards read.
- A rebuild creates a generation (`create_generation`), fills it, catches it up, and
  `activate`s it inside a transaction that also replaces the base views: readers see the
  old generation until the commit and the new one after it, never an empty table.
- The live consumer of a generation takes a shared lock on its generation row in every
  batch (`hold_generation`); the switch takes it exclusively, so it sees the old
  generation's positions standing still while it brings the new one level with them.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import sqlalchemy as sa

from dondoc_analytics.projections import queries
from dondoc_analytics.projections.schema import (
    BASE_NAMES,
    GENERATIONS,
    UNFILLED_COLUMNS,
    VIEW_PREFIX,
    VIEWS,
    ProjectionTables,
    create_fixed_tables,
    generation_prefix,
    projection_tables,
)


log = logging.getLogger(__name__)


def consumer_name(generation: int) -> str:
    return f"analytics-g{generation}"


def tables_of(generation: int, *, with_indexes: bool = True) -> ProjectionTables:
    return projection_tables(generation_prefix(generation), with_indexes=with_indexes)


def active_generation(conn: sa.Connection) -> int | None:
    return conn.execute(sa.select(GENERATIONS.c.generation).where(
        GENERATIONS.c.state == "active")).scalar()


def hold_generation(conn: sa.Connection, generation: int) -> str | None:
    """Inside a consumer's transaction: the generation's state, with a shared lock on it
    (PostgreSQL) so a switch waits for this batch and this batch for a switch."""
    statement = sa.select(GENERATIONS.c.state).where(GENERATIONS.c.generation == generation)
    if conn.dialect.name == "postgresql":
        statement = statement.with_for_update(read=True)
    return conn.execute(statement).scalar()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def create_generation(engine: sa.Engine, purpose: str, *, bulk: bool = False) -> tuple[int, ProjectionTables]:
    """A new, empty generation. `bulk`: without secondary indexes (and on PostgreSQL without
    the keys of the events, tasks and periods, which the loaders fill) until the rebuild
    adds them after the load (`restore_events_key`, `restore_task_keys`, `create_indexes`)."""
    with engine.begin() as conn:
        last = conn.execute(sa.select(sa.func.max(GENERATIONS.c.generation))).scalar() or 0
        generation = last + 1
        conn.execute(GENERATIONS.insert().values(generation=generation, state="building",
                                                 purpose=purpose, created_at=_now()))
    tables = tables_of(generation, with_indexes=not bulk)
    with engine.begin() as conn:
        if bulk and conn.dialect.name == "postgresql":
            keyless = (tables.events, tables.tasks, tables.task_periods)
            for table in keyless:
                _without_primary_key(table).create(conn)
            for table in tables.all():
                if table not in keyless:
                    table.create(conn)
            for table in tables.all():  # the rebuild vacuums and analyses them once, loaded
                conn.exec_driver_sql(f'ALTER TABLE "{table.name}" SET (autovacuum_enabled = false)')
        else:
            tables.create(conn)
    return generation, tables_of(generation)


def _without_primary_key(table: sa.Table) -> sa.Table:
    """The table without its key, every other column as it is (NOT NULL and defaults kept:
    the switched generation must be the table a live one is)."""
    return sa.Table(table.name, sa.MetaData(),
                    *[sa.Column(c.name, c.type, nullable=c.nullable,
                                server_default=c.server_default.arg if c.server_default else None)
                      for c in table.columns])


def restore_task_keys(conn: sa.Connection, tables: ProjectionTables) -> None:
    """After a bulk load on PostgreSQL: the keys of `tasks` and `task_periods`, built once
    from their rows (one sort each) rather than kept up row by row while the loaders copy."""
    for table in (tables.tasks, tables.task_periods):
        columns = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
        conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD PRIMARY KEY ({columns})')


def finish_bulk_load(conn: sa.Connection, tables: ProjectionTables) -> int:
    """After a bulk load: drop repeated deliveries of an event (keeping the first in its
    partition, as the live inbox does), restore the key and the indexes. Returns how many
    repeats were dropped."""
    dropped = restore_events_key(conn, tables)
    tables.create_indexes(conn)
    return dropped


def restore_events_key(conn: sa.Connection, tables: ProjectionTables) -> int:
    """After a bulk load on PostgreSQL: drop repeated deliveries of an event (keeping the
    first in its partition, as the live inbox does) and add the events key. Returns how many
    repeats were dropped (0 elsewhere: SQLite's load skips them as they come)."""
    dropped = 0
    if conn.dialect.name == "postgresql":
        name = tables.events.name
        try:  # the usual case, no event delivered twice: one sort of the log, not two
            with conn.begin_nested():
                conn.exec_driver_sql(f'ALTER TABLE "{name}" ADD PRIMARY KEY (event_id)')
        except sa.exc.IntegrityError:
            dropped = conn.exec_driver_sql(
                f'DELETE FROM "{name}" WHERE ctid IN (SELECT ctid FROM (SELECT ctid, row_number() '
                f'OVER (PARTITION BY event_id ORDER BY topic, partition, kafka_offset) AS n '
                f'FROM "{name}") AS d WHERE n > 1)').rowcount
            conn.exec_driver_sql(f'ALTER TABLE "{name}" ADD PRIMARY KEY (event_id)')
    return dropped


@contextmanager
def schema_lock(engine: sa.Engine) -> Iterator[None]:
    """Held while a process makes or upgrades the schema: the worker, the API and a command
    started together on a fresh database would otherwise create the same tables and views
    at once (and fail) or each a live generation. PostgreSQL: a session advisory lock;
    a SQLite file: an exclusive `flock` beside it (freed by the kernel if the process dies)."""
    url = engine.url
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_advisory_lock(%s)" % _SCHEMA_LOCK_KEY)
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)" % _SCHEMA_LOCK_KEY)
                conn.commit()
    elif url.database and url.database != ":memory:" and not url.database.startswith("file::memory:"):
        fd = os.open(f"{url.database}.schema-lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the last descriptor releases the lock
    else:  # an in-memory database belongs to one process
        yield


#: a fixed signed 64-bit key of pg_advisory_lock: "the analytics schema" (sha256, 8 bytes)
_SCHEMA_LOCK_KEY = int.from_bytes(hashlib.sha256(b"dondoc-analytics-schema").digest()[:8],
                                  "big", signed=True)


def ensure_schema(engine: sa.Engine) -> int:
    """The fixed tables, a live generation and the views; returns the active generation."""
    with schema_lock(engine):
        generation = _ensure_schema(engine)
    with engine.connect() as conn:
        if (collation := strcoll_collation(conn)) is not None:
            log.warning("analytics: the read models' database collates text as %r, through "
                        "strcoll: a rebuild's keys and indexes sort about twice as slowly as "
                        "under LC_COLLATE 'C' (the same code-point order for UTF-8; see "
                        "docs/OPERATIONS.md, 'The analytics database')", collation)
    return generation


def strcoll_collation(conn: sa.Connection) -> str | None:
    """The database's collation when PostgreSQL compares its text through the C library's
    strcoll (anything but C or POSIX: no abbreviated keys in sorts); None when it compares
    bytes (memcmp), or on SQLite (always bytes)."""
    if conn.dialect.name != "postgresql":
        return None
    collation = conn.exec_driver_sql(
        "SELECT datcollate FROM pg_database WHERE datname = current_database()").scalar()
    return None if collation in ("C", "POSIX") else collation


def _ensure_schema(engine: sa.Engine) -> int:
    create_fixed_tables(engine)
    with engine.begin() as conn:
        generation = active_generation(conn)
    if generation is None:
        generation, _ = create_generation(engine, "live")
        with engine.begin() as conn:
            activate(conn, generation)
    with engine.begin() as conn:
        upgrade_in_place(conn, generation)
        create_computed_views(conn)
    return generation


def _missing_columns(conn: sa.Connection, table: sa.Table) -> list[sa.Column]:
    present = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
    return [c for c in table.columns if c.name not in present]


def _add_column(conn: sa.Connection, table: str, column: sa.Column) -> None:
    kind = column.type.compile(dialect=conn.dialect)
    default = f" NOT NULL DEFAULT {column.server_default.arg}" if column.server_default is not None else ""
    conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column.name}" {kind}{default}')


def upgrade_in_place(conn: sa.Connection, generation: int) -> None:
    """A database made by an earlier version: add the columns it lacks. The review verdicts'
    quality counts of the live generation are derived from its events rows (the primary
    record), as the projector derives them; frozen rows closed before keep NULL there (the
    figure did not exist when they were frozen)."""
    from dondoc_analytics.projections.rows import direct_rows
    from dondoc_analytics.projections.schema import FROZEN_REPORT_SCORECARDS

    for column in _missing_columns(conn, FROZEN_REPORT_SCORECARDS):
        _add_column(conn, FROZEN_REPORT_SCORECARDS.name, column)
    tables = tables_of(generation)
    _sentences_not_required(conn, tables)
    # indexes added since the generation was made (the report events' partial index): a
    # one-off build at the first start of this version (≈ 2 s at national scale), not a rebuild
    tables.create_indexes(conn, tables.events)
    missing = _missing_columns(conn, tables.report_reviews)
    if not missing:
        return
    for column in missing:
        _add_column(conn, tables.report_reviews.name, column)
    e = tables.events
    rows = conn.execute(sa.select(e).where(e.c.event_type == "ReportReviewed")).mappings()
    for derived in [direct_rows(row)["report_reviews"][0] for row in rows]:
        conn.execute(tables.report_reviews.update()
                     .where(tables.report_reviews.c.event_id == derived["event_id"])
                     .values({c.name: derived[c.name] for c in missing}))
    view = f"{VIEW_PREFIX}report_reviews"
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f'CREATE OR REPLACE VIEW "{view}" AS SELECT * FROM "{tables.report_reviews.name}"')


def _sentences_not_required(conn: sa.Connection, tables: ProjectionTables) -> None:
    """A generation made before the timeline's sentences were rendered when read
    (docs/adr/0010) requires `what_vi` and `what_en`: no longer filled, they must take NULL.
    PostgreSQL drops the constraint (the catalogue only); SQLite cannot, so its events
    table is copied into one of the current definition (its rows keep their old sentences,
    which nothing reads)."""
    events = tables.events
    columns = {c["name"]: c for c in sa.inspect(conn).get_columns(events.name)}
    if all(columns[name]["nullable"] for name in UNFILLED_COLUMNS):
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f'ALTER TABLE "{events.name}" ' + ", ".join(
            f'ALTER COLUMN "{name}" DROP NOT NULL' for name in UNFILLED_COLUMNS))
        return
    view, old = f"{VIEW_PREFIX}events", f"{events.name}_before_0010"
    active = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?", (view,)).scalar()
    conn.exec_driver_sql(f'DROP VIEW IF EXISTS "{view}"')
    for index in events.indexes:
        conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index.name}"')
    conn.exec_driver_sql(f'ALTER TABLE "{events.name}" RENAME TO "{old}"')
    events.create(conn)
    names = ", ".join(f'"{c.name}"' for c in events.columns)
    conn.exec_driver_sql(f'INSERT INTO "{events.name}" ({names}) SELECT {names} FROM "{old}"')
    conn.exec_driver_sql(f'DROP TABLE "{old}"')
    if active is not None:
        conn.exec_driver_sql(active)


def activate(conn: sa.Connection, generation: int) -> None:
    """Make `generation` the one the views show (inside the caller's transaction)."""
    now = _now()
    conn.execute(GENERATIONS.update().where(GENERATIONS.c.state == "active",
                                            GENERATIONS.c.generation != generation)
                 .values(state="retired", retired_at=now))
    conn.execute(GENERATIONS.update().where(GENERATIONS.c.generation == generation)
                 .values(state="active", activated_at=now))
    prefix = generation_prefix(generation)
    for name in BASE_NAMES:
        view, table = f"{VIEW_PREFIX}{name}", f"{prefix}{name}"
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f'CREATE OR REPLACE VIEW "{view}" AS SELECT * FROM "{table}"')
        else:
            conn.exec_driver_sql(f'DROP VIEW IF EXISTS "{view}"')
            conn.exec_driver_sql(f'CREATE VIEW "{view}" AS SELECT * FROM "{table}"')


def drop_generation(engine: sa.Engine, generation: int, state: str = "retired") -> None:
    with engine.begin() as conn:
        current = conn.execute(sa.select(GENERATIONS.c.state).where(
            GENERATIONS.c.generation == generation)).scalar()
        if current == "active":
            raise ValueError(f"generation {generation} is active; activate another one first")
        for table in reversed(tables_of(generation).all()):
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table.name}"')
        from dondoc_analytics.projections.schema import INBOX, POSITIONS

        name = consumer_name(generation)
        conn.execute(INBOX.delete().where(INBOX.c.consumer == name))
        conn.execute(POSITIONS.delete().where(POSITIONS.c.consumer == name))
        conn.execute(GENERATIONS.update().where(GENERATIONS.c.generation == generation)
                     .values(state=state, retired_at=_now()))


# --------------------------------------------------------------------------- computed views

COMPUTED_VIEWS = ("analytics_units", "analytics_task_board", "analytics_task_scorecard",
                  "analytics_report_scorecard")


def _compile(conn: sa.Connection, statement: sa.Select) -> str:
    return str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def _units_select() -> sa.Select:
    v = VIEWS.unit_versions
    w = v.alias("later")
    later = sa.select(sa.literal(1)).where(
        w.c.unit_id == v.c.unit_id,
        sa.or_(w.c.day > v.c.day,
               sa.and_(w.c.day == v.c.day,
                       sa.tuple_(w.c.topic, w.c.partition, w.c.kafka_offset)
                       > sa.tuple_(v.c.topic, v.c.partition, v.c.kafka_offset))))
    return sa.select(v.c.unit_id, v.c.code, v.c.name, v.c.review_group, v.c.parent_unit_id,
                     v.c.active, v.c.day.label("since")).where(~later.exists())


def _today(dialect: str) -> tuple[sa.ColumnElement, sa.ColumnElement]:
    """(O, K) of now, in SQL."""
    if dialect == "postgresql":
        return (sa.literal_column("((now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date)"),
                sa.literal_column("(((now() AT TIME ZONE 'Asia/Ho_Chi_Minh') "
                                  "- interval '1 microsecond')::date + 1)"))
    return (sa.literal_column("date('now', '+7 hours')"),
            sa.literal_column("date('now', '+7 hours', '+1 day')"))


def _board_select(dialect: str) -> sa.Select:
    p, t = VIEWS.task_periods, VIEWS.tasks
    o, k = _today(dialect)
    days = (sa.literal_column(f"({o} - due_on)") if dialect == "postgresql"
            else sa.literal_column(f"CAST(julianday({o}) - julianday(due_on) AS INTEGER)"))
    overdue = (p.c.terminal.is_(None)) & (p.c.due_on < o)
    return (
        sa.select(t.c.task_id, t.c.directive_id, t.c.directive_number, t.c.issuing_body,
                  t.c.paragraph, t.c.content, p.c.lead_unit_id, t.c.cooperating_unit_ids,
                  t.c.domain, t.c.review_group, t.c.key_task, t.c.secrecy, t.c.assigned_on,
                  p.c.due_on, p.c.original_due_on, p.c.terminal_on,
                  queries.status_case(p, o).label("status"),
                  queries.status_case(p, o, original=True).label("status_original"),
                  sa.case((overdue, days), else_=sa.null()).label("days_overdue"))
        .select_from(p.join(t, t.c.task_id == p.c.task_id))
        .where(p.c.valid_from <= k, sa.or_(p.c.valid_until.is_(None), p.c.valid_until > k))
    )


def _rate(numerator: str, denominator: str) -> str:
    return (f"CASE WHEN ({denominator}) = 0 THEN NULL "
            f"ELSE CAST({numerator} AS FLOAT) / ({denominator}) END")


def _task_scorecard_sql(conn: sa.Connection) -> str:
    parts = []
    for grouping in queries.Grouping:
        select = queries.task_scorecard_select(queries.years_default(conn.dialect.name), grouping)
        parts.append(f"SELECT '{grouping.value}' AS grouping, s.* FROM ({_compile(conn, select)}) AS s")
    union = " UNION ALL ".join(parts)
    rates = []
    for suffix in ("", "_original"):
        cot, cl, oo = f"completed_on_time{suffix}", f"completed_late{suffix}", f"open_overdue{suffix}"
        rates.append(f"{_rate(cot, f'{cot} + {cl} + {oo}')} AS on_time_rate_of_due{suffix}")
        rates.append(f"{_rate(cot, 'assigned + carried_over - withdrawn')} "
                     f"AS on_time_rate_of_all{suffix}")
    return (f"SELECT c.*, CASE WHEN c.grouping = 'unit' THEN u.name ELSE c.group_name END "
            f"AS display_name, {', '.join(rates)} FROM ({union}) AS c "
            f"LEFT JOIN analytics_units u ON c.grouping = 'unit' AND u.unit_id = c.group_key")


def _report_scorecard_sql(conn: sa.Connection) -> str:
    select = queries.report_scorecard_select(queries.years_default(conn.dialect.name))
    return (f"SELECT s.*, u.name AS display_name FROM ({_compile(conn, select)}) AS s "
            f"LEFT JOIN analytics_units u ON u.unit_id = s.group_key")


def create_computed_views(conn: sa.Connection) -> None:
    """The dashboard views computed over the base views (created once; they follow the
    base views through every switch)."""
    dialect = conn.dialect.name
    definitions = {
        "analytics_units": _compile(conn, _units_select()),
        "analytics_task_board": _compile(conn, _board_select(dialect)),
        "analytics_task_scorecard": _task_scorecard_sql(conn),
        "analytics_report_scorecard": _report_scorecard_sql(conn),
    }
    for name in reversed(COMPUTED_VIEWS):
        conn.exec_driver_sql(f'DROP VIEW IF EXISTS "{name}"')
    for name in COMPUTED_VIEWS:
        conn.exec_driver_sql(f'CREATE VIEW "{name}" AS {definitions[name]}')
