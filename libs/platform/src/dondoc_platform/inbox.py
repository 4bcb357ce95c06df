"""Idempotent consumers (the inbox) and dead letters.

A consumer's effect and the id of the event that caused it are written in one database
transaction, so a redelivered event changes nothing. Messages are acknowledged only after
that transaction commits (FastStream's NACK_ON_ERROR policy, see `dondoc_platform.kafka`).

A message that cannot be decoded (bad JSON, unknown type or version, failed validation) or
whose effect keeps failing after bounded retries goes to `<topic>.dlq` with headers naming
the reason and origin; the partition keeps moving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from dondoc_contracts import ContractEvent, Envelope, UndecodableEvent, decode, dlq_topic
from dondoc_platform import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A consumed, decoded event with where it came from."""

    envelope: Envelope
    event: ContractEvent
    topic: str
    partition: int
    offset: int
    #: the record as it came (a dead letter keeps its bytes: fields and headers that this
    #: consumer's contract version does not know are not lost)
    record: Record | None = field(default=None, repr=False, compare=False)

    @property
    def event_id(self) -> str:
        return self.envelope.id


class Record(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    timestamp: int


Publish = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Awaitable[Any]]


class DeadLetters:
    """Sends a message to `<its topic>.dlq`, keeping its key, value and headers."""

    def __init__(self, publish: Publish, consumer: str) -> None:
        self.publish = publish
        self.consumer = consumer

    async def send(self, record: Record, reason: str, detail: str) -> None:
        headers = [(k, v) for k, v in record.headers if not k.startswith("dlq_")]
        headers += [
            ("dlq_reason", reason.encode()),
            ("dlq_detail", detail[:2000].encode("utf-8", "replace")),
            ("dlq_consumer", self.consumer.encode()),
            ("dlq_origin_topic", record.topic.encode()),
            ("dlq_origin_partition", str(record.partition).encode()),
            ("dlq_origin_offset", str(record.offset).encode()),
            ("dlq_at", datetime.now(timezone.utc).isoformat().encode()),
        ]
        await self.publish(dlq_topic(record.topic), record.key, record.value, headers)
        metrics.DEAD_LETTERS.labels(self.consumer, reason).inc()
        log.warning("dead letter from %s[%s]@%s for %s: %s: %s", record.topic, record.partition,
                    record.offset, self.consumer, reason, detail)


def aiokafka_publisher(producer: Any) -> Publish:
    async def publish(topic: str, key: bytes | None, value: bytes | None,
                      headers: list[tuple[str, bytes]]) -> None:
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)

    return publish


def sanitize(record: Any) -> Any:
    """A record whose headers any parser can read (binary or empty header values replaced)."""
    headers = []
    changed = False
    for key, value in record.headers or ():
        if value is None:
            headers.append((key, b""))
            changed = True
            continue
        try:
            value.decode("utf-8")
            headers.append((key, value))
        except UnicodeDecodeError:
            headers.append((key, value.decode("utf-8", "replace").encode("utf-8")))
            changed = True
    return replace(record, headers=headers) if changed else record


def _decode(record: Record) -> Delivery:
    envelope, event = decode(record.headers, record.value)
    return Delivery(envelope, event, record.topic, record.partition, record.offset, record)


def _observe_lag(consumer: str, delivery: Delivery) -> None:
    """Seconds from the publication of the last applied event (its Kafka timestamp) to now.

    Not from `ce_time`: that is business time, which for an imported history or a late
    TaskOverdue lies months or years back and would read as a consumer hopelessly behind.
    """
    published_ms = getattr(delivery.record, "timestamp", None)
    if published_ms and published_ms > 0:
        lag = time.time() - published_ms / 1000
        metrics.PROJECTION_LAG_SECONDS.labels(consumer).set(max(0.0, lag))


async def _backoff(attempt: int, base: float) -> None:
    await asyncio.sleep(min(base * (2 ** (attempt - 1)), 5.0))


# --------------------------------------------------------------------------- SQL effects


