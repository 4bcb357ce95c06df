"""Bad input gets a 4xx naming the field and the reason in Vietnamese and English, and
changes nothing: the event log does not grow. SQLite store, the local view fed through the
real inbox."""

from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.reports.tests.harness import (
    KT,
    XD,
    at,
    close_offline,
    offline_service,
    task_assigned,
    unit_registered,
)

pytestmark = pytest.mark.integration

PERIOD = {"kind": "quarter", "label": "Quý II/2018", "starts_on": "2018-04-01", "ends_on": "2018-06-30"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    tmp = Path(tmp_path_factory.mktemp("bad"))
    service, signer = offline_service(tmp, [
        unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
        unit_registered("SKHDT", "Sở Kế hoạch và Đầu tư", KT),
        unit_registered("BDV", "Ban Dân vận Tỉnh ủy", XD),
        task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5), due_on=date(2018, 5, 31)),
        task_assigned("t2", "BTG", assigned_on=date(2018, 3, 5)),
        task_assigned("t3", "SKHDT", assigned_on=date(2018, 3, 5), group=KT),
        task_assigned("t9", "BTG", assigned_on=date(2018, 6, 18), secrecy="mat"),  # after cut-off
    ], at(date(2018, 6, 20)))
    client = TestClient(service.api)

    def auth(role: str, **claims: Any) -> dict[str, str]:
        token = signer.token(subject=f"{role}.test", roles=[role], **claims)
        return {"Authorization": f"Bearer {token}"}

    office = auth("office")
    opened = client.post("/cycles", headers=office, json={
        "period": PERIOD, "data_cutoff_on": "2018-06-15", "due_on": "2018-06-29",
        "unit_ids": ["BTG", "SKHDT"]})
    assert opened.status_code == 201, opened.text
    reports = {o["unit_id"]: o["report_id"] for o in opened.json()["obligations"]}
    closed = client.post("/cycles", headers=office, json={
        "period": PERIOD, "data_cutoff_on": "2018-06-15", "due_on": "2018-06-29",
        "unit_ids": ["BTG"]}).json()
    client.post(f"/cycles/{closed['cycle_id']}/close", headers=office)
    yield {"client": client, "service": service, "auth": auth, "reports": reports,
           "closed_report": closed["obligations"][0]["report_id"]}
    close_offline(service)


def _log_size(world: dict) -> int:
    return world["service"].parts["log"].recorder.max_notification_id() or 0


def _refused(world: dict, method: str, path: str, headers: dict, body: Any, status: int,
             field: str) -> dict:
    before = _log_size(world)
    response = world["client"].request(method, path, headers=headers, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    assert error["message_vi"] and error["message_en"] and error["message_vi"] != error["message_en"]
    assert _log_size(world) == before, "a refused command recorded something"
    return error


LINE = {"task_id": "t2", "status_claimed": "in_progress", "progress": "Đang thực hiện"}
LATE = {"task_id": "t1", "status_claimed": "in_progress", "delay_reason": "Chờ kinh phí"}


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"data_cutoff_on": "2018-06-15", "due_on": "2018-06-10"}, "due_on", "due_before_cutoff"),
    ({"data_cutoff_on": "2018-03-15", "due_on": "2018-06-29"}, "data_cutoff_on", "cutoff_before_period"),
    ({"unit_ids": ["KHONGCO"]}, "unit_ids[0]", "unknown_unit"),
    ({"unit_ids": ["BTG", "BDV"]}, "unit_ids[1]", "nothing_to_report"),
    ({"review_group": "Nhóm không tồn tại"}, "review_group", "unknown_review_group"),
    ({"period": {**PERIOD, "ends_on": "2018-03-01"}}, "period.ends_on", "period_ends_before_start"),
    ({"title": "x" * 501}, "title", "invalid_input"),
    ({"due_on": "30/06/2018"}, "due_on", "invalid_input"),
    ({"period": {**PERIOD, "kind": "weekly"}}, "period.kind", "invalid_input"),
    ({"extra": 1}, "extra", "invalid_input"),
])
def test_opening_a_cycle_with_bad_input_is_refused(world, body: dict, field: str, code: str) -> None:
    full = {"period": PERIOD, "data_cutoff_on": "2018-06-15", "due_on": "2018-06-29", **body}
    error = _refused(world, "POST", "/cycles", world["auth"]("office"), full, 422, field)
    assert error["code"] == code


