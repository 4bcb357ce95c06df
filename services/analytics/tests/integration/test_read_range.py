"""Reading a range of offsets (`kafka.read_range`: the rebuild's loaders, its switch,
`audit verify`'s Kafka copies) on the real broker: every record of the range exactly once,
byte for byte as written, transaction markers and aborted records as the uncommitted
isolation reads them; and a clear error in bounded time, never a short read and never a
wait without end, when the broker stops or holds less than the range."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from dondoc.dev import Stack, StackConfig
from dondoc.dev.process import free_port
from dondoc_platform.kafka import TopicSpec, ensure_topics

from dondoc_analytics.adapters import kafka
from services.analytics.tests.support import new_prefix

pytestmark = pytest.mark.integration

PARTITIONS = 3

#: every case read both ways: aiokafka's records, and the compiled reader's (`compact`)
both_readers = pytest.mark.parametrize("compact", [False, True], ids=["aiokafka", "compact"])


async def write(bootstrap: str, sends: list[tuple[str, int, bytes | None, list]]) -> None:
    """As our relays write: an idempotent producer, acks from all replicas."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=value, key=b"k", partition=partition,
                                       headers=headers)
                   for topic, partition, value, headers in sends]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def record(topic: str, partition: int, n: int) -> tuple[str, int, bytes | None, list]:
    """Records unlike each other: Vietnamese and binary values, a header without a value,
    bytes that are not UTF-8, no headers at all, a record without a value."""
    value = None if n % 11 == 5 else f"Báo cáo số {n} – đơn vị Sở Nội vụ".encode() * (n % 4 + 1)
    headers = [] if n % 7 == 3 else [
        ("ce_id", f"tasks:{partition}:{n}".encode()), ("ce_audithash", bytes([n % 256, 0xFF, 0x00])),
        ("empty", None if n % 2 else b""), ("tên", "Hà Nội".encode())]
    return topic, partition, value, headers


async def batches_of(bootstrap, starts, ends, *, reader_options=None, **options) -> list[list]:
    consumer = kafka.reader(bootstrap, **(reader_options or {}))
    await consumer.start()
    try:
        return [batch async for batch in kafka.read_range(consumer, starts, ends, **options)]
    finally:
        await kafka.close(consumer)


async def read(bootstrap, starts, ends, **options) -> list:
    return [r for batch in await batches_of(bootstrap, starts, ends, **options) for r in batch]


def by_partition(records) -> dict[tuple[str, int], list]:
    out: dict[tuple[str, int], list] = defaultdict(list)
    for r in records:
        out[r.topic, r.partition].append(
            (r.offset, [(key, value) for key, value in (r.headers or ())], r.value))
    return dict(out)


@both_readers
async def test_a_range_is_read_whole_once_and_byte_for_byte_as_written(
        kafka_bootstrap: str, compact: bool) -> None:
    prefix = new_prefix()
    topics = [f"{prefix}a", f"{prefix}b", f"{prefix}c"]
    await ensure_topics(kafka_bootstrap, [TopicSpec(t, PARTITIONS) for t in topics])
    counts = {(topics[0], 0): 120, (topics[0], 1): 45, (topics[0], 2): 0,  # one left empty
              (topics[1], 0): 1, (topics[1], 1): 300, (topics[1], 2): 77,
              (topics[2], 0): 64, (topics[2], 1): 0, (topics[2], 2): 9}
    sends = [record(t, p, n) for (t, p), count in counts.items() for n in range(count)]
    await write(kafka_bootstrap, sends)
    written = {key: [(n, headers, value) for n, (_, _, value, headers) in enumerate(
        s for s in sends if s[:2] == key)] for key in counts}
    ends = {TopicPartition(t, p): count for (t, p), count in counts.items()}
    ends[TopicPartition(topics[1], 1)] = 181  # ends in the middle of a partition
    ends[TopicPartition(topics[2], 0)] = 1
    starts = {TopicPartition(topics[0], 0): 17, TopicPartition(topics[1], 2): 76}

    batches = await batches_of(kafka_bootstrap, starts, ends, max_records=50, compact=compact)
    assert all(0 < len(batch) <= 50 for batch in batches)
    mine = by_partition(r for batch in batches for r in batch)
    for tp, end in ends.items():
        offsets = [offset for offset, _, _ in mine.get((tp.topic, tp.partition), [])]
        assert offsets == list(range(starts.get(tp, 0), end)), (tp, offsets[:3], offsets[-3:])
        assert mine.get((tp.topic, tp.partition), []) == written.get(
            (tp.topic, tp.partition), [])[starts.get(tp, 0):end], tp
    sample = mine[topics[0], 1]
    assert any(value is None for _, _, value in sample)
    assert any(headers == [] for _, headers, _ in sample)
    assert any(("empty", None) in headers for _, headers, _ in sample)