def inbox_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The inbox (one row per consumed event) and the consumer positions, for SQL consumers."""
    inbox = sa.Table(
        "dondoc_inbox", metadata,
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(250), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("kafka_offset", sa.BigInteger, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False, server_default="applied"),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.current_timestamp()),
    )
    positions = sa.Table(
        "dondoc_consumer_positions", metadata,
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("topic", sa.String(250), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("kafka_offset", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.current_timestamp()),
    )
    return inbox, positions


def ensure_inbox_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The inbox tables of `metadata`, added to it if it does not hold them yet."""
    if "dondoc_inbox" in metadata.tables:
        return metadata.tables["dondoc_inbox"], metadata.tables["dondoc_consumer_positions"]
    return inbox_tables(metadata)


def _insert(engine: sa.Engine, table: sa.Table):
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


#: applies a batch in the caller's transaction; may return what it changed, as keys
#: (`longpoll.Changes`), for the callbacks of `SqlInbox.applied`
ApplySql = Callable[[sa.Connection, Sequence[Delivery]], Iterable[str] | None]
#: the last offset handled per (topic, partition)
Latest = dict[tuple[str, int], int]


def _latest(coordinates: Iterable[tuple[str, int, int]]) -> Latest:
    latest: Latest = {}
    for topic, partition, offset in coordinates:
        latest[(topic, partition)] = max(offset, latest.get((topic, partition), -1))
    return latest


_UNIQUE_VIOLATION = "23505"
#: between the joined ids and topics of `inbox_all_new` (chr(31) there): the ASCII unit
#: separator, in no Kafka topic name and checked for in the ids
_SEPARATOR = "\x1f"


class SeenBefore(Exception):
    """A batch recorded as all new held an event recorded before: its transaction is void."""


def _latest_arrays(latest: Latest) -> dict[str, list[Any]]:
    return {"latest_topics": [t for t, _ in latest], "latest_partitions": [p for _, p in latest],
            "latest_offsets": list(latest.values())}


