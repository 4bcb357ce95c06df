"""A service's own read models, kept from its own event log.

A `StoreProjection` reads the application's notification log after its tracked position and
applies each page of domain events to SQL tables in one transaction with the new position,
so a crash loses nothing and applies nothing twice. Several processes may follow the same
log: the position row is locked (PostgreSQL) or the database is write-locked (SQLite) for
the length of a page, so each page is applied once.

Commands call `catch_up()` after saving, so what a caller wrote is visible to its next
query; a worker calls `follow()` to pick up what other processes wrote.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from eventsourcing.application import Application

from dondoc_platform import metrics

log = logging.getLogger(__name__)

POSITIONS = "dondoc_projection_positions"

#: applies a page of events in the caller's transaction; may return what it changed, as keys
#: (`longpoll.Changes`: "task:<id>", "directive:<id>"...) for the queries waiting on them
Apply = Callable[[sa.Connection, Sequence[Any]], Iterable[str] | None]


class SharedRound:
    """Runs a piece of work for callers that need it to *start after they arrived* (a
    catch-up that reads the log's head after a query came sees every commit made before
    it), sharing one run among all the callers that arrive while another runs.

    A caller that finds no run going starts one. Callers that arrive during a run wait for
    it to end, then share the next: one of them runs it, the others wait for it and return
    without running anything. So a burst of queries costs one run after the current one,
    not one each; and a run that began before a caller arrived never counts as its own
    (it may have read the head too early). A run that fails counts for nobody: its waiters
    start another."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._started = 0   # runs begun
        self._done = 0      # the number of the latest run that ended without an error
        self._running = False
        self.waiting = 0  # callers waiting for a run to end

    def run(self, work: Callable[[], int]) -> int:
        """`work()`'s result for the caller that ran it; 0 for those that shared a run."""
        with self._turn:
            needed = self._started + 1  # the next run to begin: it starts after this call
            while True:
                if self._done >= needed:
                    return 0
                if not self._running:
                    self._running = True
                    self._started += 1
                    mine = self._started
                    break
                self.waiting += 1
                self._turn.wait()
                self.waiting -= 1
        ended = False
        try:
            result = work()
            ended = True
            return result
        finally:
            with self._turn:
                self._running = False
                if ended:
                    self._done = mine
                self._turn.notify_all()


class Moment(sa.types.TypeDecorator):
    """An aware moment on every backend: kept in UTC (SQLite keeps no zone), read back aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("an aware datetime is required")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=timezone.utc)


def positions_table(metadata: sa.MetaData) -> sa.Table:
    if POSITIONS in metadata.tables:
        return metadata.tables[POSITIONS]
    return sa.Table(
        POSITIONS, metadata,
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )


def relaxed_commit(conn: sa.Connection) -> None:
    """Let this transaction commit without waiting for its WAL flush (PostgreSQL's
    `synchronous_commit = off`, this transaction only). For read models only: they are
    rebuilt from the event log, their rows commit with their position, and a later
    synchronous commit flushes them too; a database crash can only take back the last
    fraction of a second of them, which the next catch-up applies again. (The idempotency
    claim, made durable by the command's own later commit, relaxes its flush the same way,
    in its single statement: `http.IdempotencyMiddleware`.) Never for consumers of Kafka,
    whose offsets move on once the transaction returns."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


def sql_engine(url: str) -> sa.Engine:
    """An engine for a service's read models (SQLite waits for the store's write lock)."""
    if url.startswith("sqlite"):
        memory = url.endswith(":memory:")
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                                  poolclass=sa.pool.StaticPool if memory else None)

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

        return engine
    return postgres_engine(url)


def reading(engine: sa.Engine) -> sa.Engine:
    """The engine for queries: on PostgreSQL each statement runs on its own (autocommit),
    which spares the BEGIN and the ROLLBACK around it (two round trips of three). At READ
    COMMITTED every statement sees its own snapshot anyway. Same pool; never for writes."""
    if engine.dialect.name != "postgresql":
        return engine  # SQLite's engines begin their transactions their own way
    return engine.execution_options(isolation_level="AUTOCOMMIT")


#: a pooled connection idle longer than this is pinged before it is handed out again
IDLE_BEFORE_PING = 1.0


#: connections a service's engine keeps open: as many as requests it answers at once under
#: load. SQLAlchemy's pool closes a connection beyond this number when it is returned, and
#: PostgreSQL forks and sets up a backend for each one opened again: with 5 kept, 24
#: clients on two processes made PostgreSQL open ~40 sessions a second
#: (docs/PERFORMANCE.md). Kept + overflow stays under the thread pool's 40 and, with the
#: event store's own pool, under PostgreSQL's 200 connections for four processes.
POOL_SIZE, MAX_OVERFLOW = 15, 10

