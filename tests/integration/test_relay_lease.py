"""One publishing relay per store: two workers' relays on real PostgreSQL / SQLite and Kafka."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg
import pytest

from dondoc_contracts import topic_for
from dondoc_platform.eventstore import recorder_of
from dondoc_platform.kafka import TopicSpec, ensure_topics
from dondoc_platform.kafka import event_topic as topic_spec
from dondoc_platform.leadership import try_lead
from dondoc_platform.outbox import OutboxRelay
from tests.backbone import sample_service as svc
from tests.integration.test_backbone_flow import _end_offsets

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(kafka_bootstrap: str) -> str:
    name = f"t{uuid.uuid4().hex[:8]}.{topic_for('tasks')}"
    await ensure_topics(kafka_bootstrap, [topic_spec(name, partitions=3), TopicSpec(f"{name}.dlq", 1)])
    return name


async def _published(bootstrap: str, topic: str) -> int:
    return sum((await _end_offsets(bootstrap, topic)).values())


async def _until(condition, what: str, timeout: float = 60.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {timeout:g} s: {what}") from None


def _relay(app, bootstrap: str, topic: str) -> OutboxRelay:
    return OutboxRelay(app, service="tasks", translate=svc.translate, bootstrap=bootstrap,
                       route=lambda _: topic, standby_interval=0.1, lease_check_interval=0.2)


async def test_two_workers_publish_each_event_once_and_the_second_takes_over(
    kafka_bootstrap: str, store_url: str, topic: str
) -> None:
    first_app, second_app = svc.open_app(store_url), svc.open_app(store_url)
    svc.write_events(first_app, aggregates=10, notes_each=2)  # 30 events
    first, second = _relay(first_app, kafka_bootstrap, topic), _relay(second_app, kafka_bootstrap, topic)
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    async with first, second:
        runs = [asyncio.create_task(first.run(stop_first)), asyncio.create_task(second.run(stop_second))]

        async def all_thirty() -> bool:
            return await _published(kafka_bootstrap, topic) >= 30 and (first.leading or second.leading)

        await _until(all_thirty, "the first 30 events on Kafka")
        assert [first.leading, second.leading].count(True) == 1
        leader, leader_stop, standby = (first, stop_first, second) if first.leading else (second, stop_second, first)
        svc.write_events(first_app, aggregates=5, notes_each=1)  # 10 more, while both run
        await _until(lambda: _at_least(kafka_bootstrap, topic, 40), "40 events on Kafka")

        leader_stop.set()  # the leading worker stops: the other one takes the lease over
        await asyncio.wait_for(runs[[first, second].index(leader)], 30)
        svc.write_events(second_app, aggregates=4, notes_each=1)  # 8 more after the hand-over

        async def taken_over() -> bool:
            return standby.leading and await _published(kafka_bootstrap, topic) >= 48

        await _until(taken_over, "the standby relay to publish the last 8 events")
        stop_first.set()
        stop_second.set()
        await asyncio.gather(*runs)
    # each event exactly once on Kafka: the standby never published while the leader did
    assert await _published(kafka_bootstrap, topic) == 48
    assert standby.status().position == recorder_of(first_app).max_notification_id()
    first_app.close()
    second_app.close()


async def _at_least(bootstrap: str, topic: str, n: int) -> bool:
    return await _published(bootstrap, topic) >= n


def test_a_lease_whose_session_the_database_ended_is_free_again(postgres_database: str) -> None:
    app, other = svc.open_app(postgres_database), svc.open_app(postgres_database)
    lease = try_lead(recorder_of(app), "kafka")
    assert lease is not None and lease.alive()
    assert try_lead(recorder_of(other), "kafka") is None  # held by the first worker
    assert try_lead(recorder_of(other), "elsewhere") is not None  # another relay name is free

    # the database ends the leader's session (a failover, a network cut, an admin's kill)
    pid = lease._conn.info.backend_pid  # type: ignore[attr-defined]
    with psycopg.connect(postgres_database) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert not lease.alive()
    taken = try_lead(recorder_of(other), "kafka")
    assert taken is not None and taken.alive()
    taken.release()
    lease.release()  # releasing a lost lease is harmless
    app.close()
    other.close()


def test_a_sqlite_lease_is_held_until_released(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'embedded.sqlite'}"
    app, other = svc.open_app(url), svc.open_app(url)
    lease = try_lead(recorder_of(app), "kafka")
    assert lease is not None
    assert try_lead(recorder_of(other), "kafka") is None
    lease.release()
    again = try_lead(recorder_of(other), "kafka")
    assert again is not None
    again.release()
    app.close()
    other.close()
