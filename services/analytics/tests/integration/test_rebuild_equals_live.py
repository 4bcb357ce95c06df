"""A rebuild (bulk load, then the derived tables computed in bulk: set-based SQL on
PostgreSQL, Python on SQLite) gives row for row the read models the live consumer built
event by event, on generated histories with the awkward cases: facts dated before the
assignment (back-dated imports), repeated assignments, several facts on one day, deadlines
adjusted to none, tasks never assigned, reports returned and resubmitted, events delivered
twice, a record no contract accepts."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from dondoc_contracts import CATALOGUE, encode, envelope_for
from dondoc_contracts import events as ev
from dondoc_contracts.values import Verdict

from dondoc_analytics.application.audit import _compare
from dondoc_analytics.domain.wording import describe, render
from dondoc_analytics.projections import generations as gens
from services.analytics.tests import support as s
from services.analytics.tests.conftest import following

pytestmark = pytest.mark.integration

GROUPS = ["Kinh tế - xã hội", "Kinh tế – Xã hội", "Mặt trận, đoàn thể", None]


def history(seed: int, tasks: int = 150, reports: int = 30) -> list[ev.ContractEvent]:
    rng = random.Random(seed)
    units = [f"S{seed}-U{i}" for i in range(4)]
    out: list[ev.ContractEvent] = [s.unit(u, f"Đơn vị {u}") for u in units]
    first = date(2016, 1, 4)

    def day(low: int, high: int) -> date:
        return first + timedelta(days=rng.randint(low, high))

    for t in range(tasks):
        task, lead = f"s{seed}-t{t}", rng.choice(units)
        start = rng.randint(0, 700)
        due = None if rng.random() < 0.2 else first + timedelta(days=start + rng.randint(0, 200))
        facts: list[ev.ContractEvent] = []
        if rng.random() > 0.03:  # now and then a task whose assignment never came
            facts.append(s.assigned(task, lead, first + timedelta(days=start), due,
                                    review_group=rng.choice(GROUPS),
                                    key_task=rng.random() < 0.2,
                                    secrecy=rng.choice(["thuong", "mat"])).model_copy(
                update={"cooperating_unit_ids": tuple(rng.sample(units, rng.randint(0, 2)))}))
        if rng.random() < 0.05:  # imported twice
            facts.append(s.assigned(task, rng.choice(units), day(start - 5, start + 5), due))
        for _ in range(rng.randint(0, 4)):
            when = day(start - 30, start + 400)  # sometimes before the assignment
            kind = rng.choice(["reassign", "adjust", "adjust", "complete", "withdraw", "progress"])
            if kind == "reassign":
                new = rng.choice(units)
                facts.append(s.reassigned(task, lead, new, when,  # the cooperating list changes
                                          cooperating=rng.sample(units, rng.randint(0, 2))))
                lead = new
            elif kind == "adjust":
                facts.append(s.adjusted(task, lead, when, None if rng.random() < 0.2
                                        else when + timedelta(days=rng.randint(-10, 120)), due))
            elif kind == "complete":
                facts.append(s.completed(task, lead, when))
            elif kind == "withdraw":
                facts.append(s.withdrawn(task, lead, when))
            else:
                facts.append(s.progress(task, lead, when, "Đang triển khai"))
        if rng.random() < 0.2 and facts:  # a second fact on the same day as another
            facts.append(s.completed(task, lead, facts[-1].occurred_at.date()))
        out += facts
    task_ids = [f"s{seed}-t{t}" for t in range(tasks)]
    for r in range(reports):
        report, unit = f"s{seed}-r{r}", rng.choice(units)
        due = day(100, 900)
        mentioned = rng.sample(task_ids, rng.randint(0, 3))
        requested = s.requested(report, unit, due, on=due - timedelta(days=rng.randint(-60, 40)),
                                task_ids=mentioned)
        if rng.random() < 0.1:  # a submission that came before its request
            out.append(s.submitted(report, unit, due, 1, year=due.year, task_ids=mentioned))
        if rng.random() > 0.1:  # now and then a request that never came
            out.append(requested)
        if rng.random() < 0.1:  # and one entered twice
            out.append(requested.model_copy(update={"due_on": due + timedelta(days=3)}))
        submitted = due + timedelta(days=rng.randint(-15, 30))
        for revision in range(1, rng.randint(0, 3) + 1):
            out.append(s.submitted(report, unit, submitted, revision, year=due.year,
                                   task_ids=rng.sample(task_ids, rng.randint(0, 2))))
            out.append(s.reviewed(report, unit, submitted + timedelta(days=5),
                                  rng.choice([Verdict.RETURNED, Verdict.ACCEPTED]), revision,
                                  year=due.year, qualities=rng.choices(["specific", "generic"], k=2)))
            submitted += timedelta(days=rng.randint(1, 20))
    for n in range(12):
        directive = f"s{seed}-d{n}"
        issued = ev.DirectiveIssued.example().model_copy(update={
            "directive_id": directive, "number": f"{n}-TB/TU", "issued_on": day(0, 700)})
        later = [ev.DirectiveAmended.example().model_copy(update={
            "directive_id": directive, "number": f"{n}a-TB/TU",
            "summary": rng.choice([None, f"Sửa đổi {n}"])}) for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.3:
            later.append(ev.DirectiveRevoked.example().model_copy(update={"directive_id": directive}))
        if rng.random() < 0.15:  # the issue imported after its amendments
            out += later + [issued]
        else:
            out += [issued] + later
    for n in range(10):
        about = rng.choice([None, rng.choice(task_ids)])
        kind = rng.choice([ev.NotificationSent, ev.NotificationFailed])
        example = kind.example()
        out.append(example.model_copy(update={
            "notification_id": f"s{seed}-n{n}",
            "about": example.about.model_copy(update={"task_id": about})}))
    out.append(s.renamed(units[0], "Đơn vị đổi tên", f"Đơn vị {units[0]}", date(2017, 3, 1)))
    return out


async def live_then_rebuilt(parts):
    """The live consumer applies every published event, then a scratch generation is built
    from offset 0; every table of both is compared row for row. Returns the build's report
    and the live generation's tables."""
    live = parts.projection.active()
    stop = asyncio.Event()
    consumer = asyncio.create_task(parts.projection.consume(live, stop, follow_switch=False))
    assert await parts.projection.wait_caught_up(120)
    stop.set()
    await consumer

    built = await parts.projection.build("scratch")

    left_tables, right_tables = gens.tables_of(live), gens.tables_of(built.generation)
    with parts.engine.connect() as left, parts.engine.connect() as right:
        for a, b in zip(left_tables.all(), right_tables.all(), strict=True):
            assert _compare(a.name, left, a, right, b) == []
        # the same tables too: columns, types, NOT NULL, keys, indexes, logged
        assert s.generation_shape(right, built.generation) == s.generation_shape(left, live)
    return built, left_tables


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_rebuild_equals_the_live_read_models_row_for_row(parts, kafka_bootstrap, prefix,
                                                                  seed) -> None:
    events = history(seed)
    async with s.Publisher(kafka_bootstrap, prefix) as publisher:
        for start in range(0, len(events), 200):
            await publisher.publish(events[start:start + 200])
        # a record no contract accepts: the live consumer dead-letters it, the rebuild
        # leaves it out the same way
        bad = ev.TaskAssigned.example()
        _, _, headers = encode(bad, envelope_for(bad, position=10_000))
        await publisher.producer.send_and_wait(publisher.topics["tasks"], key=b"bad",
                                               value=b'{"task_id": 12}', headers=headers)
    # a relay that sent its first task events again after a crash (same positions, same ids)
    again = [e for e in events if e.service == "tasks"][:40]
    async with s.Publisher(kafka_bootstrap, prefix,
                           positions={"tasks": itertools.count(1)}) as publisher:
        await publisher.publish(again)
    built, left_tables = await live_then_rebuilt(parts)

    with parts.engine.connect() as left:
        counts = {t.name: left.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                  for t in (left_tables.tasks, left_tables.task_periods, left_tables.reports,
                            left_tables.report_reviews, left_tables.directives,
                            left_tables.event_tasks, left_tables.unit_versions)}
    assert built.events == len(events) and built.repeated == len(again)
    assert built.undecodable == 1
    # every record the producers wrote took the compiled decoder (its structs built the
    # rows, equal to the live consumer's from contract events); the bad one the contract
    assert built.compiled == len(events) + len(again)
    # and, in the form a relay writes them (its audit hash too), were trusted at the replay
    # without the proof's checks (docs/adr/0013): the tables are equal all the same
    assert built.trusted == len(events) + len(again)
    assert all(n > 0 for n in counts.values()), counts
    # PostgreSQL's loaders folded the tasks themselves (SQLite derives them from its table)
    assert built.tasks_folded_by_loaders is (parts.engine.dialect.name == "postgresql")


