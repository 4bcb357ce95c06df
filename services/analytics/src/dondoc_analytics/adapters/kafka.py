"""Kafka for analytics: the topics it reads, their end offsets, reading a range of offsets,
and the positions each generation's consumer has recorded.

Positions live in the read models' database, written in the transaction that applies the
events (`dondoc_consumer_positions`, via `SqlInbox`): they, not a consumer group's commits,
say where a generation stands. So a generation's consumer assigns itself every partition and
seeks to its recorded positions; a rebuilt generation starts exactly where its bulk load
ended; and `--wait` compares the broker's end offsets with these positions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.errors import ConsumerStoppedError
from aiokafka.record.memory_records import MemoryRecords

import dondoc_kafkabatch as batches

from dondoc_contracts import AUDIT_CHECKPOINT_TOPIC, SERVICES, topic_for
from dondoc_platform.kafka import TopicSpec, event_topic

from dondoc_analytics.adapters.compiled import RELAY_FORMS
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


class RangeReadError(RuntimeError):
    """A range could not be read whole: a partition's log ends before the range does, or
    no record came for `stall_seconds` while the range was incomplete (the broker
    stopped, or cannot be reached). Never a short read: a rebuild that meets it switches
    to nothing."""


#: how long a partition must stay read to its end, below the range's end, to be called short:
#: a leader just elected may answer with a high watermark behind its predecessor's for a moment
SHORT_LOG_SECONDS = 5.0


async def read_range(consumer: AIOKafkaConsumer, starts: Mapping[TopicPartition, int],
                     ends: Mapping[TopicPartition, int], *, max_records: int = 5000,
                     stall_seconds: float = 30.0, compact: bool = False,
                     ) -> AsyncIterator[Sequence[Any]]:
    """Every record from `starts` (inclusive) to `ends` (exclusive), in batches of at most
    `max_records`; each partition's records in offset order. Raises `RangeReadError` rather
    than end short or wait forever (aiokafka itself retries a lost broker without end).

    The records are aiokafka's `ConsumerRecord`s; with `compact`, records with only `topic`,
    `partition`, `offset`, `headers` (a tuple of (str, bytes | None) pairs) and `value`, read
    from the fetched bytes by the compiled reader (`dondoc_kafkabatch`, docs/adr/0014):
    the same records in the same order, some 2× cheaper (docs/PERFORMANCE.md); a record in
    the relay's form also has `relay`, its headers made only when read
    (`ContractDecoder.replay`, docs/adr/0016)."""
    wanted = {tp: end for tp, end in ends.items() if starts.get(tp, 0) < end}
    if not wanted:
        return
    consumer.assign(list(wanted))
    for tp in wanted:
        consumer.seek(tp, starts.get(tp, 0))
    source = _Compact(consumer, wanted) if compact else _Records(consumer, wanted)
    remaining = set(wanted)
    deadline = time.monotonic() + stall_seconds
    short_since: dict[TopicPartition, float] = {}
    while remaining:
        out, done = await source.read(remaining, max_records)
        remaining -= done
        positions = {}
        for tp in list(remaining):
            positions[tp] = await consumer.position(tp)
            if positions[tp] >= wanted[tp] and not source.holds(tp):
                remaining.discard(tp)
        if out:
            yield out
            deadline = time.monotonic() + stall_seconds  # the wait, not the caller's work
            continue
        now = time.monotonic()
        for tp in remaining:  # read up to the log's end, which is before the range's
            end_of_log = consumer.highwater(tp)
            if end_of_log is None or positions[tp] < end_of_log:
                short_since.pop(tp, None)
            elif now - short_since.setdefault(tp, now) >= SHORT_LOG_SECONDS:
                raise RangeReadError(f"{tp.topic}[{tp.partition}] ends at offset {end_of_log}, "
                                     f"before the {wanted[tp]} asked for")
        if remaining and time.monotonic() >= deadline:
            left = ", ".join(f"{tp.topic}[{tp.partition}] at {positions[tp]} of {wanted[tp]}"
                             for tp in sorted(remaining))
            raise RangeReadError(f"no record from Kafka for {stall_seconds:g} s; left: {left}")


class _Records:
    """aiokafka's records, as `getmany` gives them."""

    def __init__(self, consumer: AIOKafkaConsumer, wanted: Mapping[TopicPartition, int]) -> None:
        self.consumer, self.wanted = consumer, wanted

    def holds(self, tp: TopicPartition) -> bool:
        return False

    async def read(self, remaining: set[TopicPartition], max_records: int,
                   ) -> tuple[list[Any], set[TopicPartition]]:
        batches_ = await self.consumer.getmany(*remaining, timeout_ms=1000, max_records=max_records)
        out, done = [], set()
        for tp, records in batches_.items():
            end = self.wanted[tp]
            out.extend(r for r in records if r.offset < end)
            if records and records[-1].offset >= end - 1:
                done.add(tp)
        return out, done