class _InboxWrites:
    """The statements that record a batch in the inbox and move the consumer's positions.

    They are built once. On PostgreSQL one statement does both: the batch travels as arrays
    through `unnest` (the same SQL text every time, so neither SQLAlchemy nor psycopg parses
    a statement of thousands of placeholders per batch, which cost more than the insert),
    and the positions are upserted by a second data-modifying CTE of the same statement (one
    round trip fewer). A batch expected to be all new (`record_all_new`) is a plain insert
    that the unique key fails if it is not. Elsewhere SQLAlchemy batches the rows itself
    ("insertmanyvalues").
    """

    def __init__(self, engine: sa.Engine, inbox: sa.Table, positions: sa.Table) -> None:
        self.postgres = engine.dialect.name == "postgresql"
        self.inbox_rows = _insert(engine, inbox).on_conflict_do_nothing().returning(
            inbox.c.event_id)
        upsert = _insert(engine, positions)
        current, offered = positions.c.kafka_offset, upsert.excluded.kafka_offset
        self.positions = upsert.on_conflict_do_update(  # positions only move forward
            index_elements=["consumer", "topic", "partition"],
            set_={"kafka_offset": sa.case((offered > current, offered), else_=current),
                  "updated_at": sa.func.current_timestamp()},
        )
        if self.postgres:
            name = engine.dialect.identifier_preparer.format_table
            insert_batch = (
                f"INSERT INTO {name(inbox)} "
                "(consumer, event_id, topic, partition, kafka_offset, outcome) "
                "SELECT :consumer, e, t, p, o, :outcome FROM unnest(CAST(:ids AS text[]), "
                "CAST(:topics AS text[]), CAST(:partitions AS integer[]), "
                "CAST(:offsets AS bigint[])) AS batch(e, t, p, o)")
            move_positions = (
                f"INSERT INTO {name(positions)} (consumer, topic, partition, kafka_offset) "
                "SELECT :consumer, t, p, o FROM unnest(CAST(:latest_topics AS text[]), "
                "CAST(:latest_partitions AS integer[]), CAST(:latest_offsets AS bigint[])) "
                "AS latest(t, p, o) ON CONFLICT (consumer, topic, partition) DO UPDATE "
                f"SET kafka_offset = GREATEST({name(positions)}.kafka_offset, EXCLUDED.kafka_offset), "
                "updated_at = now()")
            self.inbox_arrays = sa.text(
                f"WITH recorded AS ({insert_batch} ON CONFLICT DO NOTHING RETURNING event_id), "
                f"moved AS ({move_positions}) SELECT event_id FROM recorded")
            # for a batch of events none of which was recorded before (a plain insert: no
            # speculative insertion and no ids sent back); a unique violation if one was.
            # The columns travel as joined text, split by the server: psycopg quotes a
            # list element by element, which cost as much CPU as the rest of the statement
            self.inbox_all_new = sa.text(
                f"WITH recorded AS (INSERT INTO {name(inbox)} "
                "(consumer, event_id, topic, partition, kafka_offset, outcome) "
                "SELECT :consumer, e, t, p, o, :outcome FROM unnest("
                "string_to_array(:ids, chr(31)), string_to_array(:topics, chr(31)), "
                "CAST(string_to_array(:partitions, ',') AS integer[]), "
                "CAST(string_to_array(:offsets, ',') AS bigint[])) AS batch(e, t, p, o)) "
                f"{move_positions}")

    def record(self, conn: sa.Connection, consumer: str, deliveries: Sequence[Delivery],
               outcome: str) -> set[str]:
        """Insert the inbox rows (skipping ids recorded before) and move the positions;
        returns the ids that are new."""
        latest = _latest((d.topic, d.partition, d.offset) for d in deliveries)
        if self.postgres:
            return set(conn.execute(self.inbox_arrays, {
                "consumer": consumer, "outcome": outcome,
                "ids": [d.event_id for d in deliveries], "topics": [d.topic for d in deliveries],
                "partitions": [d.partition for d in deliveries],
                "offsets": [d.offset for d in deliveries], **_latest_arrays(latest),
            }).scalars())
        rows = [{"consumer": consumer, "event_id": d.event_id, "topic": d.topic,
                 "partition": d.partition, "kafka_offset": d.offset, "outcome": outcome}
                for d in deliveries]
        new_ids = set(conn.execute(self.inbox_rows, rows).scalars())
        self.move(conn, consumer, latest)
        return new_ids

    def record_all_new(self, conn: sa.Connection, consumer: str, new: Sequence[Delivery],
                       latest: Latest, outcome: str) -> bool:
        """On PostgreSQL: insert the inbox rows of `new` (distinct ids) and move the
        positions to `latest`. If one of the ids was recorded before, raises `SeenBefore`
        and the transaction must be rolled back. Writes nothing and returns False if an id
        holds the separator of the joined columns (`record` takes such a batch)."""
        ids = _SEPARATOR.join(d.event_id for d in new)
        if ids.count(_SEPARATOR) != len(new) - 1:
            return False
        try:
            conn.execute(self.inbox_all_new, {
                "consumer": consumer, "outcome": outcome,
                "ids": ids, "topics": _SEPARATOR.join(d.topic for d in new),
                "partitions": ",".join(str(d.partition) for d in new),
                "offsets": ",".join(str(d.offset) for d in new), **_latest_arrays(latest)})
        except sa.exc.IntegrityError as e:
            if getattr(e.orig, "sqlstate", None) == _UNIQUE_VIOLATION:
                raise SeenBefore() from e
            raise
        return True

    def move(self, conn: sa.Connection, consumer: str, latest: Latest) -> None:
        if latest:
            conn.execute(self.positions, [
                {"consumer": consumer, "topic": t, "partition": p, "kafka_offset": o}
                for (t, p), o in latest.items()])