async def test_tasks_whose_events_span_loaders_are_derived_from_the_events_table(
        parts, kafka_bootstrap, prefix) -> None:
    """A producer that did not key a task's events by the task (they land in every
    partition, so in both loaders' shares): no loader sees a whole task, the rebuild notices
    and derives the tasks from the events table, and still equals the live read models."""
    events = history(3, tasks=60, reports=5)
    async with s.Publisher(kafka_bootstrap, prefix) as publisher:
        topic = publisher.topics["tasks"]
        partitions = sorted(await publisher.producer.partitions_for(topic))
        spread = itertools.cycle(partitions)
        for event in events:
            envelope = envelope_for(event, position=next(publisher.positions[event.service]))
            key, value, headers = encode(event, envelope)
            target = publisher.topics[event.service]
            await publisher.producer.send_and_wait(
                target, value=value, key=key, headers=headers,
                partition=next(spread) if target == topic else None)
    await _rebuilt_deriving_the_tasks_from_the_events(parts)


async def test_a_fold_the_events_key_does_not_confirm_is_rolled_back_and_derived_again(
        parts, kafka_bootstrap, prefix, monkeypatch) -> None:
    """PostgreSQL keys the loaders' tasks while the events key is built, betting that the
    repeats it drops are those the loaders saw; when they are not (an event repeated across
    two loaders' partitions, here told by the events key), the tasks' keys and indexes are
    rolled back and the tasks derived again from the events table: still equal to live."""
    events = history(4, tasks=60, reports=5)
    async with s.Publisher(kafka_bootstrap, prefix) as publisher:
        await publisher.publish(events)
    restore = gens.restore_events_key

    def one_more_repeat(conn, tables) -> int:
        return restore(conn, tables) + 1

    monkeypatch.setattr(gens, "restore_events_key", one_more_repeat)
    await _rebuilt_deriving_the_tasks_from_the_events(parts)


