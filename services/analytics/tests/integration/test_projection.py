"""The read models from real events on the real broker, on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from dondoc_contracts.values import Verdict
from dondoc_platform.clock import VN_TZ

from dondoc_analytics.projections.queries import Grouping
from services.analytics.tests import support as s
from services.analytics.tests.conftest import following

pytestmark = pytest.mark.integration

BTG, BDV = "BTG", "BDV"
ECON = "Kinh tế - xã hội"


def history() -> list:
    return [
        s.unit(BTG, "Ban Tuyên giáo Tỉnh ủy", "Xây dựng Đảng, hệ thống chính trị, nội chính"),
        s.unit(BDV, "Ban Dân vận Tỉnh ủy", "Xây dựng Đảng, hệ thống chính trị, nội chính"),
        # 2017, still open at the start of 2018: carried over, overdue since 1/12/2017
        s.assigned("t-carry", BTG, date(2017, 5, 2), date(2017, 11, 30)),
        # 2018: on time, late, adjusted, withdrawn, no deadline, reassigned
        s.assigned("t-ontime", BTG, date(2018, 3, 5), date(2018, 7, 2)),
        s.completed("t-ontime", BTG, date(2018, 7, 2), confirmed=date(2018, 7, 10)),
        s.assigned("t-late", BTG, date(2018, 3, 5), date(2018, 7, 2), key_task=True),
        s.completed("t-late", BTG, date(2018, 8, 1)),
        s.assigned("t-adjusted", BTG, date(2018, 3, 5), date(2018, 6, 29), domain="Tuyên giáo"),
        s.adjusted("t-adjusted", BTG, date(2018, 6, 20), date(2018, 9, 28), date(2018, 6, 29)),
        s.completed("t-adjusted", BTG, date(2018, 9, 1)),
        s.assigned("t-withdrawn", BTG, date(2018, 4, 2), date(2018, 10, 31)),
        s.withdrawn("t-withdrawn", BTG, date(2018, 10, 1)),
        s.assigned("t-standing", BTG, date(2018, 1, 15), None),
        s.assigned("t-moved", BTG, date(2018, 2, 1), date(2019, 6, 30)),
        s.reassigned("t-moved", BTG, BDV, date(2018, 5, 2)),
        s.progress("t-moved", BDV, date(2018, 6, 1), "Đã xây dựng kế hoạch"),
        s.requested("r-btg", BTG, date(2018, 11, 30), task_ids=["t-carry", "t-ontime"]),
        s.submitted("r-btg", BTG, date(2018, 12, 3), task_ids=["t-carry"]),
        s.reviewed("r-btg", BTG, date(2018, 12, 10), Verdict.RETURNED),
        s.submitted("r-btg", BTG, date(2018, 12, 20), revision=2),
        s.requested("r-bdv", BDV, date(2018, 11, 30)),
    ]


async def test_the_scorecard_counts_each_task_once_by_metrics_md(parts, kafka_bootstrap, prefix) -> None:
    async with s.Publisher(kafka_bootstrap, prefix) as publisher:
        await publisher.publish(history())
    async with following(parts):
        assert await parts.projection.wait_caught_up(60)
    card = parts.reading.scorecard(2018)
    rows = {r.key: r for r in card.rows}
    btg = rows[BTG].figures
    assert rows[BTG].name == "Ban Tuyên giáo Tỉnh ủy"
    assert (btg["assigned"], btg["carried_over"]) == (5, 1)
    assert (btg["completed_on_time"], btg["completed_late"], btg["open_overdue"],
            btg["open_no_deadline"], btg["withdrawn"], btg["open_in_time"]) == (2, 1, 1, 1, 1, 0)
    assert btg["completed_on_time_original"] == 1 and btg["completed_late_original"] == 2
    assert btg["on_time_rate_of_due"] == pytest.approx(2 / 4)
    assert btg["on_time_rate_of_all"] == pytest.approx(2 / 5)
    assert btg["overdue_over_120"] == 1  # due 30/11/2017, open at the end of 2018
    assert (btg["reports_due"], btg["reports_late"], btg["reports_returned"]) == (1, 1, 1)
    bdv = rows[BDV].figures
    assert (bdv["assigned"], bdv["open_in_time"], bdv["reports_missing"]) == (1, 1, 1)
    assert bdv["on_time_rate_of_due"] is None
    assert card.total.figures["assigned"] == 6

    by_domain = {r.key: r.figures for r in parts.reading.scorecard(2018, by=Grouping.DOMAIN).rows}
    assert by_domain["Tuyên giáo"]["completed_on_time"] == 1
    assert by_domain["Kinh tế"]["assigned"] == 5

    mid = parts.reading.scorecard(2018, as_of=datetime(2018, 7, 31, 23, tzinfo=VN_TZ))
    btg_mid = {r.key: r for r in mid.rows}[BTG].figures
    assert btg_mid["open_overdue"] == 2   # the carried-over task and t-late
    assert btg_mid["open_in_time"] == 2   # t-adjusted (extended) and t-withdrawn
    assert btg_mid["open_overdue_original"] == 3

    history_ = parts.reading.history("t-adjusted")
    assert [e["type"] for e in history_.events][:3] == ["TaskAssigned", "TaskDeadlineAdjusted",
                                                       "TaskCompleted"]
    assert "Ban Tuyên giáo Tỉnh ủy chủ trì" in history_.events[0]["what_vi"]
    assert history_.state_now["status"] == "completed_on_time"
    carried = parts.reading.history("t-carry")
    assert any(e["type"] == "ReportSubmitted" for e in carried.events)


async def test_a_back_dated_import_changes_the_past_it_belongs_to(parts, kafka_bootstrap, prefix) -> None:
    async with s.Publisher(kafka_bootstrap, prefix) as publisher, following(parts):
        await publisher.publish(history())
        assert await parts.projection.wait_caught_up(60)
        before = {r.key: r.figures for r in parts.reading.scorecard(2018).rows}[BTG]
        # imported years later: t-carry had in fact been completed on 20/12/2017
        await publisher.publish([s.completed("t-carry", BTG, date(2017, 12, 20),
                                             confirmed=date(2021, 3, 1))])
        assert await parts.projection.wait_caught_up(60)
    after = {r.key: r.figures for r in parts.reading.scorecard(2018).rows}[BTG]
    assert before["carried_over"] == 1 and after["carried_over"] == 0
    card_2017 = {r.key: r.figures for r in parts.reading.scorecard(2017).rows}[BTG]
    assert card_2017["completed_late"] == 1


async def test_redelivered_events_count_once_and_a_bad_message_is_dead_lettered(
        parts, kafka_bootstrap, prefix) -> None:
    """A relay that published again after a crash (the same events, the same ids) and a
    record no contract decodes: the figures are those of one delivery, the bad record goes
    to its dead-letter topic with its reason, and the consumer goes on past it."""
    from aiokafka import AIOKafkaProducer

    from dondoc_analytics.projections import generations as gens

    dead: list[tuple[str, bytes | None]] = []

    async def capture(topic, key, value, headers) -> None:
        dead.append((topic, dict(headers).get("dlq_reason")))

    parts.projection.publish = capture
    async with s.Publisher(kafka_bootstrap, prefix) as publisher:
        await publisher.publish(history())
    async with following(parts):
        assert await parts.projection.wait_caught_up(60)
    once = parts.reading.scorecard(2018)
    async with s.Publisher(kafka_bootstrap, prefix) as again:  # positions from 1: the same ids
        await again.publish(history())
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(f"{prefix}dondoc.tasks.v1", b"{not an event", key=b"t-ontime")
    finally:
        await producer.stop()
    async with following(parts):
        assert await parts.projection.wait_caught_up(60)
    twice = parts.reading.scorecard(2018)
    assert [(r.key, r.figures) for r in twice.rows] == [(r.key, r.figures) for r in once.rows]
    with parts.engine.connect() as conn:
        events = gens.tables_of(parts.projection.active()).events
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == len(history())
    assert [topic for topic, _ in dead] == [f"{prefix}dondoc.tasks.v1.dlq"]
    assert dead[0][1]
    assert await parts.projection.lag() == 0
