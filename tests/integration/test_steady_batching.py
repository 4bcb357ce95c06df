"""Under a steady load the workers share their rounds among several commits (the relay's
wakes paced by `relay_gap`, the consumers' batches lingering `linger_ms`): on the real
PostgreSQL and Kafka, a burst of commits of another process and a lone commit after it
each reach the consumer's effect exactly once, with the relay's unwoken poll set to 10
minutes — so a commit during a pause is picked up by the pause's end, not by the poll."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from dondoc_contracts import topic_for
from dondoc_platform.inbox import DeadLetters, SqlInbox, aiokafka_publisher, subscribe
from dondoc_platform.kafka import TopicSpec, ensure_topics, event_topic, make_broker
from dondoc_platform.logwake import wake_on_commit
from dondoc_platform.outbox import OutboxRelay
from dondoc_platform.settings import KafkaSettings
from dondoc_platform.stores import StoreURL
from tests.backbone import sample_service as svc
from tests.support.services import until

pytestmark = pytest.mark.integration

SLOW_POLL = 600.0


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {row.task_id: row.n for row in conn.execute(sa.select(svc.counters))}


class _Batches:
    """The inbox, with the size of each batch it was handed."""

    def __init__(self, inbox: SqlInbox) -> None:
        self.inbox = inbox
        self.sizes: list[int] = []

    async def handle(self, records) -> None:
        self.sizes.append(len(records))
        await self.inbox.handle(records)


async def test_a_burst_and_a_lone_commit_each_arrive_once_through_paced_relay_and_lingering_consumer(
    kafka_bootstrap: str, postgres_database: str
) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}.{topic_for('tasks')}"
    await ensure_topics(kafka_bootstrap, [event_topic(topic, partitions=3), TopicSpec(f"{topic}.dlq", 1)])
    writer = svc.open_app(postgres_database)  # another process's commits
    app = svc.open_app(postgres_database)
    relay = OutboxRelay(app, service="tasks", translate=svc.translate, bootstrap=kafka_bootstrap,
                        route=lambda _: topic)
    listener = wake_on_commit(app, postgres_database, poll_seconds=SLOW_POLL, relay=relay,
                              relay_gap=0.2)
    assert relay.idle_interval == SLOW_POLL

    engine = sa.create_engine(StoreURL.parse(postgres_database).sqlalchemy_url())
    svc.metadata.create_all(engine)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    inbox = SqlInbox(engine, svc.metadata, consumer="steady-test", apply=svc.apply_progress,
                     dead_letters=DeadLetters(aiokafka_publisher(producer), "steady-test"))
    svc.metadata.create_all(engine)  # the inbox's tables too
    batches = _Batches(inbox)
    broker = make_broker(KafkaSettings(bootstrap=kafka_bootstrap))
    subscribe(broker, [topic], group_id=f"g-{uuid.uuid4().hex[:6]}", inbox=batches,  # type: ignore[arg-type]
              linger_ms=100)
    stop = asyncio.Event()
    try:
        async with relay, broker:
            await broker.start()
            workers = [asyncio.create_task(relay.run(stop)), asyncio.create_task(listener.run(stop))]
            try:
                await asyncio.wait_for(listener.listening.wait(), 20)
                burst = await asyncio.to_thread(svc.write_events, writer, 12, 2)  # 12 commits
                await until(lambda: sum(_counts(engine).values()) == 36)
                (lone,) = await asyncio.to_thread(svc.write_events, writer, 1, 0)
                await until(lambda: _counts(engine).get(str(lone)) == 1)
            finally:
                stop.set()
                await asyncio.gather(*workers)
    finally:
        await producer.stop()
    assert _counts(engine) == {**{str(i): 3 for i in burst}, str(lone): 1}
    assert sum(batches.sizes) == 37  # every record handed over once
    with engine.connect() as conn:
        versions = conn.execute(sa.select(svc.applied.c.task_id, svc.applied.c.version)
                                .order_by(svc.applied.c.seq)).all()
    for task in burst:  # each task's events in their order, once
        assert [v for t, v in versions if t == str(task)] == [1, 2, 3]
    assert [v for t, v in versions if t == str(lone)] == [1]
    writer.close()
    app.close()
    engine.dispose()