class SqlInbox:
    """A batch consumer whose effects are SQL writes (read models, notification records).

    For each batch: one transaction inserts the batch's inbox rows (skipping ids seen before)
    and moves the consumer's positions, then applies the effect of the new events only.
    """

    def __init__(self, engine: sa.Engine, metadata: sa.MetaData, *, consumer: str, apply: ApplySql,
                 dead_letters: DeadLetters, max_attempts: int = 3, retry_base: float = 0.05) -> None:
        self.engine = engine
        self.consumer = consumer
        self.apply = apply
        self.dead_letters = dead_letters
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.inbox, self.positions = ensure_inbox_tables(metadata)
        self._writes = _InboxWrites(engine, self.inbox, self.positions)
        #: called (in the event loop) after each batch's transaction has committed, with the
        #: keys `apply` returned for it (empty: the batch changed nothing, all seen before or
        #: naming nothing; None: `apply` did not say, so anything may have changed)
        self.applied: list[Callable[[frozenset[str] | None], None]] = []

    async def handle(self, records: Sequence[Record]) -> None:
        deliveries: list[Delivery] = []
        undecodable: list[Record] = []
        for record in records:
            try:
                deliveries.append(_decode(record))
            except UndecodableEvent as e:
                await self.dead_letters.send(record, e.reason, e.detail)
                undecodable.append(record)
        if deliveries:
            await self._apply_with_retries(deliveries, isolate=len(deliveries) > 1)
        if undecodable:
            # after the effects: a position never passes an event not applied yet
            await asyncio.to_thread(self._move_positions_only, undecodable)

    async def _apply_with_retries(self, deliveries: list[Delivery], *, isolate: bool) -> None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                changed = await asyncio.to_thread(self._transaction, deliveries)
                for callback in self.applied:
                    callback(changed)
                return
            except sa.exc.OperationalError:
                await asyncio.sleep(1.0)  # the database itself is away: the message comes again
                raise
            except Exception as e:  # noqa: BLE001 - an effect failed: retry, then isolate
                metrics.INBOX_RETRIES.labels(self.consumer).inc()
                last = e
                if attempt < self.max_attempts:
                    await _backoff(attempt, self.retry_base)
        if isolate:
            for delivery in deliveries:  # find the one that fails; the others go through
                await self._apply_with_retries([delivery], isolate=False)
            return
        (delivery,) = deliveries
        await self._dead_letter_effect(delivery, last)

    async def _dead_letter_effect(self, delivery: Delivery, error: Exception) -> None:
        record = delivery.record or _DeliveredRecord.of(delivery)
        await self.dead_letters.send(record, "effect_failed",
                                     f"{type(error).__name__}: {error} (after {self.max_attempts} attempts)")
        await asyncio.to_thread(self._transaction, [delivery], outcome="dead_letter")

    def _transaction(self, deliveries: Sequence[Delivery],
                     outcome: str = "applied") -> frozenset[str] | None:
        """Record and apply the batch in one transaction; returns what `apply` said it
        changed (see `applied`)."""
        started = time.perf_counter()
        changed: list[frozenset[str] | None] = []  # from the attempt that commits
        try:
            fresh = self._transaction_all_new(deliveries, outcome, changed)
        except SeenBefore:  # a redelivery: again, skipping what was recorded before
            changed.clear()
            with self.engine.begin() as conn:
                fresh = self._record(conn, deliveries, outcome, changed)
        skipped = len(deliveries) - len(fresh)
        metrics.APPLY_SECONDS.labels(self.consumer).observe(time.perf_counter() - started)
        if outcome == "applied":
            metrics.INBOX_APPLIED.labels(self.consumer).inc(len(fresh))
        if skipped:
            metrics.INBOX_SKIPPED.labels(self.consumer).inc(skipped)
        if fresh:
            _observe_lag(self.consumer, fresh[-1])
        return changed[-1] if changed else frozenset()

    def _transaction_all_new(self, deliveries: Sequence[Delivery], outcome: str,
                             changed: list[frozenset[str] | None]) -> list[Delivery]:
        """The usual case, an event consumed for the first time, at the cost of a plain
        insert into the inbox (on PostgreSQL; elsewhere `record`). The unique key of the
        inbox still decides: if one event of the batch was recorded before, the insert
        fails, the transaction is rolled back before any effect commits, and `SeenBefore`
        says so."""
        if not self._writes.postgres:
            with self.engine.begin() as conn:
                return self._record(conn, deliveries, outcome, changed)
        first: dict[str, Delivery] = {}
        for d in deliveries:  # an event twice in one batch: recorded and applied once
            first.setdefault(d.event_id, d)
        fresh = list(first.values())
        latest = _latest((d.topic, d.partition, d.offset) for d in deliveries)
        with self.engine.begin() as conn:
            if not self._writes.record_all_new(conn, self.consumer, fresh, latest, outcome):
                return self._record(conn, deliveries, outcome, changed)
            if outcome == "applied":
                changed.append(_keys(self.apply(conn, fresh)))
        return fresh

    def record(self, conn: sa.Connection, deliveries: Sequence[Delivery],
               outcome: str = "applied") -> list[Delivery]:
        """Inside the caller's transaction: record the inbox rows, move the positions, apply
        the events not seen before. Returns the events applied (the fresh ones)."""
        return self._record(conn, deliveries, outcome, [])

    def _record(self, conn: sa.Connection, deliveries: Sequence[Delivery], outcome: str,
                changed: list[frozenset[str] | None]) -> list[Delivery]:
        new_ids = self._writes.record(conn, self.consumer, deliveries, outcome)
        fresh, seen = [], set()
        for d in deliveries:
            if d.event_id in new_ids and d.event_id not in seen:
                fresh.append(d)
                seen.add(d.event_id)
        if fresh and outcome == "applied":
            changed.append(_keys(self.apply(conn, fresh)))
        return fresh

    def _move_positions_only(self, records: Sequence[Record]) -> None:
        with self.engine.begin() as conn:
            self.move_positions(conn, records)

    def move_positions(self, conn: sa.Connection, records: Sequence[Record]) -> None:
        """Inside the caller's transaction: the positions past `records` (forward only)."""
        self._writes.move(conn, self.consumer,
                          _latest((r.topic, r.partition, r.offset) for r in records))

    def applied(self, event_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(self.inbox.c.event_id).where(
                self.inbox.c.consumer == self.consumer, self.inbox.c.event_id == event_id
            )).first() is not None


