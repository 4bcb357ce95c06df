"""Crash test: store → relay process → Kafka → consumer process, SIGKILLed and restarted.

10,000 events are written to a PostgreSQL event store while the outbox relay and the
SqlInbox consumer, each an OS process of its own, are killed with SIGKILL at moments drawn
from a seed and started again. At the end every event arrived, every effect was applied
exactly once (the sample effect is deliberately not idempotent: a counter and a row per
event) and each key's events were applied in order.

The seed is printed, and named in the failure; `DONDOC_CRASH_SEED=<seed>` replays a schedule.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dondoc_contracts import event_id, topic_for
from dondoc_platform.kafka import TopicSpec, ensure_topics
from dondoc_platform.kafka import event_topic as topic_spec
from dondoc_platform.stores import StoreURL
from tests.backbone import sample_service as svc
from tests.backbone.consumer_proc import CONSUMER
from tests.backbone.processes import Restartable

pytestmark = pytest.mark.integration

KEYS = 50
EVENTS_PER_KEY = 200
TOTAL = KEYS * EVENTS_PER_KEY  # 10,000
KILLS_EACH = 3
WRITE_SECONDS = 6.0
PARTITIONS = 3
DEADLINE_SECONDS = 150.0
POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Kill:
    target: str  # "relay" or "consumer"
    after: int  # once the target has handled this many events...
    delay: float  # ...and this much longer, so the kill lands anywhere in a batch


def kill_schedule(seed: int) -> list[Kill]:
    rng = random.Random(seed)
    return [Kill(target, int(fraction * TOTAL), round(rng.uniform(0.0, 0.2), 3))
            for target in ("relay", "consumer")
            for fraction in sorted(rng.uniform(0.05, 0.9) for _ in range(KILLS_EACH))]


def crash_seed() -> int:
    chosen = os.environ.get("DONDOC_CRASH_SEED")
    return int(chosen) if chosen else secrets.randbits(32)


class Progress:
    """How far each stage got, read from the databases the processes write."""

    def __init__(self, store_url: str, effects_url: str) -> None:
        self.store = psycopg.connect(store_url, autocommit=True)
        self.effects = psycopg.connect(effects_url, autocommit=True)

    def relayed(self) -> int:
        row = self.store.execute("select position from dondoc_outbox where name = 'kafka'").fetchone()
        return int(row[0]) if row else 0

    def recorded(self) -> int:
        return int(self.store.execute("select count(*) from tracker_events").fetchone()[0])

    def applied(self) -> int:
        return int(self.effects.execute("select count(*) from dondoc_inbox where consumer = %s",
                                        (CONSUMER,)).fetchone()[0])

    def of(self, target: str) -> int:
        return self.relayed() if target == "relay" else self.applied()

    def close(self) -> None:
        self.store.close()
        self.effects.close()


class Writer(threading.Thread):
    """Writes the 10,000 events: every key gets one more event per transaction, so each
    key's history spans 200 transactions of the log. The writes are spread over
    WRITE_SECONDS (load shaping, not synchronisation), so the kills land while events flow
    rather than after the relay has caught up."""

    def __init__(self, store_url: str) -> None:
        super().__init__(name="crash-writer", daemon=True)
        self.store_url = store_url
        self.keys: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            app = svc.open_app(self.store_url)
            try:
                tracked = [svc.Tracked(unit=f"U{i}") for i in range(KEYS)]
                self.keys = [str(t.id) for t in tracked]
                app.save(*tracked)
                started = time.monotonic()
                for n in range(1, EVENTS_PER_KEY):
                    for t in tracked:
                        t.note(f"ghi chú {n}: đã đôn đốc")
                    app.save(*tracked)
                    ahead = started + WRITE_SECONDS * n / EVENTS_PER_KEY - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
            finally:
                app.close()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


async def _topic_lag(bootstrap: str, topic: str, group: str) -> tuple[dict[int, int], int]:
    """(end offset per partition, records the group has not committed yet)."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await reader.start()
    await admin.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await reader.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group)
        lag = sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items())
        return {tp.partition: end for tp, end in ends.items()}, lag
    finally:
        await reader.stop()
        await admin.close()


async def _until(condition: Callable[[], object], deadline: float, what: str,
                 status: Callable[[], str]) -> None:
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; {status()}")
        await asyncio.sleep(POLL_SECONDS)


@pytest.fixture
async def crash_topic(kafka_bootstrap: str) -> str:
    name = f"crash{uuid.uuid4().hex[:8]}.{topic_for('tasks')}"
    await ensure_topics(kafka_bootstrap, [topic_spec(name, partitions=PARTITIONS), TopicSpec(f"{name}.dlq", 1)])
    return name


async def test_sigkilled_relay_and_consumer_lose_nothing_and_apply_each_event_once_in_order(
    kafka_bootstrap: str, new_postgres_database: Callable[[], str], crash_topic: str,
    tmp_path: Path,
) -> None:
    seed = crash_seed()
    print(f"crash test seed {seed} (replay: DONDOC_CRASH_SEED={seed})")
    try:
        await _crash_run(seed, kafka_bootstrap, new_postgres_database(), new_postgres_database(),
                         crash_topic, tmp_path)
    except BaseException as e:
        e.add_note(f"crash test seed {seed}: replay with DONDOC_CRASH_SEED={seed}")
        raise


