"""The office records its past obligations (a history import): a cycle opened after its due
day marks nothing overdue while it is open; the office records each report received on the
day it came in (a unit never back-dates); closing the cycle marks the missing reports overdue
once, at their business moment; a unit with nothing open at the cut-off may still owe a
report. Real broker, real PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from dondoc_contracts import ICT, ReportOverdue, ReportReviewed, ReportSubmitted, TaskCompleted
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

YEAR_2016 = {"kind": "year", "label": "2016", "starts_on": "2016-01-01", "ends_on": "2016-12-31"}


async def _seed(h: Harness) -> None:
    await h.produce(
        unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
        unit_registered("SKHDT", "Sở Kế hoạch và Đầu tư", KT),
        unit_registered("BDV", "Ban Dân vận Tỉnh ủy", XD),
        unit_registered("HCCB", "Hội Cựu chiến binh tỉnh", None),
        task_assigned("a1", "BTG", assigned_on=date(2016, 3, 1), due_on=date(2016, 12, 30)),
        task_assigned("b1", "SKHDT", assigned_on=date(2016, 3, 1), due_on=date(2016, 6, 30), group=KT),
        task_assigned("c1", "BDV", assigned_on=date(2016, 3, 1)),
        task_assigned("d1", "HCCB", assigned_on=date(2016, 3, 1), due_on=date(2016, 5, 31)),
        TaskCompleted(occurred_at=at(date(2016, 5, 20)), actor=OFFICE_ACTOR, task_id="d1",
                      lead_unit_id="HCCB", completed_on=date(2016, 5, 20)),
    )
    office = h.token("office")

    async def seen() -> bool:
        response = await h.client.get("/units/HCCB/tasks", headers=office,
                                      params={"include_closed": "true"})
        return any(t["completed_on"] == "2016-05-20" for t in response.json()["items"])

    await until(seen, what="the upstream events in the local view")


def _marked(h: Harness) -> int:
    """MarkedOverdue events in the store (what the watcher or a close recorded)."""
    log = h.service.parts["log"]
    return sum(1 for n in log.recorder.select_notifications(1, 10_000)
               if n.topic.endswith("Report.MarkedOverdue"))


@pytest.fixture
async def late_harness(kafka_bootstrap: str, postgres_database: str, tmp_path):
    """The service's clock in 2026: the office enters its 2016 records."""
    h = Harness(kafka_bootstrap, postgres_database, tmp_path, start=at(date(2026, 11, 20)))
    await h.start_service()
    yield h
    await h.close()


async def test_a_cycle_opened_after_its_due_day_decides_overdue_when_it_closes(late_harness: Harness) -> None:
    h = late_harness
    await _seed(h)
    office, btg = h.token("office"), h.token("unit", unit="BTG")
    opened = await h.client.post("/cycles", headers=office, json={
        "period": YEAR_2016, "data_cutoff_on": "2016-11-30", "due_on": "2016-11-30",
        "unit_ids": ["BTG", "SKHDT", "BDV", "HCCB"], "include_units_without_open_tasks": True})
    assert opened.status_code == 201, opened.text
    cycle = opened.json()
    assert cycle["overdue_decided_at_close"] is True
    reports = {o["unit_id"]: o["report_id"] for o in cycle["obligations"]}
    owed = {o["unit_id"]: o["task_ids"] for o in cycle["obligations"]}
    assert owed == {"BTG": ["a1"], "SKHDT": ["b1"], "BDV": ["c1"], "HCCB": []}

    # open, six years after the due day: the watcher marks nothing
    assert h.service.parts["watcher"].tick() == 0
    assert h.service.parts["view"].overdue_due(h.clock.now()) == []

    # a unit cannot date its report in the past; nothing is recorded
    before = h.service.parts["log"].recorder.max_notification_id()
    refused = await h.client.post(f"/reports/{reports['BTG']}/submissions", headers=btg, json={
        "submitted_on": "2016-11-28",
        "lines": [{"task_id": "a1", "status_claimed": "in_progress", "progress": "Đang làm"}]})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["field"] == "submitted_on"
    for day, code in (("2026-11-21", "submitted_in_future"), ("2015-12-31", "submitted_before_period")):
        bad = await h.client.post(f"/reports/{reports['BTG']}/submissions", headers=office, json={
            "submitted_on": day,
            "lines": [{"task_id": "a1", "status_claimed": "in_progress", "progress": "Đang làm"}]})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == code, bad.text
    assert h.service.parts["log"].recorder.max_notification_id() == before

    # the office records what its book says: BTG on time, SKHDT late, HCCB on time with
    # nothing open (an empty report), BDV never
    on_time = await h.client.post(f"/reports/{reports['BTG']}/submissions", headers=office, json={
        "submitted_on": "2016-11-28", "lines": [
            {"task_id": "a1", "status_claimed": "in_progress",
             "progress": "Nhập từ sổ theo dõi của Văn phòng"}]})
    assert on_time.status_code == 201, on_time.text
    assert (on_time.json()["first_submitted_on"], on_time.json()["on_time"]) == ("2016-11-28", True)
    assert on_time.json()["submissions"][0]["submitted_by"]["role"] == "office"
    late = await h.client.post(f"/reports/{reports['SKHDT']}/submissions", headers=office, json={
        "submitted_on": "2016-12-15", "lines": [
            {"task_id": "b1", "status_claimed": "in_progress", "progress": "Đang làm",
             "delay_reason": "Sổ theo dõi không ghi lý do"}]})
    assert late.status_code == 201, late.text
    assert late.json()["on_time"] is False
    assert datetime.fromisoformat(late.json()["overdue_at"]) == datetime(2016, 12, 1, tzinfo=ICT)
    nothing = await h.client.post(f"/reports/{reports['HCCB']}/submissions", headers=office,
                                  json={"submitted_on": "2016-11-25", "lines": []})
    assert nothing.status_code == 201, nothing.text
    assert _marked(h) == 1  # SKHDT's, recorded with its late submission

    # closing the cycle decides BDV's: overdue at 2016-12-01 00:00 (ICT), once
    closed = await h.client.post(f"/cycles/{cycle['cycle_id']}/close", headers=office)
    assert closed.status_code == 200, closed.text
    assert _marked(h) == 2
    assert h.service.parts["watcher"].tick() == 0
    await h.relayed()
    overdue = {e.unit_id: e for e in h.events(ReportOverdue)}
    assert set(overdue) == {"SKHDT", "BDV"}
    assert overdue["BDV"].overdue_at == overdue["BDV"].occurred_at == datetime(2016, 12, 1, tzinfo=ICT)
    submitted = {e.unit_id: e.submitted_on for e in h.events(ReportSubmitted)}
    assert submitted == {"BTG": date(2016, 11, 28), "SKHDT": date(2016, 12, 15),
                         "HCCB": date(2016, 11, 25)}
    listed = await h.client.get("/reports", headers=office, params={"cycle_id": cycle["cycle_id"]})
    timeliness = {r["unit_id"]: (r["on_time"], r["overdue_at"] is not None)
                  for r in listed.json()["items"]}
    assert timeliness == {"BTG": (True, False), "SKHDT": (False, True), "BDV": (None, True),
                          "HCCB": (True, False)}