def _keys(said: Iterable[str] | None) -> frozenset[str] | None:
    return None if said is None else frozenset(said)


@dataclass(frozen=True)
class _DeliveredRecord:
    """A delivery made without its record, encoded again (to dead-letter it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    timestamp: int = 0

    @classmethod
    def of(cls, delivery: Delivery) -> _DeliveredRecord:
        from dondoc_contracts import encode

        key, value, headers = encode(delivery.event, delivery.envelope)
        return cls(delivery.topic, delivery.partition, delivery.offset, key, value, headers)


# --------------------------------------------------------------------------- event-sourced effects


React = Callable[[Delivery], bool]


class EventSourcedInbox:
    """A consumer whose effect is recorded in the service's own event store.

    `react(delivery)` performs the reaction and returns True if it recorded it; it must save
    its aggregates with `save_with_inbox(app, entry_for(delivery), ...)` so that the new
    events and the consumed event's id commit together.

    Given the `app` (whose reactions load aggregates with `eventstore.load`), the events of
    a batch are applied `batch_size` at a time in one transaction
    (`eventstore.reactions_in_one_transaction`); if that fails, nothing of it is recorded and
    its events are applied one by one, with retries and dead letters, the inbox skipping
    what was recorded before.
    """

    def __init__(self, *, consumer: str, react: React, dead_letters: DeadLetters,
                 max_attempts: int = 5, retry_base: float = 0.05, app: Any = None,
                 batch_size: int = 100) -> None:
        self.consumer = consumer
        self.react = react
        self.dead_letters = dead_letters
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.app = app
        self.batch_size = batch_size

    def entry_for(self, delivery: Delivery):
        from dondoc_platform.eventstore import InboxEntry

        return InboxEntry(self.consumer, delivery.event_id, delivery.topic, delivery.partition,
                          delivery.offset)

    async def handle(self, records: Sequence[Record]) -> None:
        decoded: list[tuple[Record, Delivery]] = []
        for record in records:
            try:
                decoded.append((record, _decode(record)))
            except UndecodableEvent as e:
                await self.dead_letters.send(record, e.reason, e.detail)
        if self.app is None:
            for record, delivery in decoded:
                await self._react_with_retries(record, delivery)
            return
        for start in range(0, len(decoded), self.batch_size):
            chunk = decoded[start:start + self.batch_size]
            if len(chunk) > 1 and await self._react_together(chunk):
                continue
            for record, delivery in chunk:
                await self._react_with_retries(record, delivery)

    async def _react_together(self, chunk: list[tuple[Record, Delivery]]) -> bool:
        """True if the chunk's reactions were recorded in one transaction."""
        from eventsourcing.persistence import OperationalError

        from dondoc_platform.eventstore import reactions_in_one_transaction

        items = [(delivery, self.entry_for(delivery)) for _, delivery in chunk]
        started = time.perf_counter()
        try:
            outcomes = await asyncio.to_thread(reactions_in_one_transaction, self.app,
                                               self.consumer, items, self.react)
        except OperationalError:
            await asyncio.sleep(1.0)  # the store itself is away: the messages come again
            raise
        except Exception as e:  # noqa: BLE001 - nothing recorded: one by one instead
            metrics.INBOX_RETRIES.labels(self.consumer).inc()
            log.info("batch of %d for %s applied one by one: %s: %s", len(chunk), self.consumer,
                     type(e).__name__, e)
            return False
        metrics.APPLY_SECONDS.labels(self.consumer).observe(time.perf_counter() - started)
        recorded = sum(outcomes)
        metrics.INBOX_APPLIED.labels(self.consumer).inc(recorded)
        if len(outcomes) > recorded:
            metrics.INBOX_SKIPPED.labels(self.consumer).inc(len(outcomes) - recorded)
        if recorded:
            _observe_lag(self.consumer, chunk[-1][1])
        return True

    async def _react_with_retries(self, record: Record, delivery: Delivery) -> None:
        from eventsourcing.persistence import OperationalError

        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                recorded = await asyncio.to_thread(self.react, delivery)
            except OperationalError:
                await asyncio.sleep(1.0)  # the store itself is away: the message comes again
                raise
            except Exception as e:  # noqa: BLE001
                last = e
                metrics.INBOX_RETRIES.labels(self.consumer).inc()
                if attempt < self.max_attempts:
                    await _backoff(attempt, self.retry_base)
                continue
            (metrics.INBOX_APPLIED if recorded else metrics.INBOX_SKIPPED).labels(self.consumer).inc()
            if recorded:
                _observe_lag(self.consumer, delivery)
            return
        assert last is not None
        await self.dead_letters.send(record, "effect_failed",
                                     f"{type(last).__name__}: {last} (after {self.max_attempts} attempts)")


