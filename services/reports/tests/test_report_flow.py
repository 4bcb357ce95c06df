"""Upstream events in through Kafka → report obligations → item-by-item submission, return,
resubmission, acceptance with completion confirmed; an adjustment request and decision; a
missing report overdue exactly once. Real broker, real PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from dondoc_contracts import (
    ICT,
    AdjustmentDecided,
    AdjustmentRequested,
    Frequency,
    ReportOverdue,
    ReportRequested,
    ReportReviewed,
    ReportSubmitted,
    TaskCompleted,
)
from services.reports.tests.harness import (
    KT,
    OFFICE_ACTOR,
    XD,
    Harness,
    at,
    task_assigned,
    unit_registered,
    until,
)

pytestmark = pytest.mark.integration


async def _seed(h: Harness) -> None:
    await h.produce(
        unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
        unit_registered("SKHDT", "Sở Kế hoạch và Đầu tư", KT),
        task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5), due_on=date(2018, 7, 2)),
        task_assigned("t2", "BTG", assigned_on=date(2018, 3, 5), recurring=Frequency.QUARTERLY),
        task_assigned("t3", "SKHDT", assigned_on=date(2018, 3, 5), group=KT),
        task_assigned("t4", "BTG", assigned_on=date(2018, 3, 5), due_on=date(2018, 5, 31)),
        task_assigned("t5", "BTG", assigned_on=date(2018, 3, 5), recurring=Frequency.YEARLY),
        task_assigned("t6", "BTG", assigned_on=date(2018, 6, 20), due_on=date(2018, 9, 28)),
        TaskCompleted(occurred_at=at(date(2018, 5, 10)), actor=OFFICE_ACTOR, task_id="t4",
                      lead_unit_id="BTG", completed_on=date(2018, 5, 10)),
    )
    office = h.token("office")

    async def seen() -> bool:
        response = await h.client.get("/units/BTG/tasks", headers=office,
                                      params={"include_closed": "true"})
        items = response.json()["items"]
        return len(items) == 5 and any(t["completed_on"] == "2018-05-10" for t in items)

    await until(seen, what="the upstream events in the local view")


async def test_a_year_of_one_cycle_from_upstream_events_to_reviewed_reports(harness: Harness) -> None:
    h = harness
    await _seed(h)
    office, btg = h.token("office"), h.token("unit", unit="BTG")
    reviewer = h.token("reviewer", group="XÂY DỰNG ĐẢNG,  hệ thống chính trị, nội chính")

    # the office opens the half-year cycle: obligations come from open and recurring tasks
    opened = await h.client.post("/cycles", headers=office, json={
        "period": {"kind": "half_year", "label": "6 tháng đầu năm 2018",
                   "starts_on": "2018-01-01", "ends_on": "2018-06-30"},
        "data_cutoff_on": "2018-06-15", "due_on": "2018-06-25", "title": "Rà soát 6 tháng"})
    assert opened.status_code == 201, opened.text
    cycle = opened.json()
    owed = {o["unit_id"]: o["task_ids"] for o in cycle["obligations"]}
    assert owed == {"BTG": ["t1", "t2"], "SKHDT": ["t3"]}  # t4 done, t5 yearly, t6 after cut-off
    await until(lambda: len(h.events(ReportRequested)) == 2, what="two ReportRequested")
    requested = h.events(ReportRequested, unit_id="BTG")[0]
    assert requested.task_ids == ("t1", "t2") and requested.due_on == date(2018, 6, 25)
    report_id = requested.report_id

    obligations = await h.client.get("/units/BTG/obligations", headers=btg)
    assert [o["report_id"] for o in obligations.json()["items"]] == [report_id]

    # the unit answers item by item
    h.clock.set(at(date(2018, 6, 20), 10))
    first = await h.client.post(f"/reports/{report_id}/submissions", headers=btg, json={
        "lines": [
            {"task_id": "t1", "status_claimed": "in_progress",
             "progress": "Đã tổ chức 12 hội nghị quán triệt", "evidence": "Kế hoạch 45-KH/BTGTU",
             "proposal": "extend", "proposed_due_on": "2018-09-28",
             "recommendation": "Đề nghị gia hạn đến quý III"},
            {"task_id": "t2", "status_claimed": "in_progress", "progress": "Báo cáo quý II đã gửi"},
        ],
        "summary": "Báo cáo tự rà soát 6 tháng đầu năm 2018"})
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "submitted" and first.json()["first_submitted_on"] == "2018-06-20"
    version = first.headers["ETag"]

    returned = await h.client.post(f"/reports/{report_id}/reviews", headers={**reviewer, "If-Match": version},
                                   json={"revision": 1, "lines": [
                                       {"task_id": "t1", "verdict": "returned", "quality": "generic",
                                        "comment": "Chưa nêu cụ thể kết quả"},
                                       {"task_id": "t2", "verdict": "accepted", "quality": "specific",
                                        "effectiveness": "medium"}]})
    assert returned.status_code == 201, returned.text
    assert returned.json()["status"] == "returned"

    # resubmission two days later: timeliness keeps the first submission's day
    h.clock.set(at(date(2018, 6, 27), 9))
    stale = await h.client.post(f"/reports/{report_id}/submissions",
                                headers={**btg, "If-Match": version}, json={"lines": []})
    assert stale.status_code in (409, 422)
    second = await h.client.post(f"/reports/{report_id}/submissions", headers=btg, json={"lines": [
        {"task_id": "t1", "status_claimed": "completed", "completed_on": "2018-06-26",
         "progress": "Đã hoàn thành: 12 hội nghị, 3.200 đảng viên tham dự",
         "evidence": "Báo cáo 52-BC/BTGTU"},
        {"task_id": "t2", "status_claimed": "in_progress", "progress": "Báo cáo quý II đã gửi"}]})
    assert second.status_code == 201, second.text
    assert second.json()["revision"] == 2
    assert second.json()["first_submitted_on"] == "2018-06-20" and second.json()["on_time"] is True

    accepted = await h.client.post(f"/reports/{report_id}/reviews", headers=office, json={
        "revision": 2, "comment": "Đạt yêu cầu", "lines": [
            {"task_id": "t1", "verdict": "accepted", "quality": "specific", "effectiveness": "high",
             "completion_confirmed": True},
            {"task_id": "t2", "verdict": "accepted", "quality": "specific"}]})
    assert accepted.status_code == 201, accepted.text
    detail = accepted.json()
    assert detail["status"] == "accepted"
    assert [s["revision"] for s in detail["submissions"]] == [1, 2]
    assert [r["outcome"] for r in detail["reviews"]] == ["returned", "accepted"]

    await until(lambda: len(h.events(ReportReviewed)) == 2, what="two ReportReviewed")
    final = h.events(ReportReviewed, revision=2)[0]
    assert final.outcome.value == "accepted"
    t1 = next(line for line in final.lines if line.task_id == "t1")
    assert t1.completion_confirmed and t1.completed_on == date(2018, 6, 26)
    assert [e.revision for e in h.events(ReportSubmitted, report_id=report_id)] == [1, 2]
    assert h.events(ReportSubmitted, revision=1)[0].lines[0].proposed_due_on == date(2018, 9, 28)

    # an adjustment request and its decision
    asked = await h.client.post("/adjustments", headers=btg, json={
        "task_id": "t6", "kind": "extend", "proposed_due_on": "2018-12-28",
        "reason": "Chờ hướng dẫn của Ban Tuyên giáo Trung ương", "report_id": report_id})
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["request_id"]
    again = await h.client.post("/adjustments", headers=btg, json={
        "task_id": "t6", "kind": "withdraw", "reason": "Không còn phù hợp"})
    assert again.status_code == 409 and again.json()["error"]["field"] == "task_id"
    decided = await h.client.post(f"/adjustments/{request_id}/decision",
                                  headers={**office, "If-Match": '"1"'}, json={
        "approved": True, "decision": {"number": "1520-CV/TU", "decided_on": "2018-06-27",
                                       "decider": "Thường trực Tỉnh ủy"}})
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved" and decided.json()["due_on"] == "2018-12-28"
    await until(lambda: h.events(AdjustmentDecided), what="AdjustmentDecided")
    decision = h.events(AdjustmentDecided)[0]
    assert decision.approved and decision.due_on == date(2018, 12, 28)
    assert decision.decision.number == "1520-CV/TU"
    assert h.events(AdjustmentRequested)[0].report_id == report_id

    # SKHDT never reported: overdue at 2018-06-26 00:00 (ICT), published once
    await until(lambda: h.events(ReportOverdue), what="ReportOverdue")
    await h.relayed()
    overdue = h.events(ReportOverdue)
    assert len(overdue) == 1 and overdue[0].unit_id == "SKHDT"
    assert overdue[0].overdue_at == datetime(2018, 6, 26, tzinfo=ICT)
    assert overdue[0].occurred_at == overdue[0].overdue_at
    h.clock.advance(timedelta(days=30))
    assert h.service.parts["watcher"].tick() == 0
    await h.relayed()
    assert len(h.events(ReportOverdue)) == 1
    listed = await h.client.get("/reports", headers=office, params={"overdue": "true"})
    assert [r["unit_id"] for r in listed.json()["items"]] == ["SKHDT"]