async def test_without_the_option_a_unit_with_nothing_open_is_refused(late_harness: Harness) -> None:
    h = late_harness
    await _seed(h)
    office = h.token("office")
    body = {"period": YEAR_2016, "data_cutoff_on": "2016-11-30", "due_on": "2016-11-30",
            "unit_ids": ["BTG", "HCCB"]}
    refused = await h.client.post("/cycles", headers=office, json=body)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "unit_ids[1]"
    without_units = await h.client.post("/cycles", headers=office, json={
        **body, "unit_ids": None, "include_units_without_open_tasks": True})
    assert without_units.status_code == 422
    assert without_units.json()["error"]["field"] == "unit_ids"


async def test_a_cycle_opened_in_time_keeps_its_watcher(harness: Harness) -> None:
    """The 1 June 2018 clock: a cycle due later goes overdue by the watcher, as before."""
    h = harness
    await h.produce(unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
                    task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5)))
    office = h.token("office")

    async def seen() -> bool:
        response = await h.client.get("/units/BTG/tasks", headers=office)
        return len(response.json()["items"]) == 1

    await until(seen, what="the task in the local view")
    opened = await h.client.post("/cycles", headers=office, json={
        "period": {"kind": "quarter", "label": "Quý II/2018", "starts_on": "2018-04-01",
                   "ends_on": "2018-06-30"}, "data_cutoff_on": "2018-06-10", "due_on": "2018-06-15"})
    assert opened.status_code == 201 and opened.json()["overdue_decided_at_close"] is False
    h.clock.set(at(date(2018, 6, 16), 8))
    # the running watcher, woken by the clock (or by a commit), may mark it first: then this
    # tick finds nothing left; either way the report goes overdue once
    h.service.parts["watcher"].tick()
    await until(lambda: h.events(ReportOverdue), what="ReportOverdue published")
    await h.relayed()
    (overdue,) = h.events(ReportOverdue)
    assert overdue.overdue_at == datetime(2018, 6, 16, tzinfo=ICT)


async def test_the_office_records_a_past_review_on_the_day_it_was_made(late_harness: Harness) -> None:
    h = late_harness
    await _seed(h)
    office, reviewer = h.token("office"), h.token("reviewer", group=XD)
    opened = await h.client.post("/cycles", headers=office, json={
        "period": YEAR_2016, "data_cutoff_on": "2016-11-30", "due_on": "2016-11-30",
        "unit_ids": ["BTG"]})
    assert opened.status_code == 201, opened.text
    report_id = opened.json()["obligations"][0]["report_id"]
    submitted = await h.client.post(f"/reports/{report_id}/submissions", headers=office, json={
        "submitted_on": "2016-11-28", "lines": [
            {"task_id": "a1", "status_claimed": "in_progress", "progress": "Đang làm"}]})
    assert submitted.status_code == 201, submitted.text
    review = {"revision": 1, "lines": [{"task_id": "a1", "verdict": "accepted", "quality": "generic"}]}

    before = h.service.parts["log"].recorder.max_notification_id()
    refused = await h.client.post(f"/reports/{report_id}/reviews", headers=reviewer,
                                  json={**review, "reviewed_on": "2016-12-05"})
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "reviewed_on", refused.text
    for day, code in (("2026-11-21", "reviewed_in_future"), ("2016-11-27", "reviewed_before_submission")):
        bad = await h.client.post(f"/reports/{report_id}/reviews", headers=office,
                                  json={**review, "reviewed_on": day})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == code, bad.text
        assert bad.json()["error"]["field"] == "reviewed_on"
    assert h.service.parts["log"].recorder.max_notification_id() == before

    done = await h.client.post(f"/reports/{report_id}/reviews", headers=office,
                               json={**review, "reviewed_on": "2016-12-05"})
    assert done.status_code == 201, done.text
    await h.relayed()
    (event,) = h.events(ReportReviewed)
    assert (event.reviewed_on, event.outcome.value, event.lines[0].quality.value) == (
        date(2016, 12, 5), "accepted", "generic")