# --------------------------------------------------------------------------- FastStream wiring


class Inbox(Protocol):
    async def handle(self, records: Sequence[Record]) -> None: ...


#: how long a consumer may keep the offsets of the batches it handled before it commits them
#: to Kafka (`PacedCommits`)
COMMIT_EVERY = 0.5


class PacedCommits:
    """The offsets of a consumer's handled batches, committed to Kafka at most every `every`
    seconds instead of after each batch.

    FastStream's at-least-once policy commits after every batch, and the commit is a round
    trip to the group coordinator that the consumer's loop awaits before its next poll
    (about 0.5 ms of the client's CPU and a write to `__consumer_offsets`): at a steady rate,
    where batches hold one or two events, that is one commit per event. Here a batch's ack
    only notes the offset after each of *its own* records (never the consumer's fetched
    positions, which run ahead of what was handled), and one background commit sends what
    the batches handled meanwhile. So a committed offset still never passes an event whose
    effect is not committed; what a crash, a stop or a rebalance may leave uncommitted is at
    most `every` seconds of handled events, delivered again and skipped by the inbox (the
    event's id is recorded with its effect: ADR 3 and 4). A failed commit is retried at the
    next tick; a partition no longer assigned is left to its new owner."""

    def __init__(self, consumer: Any, every: float = COMMIT_EVERY) -> None:
        self.consumer = consumer
        self.every = every
        self.pending: dict[Any, int] = {}  # TopicPartition -> the next offset to read
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # commits sent (tests, and the curious)

    def handled(self, records: Sequence[Record]) -> None:
        """Note that the effects of `records` are committed; commit within `every` seconds."""
        from aiokafka.structs import TopicPartition

        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if record.offset >= self.pending.get(tp, 0):
                self.pending[tp] = record.offset + 1
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._commit_later())

    async def _commit_later(self) -> None:
        while self.pending:
            await asyncio.sleep(self.every)
            offsets, self.pending = self.pending, {}
            try:
                assigned = self.consumer.assignment()
                offsets = {tp: o for tp, o in offsets.items() if tp in assigned}
                if offsets:
                    self.commits += 1
                    await self.consumer.commit(offsets)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - a rebalance, a stopped consumer, the broker away
                log.info("committing the offsets of %s failed (%s: %s); again at the next tick",
                         ", ".join(sorted({tp.topic for tp in offsets})), type(e).__name__, e)
                for tp, offset in offsets.items():  # unless newer ones came meanwhile
                    if offset > self.pending.get(tp, -1):
                        self.pending[tp] = offset
                if self.consumer_stopped():
                    self.pending.clear()  # nothing to commit with: redelivered, then skipped

    def consumer_stopped(self) -> bool:
        return bool(getattr(self.consumer, "_closed", False))


