"""SQL plumbing of the service's read side: one engine per store, times kept in UTC."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import sqlalchemy as sa

from dondoc_platform.projection import postgres_engine
from dondoc_platform.stores import StoreURL


class UtcDateTime(sa.types.TypeDecorator):
    """An aware moment, stored in UTC on every backend (SQLite keeps no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("an aware datetime is required")
        moment = value.astimezone(timezone.utc)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def make_engine(store_url: str) -> sa.Engine:
    """The store's database for SQLAlchemy. On SQLite every transaction takes the write lock
    at its start (BEGIN IMMEDIATE), so two writers queue instead of failing half-way."""
    url = StoreURL.parse(store_url).sqlalchemy_url()
    if not url.startswith("sqlite"):
        return postgres_engine(url)
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA busy_timeout=30000")

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def jsonable(value: Any) -> Any:
    """Dates and moments as ISO strings, recursively (for JSON columns)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
