"""What a read model's catch-up tells the queries waiting on it (`StoreProjection.touched`,
`longpoll.Changes`), on the real PostgreSQL with two processes following one log: the keys
of the events it applied itself; when the other process (an API replica answering a
query) applied events first, "anything" (no key), since it cannot know what they touched."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dondoc_platform.projection import StoreProjection, sql_engine
from dondoc_platform.stores import StoreURL
from tests.backbone.sample_service import open_app, write_events

pytestmark = pytest.mark.integration


def process(url: str) -> tuple[object, sa.Engine, StoreProjection, list[frozenset[str]]]:
    app = open_app(url)
    engine = sql_engine(StoreURL.parse(url).sqlalchemy_url())
    seen = sa.Table("seen", sa.MetaData(), sa.Column("originator", sa.String(40), primary_key=True),
                    sa.Column("version", sa.Integer, primary_key=True))

    def apply(conn: sa.Connection, events) -> set[str]:
        conn.execute(seen.insert(), [{"originator": str(e.originator_id),
                                      "version": e.originator_version} for e in events])
        return {f"tracked:{e.originator_id}" for e in events}

    projection = StoreProjection(app, engine, seen.metadata, name="seen", apply=apply)
    projection.create_tables()
    told: list[frozenset[str]] = []
    projection.touched.append(told.append)
    return app, engine, projection, told


def test_a_catch_up_names_what_it_applied_or_anything_when_another_process_applied_it(
        postgres_database: str) -> None:
    worker_app, worker_engine, worker, told = process(postgres_database)
    replica_app, replica_engine, replica, _ = process(postgres_database)
    writer = open_app(postgres_database)
    try:
        assert worker.catch_up() == 0 and told == []  # nothing yet
        first = write_events(writer, aggregates=2, notes_each=1)
        assert worker.catch_up() == 4
        assert told == [frozenset(f"tracked:{i}" for i in first)]
        assert worker.catch_up() == 0 and len(told) == 1  # nothing new: nothing told

        write_events(writer, aggregates=1, notes_each=1)
        assert replica.catch_up() == 2  # the replica's query applied them first
        assert worker.catch_up() == 0
        assert told[1:] == [frozenset()]  # anything: the worker cannot know what
        assert worker.catch_up() == 0 and len(told) == 2  # and says it once

        write_events(writer, aggregates=1, notes_each=1)
        replica.catch_up()
        write_events(writer, aggregates=1, notes_each=1)
        # the worker applies these two itself, but the replica's two before them passed
        # unseen: some of what moved is unknown here, so anything
        assert worker.catch_up() == 2
        assert told[2:] == [frozenset()]
        last = write_events(writer, aggregates=1, notes_each=1)
        assert worker.catch_up() == 2
        assert told[3:] == [frozenset(f"tracked:{i}" for i in last)]
    finally:
        for app in (worker_app, replica_app, writer):
            app.close()
        worker_engine.dispose()
        replica_engine.dispose()


def test_a_catch_up_asks_the_head_and_the_position_once_and_pages_up_to_the_head(
        postgres_database: str) -> None:
    """A catch-up applies what was recorded before it began, page after page, reading the
    log's head and its position once: at a steady rate it runs many times a second, and two
    more statements after each page (the head and the position again) were a good part of
    the read models' statements."""
    app, engine, projection, told = process(postgres_database)
    writer = open_app(postgres_database)
    projection.page = 3
    heads = []
    asked_head = app.recorder.max_notification_id

    def counted_head() -> int | None:
        heads.append(1)
        return asked_head()

    app.recorder.max_notification_id = counted_head
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: statements.append(statement))
    try:
        write_events(writer, aggregates=4, notes_each=1)  # 8 events: pages of 3, 3, 2
        assert projection.catch_up() == 8
        positions = [s for s in statements if s.lstrip().upper().startswith("SELECT")
                     and "projection_positions" in s]
        pages = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
        assert len(heads) == 1
        assert len(positions) == 1 + 3  # once before the pages, then under each page's lock
        assert len(pages) == 3 * 2  # each page locks its position, then moves it
        with engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from seen")).scalar() == 8
        assert projection.catch_up() == 0 and len(heads) == 2 and len(told) == 1
    finally:
        for opened in (app, writer):
            opened.close()
        engine.dispose()
