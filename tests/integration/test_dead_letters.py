"""Poison messages go to `<topic>.dlq` with their reason and origin; the partition keeps moving.

Each kind of poison is sent between two good messages on a one-partition topic, to a real
consumer (FastStream subscriber, real Kafka) of each inbox kind: the SQL inbox (effects in
PostgreSQL) and the event-sourced inbox (effects in the service's own store). The poison
lands in the DLQ with `dlq_reason` and the `dlq_origin_*` headers, the message behind it
is processed, and `dondoc_dead_letters_total{consumer,reason}` counts it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import REGISTRY

from dondoc_contracts import (
    ClaimedStatus,
    TaskProgressRecorded,
    encode,
    envelope_for,
    topic_for,
)
from dondoc_platform.eventstore import recorder_of
from dondoc_platform.inbox import (
    DeadLetters,
    Delivery,
    EventSourcedInbox,
    SqlInbox,
    aiokafka_publisher,
    subscribe,
)
from dondoc_platform.kafka import TopicSpec, ensure_topics, make_broker
from dondoc_platform.settings import KafkaSettings
from dondoc_platform.stores import StoreURL
from tests.backbone import sample_service as svc

pytestmark = pytest.mark.integration

#: the task whose effect always fails (the "effect_failed" poison is a valid event for it)
DOOMED_TASK = "doomed-task"


@dataclass(frozen=True)
class Message:
    key: bytes
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @property
    def ce_id(self) -> str:
        return dict(self.headers)["ce_id"].decode()


def good(position: int, task_id: str | None = None) -> Message:
    event = TaskProgressRecorded(
        occurred_at=datetime(2018, 4, 2, 9, tzinfo=timezone.utc), actor=svc.ACTOR,
        task_id=task_id or f"task-{position}", unit_id="BTG",
        status_claimed=ClaimedStatus.IN_PROGRESS, progress=str(position),
        recorded_on=date(2018, 4, 2), note="Đã triển khai tới các chi bộ",
    )
    key, value, headers = encode(event, envelope_for(event, position=position))
    return Message(key, value, headers)


def _with_header(message: Message, name: str, value: str | None) -> Message:
    headers = [(k, v) for k, v in message.headers if k != name]
    if value is not None:
        headers.append((name, value.encode()))
    return Message(message.key, message.value, headers)


def _without_field(message: Message, field: str) -> Message:
    payload = json.loads(message.value or b"{}")
    del payload[field]
    return Message(message.key, json.dumps(payload, ensure_ascii=False).encode(), message.headers)


POISONS: dict[str, Callable[[Message], Message]] = {
    "invalid_json": lambda m: Message(m.key, b'{"occurred_at": "2018-04-02T09:00', m.headers),
    "missing_header": lambda m: _with_header(m, "ce_type", None),
    "unknown_type": lambda m: _with_header(m, "ce_type", "vn.dondoc.task.teleported.v1"),
    "unsupported_version": lambda m: _with_header(m, "ce_type",
                                                  "vn.dondoc.task.progress_recorded.v9"),
    "validation_failed": lambda m: _without_field(m, "task_id"),
    "effect_failed": lambda m: _from_a_newer_producer(good(2, task_id=DOOMED_TASK)),
}


def _from_a_newer_producer(message: Message) -> Message:
    """A valid event with a field and a header this consumer does not know (additive
    changes): the dead letter must keep them."""
    payload = json.loads(message.value or b"{}")
    payload["priority"] = "khẩn"
    return Message(message.key, json.dumps(payload, ensure_ascii=False).encode(),
                   [*message.headers, ("ce_tenant", b"tinh-uy")])


class DoomedEffect(RuntimeError):
    """The effect of the doomed task fails every time (a bug, a constraint, ...)."""


@dataclass
class Consumer:
    """One inbox kind wired to its store, and what it recorded there."""

    name: str
    inbox: SqlInbox | EventSourcedInbox
    outcome: Callable[[str], str | None]  # the inbox's outcome for a ce_id, None if unseen
    effects: Callable[[], dict[str, int]]  # effects applied, per task id
    close: Callable[[], None]


def _sql_consumer(database_url: str, dead_letters: Callable[[str], DeadLetters]) -> Consumer:
    name = f"sql-{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(StoreURL.parse(database_url).sqlalchemy_url())
    svc.create_effect_tables(engine)

    def apply(conn: sa.Connection, deliveries: list[Delivery]) -> None:
        if any(d.event.task_id == DOOMED_TASK for d in deliveries):
            raise DoomedEffect(DOOMED_TASK)
        svc.apply_progress(conn, deliveries)

    inbox = SqlInbox(engine, svc.metadata, consumer=name, apply=apply,
                     dead_letters=dead_letters(name), retry_base=0.01)

    def outcome(ce_id: str) -> str | None:
        with engine.connect() as conn:
            return conn.execute(sa.select(inbox.inbox.c.outcome).where(
                inbox.inbox.c.consumer == name, inbox.inbox.c.event_id == ce_id)).scalar()

    def effects() -> dict[str, int]:
        with engine.connect() as conn:
            return dict(conn.execute(sa.select(svc.counters.c.task_id, svc.counters.c.n)).all())

    return Consumer(name, inbox, outcome, effects, engine.dispose)


def _event_sourced_consumer(database_url: str,
                            dead_letters: Callable[[str], DeadLetters]) -> Consumer:
    name = f"es-{uuid.uuid4().hex[:6]}"
    app = svc.open_receipts(database_url)

    def react(delivery: Delivery) -> bool:
        if delivery.event.task_id == DOOMED_TASK:
            raise DoomedEffect(DOOMED_TASK)
        return svc.record_receipt(app, name, delivery)

    inbox = EventSourcedInbox(consumer=name, react=react, dead_letters=dead_letters(name),
                              max_attempts=3, retry_base=0.01)

    def outcome(ce_id: str) -> str | None:
        return "applied" if recorder_of(app).inbox_has(name, ce_id) else None

    def effects() -> dict[str, int]:
        found: dict[str, int] = {}
        for notification in app.recorder.select_notifications(start=1, limit=100):
            receipt = app.mapper.to_domain_event(notification)
            found[receipt.task_id] = found.get(receipt.task_id, 0) + 1
        return found

    return Consumer(name, inbox, outcome, effects, app.close)


@pytest.fixture
async def topic(kafka_bootstrap: str) -> str:
    name = f"p{uuid.uuid4().hex[:8]}.{topic_for('tasks')}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(name, 1), TopicSpec(f"{name}.dlq", 1)])
    return name


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@pytest.fixture(params=["sql", "event_sourced"])
def consumer(request: pytest.FixtureRequest, postgres_database: str,
             producer: AIOKafkaProducer) -> Iterator[Consumer]:
    def dead_letters(name: str) -> DeadLetters:
        return DeadLetters(aiokafka_publisher(producer), name)

    make = _sql_consumer if request.param == "sql" else _event_sourced_consumer
    wired = make(postgres_database, dead_letters)
    try:
        yield wired
    finally:
        wired.close()


def _dead_letter_count(consumer: str, reason: str) -> float:
    return REGISTRY.get_sample_value("dondoc_dead_letters_total",
                                     {"consumer": consumer, "reason": reason}) or 0.0


async def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


async def _read_all(bootstrap: str, topic: str) -> list:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                              auto_offset_reset="earliest", enable_auto_commit=False)
    await reader.start()
    try:
        partition = TopicPartition(topic, 0)
        reader.assign([partition])
        end = (await reader.end_offsets([partition]))[partition]
        records: list = []
        async with asyncio.timeout(30):
            while len(records) < end:
                for batch in (await reader.getmany(timeout_ms=500)).values():
                    records.extend(batch)
        return records
    finally:
        await reader.stop()


@pytest.mark.parametrize("reason", list(POISONS))
async def test_a_poison_message_goes_to_the_dlq_and_the_messages_behind_it_are_processed(
    reason: str, consumer: Consumer, topic: str, producer: AIOKafkaProducer,
    kafka_bootstrap: str,
) -> None:
    before, behind = good(1), good(3)
    poison = POISONS[reason](good(2))
    counted_before = _dead_letter_count(consumer.name, reason)
    sent = []
    for message in (before, poison, behind):
        sent.append(await producer.send_and_wait(topic, value=message.value, key=message.key,
                                                 headers=message.headers))
    poison_offset = sent[1].offset

    broker = make_broker(KafkaSettings(bootstrap=kafka_bootstrap))
    subscribe(broker, [topic], group_id=f"g-{consumer.name}", inbox=consumer.inbox)
    async with broker:
        await broker.start()
        await _until(lambda: consumer.outcome(behind.ce_id) == "applied",
                     f"the message behind the {reason} poison to be processed")

    assert consumer.outcome(before.ce_id) == "applied"
    assert consumer.effects() == {"task-1": 1, "task-3": 1}
    (letter,) = await _read_all(kafka_bootstrap, f"{topic}.dlq")
    headers = dict(letter.headers)
    assert headers["dlq_reason"].decode() == reason
    assert headers["dlq_consumer"].decode() == consumer.name
    assert headers["dlq_origin_topic"].decode() == topic
    assert headers["dlq_origin_partition"] == b"0"
    assert headers["dlq_origin_offset"].decode() == str(poison_offset)
    assert headers["dlq_detail"]
    assert letter.key == poison.key
    assert letter.value == poison.value, "the DLQ keeps the poison's bytes as they came"
    assert {k: v for k, v in headers.items() if not k.startswith("dlq_")} == dict(poison.headers)
    if reason == "effect_failed" and isinstance(consumer.inbox, SqlInbox):
        assert consumer.outcome(poison.ce_id) == "dead_letter"  # so a redelivery is skipped
    assert _dead_letter_count(consumer.name, reason) - counted_before == 1


async def test_a_header_that_is_not_utf8_does_not_stop_the_partition(
    consumer: Consumer, topic: str, producer: AIOKafkaProducer, kafka_bootstrap: str,
) -> None:
    """FastStream decodes headers as UTF-8; a foreign producer's binary header is tolerated."""
    before, odd, behind = good(1), good(2), good(3)
    for message, extra in ((before, []), (odd, [("traceparent", b"\xff\x00\xfe")]), (behind, [])):
        await producer.send_and_wait(topic, value=message.value, key=message.key,
                                     headers=message.headers + extra)
    broker = make_broker(KafkaSettings(bootstrap=kafka_bootstrap))
    subscribe(broker, [topic], group_id=f"g-{consumer.name}", inbox=consumer.inbox)
    async with broker:
        await broker.start()
        await _until(lambda: consumer.outcome(behind.ce_id) == "applied",
                     "the messages around the binary header to be processed")
    assert consumer.effects() == {"task-1": 1, "task-2": 1, "task-3": 1}
    # the events happened in 2018; the lag counts from their publication, seconds ago
    lag = REGISTRY.get_sample_value("dondoc_projection_lag_seconds", {"consumer": consumer.name})
    assert lag is not None and 0 <= lag < 120
