"""A report submission is answered from the report just saved, before the service's view has
caught up; the answer is what the view then shows, field for field, on either store; and the
caller's next query shows it, whichever query it is."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.reports.tests.harness import (
    XD,
    at,
    close_offline,
    offline_service,
    task_assigned,
    unit_registered,
)

pytestmark = pytest.mark.integration

PERIOD = {"kind": "quarter", "label": "Quý II/2018", "starts_on": "2018-04-01", "ends_on": "2018-06-30"}


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_submission_is_answered_as_the_view_then_shows_it(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = request.getfixturevalue("postgres_database") if backend == "postgres" else None
    service, signer = offline_service(tmp_path, [
        unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
        task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5), due_on=date(2018, 5, 31)),
        task_assigned("t2", "BTG", assigned_on=date(2018, 3, 5)),
        task_assigned("t5", "BTG", assigned_on=date(2018, 3, 5), secrecy="mat"),
    ], at(date(2018, 6, 20)), store_url=store)
    try:
        client, log, view = TestClient(service.api), service.parts["log"], service.parts["view"]

        def auth(role: str, **claims: Any) -> dict[str, str]:
            token = signer.token(subject=f"{role}.test", roles=[role], name=f"Cán bộ {role}", **claims)
            return {"Authorization": f"Bearer {token}"}

        office, unit = auth("office"), auth("unit", unit_id="BTG", clearance="mat")
        reviewer = auth("office", clearance="mat")
        # due two days ago: the submission is late, so it is marked overdue first
        opened = client.post("/cycles", headers=office, json={
            "period": PERIOD, "data_cutoff_on": "2018-06-15", "due_on": "2018-06-18",
            "unit_ids": ["BTG"]})
        assert opened.status_code == 201, opened.text
        report_id = opened.json()["obligations"][0]["report_id"]
        lines = [{"task_id": "t1", "status_claimed": "in_progress", "progress": "Đã triển khai",
                  "delay_reason": "Chờ kinh phí", "proposal": "extend",
                  "proposed_due_on": "2018-08-31"},
                 {"task_id": "t2", "status_claimed": "completed", "progress": "Xong",
                  "evidence": "Báo cáo số 12-BC", "completed_on": "2018-06-10"},
                 {"task_id": "t5", "status_claimed": "not_started"}]

        def answered_then_shown(response: Any, reader: dict[str, str]) -> dict[str, Any]:
            assert response.status_code == 201, response.text
            # answered before the view applied it: the answer did not come from the view
            assert view.position() < (log.recorder.max_notification_id() or 0)
            shown = client.get(f"/reports/{report_id}", headers=reader)
            assert shown.status_code == 200
            assert response.json() == shown.json()
            assert response.headers["ETag"] == shown.headers["ETag"]
            return shown.json()

        first = answered_then_shown(client.post(
            f"/reports/{report_id}/submissions", headers=unit,
            json={"lines": lines, "summary": "Báo cáo quý II của Ban Tuyên giáo"}), unit)
        assert first["status"] == "submitted" and first["on_time"] is False
        assert first["overdue_at"] is not None and first["version"] == 3
        assert [line["task_id"] for line in first["submissions"][0]["lines"]] == ["t1", "t2", "t5"]

        returned = client.post(f"/reports/{report_id}/reviews", headers=reviewer, json={
            "revision": 1, "comment": "Cần cụ thể hơn",
            "lines": [{"task_id": t, "verdict": "returned", "quality": "generic"}
                      for t in ("t1", "t2", "t5")]})
        assert returned.status_code == 201, returned.text

        # the office records the revised report it received (on paper, today); it is not cleared for
        # the secret task, whose line it does not see, in the answer as in the view
        again = answered_then_shown(client.post(
            f"/reports/{report_id}/submissions", headers=office,
            json={"lines": lines, "submitted_on": "2018-06-20"}), office)
        assert [len(s["lines"]) for s in again["submissions"]] == [2, 2]
        assert all(line["task_id"] != "t5" for s in again["submissions"] for line in s["lines"])
        assert "t5" not in again["task_ids"] and "hidden_lines" not in again["submissions"][0]
        assert [r["outcome"] for r in again["reviews"]] == ["returned"]
        assert again["revision"] == 2 and again["last_submitted_on"] == "2018-06-20"

        # the caller's next query of any kind shows it
        client.post(f"/reports/{report_id}/reviews", headers=reviewer, json={
            "revision": 2, "lines": [{"task_id": t, "verdict": "accepted", "quality": "specific"}
                                     for t in ("t1", "t2", "t5")]})
        listed = client.get("/reports", headers=office, params={"cycle_id": opened.json()["cycle_id"]})
        assert [r["status"] for r in listed.json()["items"]] == ["accepted"]
    finally:
        close_offline(service)


def test_a_submission_reads_the_units_tasks_once_and_not_the_unit(
        postgres_database: str, tmp_path: Path) -> None:
    """The submission is checked against the directory's facts of its tasks; its answer shows
    their lines from the same facts (not read again), and the unit's review group is read only
    for a caller whose access depends on it (a reviewer's), not for the unit itself."""
    import sqlalchemy as sa

    service, signer = offline_service(tmp_path, [
        unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
        task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5), due_on=date(2018, 9, 30)),
        task_assigned("t5", "BTG", assigned_on=date(2018, 3, 5), secrecy="mat"),
    ], at(date(2018, 6, 20)), store_url=postgres_database)
    try:
        client = TestClient(service.api)
        office = {"Authorization": "Bearer " + signer.token(subject="o", roles=["office"], name="VP")}
        unit = {"Authorization": "Bearer " + signer.token(subject="u", roles=["unit"], name="BTG",
                                                          unit_id="BTG")}
        reviewer = {"Authorization": "Bearer " + signer.token(
            subject="r", roles=["reviewer"], name="Tổ rà soát", review_group=XD, clearance="mat")}
        opened = client.post("/cycles", headers=office, json={
            "period": PERIOD, "data_cutoff_on": "2018-06-15", "due_on": "2018-07-18",
            "unit_ids": ["BTG"]})
        report_id = opened.json()["obligations"][0]["report_id"]
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        def reads_of(table: str) -> int:
            return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT")
                       and f"FROM {table}" in s)

        engine = service.parts["engine"]
        sa.event.listen(engine, "before_cursor_execute", seen)
        answer = client.post(f"/reports/{report_id}/submissions", headers=unit, json={"lines": [
            {"task_id": "t1", "status_claimed": "in_progress", "progress": "Đang làm"},
            {"task_id": "t5", "status_claimed": "not_started"}]})
        assert answer.status_code == 201, answer.text
        # the unit is not cleared for t5: its line is hidden, from the facts the check read
        assert [line["task_id"] for line in answer.json()["submissions"][0]["lines"]] == ["t1"]
        assert reads_of("rpt_tasks") == 1
        assert reads_of("rpt_units") == 0

        statements.clear()
        shown = client.get(f"/reports/{report_id}", headers=reviewer)
        assert shown.status_code == 200, shown.text
        assert [line["task_id"] for line in shown.json()["submissions"][0]["lines"]] == ["t1", "t5"]
        assert reads_of("rpt_units") == 1  # a reviewer's access depends on the unit's group
        sa.event.remove(engine, "before_cursor_execute", seen)
    finally:
        close_offline(service)


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_submissions_applied_together_show_as_each_was_answered(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The view applies consecutive submissions in the log together (`_reports_submitted`:
    three statements for them all); each report then shows exactly as its submission was
    answered: a late one marked overdue first, a resubmission after a review beside a first
    submission, every submitted report out of the overdue schedule."""
    store = request.getfixturevalue("postgres_database") if backend == "postgres" else None
    units = ["BTG", "BDV", "UBKT", "VP"]
    service, signer = offline_service(tmp_path, [
        *(unit_registered(u, f"Đơn vị {u}", XD) for u in units),
        *(task_assigned(f"t-{u}", u, assigned_on=date(2018, 3, 5), due_on=date(2018, 9, 30))
          for u in units),
    ], at(date(2018, 6, 20)), store_url=store)
    try:
        client, view = TestClient(service.api), service.parts["view"]
        office = {"Authorization": "Bearer " + signer.token(subject="o", roles=["office"], name="VP")}
        opened = {}
        for due in ("2018-06-18", "2018-07-18"):  # one cycle already late, one not
            cycle = client.post("/cycles", headers=office, json={
                "period": PERIOD, "data_cutoff_on": "2018-06-15", "due_on": due, "unit_ids": units})
            assert cycle.status_code == 201, cycle.text
            opened[due] = {o["unit_id"]: o["report_id"] for o in cycle.json()["obligations"]}
        late, on_time = opened["2018-06-18"], opened["2018-07-18"]

        def submit(report_id: str, unit: str) -> dict[str, Any]:
            token = signer.token(subject=unit, roles=["unit"], name=unit, unit_id=unit)
            answer = client.post(f"/reports/{report_id}/submissions",
                                 headers={"Authorization": f"Bearer {token}"}, json={"lines": [{
                                     "task_id": f"t-{unit}", "status_claimed": "in_progress",
                                     "progress": "Đang triển khai", "delay_reason": "Chờ kinh phí"}]})
            assert answer.status_code == 201, answer.text
            return answer.json()

        answers = {on_time[u]: submit(on_time[u], u) for u in units[:3]}
        answers[late["BTG"]] = submit(late["BTG"], "BTG")  # marked overdue, then submitted
        returned = client.post(f"/reports/{on_time['BTG']}/reviews", headers=office, json={
            "revision": 1, "lines": [{"task_id": "t-BTG", "verdict": "returned",
                                      "quality": "generic"}]})  # the view caught up here
        assert returned.status_code == 201, returned.text
        answers[on_time["BTG"]] = submit(on_time["BTG"], "BTG")  # revision 2
        answers[late["VP"]] = submit(late["VP"], "VP")
        answers[late["BDV"]] = submit(late["BDV"], "BDV")
        position = view.position()
        for report_id, answered in answers.items():  # the first query applies the last three
            shown = client.get(f"/reports/{report_id}", headers=office)
            assert shown.json() == answered
        assert view.position() > position
        assert answers[on_time["BTG"]]["revision"] == 2
        assert answers[on_time["BTG"]]["first_submitted_on"] == "2018-06-20"
        assert answers[late["BDV"]]["overdue_at"] is not None
        # the late cycle was opened after its due day: its reports were never scheduled
        awaited = {r for r, _ in view.overdue_due(at(date(2030, 1, 1)), 100)}
        assert awaited == {on_time["VP"]}
    finally:
        close_offline(service)
