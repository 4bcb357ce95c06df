"""A worker learns of another process's commits at once (PostgreSQL LISTEN/NOTIFY,
`dondoc_platform.logwake`), so its relay and read models can poll slowly when idle; without
the notification (SQLite, a lost connection) the poll still brings the read model up to date.

"Another process" is a second application on the same store with its own connections: to
PostgreSQL that is what another process is."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from dondoc_platform.logwake import LogListener, wake_on_commit
from dondoc_platform.outbox import OutboxRelay
from dondoc_platform.projection import FOLLOW_INTERVAL, StoreProjection, sql_engine
from dondoc_platform.stores import StoreURL
from tests.backbone.sample_service import open_app, translate, write_events
from tests.support.services import until

pytestmark = pytest.mark.integration

#: the unwoken poll in these tests: far longer than any wait below, so only a wake explains
#: a read model that caught up
SLOW_POLL = 600.0


def follower(url: str) -> tuple[object, sa.Engine, StoreProjection, OutboxRelay]:
    app = open_app(url)
    engine = sql_engine(StoreURL.parse(url).sqlalchemy_url())
    seen = sa.Table("seen", sa.MetaData(), sa.Column("originator", sa.String(40), primary_key=True),
                    sa.Column("version", sa.Integer, primary_key=True))

    def apply(conn: sa.Connection, events) -> None:
        conn.execute(seen.insert(), [{"originator": str(e.originator_id),
                                      "version": e.originator_version} for e in events])

    projection = StoreProjection(app, engine, seen.metadata, name="follower", apply=apply)
    projection.create_tables()
    relay = OutboxRelay(app, service="follower", translate=translate, bootstrap="127.0.0.1:1")
    return app, engine, projection, relay


async def following(projection: StoreProjection, listener: LogListener,
                    body: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    workers = [asyncio.create_task(projection.follow(stop)), asyncio.create_task(listener.run(stop))]
    try:
        await body(stop)
    finally:
        stop.set()
        await asyncio.gather(*workers)


def close(writer, app, engine: sa.Engine) -> None:
    writer.close()
    app.close()
    engine.dispose()


def head(app) -> int:
    return app.recorder.max_notification_id() or 0


def test_a_commit_of_another_process_wakes_the_relay_and_the_read_model(postgres_database: str) -> None:
    writer = open_app(postgres_database)
    app, engine, projection, relay = follower(postgres_database)
    listener = wake_on_commit(app, postgres_database, poll_seconds=SLOW_POLL, relay=relay,
                              projections=(projection,))
    assert listener.enabled
    assert relay.idle_interval == SLOW_POLL and projection.follow_interval == SLOW_POLL

    async def body(_: asyncio.Event) -> None:
        await asyncio.wait_for(listener.listening.wait(), 20)
        await until(lambda: projection.position() == head(app))  # nothing yet: 0 == 0
        relay._wake.clear()
        write_events(writer, aggregates=2, notes_each=1)
        assert head(app) == 4
        await until(lambda: projection.position() == 4)
        assert relay._wake.is_set()

    asyncio.run(following(projection, listener, body))
    close(writer, app, engine)


def test_the_listener_comes_back_after_losing_its_connection(postgres_database: str) -> None:
    """Its backend is terminated (a restarted database, a dropped connection): it connects
    again and wakes the read model for what was committed meanwhile and after."""
    writer = open_app(postgres_database)
    app, engine, projection, relay = follower(postgres_database)
    listener = LogListener.for_app(app, postgres_database, retry=0.1)
    listener.on_commit(projection.wake)
    projection.follow_interval = SLOW_POLL
    database = StoreURL.parse(postgres_database).database

    async def body(_: asyncio.Event) -> None:
        await asyncio.wait_for(listener.listening.wait(), 20)
        with engine.connect() as conn:
            killed = conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND query LIKE 'LISTEN%'"), {"db": database}).scalar()
        assert killed == 1
        write_events(writer, aggregates=1, notes_each=1)  # while it may not listen
        await until(lambda: projection.position() == 2)
        await asyncio.wait_for(listener.listening.wait(), 20)
        write_events(writer, aggregates=1, notes_each=2)
        await until(lambda: projection.position() == 5)

    asyncio.run(following(projection, listener, body))
    close(writer, app, engine)


def test_unwoken_the_read_model_still_follows_another_process(store_url: str, tmp_path: Path) -> None:
    """No notification reaches it (SQLite has none; here nothing listens on PostgreSQL
    either): the poll alone catches it up."""
    writer = open_app(store_url)
    app, engine, projection, relay = follower(store_url)
    assert projection.follow_interval == FOLLOW_INTERVAL
    if store_url.startswith("sqlite"):
        listener = wake_on_commit(app, store_url, poll_seconds=SLOW_POLL, relay=relay,
                                  projections=(projection,))
        assert not listener.enabled  # SQLite: the short polls stay
        assert relay.idle_interval < 1 and projection.follow_interval == FOLLOW_INTERVAL
    deaf = LogListener(store_url, "")  # waits for stop only

    async def body(_: asyncio.Event) -> None:
        write_events(writer, aggregates=2, notes_each=2)
        await until(lambda: projection.position() == 6)

    asyncio.run(following(projection, deaf, body))
    close(writer, app, engine)


def test_a_process_knows_its_own_commits_from_the_others(postgres_database: str) -> None:
    """The notification names the server process that committed: the callbacks registered
    `foreign_only` hear another process's commits, not this process's own saves (which it
    tells of by name, `GroupCommitting.saved`); the others hear both."""
    writer = open_app(postgres_database)  # another process: its own connections
    app, engine, projection, relay = follower(postgres_database)
    listener = LogListener.for_app(app, postgres_database)
    heard = {"every": 0, "foreign": 0}
    listener.on_commit(lambda: heard.__setitem__("every", heard["every"] + 1))
    listener.on_commit(lambda: heard.__setitem__("foreign", heard["foreign"] + 1),
                       foreign_only=True)

    async def body(_: asyncio.Event) -> None:
        await asyncio.wait_for(listener.listening.wait(), 20)
        assert heard == {"every": 1, "foreign": 1}  # what was missed before: unknown
        heard.update(every=0, foreign=0)
        await asyncio.to_thread(write_events, app, 3, 1)  # three commits of its own
        await asyncio.to_thread(write_events, writer, 1, 1)  # one of another process
        # notifications come in commit order: once the last is heard, all were
        await until(lambda: heard["every"] == 4)
        assert heard["foreign"] == 1
        assert app.recorder.writer_pids and not app.recorder.writer_pids & writer.recorder.writer_pids

    asyncio.run(following(projection, listener, body))
    close(writer, app, engine)
