"""The read models' connection pool on real PostgreSQL: no ping for a connection just used,
a dead one replaced after it sat idle (a restarted database, a dropped connection)."""

from __future__ import annotations

import psycopg
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