async def test_the_timeline_reads_every_kind_of_event_in_the_words_it_always_had(
        parts, kafka_bootstrap, prefix) -> None:
    """The sentences are rendered when read (docs/adr/0010): no generation stores them, and
    what the readers render from a live and from a rebuilt generation is, in Vietnamese and
    in English, what the consumer stored before (`describe` of the event as published), for
    an event of every kind of the catalogue."""
    published = {e.example().event_type: e.example() for e in CATALOGUE}
    async with s.Publisher(kafka_bootstrap, prefix) as publisher:
        await publisher.publish(list(published.values()))
    built, live_tables = await live_then_rebuilt(parts)
    for tables in (live_tables, gens.tables_of(built.generation)):
        with parts.engine.connect() as conn:
            rows = conn.execute(sa.select(tables.events)).mappings().all()
        assert sorted(r["event_type"] for r in rows) == sorted(published)
        for row in rows:
            assert (row["what_vi"], row["what_en"]) == (None, None)
            assert render(row["event_type"], row["payload"]) \
                == describe(published[row["event_type"]])
    # the history of a task (API, `dondoc history`) shows each of its events in both
    # languages, rendered with the units' names it knows
    task = ev.TaskAssigned.example().task_id
    shown = parts.reading.history(task).events
    assert {e["type"] for e in shown} >= {kind for kind, e in published.items()
                                           if getattr(e, "task_id", None) == task}
    assert all(e["what_vi"] and e["what_en"] and e["what_vi"] != e["what_en"] for e in shown)