class _PacedAck:
    """What a batch's message calls to commit (`consumer.commit()`) or to rewind
    (`consumer.seek(...)`, on a failure): the commit goes to `PacedCommits`."""

    __slots__ = ("commits", "records")

    def __init__(self, commits: PacedCommits, records: Sequence[Record]) -> None:
        self.commits = commits
        self.records = records

    async def commit(self) -> None:
        self.commits.handled(self.records)

    def seek(self, partition: Any, offset: int) -> None:
        self.commits.consumer.seek(partition, offset)


class _DirectBatches:
    """A batch subscriber's `consume_one`: each fetched batch straight to the inbox.

    FastStream hands every batch to a generic pipeline - a context scope, its middlewares
    (acknowledgement, logging, Prometheus), a parser and decoder, the handler's dependency
    injection - that costs about 0.6 ms of CPU per batch (measured alone: a consumer of one
    record a batch at 50/s used 1.9-2.0 ms per record through aiokafka's `getmany` alone,
    2.5-2.6 through FastStream), and at a steady rate a batch holds one or two events.
    The inbox reads the raw records and needs none of it. What the pipeline did for it is
    done here: FastStream's graceful-stop lock is held while a batch is handled; a batch
    whose handling fails is sought back (each partition to its earliest record in the batch,
    FastStream's nack) and logged; a handled batch is acknowledged (`PacedCommits`, or a
    commit of the consumer's position with `commit_every=0`, FastStream's ack); the
    `faststream_received_*` metrics of the broker's Prometheus middleware are kept, same
    names and labels. The consumer's loop, its start, stop, group membership and rebalances
    stay FastStream's and aiokafka's."""

    def __init__(self, subscriber: Any, inbox: Inbox, commits: Callable[[Any], PacedCommits | None],
                 metrics: Any | None) -> None:
        self.subscriber = subscriber
        self.inbox = inbox
        self.commits = commits
        self.metrics = metrics  # the broker's Prometheus middleware, if it has one
        self._labelled: dict[str, tuple[Any, ...]] = {}
        self.batches = 0  # batches handled here (tests)

    async def __call__(self, batch: Sequence[Record]) -> None:
        subscriber = self.subscriber
        if not subscriber.running or not batch:
            return
        consumer = subscriber.consumer
        with subscriber.lock:
            self.batches += 1
            counted = self._count(batch)
            started = time.perf_counter()
            failed: Exception | None = None
            try:
                await self.inbox.handle(batch)
            except Exception as e:  # noqa: BLE001 - the batch comes again, as FastStream's nack
                failed = e
                earliest: dict[Any, int] = {}
                for record in batch:
                    tp = _topic_partition(record.topic, record.partition)
                    if record.offset < earliest.get(tp, record.offset + 1):
                        earliest[tp] = record.offset
                for tp, offset in earliest.items():
                    consumer.seek(tp, offset)
                log.exception("handling a batch of %d records from %s failed; it comes again",
                              len(batch), batch[0].topic)
            else:
                commits = self.commits(consumer)
                if commits is not None:
                    commits.handled(batch)
                else:
                    await consumer.commit()
            finally:
                if counted is not None:
                    self._counted(counted, len(batch), time.perf_counter() - started, failed)

    def _count(self, batch: Sequence[Record]) -> tuple[Any, ...] | None:
        if self.metrics is None:
            return None
        topic = batch[0].topic
        labelled = self._labelled.get(topic)
        if labelled is None:
            container = self.metrics._metrics_container
            app = self.metrics._metrics_manager._app_name
            labels = {"app_name": app, "broker": "kafka", "handler": topic}
            labelled = self._labelled[topic] = (
                container.received_messages_total.labels(**labels),
                container.received_messages_size_bytes.labels(**labels),
                container.received_messages_in_process.labels(**labels),
                container.received_processed_messages_duration_seconds.labels(**labels),
                container.received_processed_messages_total.labels(**labels, status="acked"),
                container.received_processed_messages_total.labels(**labels, status="nacked"),
                container.received_processed_messages_exceptions_total, labels)
        received, size, in_process, *_ = labelled
        received.inc(len(batch))
        size.observe(sum(len(r.value or b"") for r in batch))
        in_process.inc(len(batch))
        return labelled

    @staticmethod
    def _counted(labelled: tuple[Any, ...], n: int, seconds: float, failed: Exception | None) -> None:
        _, _, in_process, duration, acked, nacked, exceptions, labels = labelled
        duration.observe(seconds)
        in_process.dec(n)
        if failed is None:
            acked.inc(n)
        else:
            nacked.inc(n)
            exceptions.labels(**labels, exception_type=type(failed).__name__).inc()


