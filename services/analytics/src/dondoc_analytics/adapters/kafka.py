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
                     stall_seconds: float = 30.0) -> AsyncIterator[Sequence[Any]]:
    """Every record from `starts` (inclusive) to `ends` (exclusive), in batches; each
    partition's records in offset order. Raises `RangeReadError` rather than end short
    or wait forever (aiokafka itself retries a lost broker without end)."""
    wanted = {tp: end for tp, end in ends.items() if starts.get(tp, 0) < end}
    if not wanted:
        return
    consumer.assign(list(wanted))
    for tp in wanted:
        consumer.seek(tp, starts.get(tp, 0))
    remaining = set(wanted)
    deadline = time.monotonic() + stall_seconds
    short_since: dict[TopicPartition, float] = {}
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=max_records)
        out = []
        for tp, records in batches.items():
            end = wanted[tp]
            out.extend(r for r in records if r.offset < end)
            if records and records[-1].offset >= end - 1:
                remaining.discard(tp)
        positions = {}
        for tp in list(remaining):
            positions[tp] = await consumer.position(tp)
            if positions[tp] >= wanted[tp]:
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