def _as_the_version_before_0010(conn: sa.Connection, generation: int) -> None:
    """Make a generation's events table what the version before docs/adr/0010 made: the
    sentences stored in every row, and required."""
    events = gens.tables_of(generation).events
    for row in conn.execute(sa.select(events.c.event_id, events.c.event_type,
                                      events.c.payload)).all():
        vi, en = render(row.event_type, row.payload)
        conn.execute(events.update().where(events.c.event_id == row.event_id)
                     .values(what_vi=vi, what_en=en))
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f'ALTER TABLE "{events.name}" ALTER COLUMN what_vi SET NOT NULL, '
                             "ALTER COLUMN what_en SET NOT NULL")
        return
    old = gens.tables_of(generation).events
    old.c.what_vi.nullable = old.c.what_en.nullable = False
    conn.exec_driver_sql("DROP VIEW analytics_events")
    for index in old.indexes:
        conn.exec_driver_sql(f'DROP INDEX "{index.name}"')
    conn.exec_driver_sql(f'ALTER TABLE "{events.name}" RENAME TO "copied"')
    old.create(conn)
    conn.exec_driver_sql(f'INSERT INTO "{events.name}" SELECT * FROM "copied"')
    conn.exec_driver_sql('DROP TABLE "copied"')
    conn.exec_driver_sql(f'CREATE VIEW analytics_events AS SELECT * FROM "{events.name}"')


async def test_an_installation_that_stored_the_sentences_upgrades_in_place(
        parts, kafka_bootstrap, prefix) -> None:
    """The live generation of an earlier version requires and holds the sentences: at
    start-up the constraint goes (the rows keep their old words), the live consumer goes on
    writing rows without them, the timeline reads both alike, and a rebuild equals it."""
    events = history(4, tasks=20, reports=4)
    first, then = events[:60], events[60:]
    async with s.Publisher(kafka_bootstrap, prefix) as publisher:
        await publisher.publish(first)
        async with following(parts):
            assert await parts.projection.wait_caught_up(60)
        live = parts.projection.active()
        with parts.engine.begin() as conn:
            _as_the_version_before_0010(conn, live)
            nullable = {c["name"]: c["nullable"] for c in
                        sa.inspect(conn).get_columns(gens.tables_of(live).events.name)}
            assert (nullable["what_vi"], nullable["what_en"]) == (False, False)
        assert parts.ensure_schema() == live
        await publisher.publish(then)
    built, live_tables = await live_then_rebuilt(parts)  # the live consumer applies `then`
    with parts.engine.connect() as conn:
        stored = conn.execute(sa.select(live_tables.events.c.what_vi)).scalars().all()
    assert {vi is None for vi in stored} == {True, False}  # old words and new rows
    assert built.events == len(first) + len(then)
    task = next(e.task_id for e in then if isinstance(e, ev.TaskAssigned))
    assert all(e["what_vi"] and e["what_en"] for e in parts.reading.history(task).events)


async def _rebuilt_deriving_the_tasks_from_the_events(parts) -> None:
    """Live, then rebuilt (equal to live), with the tasks derived from the events table
    rather than taken from the loaders' own fold, and periods written."""
    built, _ = await live_then_rebuilt(parts)
    assert built.tasks_folded_by_loaders is False
    with parts.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(
            gens.tables_of(built.generation).task_periods)).scalar() > 0
