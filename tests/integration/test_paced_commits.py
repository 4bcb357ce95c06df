"""A consumer's handled offsets committed to Kafka at most every `commit_every` seconds
(`dondoc_platform.inbox.PacedCommits`), on the real broker: never past an event not handled,
a failed batch delivered again, nothing left uncommitted once the batches stop coming."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dondoc_platform.inbox import Record, subscribe
from dondoc_platform.kafka import TopicSpec, WarningsOnly, ensure_topics, make_broker
from dondoc_platform.settings import KafkaSettings
from tests.integration.test_kafka_roundtrip import _committed, _wait_for as _until
from tests.support.services import until

pytestmark = pytest.mark.integration


class Recording:
    """An inbox that notes what it handled; it waits at a record whose value is b"hold"
    until `release` is set, and fails once at a record whose value is b"fail"."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self.failed = False

    @property
    def offsets(self) -> list[int]:
        return [o for batch in self.batches for o in batch]

    async def handle(self, records: Sequence[Record]) -> None:
        for record in records:
            if record.value == b"hold":
                self.holding.set()
                await self.release.wait()
            if record.value == b"fail" and not self.failed:
                self.failed = True
                raise RuntimeError("the effect failed, once")
        self.batches.append([r.offset for r in records])


async def _committed_becomes(bootstrap: str, group: str, topic: str, expected: int) -> None:
    """Wait (`until`'s deadline) for the group's committed offset to be `expected`: the
    commit's answer comes after the pending offsets are sent."""
    async def committed() -> bool:
        return await _committed(bootstrap, group, topic) == expected

    await until(committed, timeout=10, what=f"the committed offset to be {expected}")


@contextlib.asynccontextmanager
async def consuming(bootstrap: str, topic: str, inbox: Recording, commit_every: float,
                    pipeline: bool = False) -> AsyncIterator[tuple[AIOKafkaProducer, object, str]]:
    """A one-partition topic, `inbox` subscribed to it (started) and a producer to it."""
    await ensure_topics(bootstrap, [TopicSpec(topic, partitions=1)])
    group = f"g-{topic}"
    broker = make_broker(KafkaSettings(bootstrap=bootstrap))
    subscriber = subscribe(broker, [topic], group_id=group, inbox=inbox, commit_every=commit_every,
                           pipeline=pipeline)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        async with broker:
            await broker.start()
            yield producer, subscriber, group
    finally:
        await producer.stop()


@pytest.mark.parametrize("pipeline", [False, True], ids=["direct", "faststream-pipeline"])
async def test_offsets_are_committed_in_one_go_and_never_past_a_batch_being_handled(
        kafka_bootstrap: str, topic_name: str, monkeypatch: pytest.MonkeyPatch,
        pipeline: bool) -> None:
    sent: list[object] = []  # the consumers' commits, counted on the way to the broker
    commit = AIOKafkaConsumer.commit

    async def counted(self, offsets=None):  # noqa: ANN001, ANN202 - aiokafka's signature
        sent.append(offsets)
        return await commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", counted)
    inbox = Recording()
    async with consuming(kafka_bootstrap, topic_name, inbox, 1.0, pipeline) as (
            producer, subscriber, group):
        for n in range(8):  # one at a time: a batch each, as at a steady rate
            await producer.send_and_wait(topic_name, f"event {n}".encode())
            await _until(lambda: len(inbox.offsets) == n + 1)
        # offset 8 is held in its handler while the commit of offsets 0–7 is due
        await producer.send_and_wait(topic_name, b"hold")
        await producer.send_and_wait(topic_name, b"after the hold")
        await asyncio.wait_for(inbox.holding.wait(), 10)
        (commits,) = subscriber.paced_commits.values()
        await _until(lambda: not commits.pending, timeout=10)
        # the consumer has fetched 8 and 9, handled 0–7 only: the next to read is 8
        await _committed_becomes(kafka_bootstrap, group, topic_name, 8)
        inbox.release.set()
        await _until(lambda: len(inbox.offsets) == 10)
        await _until(lambda: commits.commits >= 2 and not commits.pending, timeout=10)
        await _committed_becomes(kafka_bootstrap, group, topic_name, 10)
        # ten batches, committed in a few commits (FastStream's policy: one a batch)
        assert len(inbox.batches) >= 9
        assert 2 <= len(sent) <= 4 and commits.commits == len(sent)


@pytest.mark.parametrize("pipeline", [False, True], ids=["direct", "faststream-pipeline"])
async def test_a_failed_batch_is_delivered_again_and_its_offset_committed_after(
        kafka_bootstrap: str, topic_name: str, pipeline: bool) -> None:
    inbox = Recording()
    async with consuming(kafka_bootstrap, topic_name, inbox, 0.2, pipeline) as (
            producer, subscriber, group):
        await producer.send_and_wait(topic_name, b"before")
        await _until(lambda: inbox.offsets == [0])
        await producer.send_and_wait(topic_name, b"fail")
        await _until(lambda: inbox.offsets == [0, 1])  # sought back, delivered again
        assert inbox.failed
        (commits,) = subscriber.paced_commits.values()
        await _until(lambda: not commits.pending, timeout=10)
        await _committed_becomes(kafka_bootstrap, group, topic_name, 2)