@both_readers
async def test_transaction_markers_and_aborted_records_are_read_with_the_uncommitted_isolation(
        kafka_bootstrap: str, compact: bool) -> None:
    """Our producers are idempotent, not transactional; a log written in transactions all
    the same (markers take offsets no record has; aborted records stay in the log) is read
    with the uncommitted isolation: every record once, a range ending on or just past a
    marker complete, nothing past its end."""
    topic = f"{new_prefix()}tx"
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap,
                                transactional_id=f"{topic}-writer")
    await producer.start()
    try:
        for n, commit in enumerate([True, False, True, True]):
            await producer.begin_transaction()
            for i in range(5):
                await producer.send_and_wait(topic, *record(topic, 0, 10 * n + i)[2:3],
                                             key=b"k", partition=0,
                                             headers=record(topic, 0, 10 * n + i)[3])
            await (producer.commit_transaction() if commit else producer.abort_transaction())
    finally:
        await producer.stop()
    # 4 × (5 records + a marker): the markers at 5, 11, 17, 23, the log's end at 24
    (end,) = (await kafka.end_offsets(kafka_bootstrap, [topic])).values()
    assert end == 24
    for ends in (24, 23, 18, 17, 12, 6, 3):
        mine = await read(kafka_bootstrap, {}, {TopicPartition(topic, 0): ends}, max_records=4,
                          compact=compact)
        assert [r.offset for r in mine] == [o for o in range(ends) if o % 6 != 5], ends
        assert [r.value for r in mine] == [
            record(topic, 0, 10 * (o // 6) + o % 6)[2] for o in range(ends) if o % 6 != 5], ends


@both_readers
async def test_a_log_shorter_than_the_range_asked_for_is_an_error_not_a_short_read(
        kafka_bootstrap: str, compact: bool) -> None:
    topic = f"{new_prefix()}short"
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic, 2)])
    await write(kafka_bootstrap, [record(topic, p, n) for p in (0, 1) for n in range(30)])
    ends = {TopicPartition(topic, 0): 30, TopicPartition(topic, 1): 31}  # one past the log's end
    got: list = []
    consumer = kafka.reader(kafka_bootstrap)
    await consumer.start()
    try:
        with pytest.raises(kafka.RangeReadError, match=rf"{topic}\[1\] ends at offset 30, before the 31"):
            async with asyncio.timeout(60):  # raised in seconds, not after the stall time
                async for batch in kafka.read_range(consumer, {}, ends, stall_seconds=600,
                                                    compact=compact):
                    got.extend(batch)
    finally:
        await kafka.close(consumer)
    assert len(got) <= 60


