"""The board's new rows: on PostgreSQL one fixed statement per table, whatever the number of
rows (the rows travel as one JSON document, `json_populate_recordset`), so psycopg parses it
once and sends one value; the rows read back as SQLAlchemy's multi-row insert writes them on
SQLite."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dondoc_platform.eventstore import InboxEntry, store_env
from dondoc_platform.projection import sql_engine
from dondoc_platform.stores import StoreURL
from dondoc_tasks.application.tasks_app import TasksApp
from dondoc_tasks.projections import board

from .support import by_date, delivery, issued, item

pytestmark = pytest.mark.integration


def notices() -> list[Any]:
    return [
        issued([item("1", "BTG", by_date(date(2018, 6, 29)),
                     cooperating_unit_ids=["UBND", "BDV"])], number="1-TB/TU"),
        issued([item(str(n), lead, by_date(date(2018, 9, 28)))
                for n, lead in enumerate(["BTG", "UBND", "BTC"], start=1)], number="2-TB/TU"),
        issued([item("1", "BDV", by_date(date(2018, 12, 31)))], number="3-TB/TU"),
    ]


def assigned_events(url: str, batch: list[Any]) -> list[Any]:
    app = TasksApp(env=store_env(url))
    try:
        for notice in batch:
            d = delivery(notice)
            assert app.react(d, InboxEntry("dondoc-tasks", d.event_id, d.topic, d.partition,
                                           d.offset))
        return [app.mapper.to_domain_event(n)
                for n in app.recorder.select_notifications(1, 1000)]
    finally:
        app.close()


def board_after(url: str, pages: list[list[Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The board's rows after applying `pages`, and the inserts sent to the database."""
    engine = sql_engine(StoreURL.parse(url).sqlalchemy_url())
    board.metadata.create_all(engine)
    inserts: list[str] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    try:
        for page in pages:
            with engine.begin() as conn:
                board.apply(conn, page)
        with engine.connect() as conn:
            tasks = [dict(r._mapping) for r in conn.execute(
                sa.select(board.tasks).order_by(board.tasks.c.task_id))]
            parties = [dict(r._mapping) for r in conn.execute(
                sa.select(board.parties).order_by(board.parties.c.task_id, board.parties.c.unit_id))]
        return tasks + parties, inserts
    finally:
        engine.dispose()


def test_new_rows_go_in_one_fixed_statement_and_read_back_as_on_sqlite(
        postgres_database: str, tmp_path: Path) -> None:
    batch = notices()
    directive_ids = [n.directive_id for n in batch]
    assert len(set(directive_ids)) == 3
    sqlite = f"sqlite:///{tmp_path / 'tasks.sqlite'}"
    events = assigned_events(postgres_database, batch)
    same_on_sqlite = assigned_events(sqlite, batch)
    # a page of one notice (one task, three parties), then a page of two (four tasks)
    first_page = [e for e in events if getattr(e, "directive_id", None) == directive_ids[0]]
    rest = [e for e in events if e not in first_page]
    on_postgres, inserts = board_after(postgres_database, [first_page, rest])
    on_sqlite, _ = board_after(sqlite, [
        [e for e in same_on_sqlite if getattr(e, "directive_id", None) == directive_ids[0]],
        [e for e in same_on_sqlite if getattr(e, "directive_id", None) != directive_ids[0]]])
    # two statements per page, and the same two texts for one row and for four
    assert len(inserts) == 4 and inserts[0] == inserts[2] and inserts[1] == inserts[3]
    assert "json_populate_recordset" in inserts[0]
    tasks = [r for r in on_postgres if "directive_id" in r]
    assert len(tasks) == 5 and len(on_postgres) == 5 + 3 + 4
    first = next(r for r in tasks if r["directive_number"] == "1-TB/TU")
    assert first["cooperating_unit_ids"] == ["UBND", "BDV"] and first["adjustments"] == []
    assert first["completion"] is None and first["watch_at"].tzinfo is not None
    assert on_postgres == on_sqlite
