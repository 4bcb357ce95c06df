"""FastStream publishes and consumes through the real broker, at least once."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from dondoc_platform.kafka import TopicSpec, ensure_topics, key_partition, make_broker, send_batched
from dondoc_platform.settings import KafkaSettings

pytestmark = pytest.mark.integration


async def _wait_for(condition, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


async def test_published_message_is_consumed_and_committed_after_processing(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic_name, partitions=1)])
    broker = make_broker(KafkaSettings(bootstrap=kafka_bootstrap))
    received: list[dict] = []

    @broker.subscriber(topic_name, group_id="g-roundtrip", auto_offset_reset="earliest")
    async def handle(body: dict) -> None:
        received.append(body)

    async with broker:
        await broker.start()
        await broker.publish({"n": 1, "unit": "Ban Tuyên giáo"}, topic_name, key=b"task-1")
        await _wait_for(lambda: received)
    assert received == [{"n": 1, "unit": "Ban Tuyên giáo"}]
    # the offset was committed after the handler ran, by the subscriber's ack policy
    assert await _committed(kafka_bootstrap, "g-roundtrip", topic_name) == 1


async def test_a_failing_handler_gets_the_message_again(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic_name, partitions=1)])
    broker = make_broker(KafkaSettings(bootstrap=kafka_bootstrap))
    attempts: list[int] = []

    @broker.subscriber(topic_name, group_id="g-retry", auto_offset_reset="earliest")
    async def handle(body: dict) -> None:
        attempts.append(body["n"])
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")

    async with broker:
        await broker.start()
        await broker.publish({"n": 7}, topic_name)
        await _wait_for(lambda: len(attempts) >= 2)
    assert attempts == [7, 7]
    assert await _committed(kafka_bootstrap, "g-retry", topic_name) == 1


async def test_uncommitted_message_is_delivered_to_the_next_consumer_of_the_group(
    kafka_bootstrap: str, topic_name: str
) -> None:
    """A consumer that stops before finishing leaves the message for its successor."""
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic_name, partitions=1)])
    started = asyncio.Event()
    release = asyncio.Event()
    first = make_broker(KafkaSettings(bootstrap=kafka_bootstrap), graceful_timeout=0.5)

    @first.subscriber(topic_name, group_id="g-handover", auto_offset_reset="earliest")
    async def stuck(body: dict) -> None:
        started.set()
        await release.wait()  # never released: the consumer goes away mid-message

    async with first:
        await first.start()
        await first.publish({"n": 3}, topic_name)
        async with asyncio.timeout(30):
            await started.wait()
    assert await _committed(kafka_bootstrap, "g-handover", topic_name) is None

    second = make_broker(KafkaSettings(bootstrap=kafka_bootstrap))
    got: list[dict] = []

    @second.subscriber(topic_name, group_id="g-handover", auto_offset_reset="earliest")
    async def handle(body: dict) -> None:
        got.append(body)

    async with second:
        await second.start()
        await _wait_for(lambda: got)
    assert got == [{"n": 3}]
    assert await _committed(kafka_bootstrap, "g-handover", topic_name) == 1


async def test_send_batched_keeps_each_keys_order_across_full_batches(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic_name, partitions=3)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all",
                                enable_idempotence=True, max_batch_size=2048)
    # ~200 B each, so many full batches; one record alone is larger than a batch
    records = [(topic_name, f"task-{n % 7}".encode(), f"{n:04d}".encode() * (50 if n != 150 else 2500),
                [("n", str(n).encode())]) for n in range(300)]
    await producer.start()
    try:
        sent, acks = await send_batched(producer, records)
        await asyncio.wait_for(acks, 30)
    finally:
        await producer.stop()
    assert sent == 300
    consumer = AIOKafkaConsumer(topic_name, bootstrap_servers=kafka_bootstrap, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    seen: dict[bytes, list[int]] = {}
    try:
        async with asyncio.timeout(30):
            while sum(map(len, seen.values())) < 300:
                for tp, batch in (await consumer.getmany(timeout_ms=500)).items():
                    for r in batch:
                        assert tp.partition == key_partition(r.key, 3)
                        seen.setdefault(r.key, []).append(int(dict(r.headers)["n"]))
    finally:
        await consumer.stop()
    assert seen == {f"task-{k}".encode(): list(range(k, 300, 7)) for k in range(7)}
