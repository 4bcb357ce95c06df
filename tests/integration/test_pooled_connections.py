"""The read models' connection pool on real PostgreSQL: no ping for a connection just used,
a dead one replaced after it sat idle (a restarted database, a dropped connection)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import sqlalchemy as sa
import pytest

from dondoc_platform.projection import postgres_engine
from dondoc_platform.stores import StoreURL

pytestmark = pytest.mark.integration


def test_a_connection_killed_while_idle_is_replaced_before_use(postgres_database: str) -> None:
    engine = postgres_engine(StoreURL.parse(postgres_database).sqlalchemy_url(),
                             idle_before_ping=0.0, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            first = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with psycopg.connect(postgres_database, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        with engine.connect() as conn:  # the pool's only connection is dead: pinged, replaced
            second = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        assert second != first
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(postgres_database: str) -> None:
    engine = postgres_engine(StoreURL.parse(postgres_database).sqlalchemy_url(),
                             idle_before_ping=3600.0, pool_size=1, max_overflow=0)
    try:
        pings: list[object] = []
        original = engine.dialect.do_ping
        engine.dialect.do_ping = lambda dbapi_connection: pings.append(1) or original(dbapi_connection)
        for _ in range(3):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        assert pings == []
    finally:
        engine.dispose()


def test_sessions_read_timestamps_in_utc_whatever_the_server_default(postgres_database: str) -> None:
    name = postgres_database.rpartition("/")[2]
    with psycopg.connect(postgres_database, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET timezone TO \'Asia/Ho_Chi_Minh\'')
        with psycopg.connect(postgres_database) as plain:  # a session left to the default
            assert plain.execute("SHOW timezone").fetchone()[0] == "Asia/Ho_Chi_Minh"
    engine = postgres_engine(StoreURL.parse(postgres_database).sqlalchemy_url())
    try:
        with engine.connect() as conn:
            moment = conn.exec_driver_sql(
                "SELECT timestamptz '2018-12-31 23:30:00+07'").scalar()
        assert moment.utcoffset() == timedelta(0)
        assert moment == datetime(2018, 12, 31, 16, 30, tzinfo=timezone.utc)
    finally:
        engine.dispose()


def test_connections_of_a_burst_are_kept_for_the_next_one(postgres_database: str) -> None:
    """A service answering a dozen requests at once keeps their connections for the next
    burst: PostgreSQL does not fork and set up a dozen backends again each time."""
    engine = postgres_engine(StoreURL.parse(postgres_database).sqlalchemy_url())
    try:
        def burst() -> set[int]:
            held = [engine.connect() for _ in range(12)]
            try:
                return {conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() for conn in held}
            finally:
                for conn in held:
                    conn.close()

        first = burst()
        assert len(first) == 12
        assert burst() == first
    finally:
        engine.dispose()


def test_rows_inserted_together_go_as_one_statement(postgres_database: str) -> None:
    # A notice's five tasks on the board, their parties, the register's parties: one
    # statement each on PostgreSQL, not one per row (each a parse, bind and execution).
    engine = postgres_engine(StoreURL.parse(postgres_database).sqlalchemy_url())
    metadata = sa.MetaData()
    things = sa.Table("things_inserted_together", metadata,
                      sa.Column("thing_id", sa.String(20), primary_key=True),
                      sa.Column("name", sa.Text, nullable=False),
                      sa.Column("facts", sa.JSON, nullable=False))
    statements: list[str] = []
    try:
        metadata.create_all(engine)
        sa.event.listen(engine, "before_cursor_execute",
                        lambda conn, cursor, statement, *_: statements.append(statement))
        rows = [{"thing_id": f"T{i}", "name": f"Ban Tuyên giáo {i}", "facts": {"i": i}}
                for i in range(7)]
        with engine.begin() as conn:
            conn.execute(things.insert(), rows)
        assert len(statements) == 1 and statements[0].count("%(thing_id__") == 7, statements
        with engine.connect() as conn:
            stored = conn.execute(sa.select(things).order_by(things.c.thing_id)).all()
        assert [(r.thing_id, r.name, r.facts) for r in stored] == [
            (r["thing_id"], r["name"], r["facts"]) for r in rows]
    finally:
        engine.dispose()