@pytest.mark.parametrize(("lines", "field", "code"), [
    ([], "lines", "empty_report"),
    ([LINE], "lines", "missing_lines"),
    ([LINE, LATE, {**LINE, "task_id": "t3"}], "lines[2].task_id", "not_own_task"),
    ([LINE, LATE, {**LINE, "task_id": "nope"}], "lines[2].task_id", "not_own_task"),
    ([LINE, LINE, LATE], "lines[1].task_id", "duplicate_line"),
    ([LINE, {**LATE, "delay_reason": None}], "lines[1].delay_reason", "delay_reason_required"),
    ([LINE, {**LATE, "status_claimed": "completed"}], "lines[1].completed_on", "completion_day_required"),
    ([LINE, {**LATE, "status_claimed": "completed", "completed_on": "2018-07-01"}],
     "lines[1].completed_on", "completion_in_future"),
    ([{**LINE, "proposal": "extend"}, LATE], "lines[0].proposed_due_on", "proposed_date_required"),
    ([{**LINE, "proposal": "extend", "proposed_due_on": "2018-06-01"}, LATE],
     "lines[0].proposed_due_on", "proposed_date_too_early"),
    ([{**LINE, "progress": "x" * 20_001}, LATE], "lines[0].progress", "invalid_input"),
    ([{**LINE, "status_claimed": "done"}, LATE], "lines[0].status_claimed", "invalid_input"),
    ([LINE, {**LATE, "delay_reason": "   "}], "lines[1].delay_reason", "invalid_input"),
    ([{**LINE, "evidence": " \n "}, LATE], "lines[0].evidence", "invalid_input"),
])
def test_a_report_with_bad_lines_is_refused(world, lines: list, field: str, code: str) -> None:
    btg = world["auth"]("unit", unit_id="BTG")
    error = _refused(world, "POST", f"/reports/{world['reports']['BTG']}/submissions", btg,
                     {"lines": lines}, 422, field)
    assert error["code"] == code


def test_a_report_for_a_closed_cycle_is_refused(world) -> None:
    btg = world["auth"]("unit", unit_id="BTG")
    error = _refused(world, "POST", f"/reports/{world['closed_report']}/submissions", btg,
                     {"lines": [LINE, LATE]}, 409, "cycle_id")
    assert error["code"] == "cycle_closed"


def test_a_unit_does_not_submit_another_units_report(world) -> None:
    skhdt = world["auth"]("unit", unit_id="SKHDT")
    before = _log_size(world)
    response = world["client"].post(f"/reports/{world['reports']['BTG']}/submissions",
                                    headers=skhdt, json={"lines": [LINE, LATE]})
    assert response.status_code == 403 and _log_size(world) == before


def test_a_stale_version_is_a_conflict_and_a_review_needs_every_line(world) -> None:
    btg, office = world["auth"]("unit", unit_id="BTG"), world["auth"]("office")
    report = world["reports"]["BTG"]
    _refused(world, "POST", f"/reports/{report}/submissions", {**btg, "If-Match": '"7"'},
             {"lines": [LINE, LATE]}, 409, "If-Match")
    _refused(world, "POST", f"/reports/{report}/submissions", {**btg, "If-Match": "abc"},
             {"lines": [LINE, LATE]}, 400, "If-Match")
    submitted = world["client"].post(f"/reports/{report}/submissions", headers=btg,
                                     json={"lines": [LINE, LATE]})
    assert submitted.status_code == 201, submitted.text
    accept = {"verdict": "accepted", "quality": "specific"}
    _refused(world, "POST", f"/reports/{report}/reviews", office,
             {"revision": 1, "lines": [{"task_id": "t2", **accept}]}, 422, "lines")
    _refused(world, "POST", f"/reports/{report}/reviews", office,
             {"revision": 1, "lines": [{"task_id": "t2", **accept, "completion_confirmed": True},
                                       {"task_id": "t1", **accept}]},
             422, "lines[0].completion_confirmed")
    _refused(world, "POST", f"/reports/{report}/reviews", office,
             {"revision": 2, "lines": [{"task_id": "t2", **accept}, {"task_id": "t1", **accept}]},
             409, "revision")
    _refused(world, "POST", f"/reports/{report}/submissions", btg, {"lines": [LINE, LATE]},
             409, "report_id")


@pytest.mark.parametrize(("body", "status", "field", "code"), [
    ({"task_id": "t3", "kind": "extend", "proposed_due_on": "2018-12-31", "reason": "r"},
     422, "task_id", "not_own_task"),
    ({"task_id": "t2", "kind": "extend", "reason": "r"}, 422, "proposed_due_on", "proposed_date_required"),
    ({"task_id": "t1", "kind": "extend", "proposed_due_on": "2018-05-01", "reason": "r"},
     422, "proposed_due_on", "proposed_date_too_early"),
    ({"task_id": "t2", "kind": "withdraw", "proposed_due_on": "2018-12-31", "reason": "r"},
     422, "proposed_due_on", "proposed_date_not_allowed"),
    ({"task_id": "t2", "kind": "withdraw", "reason": ""}, 422, "reason", "invalid_input"),
    ({"task_id": "t2", "kind": "withdraw", "reason": "   "}, 422, "reason", "invalid_input"),
    ({"task_id": "t2", "kind": "withdraw", "reason": "r", "report_id": "no-such-report"},
     404, "report_id", "not_found"),
])
def test_a_bad_adjustment_request_is_refused(world, body: dict, status: int, field: str,
                                             code: str) -> None:
    error = _refused(world, "POST", "/adjustments", world["auth"]("unit", unit_id="BTG"), body,
                     status, field)
    assert error["code"] == code