def test_the_broker_logs_warnings_and_errors_but_not_each_batch(
        caplog: pytest.LogCaptureFixture) -> None:
    logger = WarningsOnly()
    with caplog.at_level(logging.DEBUG, logger="faststream"):
        logger.log(logging.INFO, "Received", extra={"topic": "t"})
        logger.log(logging.INFO, "Processed")
        logger.log(logging.ERROR, "Kafka error occurred")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "Kafka error occurred")]
    broker = make_broker(KafkaSettings(bootstrap="127.0.0.1:1"))
    assert isinstance(broker.config.logger.params_storage.get_logger(context=None), WarningsOnly)


def _sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_each_batch_goes_straight_to_the_inbox_not_through_faststream_s_pipeline(
        kafka_bootstrap: str, topic_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The direct path (`_DirectBatches`): FastStream's message pipeline is never entered,
    and the broker's `faststream_received_*` metrics still count every batch, its records,
    its status and its failure, under the same names and labels as FastStream's."""
    from faststream._internal.endpoint.subscriber.usecase import SubscriberUsecase

    entered: list[object] = []
    process_message = SubscriberUsecase.process_message

    async def counted(self, msg):  # noqa: ANN001, ANN202 - FastStream's signature
        entered.append(msg)
        return await process_message(self, msg)

    monkeypatch.setattr(SubscriberUsecase, "process_message", counted)
    labels = {"app_name": "dondoc", "broker": "kafka", "handler": topic_name}
    inbox = Recording()
    async with consuming(kafka_bootstrap, topic_name, inbox, 0.2) as (producer, subscriber, group):
        for n in range(3):
            await producer.send_and_wait(topic_name, f"event {n}".encode())
            await _until(lambda: len(inbox.offsets) == n + 1)
        await producer.send_and_wait(topic_name, b"fail")  # fails once, then handled
        await _until(lambda: inbox.offsets == [0, 1, 2, 3])
        await _committed_becomes(kafka_bootstrap, group, topic_name, 4)
        assert subscriber.consume_one.batches == len(inbox.batches) + 1  # with the failed one
    assert entered == []
    assert _sample("faststream_received_messages_total", **labels) == 5
    assert _sample("faststream_received_processed_messages_total", **labels, status="acked") == 4
    assert _sample("faststream_received_processed_messages_total", **labels, status="nacked") == 1
    assert _sample("faststream_received_processed_messages_exceptions_total", **labels,
                   exception_type="RuntimeError") == 1
    assert _sample("faststream_received_processed_messages_duration_seconds_count", **labels) == 5
    assert _sample("faststream_received_messages_size_bytes_sum", **labels) == 3 * 7 + 2 * 4
    assert _sample("faststream_received_messages_in_process", **labels) == 0


async def test_a_failed_batch_of_two_partitions_is_sought_back_on_each(
        kafka_bootstrap: str, topic_name: str) -> None:
    """A batch spanning two partitions whose handling fails: each partition is sought back to
    its earliest record of the batch, so both come again and nothing is skipped."""
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic_name, partitions=2)])
    inbox = Recording()
    inbox.release.set()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:  # written before the consumer starts: its first fetch holds both partitions' records
        for partition in (0, 1):
            for value in (b"a", b"b", b"fail" if partition == 1 else b"c"):
                await producer.send_and_wait(topic_name, value, partition=partition)
    finally:
        await producer.stop()
    broker = make_broker(KafkaSettings(bootstrap=kafka_bootstrap))
    offered: list[list[tuple[int, int]]] = []
    handle = inbox.handle

    async def noting(records: Sequence[Record]) -> None:
        offered.append([(r.partition, r.offset) for r in records])
        await handle(records)

    inbox.handle = noting  # type: ignore[method-assign]
    subscribe(broker, [topic_name], group_id=f"g-{topic_name}", inbox=inbox, commit_every=0.2)
    async with broker:
        await broker.start()
        await _until(lambda: len(inbox.offsets) == 6, timeout=15)
    failed = next(batch for batch in offered if (1, 2) in batch)
    assert {p for p, _ in failed} == {0, 1}, "the failing batch holds both partitions"
    # each partition's records of the failed batch were offered again and handled once
    assert sorted(inbox.offsets) == [0, 0, 1, 1, 2, 2]
    again = [pair for batch in offered[offered.index(failed) + 1:] for pair in batch]
    assert set(failed) <= set(again)


async def test_with_commit_every_0_each_batch_commits_the_consumer_s_position(
        kafka_bootstrap: str, topic_name: str) -> None:
    inbox = Recording()
    async with consuming(kafka_bootstrap, topic_name, inbox, 0) as (producer, subscriber, group):
        for n in range(3):
            await producer.send_and_wait(topic_name, f"event {n}".encode())
            await _until(lambda: len(inbox.offsets) == n + 1)
            await _committed_becomes(kafka_bootstrap, group, topic_name, n + 1)
        assert subscriber.paced_commits == {}