async def _crash_run(seed: int, bootstrap: str, store_url: str, effects_url: str, topic: str,
                     logs: Path) -> None:
    started = time.monotonic()
    deadline = started + DEADLINE_SECONDS
    schedule = kill_schedule(seed)
    group = f"crash-{uuid.uuid4().hex[:8]}"
    # the tables exist before the first process starts: the test reads them from the start
    svc.open_app(store_url).close()
    engine = sa.create_engine(StoreURL.parse(effects_url).sqlalchemy_url())
    svc.create_effect_tables(engine)
    engine.dispose()

    runners = {
        "relay": Restartable("relay", "tests.backbone.relay_proc",
                             ["--store", store_url, "--bootstrap", bootstrap, "--topic", topic,
                              "--batch-size", "250"], logs),
        "consumer": Restartable("consumer", "tests.backbone.consumer_proc",
                                ["--database", effects_url, "--bootstrap", bootstrap,
                                 "--topic", topic, "--group", group, "--instance", "consumer-0"],
                                logs),
    }
    progress = Progress(store_url, effects_url)
    writer = Writer(store_url)
    landed: list[str] = []

    def status() -> str:
        return (f"recorded {progress.recorded()}, relayed {progress.relayed()}, "
                f"applied {progress.applied()} of {TOTAL}; kills so far: {landed}; "
                + "; ".join(f"{name} says:\n{r.tail(15)}" for name, r in runners.items()))

    try:
        for runner in runners.values():
            runner.start()
        writer.start()
        pending = {target: deque(k for k in schedule if k.target == target) for target in runners}
        # a kill waits until the incarnation it kills has done some work of its own (or
        # there is none left for it)
        started_at = dict.fromkeys(runners, 0)
        while any(pending.values()):
            for target, kills in pending.items():
                runners[target].check_alive()
                done = await asyncio.to_thread(progress.of, target)
                worked = done > started_at[target] or done == TOTAL
                if kills and done >= kills[0].after and worked:
                    kill = kills.popleft()
                    await asyncio.sleep(kill.delay)
                    at = await asyncio.to_thread(progress.of, target)
                    runners[target].kill()
                    landed.append(f"{target}@{at}")
                    started_at[target] = await asyncio.to_thread(progress.of, target)
                    runners[target].start()
            if writer.error is not None:
                raise writer.error
            if time.monotonic() > deadline:
                raise AssertionError(f"the kill schedule {schedule} did not finish in time; {status()}")
            await asyncio.sleep(POLL_SECONDS)

        await asyncio.to_thread(writer.join, max(0.0, deadline - time.monotonic()))
        assert not writer.is_alive(), f"the writer did not finish in time; {status()}"
        if writer.error is not None:
            raise writer.error

        def all_applied() -> bool:
            for runner in runners.values():
                runner.check_alive()
            return progress.relayed() == TOTAL and progress.applied() == TOTAL

        await _until(all_applied, deadline, "every event to be relayed and applied", status)
        # and every record in the topic (the republished duplicates too) was consumed
        ends, lag = await _topic_lag(bootstrap, topic, group)
        while lag:
            if time.monotonic() > deadline:
                raise AssertionError(f"consumer lag stayed at {lag}; {status()}")
            runners["consumer"].check_alive()
            await asyncio.sleep(POLL_SECONDS * 5)
            ends, lag = await _topic_lag(bootstrap, topic, group)
    finally:
        for runner in runners.values():
            runner.stop()
        progress.close()

    records = sum(ends.values())
    print(f"crash test seed {seed}: kills at {landed}; {records} records in the topic for "
          f"{TOTAL} events ({records - TOTAL} republished); {time.monotonic() - started:.1f} s")
    assert len(landed) == 2 * KILLS_EACH
    _assert_applied_exactly_once_in_order(effects_url, writer.keys)
    with psycopg.connect(effects_url) as conn:
        positions = dict(conn.execute(
            "select partition, kafka_offset from dondoc_consumer_positions "
            "where consumer = %s and topic = %s", (CONSUMER, topic)).fetchall())
    assert positions == {p: end - 1 for p, end in ends.items() if end}, \
        "the consumer's recorded positions are not the last offsets it handled"


def _assert_applied_exactly_once_in_order(effects_url: str, keys: list[str]) -> None:
    with psycopg.connect(effects_url) as conn:
        inbox = {row[0] for row in conn.execute(
            "select event_id from dondoc_inbox where consumer = %s", (CONSUMER,))}
        counters = dict(conn.execute("select task_id, n from effect_counters").fetchall())
        rows = conn.execute("select task_id, version from applied_effects order by seq").fetchall()

    assert inbox == {event_id("tasks", position) for position in range(1, TOTAL + 1)}, \
        "the inbox does not hold exactly the ids of the 10,000 events"
    wrong = {key: counters.get(key, 0) for key in keys if counters.get(key) != EVENTS_PER_KEY}
    assert not wrong and len(counters) == KEYS, \
        f"effects applied a wrong number of times (key: times, {EVENTS_PER_KEY} expected): {wrong}"
    assert len(rows) == TOTAL, f"{len(rows)} effect rows for {TOTAL} events"
    by_key: dict[str, list[int]] = {}
    for key, version in rows:
        by_key.setdefault(key, []).append(version)
    out_of_order = {key: versions for key, versions in by_key.items()
                    if versions != list(range(1, EVENTS_PER_KEY + 1))}
    assert not out_of_order, f"keys applied twice or out of order: {sorted(out_of_order)[:5]}"