async def test_an_unreachable_broker_fails_the_reader_s_start(unused_tcp_port: int) -> None:
    consumer = kafka.reader(f"127.0.0.1:{unused_tcp_port}", request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(consumer.start(), 60)
    await kafka.close(consumer)


@both_readers
async def test_a_broker_stopped_mid_read_is_an_error_in_bounded_time(tmp_path: Path,
                                                                      compact: bool) -> None:
    """A broker of the test's own, stopped after the first batch: the read raises (within
    its stall time), it does not end quietly with what it had."""
    base = StackConfig.from_env()
    stack = Stack(StackConfig(state_dir=tmp_path / "stack", cache_dir=base.cache_dir,
                              kafka_port=free_port(), kafka_controller_port=free_port(),
                              postgres_port=free_port(), prometheus_port=free_port()))
    try:
        await asyncio.to_thread(stack.up, ["kafka"], report=lambda line: None)
        bootstrap = stack.kafka.address()
        topic = "dondoc.tasks.v1"
        await ensure_topics(bootstrap, [TopicSpec(topic, 1)])
        await write(bootstrap, [(topic, 0, bytes(4096), [("n", str(n).encode())])
                                for n in range(3000)])
        # small fetches: most of the log is still at the broker when it stops
        consumer = kafka.reader(bootstrap, max_partition_fetch_bytes=64 * 1024,
                                fetch_max_bytes=64 * 1024)
        await consumer.start()
        read = 0
        try:
            with pytest.raises(kafka.RangeReadError, match=rf"no record .* left: {topic}\[0\] at"):
                async with asyncio.timeout(60):
                    async for batch in kafka.read_range(
                            consumer, {}, {TopicPartition(topic, 0): 3000}, max_records=10,
                            stall_seconds=5, compact=compact):
                        if not read:
                            await asyncio.to_thread(stack.kafka.stop)
                        read += len(batch)
        finally:
            await kafka.close(consumer)
        assert 0 < read < 3000
    finally:
        await asyncio.to_thread(stack.discard, report=lambda line: None)


def exactly(records) -> dict[tuple[str, int], list]:
    """What the loaders read of each record, with the types: (offset, headers, value)."""
    out: dict[tuple[str, int], list] = defaultdict(list)
    for r in records:
        headers = tuple(r.headers or ())
        assert all(type(k) is str and (v is None or type(v) is bytes) for k, v in headers)
        assert r.value is None or type(r.value) is bytes
        out[r.topic, r.partition].append((r.offset, headers, r.value))
    return dict(out)


@pytest.mark.parametrize("compression", [None, "gzip"])
async def test_the_compiled_reader_gives_what_aiokafka_gives_record_for_record(
        kafka_bootstrap: str, compression: str | None) -> None:
    """The same records in the same order, on logs written as our relays write them (and
    one compressed, which the compiled reader hands to aiokafka's reader), read from
    offset 0 and from offsets in the middle of batches, with small and large fetches."""
    prefix = new_prefix()
    topics = [f"{prefix}x", f"{prefix}y"]
    await ensure_topics(kafka_bootstrap, [TopicSpec(t, PARTITIONS) for t in topics])
    counts = {(t, p): 40 * p + 3 * i for i, t in enumerate(topics) for p in range(PARTITIONS)}
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all",
                                enable_idempotence=True, compression_type=compression,
                                linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(t, value=value, key=b"k", partition=p, headers=headers)
                   for (t, p), count in counts.items() for n in range(count)
                   for _, _, value, headers in [record(t, p, n)]]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    ends = {TopicPartition(t, p): count for (t, p), count in counts.items()}
    for starts, fetch in [({}, {}),
                          ({tp: end // 3 for tp, end in ends.items()},
                           {"max_partition_fetch_bytes": 700, "fetch_max_bytes": 2000})]:
        theirs = exactly(await read(kafka_bootstrap, starts, ends, reader_options=fetch))
        mine = await read(kafka_bootstrap, starts, ends, reader_options=fetch, compact=True)
        assert exactly(mine) == theirs
        assert sum(map(len, theirs.values())) == sum(end - starts.get(tp, 0)
                                                     for tp, end in ends.items())
        kinds = {type(r).__name__ for r in mine}
        assert kinds == ({"Record"} if compression is None else {"ConsumerRecord"}), kinds