def test_a_decision_is_recorded_once_and_checked(world) -> None:
    btg, office = world["auth"]("unit", unit_id="BTG"), world["auth"]("office")
    client = world["client"]
    asked = client.post("/adjustments", headers=btg, json={
        "task_id": "t2", "kind": "stretch", "proposed_due_on": "2018-12-31",
        "reason": unicodedata.normalize("NFD", "Giãn tiến độ do thiên tai")})
    assert asked.status_code == 201, asked.text
    assert asked.json()["reason"] == "Giãn tiến độ do thiên tai"  # stored NFC
    request = asked.json()["request_id"]
    decision = {"number": "1601-CV/TU", "decided_on": "2018-06-20", "decider": "Thường trực Tỉnh ủy"}
    _refused(world, "POST", f"/adjustments/{request}/decision", office,
             {"approved": True, "decision": {**decision, "decided_on": "2018-06-01"}},
             422, "decision.decided_on")
    _refused(world, "POST", f"/adjustments/{request}/decision", office,
             {"approved": False, "due_on": "2018-12-31", "decision": decision}, 422, "due_on")
    future = _refused(world, "POST", f"/adjustments/{request}/decision", office,
                      {"approved": True, "decision": {**decision, "decided_on": "2018-06-21"}},
                      422, "decision.decided_on")
    assert future["code"] == "decision_in_future"
    _refused(world, "POST", f"/adjustments/{request}/decision", office,
             {"approved": False, "decision": {**decision, "number": "  "}}, 422, "decision.number")
    done = client.post(f"/adjustments/{request}/decision", headers=office,
                       json={"approved": False, "decision": decision, "comment": "Chưa đủ căn cứ"})
    assert done.status_code == 200 and done.json()["status"] == "rejected"
    _refused(world, "POST", f"/adjustments/{request}/decision", office,
             {"approved": True, "decision": decision}, 409, "request_id")


def test_secret_tasks_are_hidden_from_readers_not_cleared(world) -> None:
    client = world["client"]
    plain = client.get("/units/BTG/tasks", headers=world["auth"]("leader"))
    cleared = client.get("/units/BTG/tasks", headers=world["auth"]("leader", clearance="mat"))
    assert "t9" not in {t["task_id"] for t in plain.json()["items"]}
    assert "t9" in {t["task_id"] for t in cleared.json()["items"]}