def _topic_partition(topic: str, partition: int) -> Any:
    from aiokafka.structs import TopicPartition

    return TopicPartition(topic, partition)


def _prometheus_middleware(broker: Any) -> Any | None:
    for middleware in getattr(broker, "middlewares", ()):
        if hasattr(middleware, "_metrics_container") and hasattr(middleware, "_metrics_manager"):
            return middleware
    return None


def subscribe(broker: Any, topics: Sequence[str], *, group_id: str, inbox: Inbox,
              max_records: int = 500, commit_every: float = COMMIT_EVERY,
              pipeline: bool = False, **options: Any) -> Any:
    """Register `inbox` as a batch subscriber: at-least-once, raw records, safe headers; the
    handled offsets committed at most every `commit_every` seconds (`PacedCommits`; 0: after
    each batch, as FastStream does). Each batch goes straight to the inbox (`_DirectBatches`);
    `pipeline=True` sends it through FastStream's whole message pipeline instead."""
    from faststream.kafka import KafkaMessage  # noqa: F401 - the message class of the broker

    paced: dict[int, PacedCommits] = {}  # per aiokafka consumer (one per subscriber)

    def commits_of(consumer: Any) -> PacedCommits | None:
        """The consumer's paced commits (None with `commit_every=0`: FastStream's commit)."""
        if commit_every <= 0:
            return None
        commits = paced.get(id(consumer))
        if commits is None or commits.consumer is not consumer:
            commits = paced[id(consumer)] = PacedCommits(consumer, commit_every)
        return commits

    async def parse(records: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
        batch = records if isinstance(records, tuple) else (records,)
        # FastStream's batch parser decodes every header of every record into a dict that
        # nothing here reads (the inbox decodes the records itself): let it parse the first
        # record only (the message's own headers), then hand it the whole batch
        first = batch[:1]
        try:
            message = await original(first)
        except (UnicodeDecodeError, AttributeError):
            # FastStream decodes headers as UTF-8: a binary or empty header from a foreign
            # producer would fail the batch again and again
            message = await original(tuple(sanitize(r) for r in first))
        message.raw_message = batch
        message.body = [r.value or b"" for r in batch]
        message.message_id = f"{batch[0].offset}-{batch[-1].offset}-{batch[0].timestamp}"
        consumer = getattr(message, "consumer", None)
        if consumer is not None and hasattr(consumer, "assignment") and (
                commits := commits_of(consumer)) is not None:
            message.consumer = _PacedAck(commits, batch)
        return message

    async def raw(message: Any) -> Any:
        return message.raw_message

    subscriber = broker.subscriber(
        *topics, group_id=group_id, batch=True, max_records=max_records,
        auto_offset_reset="earliest", parser=parse, decoder=raw, **options,
    )

    @subscriber
    async def handle(records: Any) -> None:
        batch = records if isinstance(records, tuple | list) else (records,)
        await inbox.handle(batch)

    subscriber.paced_commits = paced  # type: ignore[attr-defined] - for tests
    if not pipeline:
        # FastStream's consumer loop calls `consume_one` with each fetched batch
        subscriber.consume_one = _DirectBatches(  # type: ignore[method-assign]
            subscriber, inbox, commits_of, _prometheus_middleware(broker))
    return subscriber