class FetchedBytes:
    """aiokafka's `MemoryRecords` of a fetched partition, keeping the bytes it reads for
    `_Compact`. Installed in place of it in aiokafka's fetcher (below): for every other
    reader of the process it is the same record set, reached through one more call a fetch."""

    __slots__ = ("data", "_records")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._records = MemoryRecords(data)

    def has_next(self) -> bool:
        return self._records.has_next()

    def next_batch(self) -> Any:
        return self._records.next_batch()

    def size_in_bytes(self) -> int:
        return self._records.size_in_bytes()


aiokafka_fetcher.MemoryRecords = FetchedBytes  # aiokafka 0.14's fetcher, pinned in uv.lock


class _Compact:
    """Records read by the compiled reader from the record sets aiokafka's fetcher fetched.

    aiokafka keeps everything but the per-record work: connections, fetch requests, the
    position (moved on here as its `FetchResult` does), retries and errors. What is taken
    here is a fetched partition's whole record set; records beyond `max_records` wait in
    `pending` for the next read. A batch the compiled reader does not read (compressed,
    an old format) and the rest of its record set go through aiokafka's own reader."""

    def __init__(self, consumer: AIOKafkaConsumer, wanted: Mapping[TopicPartition, int]) -> None:
        fetcher = consumer._fetcher
        if (fetcher._isolation_level != aiokafka_fetcher.READ_UNCOMMITTED
                or fetcher._key_deserializer or fetcher._value_deserializer):
            raise ValueError("compact reading is for a reader(): read_uncommitted, no deserialisers")
        self.consumer, self.wanted, self.fetcher = consumer, wanted, fetcher
        self.pending: dict[TopicPartition, list[Any]] = {}
        self.finished: set[TopicPartition] = set()

    def holds(self, tp: TopicPartition) -> bool:
        return tp in self.pending

    async def read(self, remaining: set[TopicPartition], max_records: int,
                   ) -> tuple[list[Any], set[TopicPartition]]:
        consumer = self.consumer
        if consumer._closed:
            raise ConsumerStoppedError()
        consumer._coordinator.check_errors()
        out: list[Any] = []
        with consumer._subscription.fetch_context():
            self._take(remaining, max_records, out)
            if not out:
                waiter = self.fetcher._create_fetch_waiter()
                done, _ = await asyncio.wait([waiter], timeout=1.0)
                if not done:
                    waiter.cancel()
                else:
                    waiter.result()  # a fetch's error (authorisation and the like)
                    self._take(remaining, max_records, out)
        return out, {tp for tp in self.finished if tp not in self.pending}

    def _take(self, remaining: set[TopicPartition], max_records: int, out: list[Any]) -> None:
        for tp in list(self.pending):
            if tp in remaining:
                self._give(tp, self.pending.pop(tp), max_records, out)
                if len(out) >= max_records:
                    return
        fetched = self.fetcher._records
        for tp in list(fetched):
            if tp not in remaining or tp in self.pending:
                continue
            result = fetched[tp]
            if type(result) is not aiokafka_fetcher.FetchResult:  # a FetchError
                if out:
                    return  # raised on the next read, as getmany does it
                del fetched[tp]
                self.fetcher._notify(self.fetcher._wait_consume_future)
                result.check_raise()
            records = self._records_of(tp, result)
            del fetched[tp]
            self.fetcher._notify(self.fetcher._wait_consume_future)
            self._give(tp, records, max_records, out)
            if len(out) >= max_records:
                return

    def _records_of(self, tp: TopicPartition, result: Any) -> list[Any]:
        if not result.check_assignment(tp) or not result.has_more():
            return []
        partition = result._partition_records
        fetched = partition._records
        if type(fetched) is not FetchedBytes:  # pragma: no cover - the patch above is absent
            raise RuntimeError("aiokafka's fetcher does not keep the fetched bytes")
        end = self.wanted[tp]
        try:
            records, pos, next_offset, status = batches.parse(
                fetched.data, 0, partition.next_fetch_offset, end, tp.topic, tp.partition,
                self.fetcher._check_crcs, RELAY_FORMS)
        except batches.CorruptBatch as error:
            raise RangeReadError(f"{tp.topic}[{tp.partition}]: {error}") from error
        if status == batches.UNSUPPORTED:
            rest = aiokafka_fetcher.PartitionRecords(
                tp, MemoryRecords(fetched.data[pos:]), None, next_offset, None, None,
                self.fetcher._check_crcs, aiokafka_fetcher.READ_UNCOMMITTED)
            for record in rest:
                if record.offset >= end:
                    status = batches.AT_END
                    break
                records.append(record)
            next_offset = rest.next_fetch_offset
        if status == batches.AT_END or (records and records[-1].offset >= end - 1):
            self.finished.add(tp)
        partition.next_fetch_offset = next_offset
        result._update_position()
        result._partition_records = None
        return records

    def _give(self, tp: TopicPartition, records: list[Any], max_records: int,
              out: list[Any]) -> None:
        room = max_records - len(out)
        if len(records) > room:
            out.extend(records[:room])
            self.pending[tp] = records[room:]
        else:
            out.extend(records)


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
