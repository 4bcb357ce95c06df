"""Kafka for analytics: the topics it reads, their end offsets, reading a range of offsets,
and the positions each generation's consumer has recorded.

Positions live in the read models' database, written in the transaction that applies the
events (`dondoc_consumer_positions`, via `SqlInbox`): they, not a consumer group's commits,
say where a generation stands. So a generation's consumer assigns itself every partition and
seeks to its recorded positions; a rebuilt generation starts exactly where its bulk load
ended; and `--wait` compares the broker's end offsets with these positions.

The rebuild's bulk loaders read the whole log through `BulkReader` (librdkafka, through
confluent-kafka): aiokafka's fetch decoding in Python cost several microseconds per record,
the largest single item of the rebuild's CPU (docs/adr/0011). Everything else here, the
live consumers included, stays on aiokafka.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import confluent_kafka
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition

from dondoc_contracts import AUDIT_CHECKPOINT_TOPIC, SERVICES, topic_for
from dondoc_platform.kafka import TopicSpec, event_topic

from dondoc_analytics.projections.schema import POSITIONS

Offsets = dict[TopicPartition, int]


def service_topics(prefix: str = "") -> dict[str, str]:
    """The event topic of each producing service (a prefix keeps test runs apart)."""
    return {service: f"{prefix}{topic_for(service)}" for service in SERVICES}


def checkpoint_topic(prefix: str = "") -> str:
    return f"{prefix}{AUDIT_CHECKPOINT_TOPIC}"


def topic_specs(prefix: str = "", partitions: int = 6) -> list[TopicSpec]:
    specs = [event_topic(t, partitions) for t in service_topics(prefix).values()]
    specs += [TopicSpec(f"{t}.dlq", 1) for t in service_topics(prefix).values()]
    specs.append(event_topic(checkpoint_topic(prefix), 1))
    return specs


def reader(bootstrap: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer outside any group: it is told what to read, it commits nothing."""
    defaults: dict[str, Any] = {"enable_auto_commit": False, "group_id": None,
                                "auto_offset_reset": "earliest", "client_id": "dondoc-analytics",
                                "max_partition_fetch_bytes": 4 * 1024 * 1024,
                                "fetch_max_bytes": 32 * 1024 * 1024}
    defaults.update(options)
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, **defaults)


