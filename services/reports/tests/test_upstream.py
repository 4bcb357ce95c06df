"""The local view from upstream events: a poison message goes to the dead letters and the
partition keeps moving; a redelivered event changes nothing; events sent while the service is
down are applied when it comes back. Real broker, real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import REGISTRY

from dondoc_contracts import Actor, Role, TaskReassigned, encode, envelope_for
from services.reports.tests.harness import XD, Harness, at, task_assigned, unit_registered, until

pytestmark = pytest.mark.integration


async def _tasks_of(h: Harness, unit: str) -> set[str]:
    response = await h.client.get(f"/units/{unit}/tasks", headers=h.token("office"))
    return {t["task_id"] for t in response.json()["items"]}


async def _dead_letters(h: Harness, topic: str, expected: int) -> list:
    consumer = AIOKafkaConsumer(h.prefix + topic + ".dlq", bootstrap_servers=h.kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    found: list = []
    try:
        async with asyncio.timeout(60):
            while len(found) < expected:
                for batch in (await consumer.getmany(timeout_ms=300)).values():
                    found.extend(batch)
    finally:
        await consumer.stop()
    return found


async def test_poison_goes_to_dead_letters_and_the_next_event_is_applied(harness: Harness) -> None:
    h = harness
    await h.produce_raw("dondoc.tasks.v1", b"{not json", [
        ("ce_specversion", b"1.0"), ("ce_id", b"poison-1"), ("ce_type", b"vn.dondoc.task.assigned.v1"),
        ("ce_source", b"/dondoc/tasks")])
    await h.produce_raw("dondoc.tasks.v1", b"{}", [
        ("ce_specversion", b"1.0"), ("ce_id", b"poison-2"), ("ce_type", b"vn.dondoc.task.invented.v1"),
        ("ce_source", b"/dondoc/tasks")])
    await h.produce(unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
                    task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5)))
    await until(lambda: _tasks_of(h, "BTG"), what="t1 applied after the poison")
    letters = await _dead_letters(h, "dondoc.tasks.v1", 2)
    reasons = sorted(dict(r.headers)["dlq_reason"].decode() for r in letters)
    assert reasons == ["invalid_json", "unknown_type"]


async def test_a_redelivered_event_changes_nothing_and_a_down_service_catches_up(harness: Harness) -> None:
    h = harness
    office = Actor(id="vptu.a", role=Role.OFFICE)
    await h.produce(unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
                    unit_registered("BDV", "Ban Dân vận Tỉnh ủy", XD),
                    task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5)))
    await until(lambda: _tasks_of(h, "BTG"), what="t1")
    consumer = h.prefix + "dondoc-reports-directory"
    skipped = REGISTRY.get_sample_value("dondoc_inbox_redeliveries_skipped_total",
                                        {"consumer": consumer}) or 0.0
    moved = TaskReassigned(occurred_at=at(date(2018, 5, 2)), actor=office, task_id="t1",
                           previous_lead_unit_id="BTG", lead_unit_id="BDV",
                           reassigned_on=date(2018, 5, 2))
    key, value, headers = encode(moved, envelope_for(moved, position=987_654_321))
    for _ in range(2):  # the same event (same ce_id) twice, as a relay restarted would send it
        await h._producer.send_and_wait(h.prefix + "dondoc.tasks.v1", value=value, key=key,
                                        headers=headers)
    await until(lambda: REGISTRY.get_sample_value("dondoc_inbox_redeliveries_skipped_total",
                                                  {"consumer": consumer}) == skipped + 1,
                what="the redelivery skipped")
    assert await _tasks_of(h, "BDV") == {"t1"} and await _tasks_of(h, "BTG") == set()

    await h.stop_service()
    await h.produce(task_assigned("t2", "BTG", assigned_on=date(2018, 6, 1)))
    await h.start_service(at(date(2018, 6, 2)))
    await until(lambda: _tasks_of(h, "BTG"), what="t2 applied after the restart")
    assert await _tasks_of(h, "BTG") == {"t2"}


def test_a_notices_tasks_reach_the_directory_in_one_statement(postgres_database: str) -> None:
    # Five tasks of a notice (one of them delivered twice in the batch, one known already
    # and assigned again): one upsert statement, each task once, the later row winning.
    import sqlalchemy as sa

    from dondoc_platform.inbox import Delivery
    from dondoc_reports.adapters import directory
    from dondoc_reports.adapters.sql import make_engine

    engine = make_engine(postgres_database)
    try:
        directory.metadata.create_all(engine)

        def delivered(*events: object) -> list[Delivery]:
            return [Delivery(envelope=envelope_for(e, position=i + 1), event=e, topic="dondoc.tasks.v1",
                             partition=0, offset=i) for i, e in enumerate(events)]

        with engine.begin() as conn:
            directory.apply_upstream(conn, delivered(task_assigned("t0", "BTG", assigned_on=date(2018, 3, 1))))
        statements: list[str] = []
        sa.event.listen(engine, "before_cursor_execute",
                        lambda conn, cursor, statement, *_: statements.append(statement))
        batch = [task_assigned(f"t{i}", "BDV", assigned_on=date(2018, 3, 5)) for i in range(5)]
        with engine.begin() as conn:
            directory.apply_upstream(conn, delivered(*batch, batch[2]))
        assert len(statements) == 1 and statements[0].count("%(task_id__") == 5, statements
        with engine.connect() as conn:
            rows = conn.execute(sa.select(directory.tasks.c.task_id, directory.tasks.c.lead_unit_id,
                                          directory.tasks.c.assigned_on)
                                .order_by(directory.tasks.c.task_id)).all()
        assert [tuple(r) for r in rows] == [(f"t{i}", "BDV", date(2018, 3, 5)) for i in range(5)]
    finally:
        engine.dispose()
