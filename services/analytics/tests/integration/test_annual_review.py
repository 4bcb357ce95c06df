"""The annual review's figures (documents by review group, the review team's judgement of
each report, key tasks, carry-over and adjustment requests) from real events on the real
broker, on PostgreSQL and SQLite; and a database of an earlier version upgraded in place."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from dondoc_contracts import events as ev
from dondoc_contracts.values import (
    AdjustmentKind,
    DeadlineKind,
    DeadlineRule,
    DirectiveItem,
    DirectiveKind,
    Verdict,
)
from dondoc_platform.clock import VN_TZ

from dondoc_analytics.domain.names import match_key
from services.analytics.tests import support as s
from services.analytics.tests.conftest import following

pytestmark = pytest.mark.integration

BTG, UBND, MTTQ = "BTG", "UBND", "MTTQ"
KT, XD, MT = "Kinh tế - xã hội", "Xây dựng Đảng, hệ thống chính trị, nội chính", "Mặt trận, đoàn thể"


def issued(number: str, kind: DirectiveKind, on: date, group: str | None,
           item_group: str = KT, revoked: date | None = None) -> list[ev.ContractEvent]:
    directive_id = f"d-{number}"  # as support.assigned names a task's directive
    item = DirectiveItem(item_id="1", paragraph="1", text="Triển khai", lead_unit_id=UBND,
                         deadline=DeadlineRule(kind=DeadlineKind.NONE), review_group=item_group)
    out: list[ev.ContractEvent] = [ev.DirectiveIssued(
        occurred_at=s.at(on), actor=s.OFFICE, directive_id=directive_id, number=number, kind=kind,
        issuing_body="BTV", issued_on=on, summary=f"Kết luận {number}", review_group=group,
        items=(item,))]
    if revoked:
        out.append(ev.DirectiveRevoked(occurred_at=s.at(revoked), actor=s.OFFICE,
                                       directive_id=directive_id, number=number,
                                       decision=s.adjusted("x", UBND, revoked, None).decision,
                                       reason="Không còn phù hợp"))
    return out


def asked(task_id: str, unit_id: str, on: date) -> ev.AdjustmentRequested:
    return ev.AdjustmentRequested(occurred_at=s.at(on), actor=s.OFFICE, request_id=f"rq-{task_id}",
                                  task_id=task_id, unit_id=unit_id, kind=AdjustmentKind.EXTEND,
                                  proposed_due_on=date(2019, 6, 28), reason="Chờ hướng dẫn",
                                  requested_on=on)


def history() -> list[ev.ContractEvent]:
    typed_in = date(2026, 11, 20)  # the office enters its 2018 records in 2026
    return [
        s.unit(BTG, "Ban Tuyên giáo Tỉnh ủy", XD), s.unit(UBND, "UBND tỉnh", KT),
        s.unit(MTTQ, "Ủy ban MTTQ Việt Nam tỉnh", MT),
        *issued("10-KL/TU", DirectiveKind.KET_LUAN, date(2018, 2, 1), KT),
        *issued("101-TB/TU", DirectiveKind.THONG_BAO_KET_LUAN, date(2018, 3, 1), None, XD),
        *issued("102-TB/TU", DirectiveKind.THONG_BAO_KET_LUAN, date(2018, 4, 1), "MẶT TRẬN,  đoàn thể"),
        *issued("103-TB/TU", DirectiveKind.THONG_BAO_KET_LUAN, date(2018, 5, 1), KT,
                revoked=date(2018, 6, 1)),
        *issued("90-TB/TU", DirectiveKind.THONG_BAO_KET_LUAN, date(2017, 5, 1), KT),
        s.assigned("t-101", BTG, date(2018, 3, 1), directive="101-TB/TU", review_group=XD),
        # carried over from 2016 and 2017: one asked for an adjustment, one adjusted, two neither
        s.assigned("c-asked", UBND, date(2016, 4, 1), date(2016, 12, 30), directive="90-TB/TU"),
        asked("c-asked", UBND, date(2018, 3, 1)),
        s.assigned("c-adjusted", UBND, date(2017, 4, 3), date(2017, 9, 29)),
        s.adjusted("c-adjusted", UBND, date(2017, 9, 20), date(2018, 3, 30), date(2017, 9, 29)),
        s.assigned("c-never", UBND, date(2017, 4, 3), date(2017, 10, 31)),
        s.assigned("c-never-2", BTG, date(2016, 4, 1), date(2016, 10, 31), review_group=XD),
        s.assigned("c-done", BTG, date(2017, 6, 1), date(2017, 12, 29), review_group=XD),
        s.completed("c-done", BTG, date(2018, 2, 1)),
        asked("c-never", UBND, date(2019, 2, 1)),  # after the end of 2018: not by then
        # 2018 key tasks: one overdue, one late, one on time
        s.assigned("k-overdue", UBND, date(2018, 3, 1), date(2018, 9, 28), key_task=True, domain="Đất đai"),
        s.assigned("k-late", UBND, date(2018, 3, 1), date(2018, 6, 29), key_task=True, domain="Lâm nghiệp"),
        s.completed("k-late", UBND, date(2018, 8, 1)),
        s.assigned("k-ontime", UBND, date(2018, 3, 1), date(2018, 6, 29), key_task=True),
        s.completed("k-ontime", UBND, date(2018, 6, 1)),
        # the 2018 obligations, typed in in 2026: BTG on time and specific, UBND on time but
        # generic, MTTQ late, and one never sent
        s.requested("r-btg", BTG, date(2018, 11, 30), on=typed_in),
        s.submitted("r-btg", BTG, date(2018, 11, 28)),
        s.reviewed("r-btg", BTG, date(2018, 12, 5), Verdict.ACCEPTED, qualities=["specific", "specific"]),
        s.requested("r-ubnd", UBND, date(2018, 11, 30), on=typed_in),
        s.submitted("r-ubnd", UBND, date(2018, 11, 30)),
        s.reviewed("r-ubnd", UBND, date(2018, 12, 6), Verdict.ACCEPTED, qualities=["specific", "generic"]),
        s.requested("r-mttq", MTTQ, date(2018, 11, 30), on=typed_in),
        s.submitted("r-mttq", MTTQ, date(2018, 12, 14)),
        s.reviewed("r-mttq", MTTQ, date(2018, 12, 20), Verdict.ACCEPTED, qualities=["specific"]),
        s.requested("r-mttq-q", MTTQ, date(2018, 6, 29), on=typed_in),
    ]


async def test_the_annual_review_counts_documents_reports_key_tasks_and_carry_over(
        parts, kafka_bootstrap, prefix) -> None:
    async with s.Publisher(kafka_bootstrap, prefix) as publisher:
        await publisher.publish(history())
    async with following(parts):
        assert await parts.projection.wait_caught_up(60)
    review = parts.reading.annual_review(2018)
    assert review["as_of"] == datetime(2019, 1, 1, tzinfo=VN_TZ)

    documents = {(r["review_group_key"], r["kind"]): r["documents"] for r in review["documents"]["rows"]}
    assert documents == {(match_key(KT), "ket_luan"): 1,  # 103-TB/TU was revoked in 2018
                         (match_key(XD), "thong_bao_ket_luan"): 1,  # the review group of its task
                         (match_key(MT), "thong_bao_ket_luan"): 1}
    assert review["documents"]["total"] == 3

    units = {u["key"]: u["figures"] for u in review["by_unit"]["rows"]}
    # obligations typed in years later count in the year they were due
    assert [units[u]["reports_due"] for u in (BTG, UBND, MTTQ)] == [1, 1, 2]
    assert (units[BTG]["reports_specific"], units[BTG]["reports_generic"]) == (1, 0)
    assert (units[UBND]["reports_specific"], units[UBND]["reports_generic"]) == (0, 1)
    assert (units[MTTQ]["reports_late"], units[MTTQ]["reports_missing"]) == (1, 1)
    assert [u["key"] for u in review["reported_well"]] == [BTG]
    assert [u["key"] for u in review["reported_late_or_missing"]] == [MTTQ]
    assert review["by_unit"]["total"]["reports_specific"] == 2
    # as of the end of November, the reviews of December are not made yet
    before = {r.key: r.figures for r in parts.reading.scorecard(
        2018, as_of=datetime(2018, 12, 1, tzinfo=VN_TZ)).rows}
    assert before[BTG]["reports_specific"] == 0 and before[BTG]["reports_on_time"] == 1

    assert {(t["task_id"], t["status"]) for t in review["key_tasks"]} == {
        ("k-overdue", "open_overdue"), ("k-late", "completed_late")}
    by_domain = {r["key"]: r["figures"] for r in review["by_domain"]["rows"]}
    assert by_domain["Đất đai"]["open_overdue"] == 1 and by_domain["Lâm nghiệp"]["completed_late"] == 1

    carried = {r["origin_year"]: r for r in review["carry_over"]["by_origin_year"]}
    assert {y: (r["carried_over"], r["carried_open"], r["adjustment_requested"], r["deadline_adjusted"],
                r["never_adjusted"]) for y, r in carried.items()} == {
        2016: (2, 2, 1, 0, 1), 2017: (3, 2, 0, 1, 1)}
    assert carried[2017]["completed_late"] == 1
    assert review["carry_over"]["total"]["never_adjusted"] == 2
    open_tasks = {t["task_id"]: (t["membership"], t["adjustment_requests"], t["deadline_adjustments"])
                  for t in review["carry_over"]["open_tasks"]}
    assert open_tasks == {"c-asked": ("carried_over", 1, 0), "c-adjusted": ("carried_over", 0, 1),
                          "c-never": ("carried_over", 0, 0), "c-never-2": ("carried_over", 0, 0)}
    assert review["definitions"]["on_time_rate_of_due"]["en"].startswith("completed_on_time ÷")
    assert review["labels"]["reports_generic"]["vi"] == "Báo cáo chung chung"
    # the 2019 request shows as of now
    now = {t["task_id"]: t["adjustment_requests"] for t in parts.reading.board(
        as_of=datetime(2019, 3, 1, tzinfo=VN_TZ), units=[UBND])[0]}
    assert now["c-never"] == 1


async def test_a_database_of_an_earlier_version_gains_the_review_quality(parts, kafka_bootstrap,
                                                                       prefix) -> None:
    from dondoc_analytics.projections.generations import active_generation

    async with s.Publisher(kafka_bootstrap, prefix) as publisher:
        await publisher.publish(history())
    async with following(parts):
        assert await parts.projection.wait_caught_up(60)
    expected = {r.key: r.figures for r in parts.reading.scorecard(2018).rows}
    with parts.engine.begin() as conn:
        table = f"an{active_generation(conn)}_report_reviews"
        for view in ("analytics_report_scorecard", "analytics_task_scorecard", "analytics_task_board",
                     "analytics_units", "analytics_report_reviews"):
            conn.exec_driver_sql(f'DROP VIEW IF EXISTS "{view}"')
        for column in ("lines_specific", "lines_generic"):
            conn.exec_driver_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        conn.exec_driver_sql(f'CREATE VIEW "analytics_report_reviews" AS SELECT * FROM "{table}"')
        conn.exec_driver_sql('ALTER TABLE "analytics_frozen_report_scorecards" DROP COLUMN "reports_generic"')
    parts.ensure_schema()
    upgraded = {r.key: r.figures for r in parts.reading.scorecard(2018).rows}
    assert upgraded == expected
    with parts.engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("analytics_frozen_report_scorecards")}
    assert "reports_generic" in columns