#: how often `StoreProjection.follow` looks at the log unwoken: the fallback for a process
#: that is not told of other processes' commits (`logwake.LogListener` tells it at once)
FOLLOW_INTERVAL = 0.2


def postgres_engine(url: str, *, idle_before_ping: float = IDLE_BEFORE_PING,
                    **options: Any) -> sa.Engine:
    """A PostgreSQL engine whose pool pings a connection only after it has sat idle.

    SQLAlchemy's `pool_pre_ping` costs a round trip at every checkout, several per command;
    a connection used a moment ago is as good as one just pinged. One that sat in the pool
    longer than `idle_before_ping` seconds (a restarted database, a dropped connection) is
    pinged first and replaced if dead, as with `pool_pre_ping`. A connection that breaks
    while in use fails that statement either way (and SQLAlchemy then empties the pool).

    Sessions run in UTC whatever the server's default time zone: timestamps read back then
    come in the same offset as the answers built from a just-saved aggregate.

    Rows inserted together (`conn.execute(table.insert(), rows)`: a notice's tasks on the
    board, their parties, the reports' directory) go as one multi-row statement per page
    (SQLAlchemy's "insertmanyvalues", which its psycopg dialect uses only with RETURNING
    unless told), not one statement per row: each statement costs PostgreSQL a parse, a
    bind and an execution, and psycopg a message."""
    connect_args = {"options": "-c TimeZone=UTC", **options.pop("connect_args", {})}
    options.setdefault("pool_size", POOL_SIZE)
    options.setdefault("max_overflow", MAX_OVERFLOW)
    engine = sa.create_engine(url, connect_args=connect_args, **options)
    engine.dialect.use_insertmanyvalues_wo_returning = True

    @sa.event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= idle_before_ping:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as e:
            # the pool discards this connection and checks out (or opens) another
            raise sa.exc.DisconnectionError(f"pooled connection is dead: {e}") from e

    return engine


def set_from_any_thread(loop: asyncio.AbstractEventLoop | None, event: asyncio.Event | None) -> None:
    """Set `event` of `loop` from any thread; nothing if either is gone or closing."""
    if loop is None or event is None or loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(event.set)
    except RuntimeError:
        pass  # the loop is closing


