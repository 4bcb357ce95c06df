"""Consumer lag measured against the real broker: messages a group has not committed, and
the age of the oldest of them by its Kafka timestamp; a broker that is away is counted and
never ends the worker."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from dondoc_platform import metrics
from dondoc_platform.consumer_lag import ConsumerLagMonitor
from dondoc_platform.kafka import TopicSpec, ensure_topics

pytestmark = pytest.mark.integration


def gauge(family, *labels: str) -> float:
    return family.labels(*labels)._value.get()


async def test_lag_counts_uncommitted_messages_and_the_age_of_the_oldest(
        kafka_bootstrap: str, topic_name: str) -> None:
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic_name, 2)])
    group = f"{topic_name}.group"
    hour_ago_ms = int((time.time() - 3600) * 1000)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic_name, b"old", partition=0, timestamp_ms=hour_ago_ms)
        await producer.send_and_wait(topic_name, b"new", partition=0)
        await producer.send_and_wait(topic_name, b"other", partition=1)
    finally:
        await producer.stop()

    monitor = ConsumerLagMonitor(kafka_bootstrap, {group: [topic_name]})
    await monitor.start()
    try:
        assert await monitor.measure() == {(group, topic_name): 3}  # never committed
        assert gauge(metrics.CONSUMER_LAG_MESSAGES, group, topic_name) == 3
        assert 3600 <= gauge(metrics.CONSUMER_LAG_SECONDS, group, topic_name) < 3700

        committer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group,
                                     enable_auto_commit=False)
        await committer.start()
        try:
            committer.assign([TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)])
            await committer.commit({TopicPartition(topic_name, 0): OffsetAndMetadata(1, ""),
                                    TopicPartition(topic_name, 1): OffsetAndMetadata(1, "")})
        finally:
            await committer.stop()
        assert await monitor.measure() == {(group, topic_name): 1}
        assert 0 <= gauge(metrics.CONSUMER_LAG_SECONDS, group, topic_name) < 600  # "new" waits
    finally:
        await monitor.stop()


async def test_an_unreachable_broker_is_counted_and_retried(unused_tcp_port: int) -> None:
    group = "dondoc-lag-unreachable"
    monitor = ConsumerLagMonitor(f"127.0.0.1:{unused_tcp_port}", {group: ["dondoc.tasks.v1"]},
                                 interval=0.05, request_timeout=0.5)
    errors = metrics.CONSUMER_LAG_ERRORS.labels(group)._value.get()
    stop = asyncio.Event()
    runner = asyncio.create_task(monitor.run(stop))
    async with asyncio.timeout(60):
        while metrics.CONSUMER_LAG_ERRORS.labels(group)._value.get() < errors + 2:
            assert not runner.done()
            await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(runner, 30)


async def test_a_consumer_keeping_its_own_positions_is_measured_from_them(
        kafka_bootstrap: str, topic_name: str) -> None:
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic_name, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(5):
            await producer.send_and_wait(topic_name, f"event {n}".encode(), partition=0)
    finally:
        await producer.stop()
    applied = {(topic_name, 0): 2}  # what a read model recorded: the next offset it reads
    monitor = ConsumerLagMonitor(kafka_bootstrap, {"read-model": [topic_name]},
                                 positions={"read-model": lambda: applied})
    await monitor.start()
    try:
        assert await monitor.measure() == {("read-model", topic_name): 3}
        applied[(topic_name, 0)] = 5
        assert await monitor.measure() == {("read-model", topic_name): 0}
        assert gauge(metrics.CONSUMER_LAG_SECONDS, "read-model", topic_name) == 0
    finally:
        await monitor.stop()
