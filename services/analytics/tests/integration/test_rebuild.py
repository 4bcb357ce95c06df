"""A rebuild while events keep arriving: the dashboards never see an empty (or shrinking)
table, and the rebuilt generation ends equal to the one that stayed live."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from dondoc_analytics.adapters.kafka import caught_up, end_offsets, recorded_positions
from dondoc_analytics.application.audit import _compare
from dondoc_analytics.projections import generations as gens, setbased
from dondoc_analytics.projections.projector import Projector
from services.analytics.tests import support as s

pytestmark = pytest.mark.integration


def batch(number: int) -> list:
    """A few units' tasks of one batch: assignments, some completions and adjustments."""
    events = []
    start = date(2016, 1, 4) + timedelta(days=number * 3)
    for i in range(12):
        task, lead = f"task-{number}-{i}", f"U{i % 5}"
        due = start + timedelta(days=30 + i * 7)
        events.append(s.assigned(task, lead, start, due))
        if i % 3 == 0:
            events.append(s.completed(task, lead, due + timedelta(days=i - 5)))
        if i % 4 == 1:
            events.append(s.adjusted(task, lead, start + timedelta(days=10), due + timedelta(days=60), due))
        if i % 7 == 2:
            events.append(s.withdrawn(task, lead, start + timedelta(days=20)))
    events.append(s.requested(f"report-{number}", f"U{number % 5}", start + timedelta(days=40)))
    events.append(s.submitted(f"report-{number}", f"U{number % 5}", start + timedelta(days=42)))
    return events


async def test_a_rebuild_while_events_arrive_ends_equal_and_never_blanks(parts, kafka_bootstrap, prefix) -> None:
    engine = parts.engine
    counter = itertools.count()
    async with s.Publisher(kafka_bootstrap, prefix) as publisher:
        await publisher.publish([unit for i in range(5) for unit in [s.unit(f"U{i}", f"Đơn vị {i}")]])
        for _ in range(20):
            await publisher.publish(batch(next(counter)))
        old = parts.projection.active()
        stop = asyncio.Event()
        reference = asyncio.create_task(parts.projection.consume(old, stop, follow_switch=False))
        assert await parts.projection.wait_caught_up(60)

        seen: list[tuple[int, int]] = []
        rebuilding = asyncio.Event()

        def look() -> tuple[int, int]:
            with engine.connect() as conn:
                events = conn.exec_driver_sql("SELECT count(*) FROM analytics_events").scalar()
                cards = conn.exec_driver_sql(
                    "SELECT count(*) FROM analytics_task_scorecard WHERE grouping = 'unit'").scalar()
            return events, cards

        async def dashboard() -> None:
            while not rebuilding.is_set():
                seen.append(await asyncio.to_thread(look))
                await asyncio.sleep(0.01)

        async def office() -> None:
            while not rebuilding.is_set():
                await publisher.publish(batch(next(counter)))
                await asyncio.sleep(0.05)

        watcher, producer = asyncio.create_task(dashboard()), asyncio.create_task(office())
        async with asyncio.timeout(60):
            while not seen:  # the dashboard is looking before the rebuild starts
                await asyncio.sleep(0.01)
        report = await parts.projection.rebuild(drop_old=False)
        seen.append(await asyncio.to_thread(look))  # and right after the switch
        follower = asyncio.create_task(parts.projection.follow(stop))
        for _ in range(3):
            await publisher.publish(batch(next(counter)))
        rebuilding.set()
        await asyncio.gather(watcher, producer)

    assert report.switched and parts.projection.active() == report.generation != old
    assert report.caught_up_events > 0  # events arrived while it rebuilt
    assert len(seen) >= 2 and min(count for count, _ in seen) > 0
    assert all(b[0] >= a[0] for a, b in zip(seen, seen[1:])), "a dashboard saw fewer events"
    assert min(cards for _, cards in seen) >= 5

    ends = await end_offsets(kafka_bootstrap, parts.topics)

    def both_caught_up() -> bool:
        with engine.connect() as conn:
            return all(caught_up(ends, recorded_positions(conn, gens.consumer_name(g)))
                       for g in (old, report.generation))

    async with asyncio.timeout(60):
        while not await asyncio.to_thread(both_caught_up):
            await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(reference, follower)
    live, rebuilt = gens.tables_of(old), gens.tables_of(report.generation)
    with engine.connect() as left, engine.connect() as right:
        for a, b in zip(live.all(), rebuilt.all(), strict=True):
            assert _compare(a.name, left, a, right, b) == []
        for a in (live.events, live.tasks, live.task_periods, live.reports, live.unit_versions):
            assert left.execute(sa.select(sa.func.count()).select_from(a)).scalar() > 0
        assert s.generation_shape(right, report.generation) == s.generation_shape(left, old)


@pytest.mark.parametrize("failing", ["the rest", "the events key"])
async def test_a_build_that_fails_half_way_is_never_read_and_is_dropped_whole(
        parts, kafka_bootstrap, prefix, monkeypatch, failing) -> None:
    async with s.Publisher(kafka_bootstrap, prefix) as publisher:
        await publisher.publish(batch(0))
    live = parts.projection.active()

    def broken(*_args, **_kwargs) -> None:
        raise RuntimeError("the database went away half-way")

    # the derive fails after the load (PostgreSQL: the other derived tables, after the
    # tasks' keys; or the events key, while the tasks' keys are built beside it; SQLite:
    # its one derive)
    with monkeypatch.context() as patched:
        if failing == "the rest":
            patched.setattr(setbased, "derive_the_rest", broken)
        else:
            patched.setattr(gens, "restore_events_key", broken)
        patched.setattr(Projector, "derive_all", broken)
        with pytest.raises(RuntimeError, match="half-way"):
            await parts.projection.build("scratch")
    with parts.engine.connect() as conn:
        failed = conn.execute(sa.select(sa.func.max(gens.GENERATIONS.c.generation))).scalar()
        assert recorded_positions(conn, gens.consumer_name(failed)) == {}  # never caught up
    assert failed != live and parts.projection.active() == live
    gens.drop_generation(parts.engine, failed)
    assert [t for t in sa.inspect(parts.engine).get_table_names() if t.startswith(f"an{failed}_")] == []

    built = await parts.projection.build("scratch")
    with parts.engine.connect() as conn:
        assert recorded_positions(conn, gens.consumer_name(built.generation))
        assert conn.execute(sa.select(sa.func.count()).select_from(
            gens.tables_of(built.generation).tasks)).scalar() == 12


async def test_a_rebuild_and_a_replay_of_nothing_yet_work(parts, kafka_bootstrap, prefix) -> None:
    """A fresh installation: nothing published yet (a rebuild), or nothing applied yet (the
    replay `audit verify` makes up to the live positions)."""
    from dondoc_analytics.application.audit import Auditor

    report = await parts.projection.rebuild()
    assert report.switched and report.events == 0
    verified = await Auditor(parts, {}).verify(use_kafka=False)
    assert verified.ok, [str(f) for f in verified.findings]
    async with s.Publisher(kafka_bootstrap, prefix) as publisher:  # published, not applied yet
        await publisher.publish(batch(0))
    verified = await Auditor(parts, {}).verify(use_kafka=False)
    assert verified.ok, [str(f) for f in verified.findings]
    assert verified.checked["rows:events"] == 0