class StoreProjection:
    def __init__(self, app: Application, engine: sa.Engine, metadata: sa.MetaData, *,
                 name: str, apply: Apply, page: int = 500) -> None:
        self.app = app
        self.engine = engine
        self.metadata = metadata
        self.name = name
        self.apply = apply
        self.page = page
        self.positions = positions_table(metadata)
        self.reader = reading(engine)
        self._lock = threading.Lock()
        self._round = SharedRound()
        self.listeners: list[Callable[[], None]] = []
        #: called after a catch-up that applied something, with the keys `apply` returned;
        #: with no key (anything may have changed) when another process applied events this
        #: one had not seen (an API replica's query caught the read model up first)
        self.touched: list[Callable[[frozenset[str]], None]] = []
        self._known: int | None = None  # the position this process last saw or reached
        self.follow_interval = FOLLOW_INTERVAL  # longer when commits wake it (logwake)
        self._woken: asyncio.Event | None = None  # the running `follow`'s, if any
        self._loop: asyncio.AbstractEventLoop | None = None

    def create_tables(self) -> None:
        self.metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(self.positions.c.position).where(
                self.positions.c.name == self.name)).first()
            if exists is None:
                try:
                    with conn.begin_nested():
                        conn.execute(self.positions.insert().values(name=self.name, position=0))
                except sa.exc.IntegrityError:
                    pass  # another process created it meanwhile

    def position(self) -> int:
        with self.reader.connect() as conn:
            value = conn.execute(sa.select(self.positions.c.position).where(
                self.positions.c.name == self.name)).scalar()
            return int(value or 0)

    def catch_up(self) -> int:
        """Apply every event recorded before this call (and any after), so that a query that
        follows sees them; returns how many this caller applied. Callers that arrive while a
        catch-up runs share the next one (`SharedRound`): the waiting queries woken by one
        commit, and the queries and commands arriving meanwhile, cost one look at the log
        between them, not one each."""
        return self._round.run(self._catch_up)

    def _catch_up(self) -> int:
        head, position = self.app.recorder.max_notification_id() or 0, self.position()
        if head <= position:
            if self._passed_elsewhere(position):
                self._tell(frozenset())
            return 0
        applied, keys, elsewhere = 0, set[str](), False
        with self._lock:  # `rebuild` runs under it too
            # Pages until the head read above (after this call began): what was recorded
            # before the call is then applied. A page short of `page` events found the log's
            # end (a head above it is an id left by a rolled-back transaction). Events
            # recorded meanwhile are the next catch-up's: asking the head and the position
            # again after each page cost two statements per catch-up at a steady rate.
            while True:
                done, skipped, last = self._apply_page(keys)
                elsewhere |= skipped
                applied += done
                if done < self.page or last >= head:
                    break
        if applied:
            for listener in self.listeners:
                listener()
        if applied or elsewhere:
            self._tell(frozenset() if elsewhere else frozenset(keys))
        return applied

    def _passed_elsewhere(self, position: int) -> bool:
        """Whether the position moved past what this process last saw without it (another
        process applied those events); remembers `position` as seen."""
        known, self._known = self._known, position
        return known is not None and position > known

    def _tell(self, keys: frozenset[str]) -> None:
        for callback in self.touched:
            callback(keys)

    def recorded(self) -> None:
        """Events were saved and the caller answers without the read model: tell the
        listeners (the outbox relay) at once; the read model follows (`follow`, or the next
        query's `catch_up`)."""
        for listener in self.listeners:
            listener()

    def _apply_page(self, keys: set[str]) -> tuple[int, bool, int]:
        """Apply the next page; how many events, whether another process had applied
        events since this one last looked (their keys are unknown here), and the position
        reached."""
        where = self.positions.c.name == self.name
        with self.engine.begin() as conn:
            relaxed_commit(conn)
            # Take the lock first (a row lock in PostgreSQL, the write lock in SQLite), then
            # read the position under it: a page is applied by one process only.
            conn.execute(self.positions.update().where(where).values(
                position=self.positions.c.position))
            position = int(conn.execute(sa.select(self.positions.c.position).where(where)).scalar()
                           or 0)
            elsewhere = self._passed_elsewhere(position)
            notifications = self.app.recorder.select_notifications(position + 1, self.page)
            if not notifications:
                return 0, elsewhere, position
            events = [self.app.mapper.to_domain_event(n) for n in notifications]
            keys.update(self.apply(conn, events) or ())
            conn.execute(self.positions.update().where(where).values(
                position=notifications[-1].id))
        self._known = notifications[-1].id  # committed
        return len(notifications), elsewhere, notifications[-1].id

    def observe_lag(self) -> int:
        """Set the projection's lag (events behind the log, age of the oldest one not yet
        applied; 0 when caught up) on its gauges; returns the events behind."""
        head = self.app.recorder.max_notification_id() or 0
        position = self.position()
        behind = max(0, head - position)
        seconds = 0.0
        if behind:
            upcoming = self.app.recorder.select_notifications(position + 1, 1)
            recorded = getattr(self.app.mapper.to_domain_event(upcoming[0]), "timestamp", None) \
                if upcoming else None
            if isinstance(recorded, datetime):
                seconds = max(0.0, (datetime.now(timezone.utc) - recorded).total_seconds())
        metrics.PROJECTION_LAG_EVENTS.labels(self.name).set(behind)
        metrics.PROJECTION_LAG_SECONDS.labels(self.name).set(seconds)
        return behind

    def wake(self) -> None:
        """Ask the running `follow()` to catch up now (another process saved events: see
        `logwake.LogListener`). Safe from any thread; nothing happens if none runs."""
        set_from_any_thread(self._loop, self._woken)

    async def follow(self, stop: asyncio.Event, interval: float | None = None,
                     observe_every: float = 5.0) -> None:
        """Keep up with the log until `stop` is set (other processes write to it too):
        at once when woken (`wake`), else every `interval` seconds (`follow_interval` if not
        given); measuring the lag every `observe_every` seconds."""
        interval = self.follow_interval if interval is None else interval
        self._loop, self._woken = asyncio.get_running_loop(), asyncio.Event()
        woken = self._woken
        observed = float("-inf")
        try:
            while not stop.is_set():
                woken.clear()
                try:
                    if time.monotonic() - observed >= observe_every:
                        await asyncio.to_thread(self.observe_lag)
                        observed = time.monotonic()
                    await asyncio.to_thread(self.catch_up)
                except Exception:  # noqa: BLE001 - the database may be away: retry, never skip
                    log.exception("projection %s failed; retrying", self.name)
                waiters = {asyncio.ensure_future(woken.wait()), asyncio.ensure_future(stop.wait())}
                try:
                    await asyncio.wait(waiters, timeout=interval,
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            self._loop = self._woken = None

    def rebuild(self) -> int:
        """Drop and refill the tables from the whole log (an operator's repair)."""
        with self._lock:
            tables = [t for t in self.metadata.sorted_tables if t.name != POSITIONS]
            with self.engine.begin() as conn:
                for table in reversed(tables):
                    conn.execute(table.delete())
                conn.execute(self.positions.update().where(
                    self.positions.c.name == self.name).values(position=0))
        return self._catch_up()
