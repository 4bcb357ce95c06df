"""Event stores of the services: eventsourcing recorders that also keep, in the same
transaction as the events they record, the audit hash chain and the inbox of consumed
events.

Configure an application with `store_env(url)`; pass `inbox=InboxEntry(...)` to
`Application.save(...)` to record a consumed event with the effect it caused.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Notification, StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from psycopg.sql import SQL, Identifier

from dondoc_platform.audit_chain import GENESIS, ChainLink, LoggedEvent, canonical_originator, chain
from dondoc_platform.stores import StoreURL

INBOX_TABLE = "dondoc_inbox"
OUTBOX_TABLE = "dondoc_outbox"


@dataclass(frozen=True)
class InboxEntry:
    """A consumed event, recorded with its effect so a redelivery changes nothing."""

    consumer: str
    event_id: str
    topic: str = ""
    partition: int = -1
    offset: int = -1


class OutboxEntry(NamedTuple):
    """A logged event the relay publishes, with its chain hash (None if it has no link)."""

    notification: Notification
    audit_hash: bytes | None


class AlreadyApplied(Exception):
    """The consumed event was recorded before: its effect exists already."""


def chain_table_for(events_table: str) -> str:
    return f"{events_table}_chain"


# --------------------------------------------------------------------------- PostgreSQL


class ChainedPostgresRecorder(PostgresProcessRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events",
                 tracking_table_name: str = "notification_tracking") -> None:
        super().__init__(datastore, events_table_name=events_table_name,
                         tracking_table_name=tracking_table_name)
        #: the server processes (backend pids) of this recorder's connections that saved
        #: events: a commit notification (`NOTIFY`, see `logwake`) from one of them is this
        #: process's own save, which its `saved` callbacks were told of by name
        self.writer_pids: set[int] = set()
        schema = Identifier(self.datastore.schema)
        self.chain_table = chain_table_for(events_table_name)
        chain_t, inbox_t, outbox_t = (Identifier(self.chain_table), Identifier(INBOX_TABLE),
                                      Identifier(OUTBOX_TABLE))
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {0}.{1} (position bigint PRIMARY KEY, "
                "previous_position bigint NOT NULL, hash bytea NOT NULL)").format(schema, chain_t),
            SQL("CREATE TABLE IF NOT EXISTS {0}.{1} (consumer text NOT NULL, event_id text NOT NULL, "
                "topic varchar(250) NOT NULL, partition integer NOT NULL, kafka_offset bigint NOT NULL, "
                "outcome varchar(20) NOT NULL DEFAULT 'applied', "
                "recorded_at timestamptz NOT NULL DEFAULT now(), "
                "PRIMARY KEY (consumer, event_id))").format(schema, inbox_t),
            SQL("CREATE TABLE IF NOT EXISTS {0}.{1} (name text PRIMARY KEY, position bigint NOT NULL, "
                "updated_at timestamptz NOT NULL DEFAULT now())").format(schema, outbox_t),
        ]
        self._last_link = SQL("SELECT position, hash FROM {0}.{1} ORDER BY position DESC LIMIT 1"
                              ).format(schema, chain_t)
        # The insert answers each event's key with its position (the chain is made from them).
        self.insert_events_statement += SQL(", originator_id, originator_version")
        # One statement for a transaction's links, however many events it saved.
        self._insert_links = SQL("INSERT INTO {0}.{1} (position, previous_position, hash) "
                                 "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[])"
                                 ).format(schema, chain_t)
        self._insert_inbox = SQL("INSERT INTO {0}.{1} (consumer, event_id, topic, partition, "
                                 "kafka_offset) VALUES (%s, %s, %s, %s, %s)").format(schema, inbox_t)
        self._seen_inbox = SQL("SELECT 1 FROM {0}.{1} WHERE consumer = %s AND event_id = %s"
                               ).format(schema, inbox_t)
        self._events_of_many = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {0}.{1} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(schema, Identifier(events_table_name))
        self._seen_inbox_any = SQL("SELECT event_id FROM {0}.{1} WHERE consumer = %s "
                                   "AND event_id = ANY(%s)").format(schema, inbox_t)
        self._select_links = SQL("SELECT position, previous_position, hash FROM {0}.{1} "
                                 "WHERE position > %s ORDER BY position LIMIT %s").format(schema, chain_t)
        self._get_outbox = SQL("SELECT position FROM {0}.{1} WHERE name = %s").format(schema, outbox_t)
        self._set_outbox = SQL(
            "INSERT INTO {0}.{1} (name, position) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
            "SET position = EXCLUDED.position, updated_at = now() WHERE {0}.{1}.position < EXCLUDED.position"
        ).format(schema, outbox_t)
        self._link_at = SQL("SELECT hash FROM {0}.{1} WHERE position = %s").format(schema, chain_t)
        # The link looked up per event, not joined: as a prepared statement on its generic
        # plan, a join merged the batch with the whole chain from its first link (a scan that
        # grows with the log at every relay round).
        self._outbox_batch = SQL(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state, "
            "(SELECT c.hash FROM {0}.{2} c WHERE c.position = e.notification_id) AS hash "
            "FROM {0}.{1} e WHERE e.notification_id > %s ORDER BY e.notification_id LIMIT %s"
        ).format(schema, Identifier(events_table_name), chain_t)

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        self.writer_pids.add(curs.connection.info.backend_pid)  # before the commit notifies
        entries = _entries(kwargs.get("inbox"))
        if entries:
            curs.executemany(self._insert_inbox, [_inbox_row(e) for e in entries])

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        rows = curs.fetchall()
        if not rows:
            return []
        # Still inside the insert's transaction, which holds the events table's EXCLUSIVE
        # lock: no other writer can take a position between the last link and ours. The
        # links are made from the events in hand, each matched to its position by the key
        # the insert returned (not read back: one round trip fewer per save).
        by_key = {(canonical_originator(e.originator_id), e.originator_version): e
                  for e in stored_events}
        new = []
        for r in sorted(rows, key=lambda r: r["notification_id"]):
            e = by_key[(canonical_originator(r["originator_id"]), r["originator_version"])]
            new.append(LoggedEvent(r["notification_id"], e.originator_id, e.originator_version,
                                   e.topic, e.state))
        curs.execute(self._last_link)
        row = curs.fetchone()
        before, previous = (row["position"], bytes(row["hash"])) if row else (0, GENESIS)
        links = list(chain(before, previous, new))
        curs.execute(self._insert_links, ([c.position for c in links],
                                          [c.previous_position for c in links],
                                          [c.hash for c in links]))
        return [r["notification_id"] for r in rows]

    # -- queries used by the relay and by audits ------------------------------------------

    @contextmanager
    def _statement(self) -> Iterator[Any]:
        """A cursor for one statement on its own, in autocommit (the pool's connections are):
        a read, or a write that one statement makes atomic, without the BEGIN and the
        ROLLBACK or COMMIT around it that a transaction costs (two round trips more)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            yield curs

    def record_inbox_only(self, entry: InboxEntry | Sequence[InboxEntry]) -> None:
        entries = _entries(entry)
        try:
            with self.datastore.transaction(commit=True) as curs:
                curs.executemany(self._insert_inbox, [_inbox_row(e) for e in entries])
        except IntegrityError as e:
            raise AlreadyApplied(", ".join(x.event_id for x in entries)) from e

    def inbox_has(self, consumer: str, event_id: str) -> bool:
        with self._statement() as curs:
            curs.execute(self._seen_inbox, (consumer, event_id))
            return curs.fetchone() is not None

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """The stored events of several aggregates (one query), each aggregate's in order."""
        with self._statement() as curs:
            curs.execute(self._events_of_many, (list(originator_ids),), prepare=True)
            return [StoredEvent(originator_id=r["originator_id"],
                                originator_version=r["originator_version"], topic=r["topic"],
                                state=bytes(r["state"])) for r in curs.fetchall()]

    def inbox_seen(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Which of `event_ids` the consumer has recorded (one query)."""
        with self._statement() as curs:
            curs.execute(self._seen_inbox_any, (consumer, list(event_ids)))
            return {r["event_id"] for r in curs.fetchall()}

    def select_links(self, after: int, limit: int) -> list[ChainLink]:
        with self._statement() as curs:
            curs.execute(self._select_links, (after, limit))
            return [ChainLink(r["position"], r["previous_position"], bytes(r["hash"]))
                    for r in curs.fetchall()]

    def link_hash(self, position: int) -> bytes | None:
        with self._statement() as curs:
            curs.execute(self._link_at, (position,))
            row = curs.fetchone()
            return bytes(row["hash"]) if row else None

    def select_outbox_batch(self, after: int, limit: int) -> list[OutboxEntry]:
        with self._statement() as curs:
            curs.execute(self._outbox_batch, (after, limit), prepare=True)
            return [OutboxEntry(
                Notification(id=r["notification_id"], originator_id=r["originator_id"],
                             originator_version=r["originator_version"], topic=r["topic"],
                             state=bytes(r["state"])),
                bytes(r["hash"]) if r["hash"] is not None else None,
            ) for r in curs.fetchall()]

    def outbox_position(self, name: str) -> int:
        with self._statement() as curs:
            curs.execute(self._get_outbox, (name,))
            row = curs.fetchone()
            return int(row["position"]) if row else 0

    def set_outbox_position(self, name: str, position: int) -> None:
        with self._statement() as curs:
            curs.execute(self._set_outbox, (name, position))


_SQLITE_INSERT_INBOX = (f"INSERT INTO {INBOX_TABLE} (consumer, event_id, topic, partition, "
                        "kafka_offset) VALUES (?, ?, ?, ?, ?)")


def _entries(inbox: InboxEntry | Sequence[InboxEntry] | None) -> Sequence[InboxEntry]:
    """The `inbox=` argument of a save: one consumed event, or several (a batch's)."""
    if inbox is None:
        return ()
    return (inbox,) if isinstance(inbox, InboxEntry) else inbox


def _inbox_row(entry: InboxEntry) -> tuple[str, str, str, int, int]:
    return (entry.consumer, entry.event_id, entry.topic, entry.partition, entry.offset)


# --------------------------------------------------------------------------- SQLite


class ChainedSQLiteRecorder(SQLiteProcessRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        self.chain_table = chain_table_for(events_table_name)  # read by the create statements
        super().__init__(datastore, events_table_name=events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.chain_table} (position INTEGER PRIMARY KEY, "
            "previous_position INTEGER NOT NULL, hash BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {INBOX_TABLE} (consumer TEXT NOT NULL, event_id TEXT NOT NULL, "
            "topic TEXT NOT NULL, partition INTEGER NOT NULL, kafka_offset INTEGER NOT NULL, "
            "outcome TEXT NOT NULL DEFAULT 'applied', "
            "recorded_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (consumer, event_id))",
            f"CREATE TABLE IF NOT EXISTS {OUTBOX_TABLE} (name TEXT PRIMARY KEY, "
            "position INTEGER NOT NULL, updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        ]

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        entries = _entries(kwargs.get("inbox"))
        if entries:
            c.executemany(_SQLITE_INSERT_INBOX, [_inbox_row(e) for e in entries])
        if ids:
            # The first INSERT took SQLite's write lock: no other writer until we commit.
            c.execute(f"SELECT position, hash FROM {self.chain_table} ORDER BY position DESC LIMIT 1")
            row = c.fetchone()
            before, previous = (row["position"], bytes(row["hash"])) if row else (0, GENESIS)
            new = [LoggedEvent(i, s.originator_id, s.originator_version, s.topic, s.state)
                   for i, s in zip(ids, stored_events, strict=True)]
            c.executemany(f"INSERT INTO {self.chain_table} (position, previous_position, hash) "
                          "VALUES (?, ?, ?)",
                          [(x.position, x.previous_position, x.hash) for x in chain(before, previous, new)])
        return ids

    def record_inbox_only(self, entry: InboxEntry | Sequence[InboxEntry]) -> None:
        entries = _entries(entry)
        try:
            with self.datastore.transaction(commit=True) as c:
                c.executemany(_SQLITE_INSERT_INBOX, [_inbox_row(e) for e in entries])
        except IntegrityError as e:
            raise AlreadyApplied(", ".join(x.event_id for x in entries)) from e

    def inbox_has(self, consumer: str, event_id: str) -> bool:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT 1 FROM {INBOX_TABLE} WHERE consumer = ? AND event_id = ?",
                      (consumer, event_id))
            return c.fetchone() is not None

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """The stored events of several aggregates (one query), each aggregate's in order."""
        ids = [i.hex if isinstance(i, UUID) else str(i) for i in originator_ids]  # as stored
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT originator_id, originator_version, topic, state FROM "
                      f"{self.events_table_name} WHERE originator_id IN "
                      f"({', '.join('?' for _ in ids)}) ORDER BY originator_id, originator_version",
                      ids)
            return [StoredEvent(originator_id=self.convert_originator_id(r["originator_id"]),
                                originator_version=r["originator_version"], topic=r["topic"],
                                state=r["state"]) for r in c.fetchall()]

    def inbox_seen(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Which of `event_ids` the consumer has recorded (one query)."""
        ids = list(event_ids)
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT event_id FROM {INBOX_TABLE} WHERE consumer = ? AND event_id IN "
                      f"({', '.join('?' for _ in ids)})", (consumer, *ids))
            return {r["event_id"] for r in c.fetchall()}

    def select_links(self, after: int, limit: int) -> list[ChainLink]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT position, previous_position, hash FROM {self.chain_table} "
                      "WHERE position > ? ORDER BY position LIMIT ?", (after, limit))
            return [ChainLink(r["position"], r["previous_position"], bytes(r["hash"]))
                    for r in c.fetchall()]

    def link_hash(self, position: int) -> bytes | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT hash FROM {self.chain_table} WHERE position = ?", (position,))
            row = c.fetchone()
            return bytes(row["hash"]) if row else None

    def select_outbox_batch(self, after: int, limit: int) -> list[OutboxEntry]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT e.rowid AS position, e.originator_id, e.originator_version, e.topic, "
                      f"e.state, c.hash FROM {self.events_table_name} e LEFT JOIN "
                      f"{self.chain_table} c ON c.position = e.rowid WHERE e.rowid > ? "
                      "ORDER BY e.rowid LIMIT ?", (after, limit))
            return [OutboxEntry(
                Notification(id=r["position"],
                             originator_id=self.convert_originator_id(r["originator_id"]),
                             originator_version=r["originator_version"], topic=r["topic"],
                             state=r["state"]),
                bytes(r["hash"]) if r["hash"] is not None else None,
            ) for r in c.fetchall()]

    def outbox_position(self, name: str) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT position FROM {OUTBOX_TABLE} WHERE name = ?", (name,))
            row = c.fetchone()
            return int(row["position"]) if row else 0

    def set_outbox_position(self, name: str, position: int) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"INSERT INTO {OUTBOX_TABLE} (name, position) VALUES (?, ?) "
                      "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
                      "updated_at = CURRENT_TIMESTAMP WHERE position < excluded.position",
                      (name, position))


ChainedRecorder = ChainedPostgresRecorder | ChainedSQLiteRecorder


def store_env(url: str, **extra: str) -> dict[str, str]:
    """The eventsourcing environment for a store URL, with the chained recorders."""
    parsed = StoreURL.parse(url)
    if parsed.kind == "memory":
        raise ValueError("the services need a PostgreSQL or SQLite store (the audit chain "
                         "lives in the database); use sqlite:///:memory: for a scratch store")
    env = parsed.eventsourcing_env()
    recorder = ChainedPostgresRecorder if parsed.kind == "postgres" else ChainedSQLiteRecorder
    env["APPLICATION_RECORDER_TOPIC"] = f"{recorder.__module__}:{recorder.__qualname__}"
    if parsed.kind == "postgres":
        env.setdefault("POSTGRES_POOL_SIZE", "5")
    env.update(extra)
    return env


TApp = TypeVar("TApp", bound=Application)


def recorder_of(app: Application) -> ChainedRecorder:
    recorder = app.recorder
    if not isinstance(recorder, ChainedPostgresRecorder | ChainedSQLiteRecorder):
        raise TypeError(f"{type(app).__name__} does not use a chained recorder (see store_env)")
    return recorder


def logged_events(app: Application, *, start: int = 1, page: int = 1000) -> Iterator[LoggedEvent]:
    """Every stored event of the application's log, in order."""
    position = start
    while True:
        batch = app.recorder.select_notifications(start=position, limit=page)
        if not batch:
            return
        for n in batch:
            yield LoggedEvent(n.id, n.originator_id, n.originator_version, n.topic, n.state)
        position = batch[-1].id + 1


def chain_links(app: Application, *, page: int = 5000) -> Iterator[ChainLink]:
    recorder = recorder_of(app)
    after = 0
    while True:
        batch = recorder.select_links(after, page)
        if not batch:
            return
        yield from batch
        after = batch[-1].position


def verify_store(app: Application) -> list:
    """Recompute the application's hash chain from its store; [] when intact."""
    from dondoc_platform.audit_chain import verify

    return verify(list(logged_events(app)), list(chain_links(app)))


def save_with_inbox(app: Application, entry: InboxEntry, *objs: Any) -> bool:
    """Record `objs`' new events and the consumed event in one transaction.

    Returns False (changing nothing) if the event was consumed before. Inside
    `reactions_in_one_transaction` the objects and the entry join the batch's transaction.
    """
    unit = _current_unit(app)
    if unit is not None:
        return unit.join(entry, objs)
    recorder = recorder_of(app)
    if recorder.inbox_has(entry.consumer, entry.event_id):
        return False
    pending = [o for o in objs if o is not None and getattr(o, "pending_events", True)]
    try:
        if any(getattr(o, "pending_events", None) for o in pending):
            app.save(*pending, inbox=entry)
        else:
            recorder.record_inbox_only(entry)
    except (IntegrityError, AlreadyApplied):
        if recorder.inbox_has(entry.consumer, entry.event_id):
            return False
        raise
    return True


def originator_uuid(value: str | UUID) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


# --------------------------------------------------------------------------- a batch of reactions


class UnsavedChange(Exception):
    """A reaction changed an aggregate without saving it: the batch is written one by one."""


class UnitOfWork:
    """The reactions to a batch of consumed events, written in one transaction: the
    aggregates they load or create (a later reaction of the batch sees an earlier one's
    changes) and the inbox entries of the events they applied."""

    def __init__(self, app: Application, seen: set[str]) -> None:
        self.app = app
        self.seen = seen  # event ids recorded before, or earlier in this batch
        self.loaded: dict[UUID, Any] = {}
        self.saved: dict[UUID, Any] = {}
        # looked for and not found: not asked again within the batch (a batch of notices
        # asks each for the administrator's calendar, which usually does not exist)
        self.missing: set[UUID] = set()
        self.entries: list[InboxEntry] = []

    def get(self, aggregate_id: UUID) -> Any:
        if aggregate_id in self.loaded:
            return self.loaded[aggregate_id]
        if aggregate_id in self.missing:
            raise AggregateNotFoundError(aggregate_id)
        try:
            aggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            self.missing.add(aggregate_id)
            raise
        self.loaded[aggregate_id] = aggregate
        return aggregate

    def join(self, entry: InboxEntry, objs: Sequence[Any]) -> bool:
        if entry.event_id in self.seen:
            return False
        self.seen.add(entry.event_id)
        self.entries.append(entry)
        for obj in objs:
            if obj is not None:
                self.loaded[obj.id] = self.saved[obj.id] = obj
        return True

    def commit(self) -> None:
        unsaved = [a for key, a in self.loaded.items()
                   if key not in self.saved and getattr(a, "pending_events", None)]
        if unsaved:
            raise UnsavedChange(", ".join(str(a.id) for a in unsaved))
        if not self.entries:
            return
        changed = [a for a in self.saved.values() if getattr(a, "pending_events", None)]
        if changed:
            self.app.save(*changed, inbox=self.entries)
        else:
            recorder_of(self.app).record_inbox_only(self.entries)


_units = threading.local()


def _current_unit(app: Application) -> UnitOfWork | None:
    unit = getattr(_units, "current", None)
    return unit if unit is not None and unit.app is app else None


def load(app: Application, aggregate_id: UUID) -> Any:
    """`app.repository.get`, but inside a batch of reactions the batch's own copy (with the
    changes of the batch's earlier reactions)."""
    unit = _current_unit(app)
    return app.repository.get(aggregate_id) if unit is None else unit.get(aggregate_id)


def load_many(app: Application, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
    """The aggregates of `aggregate_ids` that exist, read in one query (not one each).
    Only for an application without snapshots or cache (as the services run)."""
    from dondoc_platform.application import project

    if app.snapshots is not None or app.repository.cache:
        raise TypeError("load_many reads events only: no snapshots or cache")
    events: dict[UUID, list[Any]] = {}
    for stored in recorder_of(app).select_events_of(list(dict.fromkeys(aggregate_ids))):
        event = app.mapper.to_domain_event(stored)
        events.setdefault(event.originator_id, []).append(event)
    return {key: project(None, found) for key, found in events.items()}


TItem = TypeVar("TItem")


def reactions_in_one_transaction(app: Application, consumer: str,
                                 items: Sequence[tuple[TItem, InboxEntry]],
                                 react: Callable[[TItem], bool]) -> list[bool]:
    """Apply `react` to each consumed event in order and record all their effects with all
    their inbox entries in one transaction; returns what each reaction returned (False for an
    event recorded before, which is not reacted to). The reactions must load aggregates with
    `load` and save them with `save_with_inbox`.

    All or nothing: if a reaction or the save fails, nothing of the batch is recorded and the
    error is raised (the caller applies the events one by one: the inbox skips what is
    recorded). A concurrent change of one of the aggregates is an IntegrityError."""
    recorder = recorder_of(app)
    unit = UnitOfWork(app, recorder.inbox_seen(consumer, [e.event_id for _, e in items]))
    outcomes: list[bool] = []
    _units.current = unit
    try:
        for item, entry in items:
            if entry.event_id in unit.seen:
                outcomes.append(False)  # consumed before (or twice in this batch)
                continue
            outcomes.append(react(item))
    finally:
        _units.current = None
    unit.commit()
    return outcomes
