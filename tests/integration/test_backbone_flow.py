"""Relay → real Kafka → idempotent consumer, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dondoc_contracts import TaskProgressRecorded, encode, envelope_for, topic_for
from dondoc_platform.inbox import DeadLetters, SqlInbox, aiokafka_publisher, subscribe
from dondoc_platform.kafka import event_topic as topic_spec
from dondoc_platform.kafka import TopicSpec, ensure_topics, make_broker
from dondoc_platform.outbox import OutboxRelay
from dondoc_platform.settings import KafkaSettings
from dondoc_platform.stores import StoreURL
from tests.backbone import sample_service as svc
from tests.backbone.contract_checks import committed_schema, schema_errors

pytestmark = pytest.mark.integration

TOPIC = topic_for("tasks")
PARTITIONS = 3


async def _until(condition, timeout: float = 60.0, what: str = "condition") -> None:
    async with asyncio.timeout(timeout):
        while not await asyncio.to_thread(condition):
            await asyncio.sleep(0.05)


@pytest.fixture
async def topics(kafka_bootstrap: str) -> str:
    """A private pair of topics (events + DLQ) named like the real ones."""
    name = f"t{uuid.uuid4().hex[:8]}.{TOPIC}"
    await ensure_topics(kafka_bootstrap, [topic_spec(name, partitions=PARTITIONS), TopicSpec(f"{name}.dlq", 1)])
    return name


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {row.task_id: row.n for row in conn.execute(sa.select(svc.counters))}


async def test_events_flow_from_store_to_consumer_exactly_once_in_order(
    kafka_bootstrap: str, store_url: str, topics: str
) -> None:
    app = svc.open_app(store_url)
    ids = svc.write_events(app, aggregates=20, notes_each=4)
    relay_topic = topics  # the relay routes to the test's private topic
    relay = OutboxRelay(app, service="tasks", translate=svc.translate, bootstrap=kafka_bootstrap,
                        batch_size=30, route=lambda _: relay_topic)

    engine = sa.create_engine(StoreURL.parse(store_url).sqlalchemy_url())
    svc.metadata.create_all(engine)
    broker = make_broker(KafkaSettings(bootstrap=kafka_bootstrap))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    inbox = SqlInbox(engine, svc.metadata, consumer="flow-test", apply=svc.apply_progress,
                     dead_letters=DeadLetters(aiokafka_publisher(producer), "flow-test"))
    svc.metadata.create_all(engine)
    subscribe(broker, [relay_topic], group_id=f"g-{uuid.uuid4().hex[:6]}", inbox=inbox)
    try:
        async with relay, broker:
            await broker.start()
            while (await relay.relay_once()) > 0:
                pass
            assert relay.status().lag_events == 0
            await _until(lambda: sum(_counts(engine).values()) == 100)
            skipped_before = _skipped()
            # publish everything once more, as a relay restarted before recording would
            await asyncio.to_thread(app.recorder.set_outbox_position, "replay", 0)
            replay = OutboxRelay(app, service="tasks", translate=svc.translate,
                                 bootstrap=kafka_bootstrap, name="replay", batch_size=1000,
                                 route=lambda _: relay_topic)
            async with replay:
                await replay.relay_once()
            await _until(lambda: _skipped() - skipped_before == 100)
    finally:
        await producer.stop()
    # the consumer's positions name the last offset it handled in each partition
    ends = await _end_offsets(kafka_bootstrap, relay_topic)
    with engine.connect() as conn:
        positions = dict(conn.execute(
            sa.select(inbox.positions.c.partition, inbox.positions.c.kafka_offset).where(
                inbox.positions.c.consumer == "flow-test", inbox.positions.c.topic == relay_topic)
        ).all())
    assert positions == {p: end - 1 for p, end in ends.items() if end}
    counts = _counts(engine)
    assert counts == {str(i): 5 for i in ids}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(svc.applied.c.task_id, svc.applied.c.version)
                            .order_by(svc.applied.c.seq)).all()
    by_task: dict[str, list[int]] = {}
    for task_id, version in rows:
        by_task.setdefault(task_id, []).append(version)
    assert all(versions == [1, 2, 3, 4, 5] for versions in by_task.values())
    app.close()


def _skipped() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("dondoc_inbox_redeliveries_skipped_total",
                                     {"consumer": "flow-test"}) or 0.0


async def test_relay_resumes_exactly_where_it_stopped(kafka_bootstrap: str, store_url: str,
                                                     topics: str) -> None:
    app = svc.open_app(store_url)
    svc.write_events(app, aggregates=10, notes_each=2)  # 30 events
    first = OutboxRelay(app, service="tasks", translate=svc.translate, bootstrap=kafka_bootstrap,
                        batch_size=12, route=lambda _: topics)
    async with first:
        assert await first.relay_once() == 12
    assert first.status().position == 12
    second = OutboxRelay(app, service="tasks", translate=svc.translate, bootstrap=kafka_bootstrap,
                         batch_size=100, route=lambda _: topics)
    async with second:
        assert await second.relay_once() == 18
        assert await second.relay_once() == 0
    positions = await _read_sequences(kafka_bootstrap, topics, 30)
    assert sorted(positions) == list(range(1, 31))
    app.close()


async def _read_records(bootstrap: str, topic: str, expected: int) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    found: list = []
    try:
        async with asyncio.timeout(30):
            while len(found) < expected:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(records)
    finally:
        await consumer.stop()
    return found


async def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return {tp.partition: end for tp, end in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


async def _records_in(bootstrap: str, topic: str) -> int:
    return sum((await _end_offsets(bootstrap, topic)).values())


async def _read_sequences(bootstrap: str, topic: str, expected: int) -> list[int]:
    return [int(dict(r.headers)["ce_sequence"]) for r in await _read_records(bootstrap, topic, expected)]


async def test_what_the_relay_publishes_validates_against_the_committed_schema(
    kafka_bootstrap: str, tmp_path: Path, topics: str
) -> None:
    app = svc.open_app(f"sqlite:///{tmp_path / 'schema.sqlite'}")
    svc.write_events(app, aggregates=3, notes_each=2)
    relay = OutboxRelay(app, service="tasks", translate=svc.translate, bootstrap=kafka_bootstrap,
                        route=lambda _: topics)
    async with relay:
        assert await relay.relay_once() == 9
    records = await _read_records(kafka_bootstrap, topics, 9)
    schema = committed_schema(TaskProgressRecorded)
    for record in records:
        payload = json.loads(record.value)
        assert schema_errors(TaskProgressRecorded, payload) == [], record.value
        headers = dict(record.headers)
        assert headers["ce_type"].decode() == schema["x-cloudevents-type"]
        assert record.key.decode() == payload[schema["x-key"]]
    app.close()


async def test_each_record_carries_the_cloudevents_headers_and_the_chain_hash(
    kafka_bootstrap: str, tmp_path: Path, topics: str
) -> None:
    app = svc.open_app(f"sqlite:///{tmp_path / 'h.sqlite'}")
    (task_id,) = svc.write_events(app, aggregates=1, notes_each=1)
    relay = OutboxRelay(app, service="tasks", translate=svc.translate, bootstrap=kafka_bootstrap,
                        route=lambda _: topics)
    async with relay:
        await relay.relay_once()
    consumer = AIOKafkaConsumer(topics, bootstrap_servers=kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            records = []
            while len(records) < 2:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    first = records[0] if dict(records[0].headers)["ce_sequence"] == b"1" else records[1]
    headers = dict(first.headers)
    assert first.key == str(task_id).encode()
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"vn.dondoc.task.progress_recorded.v1"
    assert headers["ce_source"] == b"/dondoc/tasks"
    assert headers["ce_subject"] == str(task_id).encode()
    assert headers["ce_audithash"].decode() == app.recorder.link_hash(1).hex()
    from dondoc_contracts import event_id

    assert headers["ce_id"].decode() == event_id("tasks", 1)
    app.close()


def test_golden_encoding_is_what_the_relay_sends() -> None:
    """The relay encodes with the same function the golden samples are generated with."""
    from dondoc_contracts import TaskOverdue

    example = TaskOverdue.example()
    key, value, headers = encode(example, envelope_for(example, position=7))
    assert key == example.task_id.encode()
    assert dict(headers)["ce_sequence"] == b"7"


async def test_run_retries_a_failing_batch_from_the_recorded_position(
    kafka_bootstrap: str, tmp_path: Path, topics: str
) -> None:
    from prometheus_client import REGISTRY

    app = svc.open_app(f"sqlite:///{tmp_path / 'retry.sqlite'}")
    svc.write_events(app, aggregates=10, notes_each=9)  # 100 events
    calls = 0

    def route_failing_once(_: object) -> str:
        nonlocal calls
        calls += 1
        if calls == 45:  # in the third batch of 20, while two batches are in flight
            raise RuntimeError("the broker said no, once")
        return topics

    relay = OutboxRelay(app, service="retry-test", translate=svc.translate,
                        bootstrap=kafka_bootstrap, batch_size=20, route=route_failing_once)
    errors = REGISTRY.get_sample_value("dondoc_outbox_errors_total", {"service": "retry-test"}) or 0
    stop = asyncio.Event()
    async with relay:
        running = asyncio.ensure_future(relay.run(stop, backoff=0.05))
        await _until(lambda: relay.recorded_position == 100)
        stop.set()
        await asyncio.wait_for(running, 10)
    assert relay.status().position == 100
    assert REGISTRY.get_sample_value("dondoc_outbox_errors_total",
                                     {"service": "retry-test"}) == errors + 1
    sequences = await _read_sequences(kafka_bootstrap, topics, await _records_in(kafka_bootstrap, topics))
    assert set(sequences) == set(range(1, 101)), "an event was skipped"
    app.close()


async def test_the_lag_gauge_shows_a_backlog_while_it_is_being_published(
        kafka_bootstrap: str, store_url: str, topics: str) -> None:
    """A relay working through several batches reports the backlog when it starts, not
    'caught up' until the last batch is out (an alert, or a script waiting for the log to
    be published, would believe it was done)."""
    from prometheus_client import REGISTRY

    app = svc.open_app(store_url)
    svc.write_events(app, aggregates=10, notes_each=2)  # 30 events
    relay = OutboxRelay(app, service="lagged", translate=svc.translate, bootstrap=kafka_bootstrap,
                        batch_size=10, route=lambda _: topics)
    seen_at_first_publish: list[float | None] = []
    publish = relay._publish

    async def publish_and_look(batch):  # noqa: ANN001 - the relay's own batch type
        if not seen_at_first_publish:
            seen_at_first_publish.append(REGISTRY.get_sample_value(
                "dondoc_outbox_lag_events", {"service": "lagged"}))
        return await publish(batch)

    relay._publish = publish_and_look
    async with relay:
        await relay._pump(asyncio.Event())
    assert seen_at_first_publish == [30.0]
    assert REGISTRY.get_sample_value("dondoc_outbox_lag_events", {"service": "lagged"}) == 0.0


async def test_a_round_that_reads_the_log_to_its_end_does_not_ask_the_head_again(
        kafka_bootstrap: str, store_url: str, topics: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relay round whose last read was short of a batch found the end of the log: the lag
    gauges read 0 at its position without another statement (one per round at a steady rate)."""
    from prometheus_client import REGISTRY

    app = svc.open_app(store_url)
    svc.write_events(app, aggregates=2, notes_each=2)  # 6 events
    relay = OutboxRelay(app, service="short-round", translate=svc.translate,
                        bootstrap=kafka_bootstrap, batch_size=100, route=lambda _: topics)
    asked: list[int] = []
    head = relay.recorder.max_notification_id
    monkeypatch.setattr(relay.recorder, "max_notification_id",
                        lambda: asked.append(1) or head())
    async with relay:
        await relay._pump(asyncio.Event())
        assert relay.recorded_position == 6 and asked == []
        assert REGISTRY.get_sample_value("dondoc_outbox_lag_events", {"service": "short-round"}) == 0.0
        assert REGISTRY.get_sample_value("dondoc_outbox_position", {"service": "short-round"}) == 6.0
        svc.write_events(app, aggregates=1, notes_each=0)  # one more, by relay_once
        assert await relay.relay_once() == 1 and asked == []
        assert REGISTRY.get_sample_value("dondoc_outbox_position", {"service": "short-round"}) == 7.0
    app.close()