async def close(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer. aiokafka may cancel its own start-up task under our feet when a
    consumer stops right after starting; that is not our cancellation, so it is absorbed."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


async def partitions_of(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    found = []
    for topic in topics:
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await consumer._client.force_metadata_update()  # a topic created since the start
            parts = consumer.partitions_for_topic(topic) or set()
        found.extend(TopicPartition(topic, p) for p in sorted(parts))
    return found


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> Offsets:
    """The next offset to be written in every partition of `topics`, now."""
    consumer = reader(bootstrap)
    await consumer.start()
    try:
        tps = await partitions_of(consumer, topics)
        return dict(await consumer.end_offsets(tps)) if tps else {}
    finally:
        await close(consumer)


def recorded_positions(conn: sa.Connection, consumer: str) -> Offsets:
    """The last offset applied in each partition by a consumer (from the database)."""
    rows = conn.execute(sa.select(POSITIONS.c.topic, POSITIONS.c.partition,
                                  POSITIONS.c.kafka_offset).where(POSITIONS.c.consumer == consumer))
    return {TopicPartition(r.topic, r.partition): r.kafka_offset for r in rows}


def lag(ends: Mapping[TopicPartition, int], positions: Mapping[TopicPartition, int]) -> int:
    """Records published before `ends` that the consumer has not applied yet."""
    return sum(max(0, end - (positions.get(tp, -1) + 1)) for tp, end in ends.items())


def caught_up(ends: Mapping[TopicPartition, int], positions: Mapping[TopicPartition, int]) -> bool:
    return lag(ends, positions) == 0


async def read_range(consumer: AIOKafkaConsumer, starts: Mapping[TopicPartition, int],
                     ends: Mapping[TopicPartition, int], *, max_records: int = 5000,
                     ) -> AsyncIterator[Sequence[Any]]:
    """Every record from `starts` (inclusive) to `ends` (exclusive), in batches; each
    partition's records in offset order."""
    wanted = {tp: end for tp, end in ends.items() if starts.get(tp, 0) < end}
    if not wanted:
        return
    consumer.assign(list(wanted))
    for tp in wanted:
        consumer.seek(tp, starts.get(tp, 0))
    remaining = set(wanted)
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=max_records)
        out = []
        for tp, records in batches.items():
            end = wanted[tp]
            out.extend(r for r in records if r.offset < end)
            if records and records[-1].offset >= end - 1:
                remaining.discard(tp)
        for tp in list(remaining):
            if await consumer.position(tp) >= wanted[tp]:
                remaining.discard(tp)
        if out:
            yield out


class Record(NamedTuple):
    """A record as the bulk reader yields it: the attributes the loaders read, named as
    aiokafka's `ConsumerRecord` names them."""

    topic: str
    partition: int
    offset: int
    headers: Sequence[tuple[str, bytes | None]]
    value: bytes | None


class BulkReadError(RuntimeError):
    """The range could not be read whole: the broker is unreachable, stopped answering,
    holds fewer records than asked for, or refused a fetch. Never a short read."""


class BulkReader:
    """Reads ranges of offsets for the rebuild's bulk loaders with librdkafka: the same
    records in the same order per partition as `read_range` over an aiokafka `reader`
    (uncommitted records included, as aiokafka's default isolation reads them; our producers
    are idempotent, not transactional; CRCs checked), at a fraction of its CPU per record.

    No group: it is assigned its partitions and commits nothing (librdkafka wants a
    `group.id` all the same; it is never joined). It waits at most `stall_seconds` for a
    record when the range is not complete, then raises `BulkReadError`, naming the
    partitions left and the last error the client saw."""

    def __init__(self, bootstrap: str, *, stall_seconds: float = 30.0,
                 **options: Any) -> None:
        self.bootstrap = bootstrap
        self.stall_seconds = stall_seconds
        self.last_error: str | None = None  # librdkafka retries below us; we name it
        self.config: dict[str, Any] = {
            "bootstrap.servers": bootstrap, "group.id": "dondoc-analytics-bulk",
            "client.id": "dondoc-analytics-bulk", "enable.auto.commit": False,
            "enable.auto.offset.store": False, "enable.partition.eof": True,
            "isolation.level": "read_uncommitted", "check.crcs": True,
            "fetch.max.bytes": 32 * 1024 * 1024, "max.partition.fetch.bytes": 4 * 1024 * 1024,
            "queued.max.messages.kbytes": 64 * 1024,
            "error_cb": self._note, **options}
        self.consumer: confluent_kafka.Consumer | None = None

    async def start(self) -> None:
        """Connect, or raise `BulkReadError` within `stall_seconds`."""
        self.consumer = confluent_kafka.Consumer(self.config)
        try:
            await asyncio.to_thread(self.consumer.list_topics, timeout=self.stall_seconds)
        except confluent_kafka.KafkaException as error:
            await self.stop()
            raise BulkReadError(f"Kafka at {self.bootstrap} did not answer in "
                                f"{self.stall_seconds:g} s: {error}; {self._last_error()}") from None

    async def stop(self) -> None:
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            await asyncio.to_thread(consumer.close)

    def _note(self, error: confluent_kafka.KafkaError) -> None:
        self.last_error = str(error)

    def _last_error(self) -> str:
        return f"last client error: {self.last_error}" if self.last_error else "no client error"

    async def read_range(self, starts: Mapping[TopicPartition, int],
                         ends: Mapping[TopicPartition, int], *, max_records: int = 5000,
                         ) -> AsyncIterator[list[Record]]:
        """Every record from `starts` (inclusive) to `ends` (exclusive), in batches of at
        most `max_records`; each partition's records in offset order."""
        consumer = self.consumer
        if consumer is None:
            raise RuntimeError("BulkReader.read_range before start()")
        remaining = {(tp.topic, tp.partition): end for tp, end in ends.items()
                     if starts.get(tp, 0) < end}
        if not remaining:
            return
        assignment = [confluent_kafka.TopicPartition(topic, partition, starts.get(
            TopicPartition(topic, partition), 0)) for topic, partition in remaining]
        consumer.assign(assignment)
        consumer.resume(assignment)  # paused when an earlier range ended there
        eof = confluent_kafka.KafkaError._PARTITION_EOF
        deadline = time.monotonic() + self.stall_seconds
        while remaining:
            messages = await asyncio.to_thread(consumer.consume, max_records, 0.5)
            out = []
            done = []
            for message in messages:
                error = message.error()
                key = (message.topic(), message.partition())
                end = remaining.get(key)
                if error is not None:
                    if error.code() != eof:
                        raise BulkReadError(f"reading {key[0]}[{key[1]}]: {error}")
                    if end is not None:
                        if message.offset() < end:  # the log ends before the range does
                            raise BulkReadError(
                                f"{key[0]}[{key[1]}] ends at offset {message.offset()}, "
                                f"before the {end} asked for")
                        del remaining[key]
                        done.append(key)
                    continue
                if end is None:  # past the end of a partition already complete
                    continue
                offset = message.offset()
                if offset < end:
                    out.append(Record(key[0], key[1], offset, message.headers() or (),
                                      message.value()))
                if offset >= end - 1:
                    del remaining[key]
                    done.append(key)
            if done:  # fetch no further there
                consumer.pause([confluent_kafka.TopicPartition(*key) for key in done])
            if out:
                deadline = time.monotonic() + self.stall_seconds
                yield out
            elif remaining and time.monotonic() >= deadline:
                left = ", ".join(
                    f"{tp.topic}[{tp.partition}] at {tp.offset} of {remaining[tp.topic, tp.partition]}"
                    for tp in consumer.position([confluent_kafka.TopicPartition(*key)
                                                 for key in sorted(remaining)]))
                raise BulkReadError(f"no record from Kafka at {self.bootstrap} for "
                                    f"{self.stall_seconds:g} s; left: {left}; {self._last_error()}")


def bulk_reader(bootstrap: str, **options: Any) -> BulkReader:
    """The reader of the rebuild's bulk loaders (see `BulkReader`)."""
    return BulkReader(bootstrap, **options)


async def wait_until(condition, *, timeout: float, interval: float = 0.1) -> bool:
    """Poll `condition()` (run in a thread) until it holds or `timeout` seconds pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if await asyncio.to_thread(condition):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(interval)
