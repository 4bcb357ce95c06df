"""A year of the office's work, and the start of the next, through the three services running
together (directives, tasks, reports: each on its own PostgreSQL database, talking only
through the real Kafka broker, all on one ManualClock).

Thông báo kết luận 125-TB/TU (5/3/2018) gives six items to five units. Through Kafka they
become six tasks and, once the office opens its report cycles, the report obligations: the
half-year cycle, the 2018 annual cycle and the first quarter of 2019. Along the way:

- reports on time (Ban Tuyên giáo, MTTQ, Ban Dân vận) and late (UBND tỉnh in June, Sở Kế
  hoạch và Đầu tư in January), one never sent (Sở KH&ĐT in June) and refused once the cycle
  is closed; ReportOverdue once per missing report, at the start of the day after the due day;
- completions confirmed on time through a review (Ban Tuyên giáo, Ban Dân vận), late through
  a review (Sở KH&ĐT, in 2019), late directly by the office (UBND tỉnh);
- Ban Dân vận's request to extend its deadline, decided by the Standing Board: the deadline
  moves, the original stays, and the task does not go overdue at the original date;
- Sở KH&ĐT's task goes overdue exactly once at 1/12/2018 00:00 and is carried into 2019,
  where the query API shows it with its whole history;
- MTTQ's quarterly task is owed a line in every cycle; Ban Tuyên giáo's yearly one only in
  the annual cycle.

Everything is asserted through the services' query APIs and the events read back from Kafka.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from dondoc_contracts import (
    AdjustmentDecided,
    AdjustmentRequested,
    ReportOverdue,
    ReportRequested,
    ReportReviewed,
    ReportSubmitted,
    TaskAssigned,
    TaskCompleted,
    TaskDeadlineAdjusted,
    TaskOverdue,
    TaskProgressRecorded,
)
from dondoc_platform.clock import VN_TZ
from dondoc_tasks.domain.tasks import task_id_for
from tests.support.services import REVIEW_GROUP_ECONOMY, REVIEW_GROUP_PARTY, until
from tests.support.inprocess import Suite, suite

pytestmark = pytest.mark.integration

FRONT = "Mặt trận, đoàn thể"
UNITS = [
    {"code": "BTG", "name": "Ban Tuyên giáo Tỉnh ủy", "review_group": REVIEW_GROUP_PARTY},
    {"code": "BDV", "name": "Ban Dân vận Tỉnh ủy", "review_group": REVIEW_GROUP_PARTY},
    {"code": "UBND", "name": "Ủy ban nhân dân tỉnh", "review_group": REVIEW_GROUP_ECONOMY},
    {"code": "SKHDT", "name": "Sở Kế hoạch và Đầu tư", "review_group": REVIEW_GROUP_ECONOMY,
     "parent_unit_id": "UBND"},
    {"code": "MTTQ", "name": "Ủy ban MTTQ Việt Nam tỉnh", "review_group": FRONT},
]

NOTICE = {
    "number": "125-TB/TU", "kind": "thong_bao_ket_luan", "issuing_body": "BTV",
    "issued_on": "2018-03-05", "signer": "Phó Bí thư Thường trực",
    "summary": "Kết luận của Ban Thường vụ Tỉnh ủy về nhiệm vụ trọng tâm năm 2018",
    "items": [
        {"item_id": "1", "paragraph": "1", "lead_unit_id": "UBND", "cooperating_unit_ids": ["BDV"],
         "text": "Đẩy nhanh thu hồi đất, giải phóng mặt bằng Khu kinh tế Đông Nam",
         "key_task": True, "domain": "Đất đai", "deadline": {"kind": "date", "due_on": "2018-06-29"}},
        {"item_id": "2", "paragraph": "2.a", "lead_unit_id": "BTG",
         "text": "Tuyên truyền kết quả thực hiện Nghị quyết Đại hội Đảng bộ tỉnh",
         "deadline": {"kind": "date", "due_on": "2018-06-29"}},
        {"item_id": "3", "paragraph": "2.b", "lead_unit_id": "MTTQ",
         "text": "Giám sát việc thực hiện chính sách giảm nghèo bền vững",
         "deadline": {"kind": "recurring", "frequency": "quarterly"}},
        {"item_id": "4", "paragraph": "3", "lead_unit_id": "BDV",
         "text": "Tổng kết công tác dân vận chính quyền",
         "deadline": {"kind": "date", "due_on": "2018-09-28"}},
        {"item_id": "5", "paragraph": "4", "lead_unit_id": "SKHDT", "key_task": True,
         "domain": "Đầu tư", "text": "Hoàn thiện quy hoạch chung xây dựng Khu kinh tế Đông Nam",
         "deadline": {"kind": "date", "due_on": "2018-11-30"}},
        {"item_id": "6", "paragraph": "5", "lead_unit_id": "BTG",
         "text": "Báo cáo Ban Thường vụ kết quả học tập và làm theo tư tưởng Hồ Chí Minh",
         "deadline": {"kind": "recurring", "frequency": "yearly"}},
    ],
}

LEAD = {item["item_id"]: item["lead_unit_id"] for item in NOTICE["items"]}


def moment(day: date, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=VN_TZ)


class Office:
    """The year's actors, each with its own token, speaking to the three APIs."""

    def __init__(self, s: Suite) -> None:
        self.s = s
        self.office = s.tokens.headers("office")
        self.party_reviewer = s.tokens.headers("reviewer", review_group="xây dựng đảng, HỆ THỐNG "
                                               "chính trị,  nội chính")
        self.economy_reviewer = s.tokens.headers("reviewer", review_group="kinh tế – xã hội")

    def unit(self, unit_id: str) -> dict[str, str]:
        return self.s.tokens.headers("unit", unit_id=unit_id)

    async def ok(self, response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    async def task(self, task_id: str) -> dict[str, Any]:
        return await self.ok(await self.s.t.get(f"/tasks/{task_id}", headers=self.office))

    async def open_cycle(self, kind: str, label: str, starts: str, ends: str, cutoff: str,
                         due: str) -> dict[str, Any]:
        return await self.ok(await self.s.r.post("/cycles", headers=self.office, json={
            "period": {"kind": kind, "label": label, "starts_on": starts, "ends_on": ends},
            "data_cutoff_on": cutoff, "due_on": due, "title": f"Rà soát {label}"}), 201)

    async def submit(self, report_id: str, unit_id: str, lines: list[dict[str, Any]]) -> Any:
        return await self.s.r.post(f"/reports/{report_id}/submissions", headers=self.unit(unit_id),
                                   json={"lines": lines, "summary": f"Báo cáo của {unit_id}"})

    async def review(self, report_id: str, who: dict[str, str], lines: list[dict[str, Any]],
                     revision: int = 1) -> dict[str, Any]:
        return await self.ok(await self.s.r.post(f"/reports/{report_id}/reviews", headers=who,
                                                 json={"revision": revision, "lines": lines}), 201)

    async def reports_know(self, task_id: str, **expected: Any) -> None:
        """Wait until the reports service's local view of the task shows `expected`."""
        unit_id = expected.pop("unit_id")

        async def known() -> bool:
            page = (await self.s.r.get(f"/units/{unit_id}/tasks", headers=self.office,
                                       params={"include_closed": "true"})).json()
            row = next((t for t in page["items"] if t["task_id"] == task_id), None)
            return row is not None and all(row[k] == v for k, v in expected.items())

        await until(known, what=f"task {task_id} in the reports service with {expected}")

    async def tasks_show(self, task_id: str, **expected: Any) -> dict[str, Any]:
        """Wait until the tasks service shows the task with `expected`."""
        async def shown() -> dict[str, Any] | None:
            view = await self.task(task_id)
            return view if all(view[k] == v for k, v in expected.items()) else None

        return await until(shown, what=f"task {task_id} with {expected}")


async def _claimed_in(o: Office, task_id: str, report_id: str) -> bool:
    progress = (await o.task(task_id))["last_progress"]
    return progress is not None and progress["report_id"] == report_id


def confirmed(line: str, *, completed: bool = False) -> dict[str, Any]:
    return {"task_id": line, "verdict": "accepted", "quality": "specific",
            "effectiveness": "high" if completed else "medium", "completion_confirmed": completed}


async def test_a_year_of_directives_tasks_and_reports(kafka_bootstrap: str, infra,
                                                      tmp_path: Path) -> None:
    admin = infra.postgres_database_url("postgres")
    async with suite(kafka_bootstrap, admin, tmp_path, moment(date(2018, 1, 2), 8)) as s:
        o = Office(s)
        await year_2018_and_q1_2019(s, o)


async def year_2018_and_q1_2019(s: Suite, o: Office) -> None:
    # ---- January: the directory -------------------------------------------------------
    for unit in UNITS:
        await o.ok(await s.d.post("/units", json=unit, headers=o.office), 201)

    # ---- 5 March: the notice, six items to five units -------------------------------------
    s.clock.set(moment(date(2018, 3, 5), 10))
    issued = await o.ok(await s.d.post("/directives", json=NOTICE, headers=o.office), 201)
    directive_id = issued["directive_id"]
    t = {item: str(task_id_for(directive_id, item)) for item in LEAD}
    assigned = await s.seen(TaskAssigned, 6, "the notice's six tasks")
    assert {e.task_id: (e.lead_unit_id, e.due_on, e.original_due_on, e.report_frequency)
            for e in assigned} == {
        t["1"]: ("UBND", date(2018, 6, 29), date(2018, 6, 29), None),
        t["2"]: ("BTG", date(2018, 6, 29), date(2018, 6, 29), None),
        t["3"]: ("MTTQ", None, None, "quarterly"),
        t["4"]: ("BDV", date(2018, 9, 28), date(2018, 9, 28), None),
        t["5"]: ("SKHDT", date(2018, 11, 30), date(2018, 11, 30), None),
        t["6"]: ("BTG", None, None, "yearly"),
    }
    assert {e.directive_number for e in assigned} == {"125-TB/TU"}
    listed = (await s.t.get("/tasks", params={"directive_id": directive_id},
                            headers=s.tokens.headers("leader"))).json()
    assert sorted(v["task_id"] for v in listed["items"]) == sorted(t.values())
    assert {v["task_id"]: v["status"] for v in listed["items"]} == {
        t["1"]: "open_in_time", t["2"]: "open_in_time", t["3"]: "open_no_deadline",
        t["4"]: "open_in_time", t["5"]: "open_in_time", t["6"]: "open_no_deadline"}
    bdv = (await s.t.get("/tasks", headers=o.unit("BDV"))).json()["items"]
    assert sorted(v["task_id"] for v in bdv) == sorted([t["1"], t["4"]])  # cooperates on 1
    for item, unit_id in LEAD.items():
        await o.reports_know(t[item], unit_id=unit_id)

    # ---- 15 June: the half-year cycle and its obligations ----------------------------------
    s.clock.set(moment(date(2018, 6, 15)))
    half = await o.open_cycle("half_year", "6 tháng đầu năm 2018", "2018-01-01", "2018-06-30",
                              "2018-06-15", "2018-06-25")
    owed = {ob["unit_id"]: ob["task_ids"] for ob in half["obligations"]}
    assert owed == {"BDV": [t["4"]], "BTG": [t["2"]], "MTTQ": [t["3"]], "SKHDT": [t["5"]],
                    "UBND": [t["1"]]}  # BTG's yearly task owes nothing before the year's end
    half_report = {ob["unit_id"]: ob["report_id"] for ob in half["obligations"]}
    requested = await s.seen(ReportRequested, 5, "the half-year obligations")
    assert {(e.unit_id, e.due_on) for e in requested} == {(u, date(2018, 6, 25)) for u in owed}
    mine = (await s.r.get("/units/MTTQ/obligations", headers=o.unit("MTTQ"))).json()["items"]
    assert [(ob["report_id"], ob["task_ids"], ob["status"]) for ob in mine] == [
        (half_report["MTTQ"], [t["3"]], "requested")]

    # ---- 20–22 June: reports on time, a completion confirmed by the review ------------------
    s.clock.set(moment(date(2018, 6, 20), 10))
    await o.ok(await o.submit(half_report["BTG"], "BTG", [
        {"task_id": t["2"], "status_claimed": "completed", "completed_on": "2018-06-15",
         "progress": "Đã tổ chức 12 hội nghị quán triệt, 3.200 đảng viên tham dự",
         "evidence": "Báo cáo 52-BC/BTGTU"}]), 201)
    await o.ok(await o.submit(half_report["MTTQ"], "MTTQ", [
        {"task_id": t["3"], "status_claimed": "in_progress",
         "progress": "Đã giám sát quý I và quý II tại 4 huyện"}]), 201)
    await o.ok(await o.submit(half_report["BDV"], "BDV", [
        {"task_id": t["4"], "status_claimed": "in_progress", "progress": "Đang tổng hợp"}]), 201)
    s.clock.set(moment(date(2018, 6, 22), 14))
    await o.review(half_report["BTG"], o.party_reviewer, [confirmed(t["2"], completed=True)])
    await o.review(half_report["BDV"], o.party_reviewer, [confirmed(t["4"])])
    await o.review(half_report["MTTQ"], o.office, [confirmed(t["3"])])
    done = await o.tasks_show(t["2"], status="completed_on_time")
    assert done["completed_on"] == "2018-06-15"
    assert done["completion"]["report_id"] == half_report["BTG"]
    assert done["last_progress"]["report_id"] == half_report["BTG"]

    # ---- 26 June 00:00: two reports missing -> ReportOverdue, once each ---------------------
    s.clock.set(moment(date(2018, 6, 25), 23, 59, 59))
    assert s.reports.parts["watcher"].tick() == 0
    s.clock.set(moment(date(2018, 6, 26), 0))
    late_reports = await s.seen(ReportOverdue, 2, "UBND's and SKHDT's half-year reports")
    assert {(e.unit_id, e.overdue_at, e.occurred_at) for e in late_reports} == {
        (u, moment(date(2018, 6, 26), 0), moment(date(2018, 6, 26), 0)) for u in ("UBND", "SKHDT")}

    # ---- 28 June: UBND reports late -----------------------------------------------------------
    s.clock.set(moment(date(2018, 6, 28), 15))
    late = await o.ok(await o.submit(half_report["UBND"], "UBND", [
        {"task_id": t["1"], "status_claimed": "in_progress",
         "progress": "Đã thu hồi 85% diện tích", "evidence": "Báo cáo 301/BC-UBND"}]), 201)
    assert (late["on_time"], late["first_submitted_on"]) == (False, "2018-06-28")
    assert late["overdue_at"] is not None

    # ---- 30 June 00:00: UBND's task goes overdue; Ban Tuyên giáo's was completed in time ----
    s.clock.set(moment(date(2018, 6, 29), 23, 59, 59))
    await until(lambda: s.tasks.parts["watcher"].fire() == 0
                and not s.tasks.parts["watcher"].reached(s.clock.now()),
                what="nothing overdue one second before the moment")
    s.clock.set(moment(date(2018, 6, 30), 0))
    (overdue_1,) = await s.seen(TaskOverdue, 1, "UBND's task overdue")
    assert (overdue_1.task_id, overdue_1.due_on, overdue_1.overdue_at) == (
        t["1"], date(2018, 6, 29), moment(date(2018, 6, 30), 0))
    await o.tasks_show(t["1"], status="open_overdue", overdue_for=["2018-06-29"])

    # ---- 10–16 July: the office confirms UBND's completion, late; the cycle closes --------
    s.clock.set(moment(date(2018, 7, 10)))
    view = await o.ok(await s.t.post(f"/tasks/{t['1']}/completion", headers=o.office, json={
        "completed_on": "2018-07-09", "result": "Đã bàn giao mặt bằng cho nhà đầu tư",
        "evidence": "Biên bản bàn giao ngày 09/7/2018"}))
    assert (view["status"], view["completion"]["confirmed_role"]) == ("completed_late", "office")
    s.clock.set(moment(date(2018, 7, 16)))
    await o.ok(await s.r.post(f"/cycles/{half['cycle_id']}/close", headers=o.office))
    refused = await o.submit(half_report["SKHDT"], "SKHDT", [
        {"task_id": t["5"], "status_claimed": "in_progress", "progress": "Đang lập quy hoạch"}])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "cycle_closed"
    assert refused.json()["error"]["message_en"] and refused.json()["error"]["message_vi"]

    # ---- September: Ban Dân vận asks to extend; the Standing Board decides --------------------
    s.clock.set(moment(date(2018, 9, 10)))
    request = await o.ok(await s.r.post("/adjustments", headers=o.unit("BDV"), json={
        "task_id": t["4"], "kind": "extend", "proposed_due_on": "2018-12-28",
        "reason": "Chờ hướng dẫn tổng kết của Ban Dân vận Trung ương"}), 201)
    s.clock.set(moment(date(2018, 9, 12)))
    decided = await o.ok(await s.r.post(
        f"/adjustments/{request['request_id']}/decision",
        headers={**o.office, "If-Match": f'"{request["version"]}"'},
        json={"approved": True, "decision": {"number": "1520-CV/TU", "decided_on": "2018-09-12",
                                             "decider": "Thường trực Tỉnh ủy"}}))
    assert (decided["status"], decided["due_on"]) == ("approved", "2018-12-28")
    moved = await o.tasks_show(t["4"], due_on="2018-12-28")
    assert moved["original_due_on"] == "2018-09-28"
    assert [(a["kind"], a["previous_due_on"], a["due_on"], a["decision"]["number"],
             a["request_id"]) for a in moved["adjustments"]] == [
        ("extend", "2018-09-28", "2018-12-28", "1520-CV/TU", request["request_id"])]
    await o.reports_know(t["4"], unit_id="BDV", due_on="2018-12-28", original_due_on="2018-09-28")
    s.clock.set(moment(date(2018, 9, 29), 0))  # the original moment passes: nothing happens
    await until(lambda: s.tasks.parts["watcher"].fire() == 0
                and not s.tasks.parts["watcher"].reached(s.clock.now()),
                what="no overdue at the original deadline")
    assert (await o.task(t["4"]))["status"] == "open_in_time"
    assert (await o.task(t["4"]))["status_against_original"] == "open_overdue"

    # ---- 1 December 00:00: Sở KH&ĐT's task goes overdue, once -------------------------------
    s.clock.set(moment(date(2018, 11, 30), 23, 59, 59))
    assert s.tasks.parts["watcher"].reached(s.clock.now()) == []
    s.clock.set(moment(date(2018, 12, 1), 0))
    await s.seen(TaskOverdue, 1, "SKHDT's task overdue", task_id=t["5"])
    s.clock.set(moment(date(2018, 12, 3)))
    assert s.tasks.parts["watcher"].fire() == 0

    # ---- December: the annual cycle ------------------------------------------------------
    # the reports service learns completions through Kafka: they decide who owes what
    await o.reports_know(t["1"], unit_id="UBND", completed_on="2018-07-09")
    await o.reports_know(t["2"], unit_id="BTG", completed_on="2018-06-15")
    s.clock.set(moment(date(2018, 12, 14)))
    annual = await o.open_cycle("year", "Năm 2018", "2018-01-01", "2018-12-31", "2018-12-14",
                                "2018-12-25")
    assert {ob["unit_id"]: ob["task_ids"] for ob in annual["obligations"]} == {
        "BDV": [t["4"]], "BTG": [t["6"]], "MTTQ": [t["3"]], "SKHDT": [t["5"]]}
    annual_report = {ob["unit_id"]: ob["report_id"] for ob in annual["obligations"]}
    s.clock.set(moment(date(2018, 12, 20), 16))
    await o.ok(await o.submit(annual_report["BDV"], "BDV", [
        {"task_id": t["4"], "status_claimed": "completed", "completed_on": "2018-12-20",
         "progress": "Đã tổ chức hội nghị tổng kết", "evidence": "Báo cáo 87-BC/BDVTU"}]), 201)
    await o.ok(await o.submit(annual_report["BTG"], "BTG", [
        {"task_id": t["6"], "status_claimed": "in_progress",
         "progress": "Đã báo cáo Ban Thường vụ kết quả năm 2018"}]), 201)
    await o.ok(await o.submit(annual_report["MTTQ"], "MTTQ", [
        {"task_id": t["3"], "status_claimed": "in_progress",
         "progress": "Đã giám sát quý III và quý IV"}]), 201)
    s.clock.set(moment(date(2018, 12, 21)))
    await o.review(annual_report["BDV"], o.party_reviewer, [confirmed(t["4"], completed=True)])
    await o.review(annual_report["BTG"], o.party_reviewer, [confirmed(t["6"])])
    await o.review(annual_report["MTTQ"], o.office, [confirmed(t["3"])])
    extended = await o.tasks_show(t["4"], status="completed_on_time")
    assert extended["completed_on"] == "2018-12-20"
    assert extended["status_against_original"] == "completed_late"
    s.clock.set(moment(date(2018, 12, 26), 0))
    await s.seen(ReportOverdue, 3, "SKHDT's annual report missing")

    # ---- January 2019: Sở KH&ĐT reports late; the task is carried into the new year -----------
    s.clock.set(moment(date(2019, 1, 7), 9))
    no_reason = await o.submit(annual_report["SKHDT"], "SKHDT", [
        {"task_id": t["5"], "status_claimed": "in_progress", "progress": "Đang trình phê duyệt"}])
    assert no_reason.status_code == 422
    assert no_reason.json()["error"]["field"] == "lines[0].delay_reason"
    january = await o.ok(await o.submit(annual_report["SKHDT"], "SKHDT", [
        {"task_id": t["5"], "status_claimed": "in_progress", "progress": "Đang trình phê duyệt",
         "delay_reason": "Chờ ý kiến thẩm định của Bộ Xây dựng"}]), 201)
    assert (january["on_time"], january["first_submitted_on"]) == (False, "2019-01-07")
    await until(lambda: _claimed_in(o, t["5"], annual_report["SKHDT"]),
                what="the late report's claim in the tasks service")
    of_2019 = (await s.t.get("/tasks", params={"year": 2019}, headers=o.office)).json()["items"]
    assert {v["task_id"]: (v["carried_over"], v["status"]) for v in of_2019} == {
        t["3"]: (True, "open_no_deadline"), t["5"]: (True, "open_overdue"),
        t["6"]: (True, "open_no_deadline")}
    carried = next(v for v in of_2019 if v["task_id"] == t["5"])
    assert (carried["days_overdue"], carried["ageing_bucket"]) == (38, "31-90")
    of_2018 = (await s.t.get("/tasks", params={"year": 2018}, headers=o.office)).json()["items"]
    assert sorted(v["task_id"] for v in of_2018) == sorted(t.values())
    assert not any(v["carried_over"] for v in of_2018)

    # ---- March 2019: the first quarter; Sở KH&ĐT's completion confirmed, late ------------------
    await o.reports_know(t["4"], unit_id="BDV", completed_on="2018-12-20")
    s.clock.set(moment(date(2019, 3, 15)))
    q1 = await o.open_cycle("quarter", "Quý I/2019", "2019-01-01", "2019-03-31", "2019-03-15",
                            "2019-03-25")
    assert {ob["unit_id"]: ob["task_ids"] for ob in q1["obligations"]} == {
        "MTTQ": [t["3"]], "SKHDT": [t["5"]]}  # the yearly task owes nothing in a quarter
    q1_report = {ob["unit_id"]: ob["report_id"] for ob in q1["obligations"]}
    s.clock.set(moment(date(2019, 3, 20)))
    await o.ok(await o.submit(q1_report["SKHDT"], "SKHDT", [
        {"task_id": t["5"], "status_claimed": "completed", "completed_on": "2019-03-12",
         "progress": "Quy hoạch đã được phê duyệt", "evidence": "Quyết định 512/QĐ-UBND"}]), 201)
    await o.ok(await o.submit(q1_report["MTTQ"], "MTTQ", [
        {"task_id": t["3"], "status_claimed": "in_progress", "progress": "Giám sát quý I/2019"}]),
        201)
    s.clock.set(moment(date(2019, 3, 21)))
    await o.review(q1_report["SKHDT"], o.economy_reviewer, [confirmed(t["5"], completed=True)])
    finished = await o.tasks_show(t["5"], status="completed_late")
    assert (finished["completed_on"], finished["completion"]["report_id"],
            finished["completion"]["confirmed_role"]) == ("2019-03-12", q1_report["SKHDT"],
                                                          "reviewer")
    history = (await s.t.get(f"/tasks/{t['5']}/history", headers=o.unit("SKHDT"))).json()
    assert [(h["type"], h["occurred_at"][:10]) for h in history] == [
        ("TaskAssigned", "2018-03-05"), ("TaskOverdue", "2018-12-01"),
        ("TaskProgressRecorded", "2019-01-07"), ("TaskProgressRecorded", "2019-03-20"),
        ("TaskCompleted", "2019-03-21")]
    of_2019 = (await s.t.get("/tasks", params={"year": 2019}, headers=o.office)).json()["items"]
    assert {v["task_id"]: v["status"] for v in of_2019}[t["5"]] == "completed_late"

    await final_account(s, o, t, half_report, annual_report, q1_report, request["request_id"])


async def final_account(s: Suite, o: Office, t: dict[str, str], half: dict[str, str],
                        annual: dict[str, str], q1: dict[str, str], request_id: str) -> None:
    """Once everything is on Kafka: every fact once, in the taxonomy the office counts."""
    for service in (s.directives, s.tasks, s.reports):
        await until(lambda relay=service.parts["relay"]: relay.status().lag_events == 0,
                    what=f"the {service.name} outbox relayed")
    await s.events.drain()

    def once(kind: type) -> Counter:
        ids = Counter(e.id for e, event in zip(s.events.envelopes, s.events.events, strict=True)
                      if isinstance(event, kind))
        assert set(ids.values()) == {1}, f"{kind.__name__} published twice: {ids}"
        return ids

    for kind in (TaskAssigned, TaskOverdue, TaskCompleted, ReportOverdue, ReportRequested):
        once(kind)
    assert Counter(e.task_id for e in s.of(TaskAssigned)) == Counter(t.values())
    assert sorted((e.task_id, e.due_on, e.overdue_at) for e in s.of(TaskOverdue)) == sorted([
        (t["1"], date(2018, 6, 29), moment(date(2018, 6, 30), 0)),
        (t["5"], date(2018, 11, 30), moment(date(2018, 12, 1), 0))])
    assert {e.task_id: (e.completed_on, e.report_id) for e in s.of(TaskCompleted)} == {
        t["2"]: (date(2018, 6, 15), half["BTG"]), t["1"]: (date(2018, 7, 9), None),
        t["4"]: (date(2018, 12, 20), annual["BDV"]), t["5"]: (date(2019, 3, 12), q1["SKHDT"])}
    (adjusted,) = s.of(TaskDeadlineAdjusted)
    assert (adjusted.task_id, adjusted.previous_due_on, adjusted.due_on, adjusted.original_due_on,
            adjusted.decision.number, adjusted.request_id) == (
        t["4"], date(2018, 9, 28), date(2018, 12, 28), date(2018, 9, 28), "1520-CV/TU", request_id)
    assert [(e.request_id, e.task_id) for e in s.of(AdjustmentRequested)] == [(request_id, t["4"])]
    assert [(e.request_id, e.approved) for e in s.of(AdjustmentDecided)] == [(request_id, True)]
    assert sorted((e.unit_id, e.due_on) for e in s.of(ReportOverdue)) == [
        ("SKHDT", date(2018, 6, 25)), ("SKHDT", date(2018, 12, 25)), ("UBND", date(2018, 6, 25))]
    assert len(s.of(ReportRequested)) == 5 + 4 + 2
    assert len(s.of(ReportSubmitted)) == 4 + 4 + 2 and len(s.of(ReportReviewed)) == 3 + 3 + 1
    claims = {(e.task_id, e.report_id) for e in s.of(TaskProgressRecorded)}
    assert (t["5"], annual["SKHDT"]) in claims and (t["1"], half["UBND"]) in claims

    # the office's view: timeliness of every report, the units' obligations
    reports = (await s.r.get("/reports", headers=o.office, params={"limit": 200})).json()
    timeliness = {(r["unit_id"], r["due_on"]): (r["on_time"], r["overdue_at"] is not None)
                  for r in reports["items"]}
    assert timeliness == {
        ("BDV", "2018-06-25"): (True, False), ("BTG", "2018-06-25"): (True, False),
        ("MTTQ", "2018-06-25"): (True, False), ("UBND", "2018-06-25"): (False, True),
        ("SKHDT", "2018-06-25"): (None, True),
        ("BDV", "2018-12-25"): (True, False), ("BTG", "2018-12-25"): (True, False),
        ("MTTQ", "2018-12-25"): (True, False), ("SKHDT", "2018-12-25"): (False, True),
        ("MTTQ", "2019-03-25"): (True, False), ("SKHDT", "2019-03-25"): (True, False)}
    recurring = (await s.r.get("/units/MTTQ/obligations", headers=o.unit("MTTQ"))).json()["items"]
    assert [(ob["due_on"], ob["task_ids"], ob["status"]) for ob in recurring] == [
        ("2018-06-25", [t["3"]], "accepted"), ("2018-12-25", [t["3"]], "accepted"),
        ("2019-03-25", [t["3"]], "submitted")]
    yearly = (await s.r.get("/units/BTG/obligations", headers=o.unit("BTG"))).json()["items"]
    assert [ob["task_ids"] for ob in yearly] == [[t["2"]], [t["6"]]]
    statuses = {v["task_id"]: (v["status"], v["status_against_original"]) for v in (
        await s.t.get("/tasks", params={"limit": 200}, headers=o.office)).json()["items"]}
    assert statuses == {
        t["1"]: ("completed_late", "completed_late"),
        t["2"]: ("completed_on_time", "completed_on_time"),
        t["3"]: ("open_no_deadline", "open_no_deadline"),
        t["4"]: ("completed_on_time", "completed_late"),
        t["5"]: ("completed_late", "completed_late"),
        t["6"]: ("open_no_deadline", "open_no_deadline")}