def test_the_same_idempotency_key_gives_the_first_answer_once(world) -> None:
    client, office = world["client"], world["auth"]("office")
    body = {"period": PERIOD, "data_cutoff_on": "2018-06-15", "due_on": "2018-06-29",
            "unit_ids": ["SKHDT"]}
    headers = {**office, "Idempotency-Key": "open-q2-skhdt"}
    first = client.post("/cycles", headers=headers, json=body)
    size = _log_size(world)
    again = client.post("/cycles", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.json()["cycle_id"] == first.json()["cycle_id"]
    assert again.headers.get("idempotent-replay") == "true" and _log_size(world) == size


def test_an_adjustment_request_on_a_secret_task_is_hidden_from_readers_not_cleared(world) -> None:
    """The request's reason speaks of the task: it is as secret as the task (t9 is mật)."""
    client = world["client"]
    _refused(world, "POST", "/adjustments", world["auth"]("unit", unit_id="BTG"),
             {"task_id": "t9", "kind": "withdraw", "reason": "Lý do"}, 422, "task_id")
    asked = client.post("/adjustments", headers=world["auth"]("unit", unit_id="BTG", clearance="mat"),
                        json={"task_id": "t9", "kind": "withdraw", "reason": "Lý do mật"})
    assert asked.status_code == 201, asked.text
    request = asked.json()["request_id"]
    for role, claims in [("leader", {}), ("office", {}), ("auditor", {}),
                         ("unit", {"unit_id": "BTG"}), ("reviewer", {"review_group": XD})]:
        plain, cleared = world["auth"](role, **claims), world["auth"](role, clearance="mat", **claims)
        listed = client.get("/adjustments", headers=plain, params={"task_id": "t9"}).json()
        assert listed["items"] == [], role
        assert client.get(f"/adjustments/{request}", headers=plain).status_code == 404, role
        shown = client.get("/adjustments", headers=cleared, params={"task_id": "t9"}).json()
        assert [a["request_id"] for a in shown["items"]] == [request], role
        assert client.get(f"/adjustments/{request}", headers=cleared).status_code == 200, role
    decided = client.post(f"/adjustments/{request}/decision", headers=world["auth"]("office"),
                          json={"approved": False, "decision": {
                              "number": "2-CV/TU", "decided_on": "2018-06-20", "decider": "TT"}})
    assert decided.status_code == 404


SECRET_ID = "t-mat-5"


def test_a_secret_task_in_an_obligation_is_seen_only_by_cleared_readers(tmp_path: Path) -> None:
    """Readers not cleared for a secret task do not learn it exists through any reports view
    (no id in `task_ids`, no line, no count of hidden lines); a unit officer not cleared is not
    asked for its line; cleared readers still see it owed and unanswered."""
    service, signer = offline_service(tmp_path, [
        unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
        task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5)),
        task_assigned(SECRET_ID, "BTG", assigned_on=date(2018, 3, 5), secrecy="mat"),
    ], at(date(2018, 6, 20)))
    try:
        client = TestClient(service.api)

        def auth(role: str, **claims: Any) -> dict[str, str]:
            token = signer.token(subject=f"{role}.test", roles=[role], name=f"Cán bộ {role}", **claims)
            return {"Authorization": f"Bearer {token}"}

        readers = [("office", {}), ("leader", {}), ("auditor", {}), ("unit", {"unit_id": "BTG"}),
                   ("reviewer", {"review_group": XD})]
        opened = client.post("/cycles", headers=auth("office"), json={
            "period": PERIOD, "data_cutoff_on": "2018-06-15", "due_on": "2018-06-29", "unit_ids": ["BTG"]})
        assert opened.status_code == 201, opened.text
        assert SECRET_ID not in opened.text  # the office that opened it is not cleared
        cycle_id, report_id = opened.json()["cycle_id"], opened.json()["obligations"][0]["report_id"]
        views = ["/reports", f"/reports?cycle_id={cycle_id}", "/units/BTG/obligations",
                 f"/cycles/{cycle_id}", f"/reports/{report_id}"]

        def seen_by(role: str, claims: dict[str, Any], cleared: bool) -> None:
            headers = auth(role, **claims, **({"clearance": "mat"} if cleared else {}))
            for path in views:
                answer = client.get(path, headers=headers)
                assert answer.status_code == 200, (role, path, answer.text)
                assert (SECRET_ID in answer.text) is cleared, (role, cleared, path)
                assert "hidden_lines" not in answer.text
            detail = client.get(f"/reports/{report_id}", headers=headers).json()
            assert set(detail["task_ids"]) == ({"t1", SECRET_ID} if cleared else {"t1"}), role

        for role, claims in readers:
            seen_by(role, claims, cleared=False)
            seen_by(role, claims, cleared=True)

        # the unit's officer not cleared answers the task it sees; it is not asked for the other
        line = {"task_id": "t1", "status_claimed": "in_progress", "progress": "Đang triển khai"}
        plain_unit = auth("unit", unit_id="BTG")
        submitted = client.post(f"/reports/{report_id}/submissions", headers=plain_unit,
                                json={"lines": [line]})
        assert submitted.status_code == 201, submitted.text
        assert SECRET_ID not in submitted.text
        assert submitted.json()["unanswered_task_ids"] == []
        # cleared readers see the secret task still owed, unanswered; the review returns it
        cleared_reviewer = auth("reviewer", review_group=XD, clearance="mat")
        owed = client.get(f"/reports/{report_id}", headers=cleared_reviewer).json()
        assert set(owed["task_ids"]) == {"t1", SECRET_ID} and owed["unanswered_task_ids"] == [SECRET_ID]
        returned = client.post(f"/reports/{report_id}/reviews", headers=cleared_reviewer, json={
            "revision": 1, "comment": "Thiếu dòng báo cáo nhiệm vụ mật",
            "lines": [{"task_id": "t1", "verdict": "returned", "quality": "generic"}]})
        assert returned.status_code == 201, returned.text
        # a cleared officer of the unit answers both
        secret_line = {"task_id": SECRET_ID, "status_claimed": "not_started"}
        again = client.post(f"/reports/{report_id}/submissions", headers=auth("unit", unit_id="BTG", clearance="mat"),
                            json={"lines": [line, secret_line]})
        assert again.status_code == 201, again.text
        assert again.json()["unanswered_task_ids"] == []
        assert [len(s["lines"]) for s in again.json()["submissions"]] == [1, 2]
        for role, claims in readers:
            seen_by(role, claims, cleared=False)
    finally:
        close_offline(service)
