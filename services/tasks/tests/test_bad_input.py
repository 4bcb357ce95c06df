"""The tasks API refuses bad input with a 4xx naming the field, in Vietnamese and English,
and records nothing (the event log does not grow): progress, completion, deadline decisions,
reassignment and calendar corrections. Real SQLite store, events fed through the inbox."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dondoc_contracts import UnitRegistered
from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_platform.eventstore import InboxEntry
from tests.support.services import Tokens

from .support import OFFICE, at, by_date, delivery, issued, item

pytestmark = pytest.mark.integration

DECISION = {"number": "1520-CV/TU", "decided_on": "2018-06-20", "decider": "Thường trực Tỉnh ủy"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    from dondoc_tasks.bootstrap import Settings, bootstrap
    from dondoc_tasks.domain.tasks import task_id_for

    tmp: Path = tmp_path_factory.mktemp("tasks-bad")
    tokens = Tokens.create(tmp)
    service = bootstrap(Settings(store_url=f"sqlite:///{tmp / 't.sqlite'}", clock="manual"),
                        clock=ManualClock(datetime(2018, 6, 20, 9, tzinfo=VN_TZ)),
                        auth=tokens.auth())
    app = service.parts["app"]

    def feed(event) -> None:
        d = delivery(event)
        assert app.react(d, InboxEntry("bad-input", d.event_id, d.topic, 0, d.offset))

    for code in ("BTG", "BDV"):
        feed(UnitRegistered(occurred_at=at(date(2018, 1, 2)), actor=OFFICE, unit_id=code,
                            code=code, name=f"Đơn vị {code}"))
    notice = issued([item("1", "BTG", by_date(date(2018, 6, 29)), cooperating_unit_ids=("BDV",)),
                     item("2", "BTG", by_date(date(2018, 6, 29)))])
    feed(notice)
    open_task, done_task = (str(task_id_for(notice.directive_id, i)) for i in "12")
    client = TestClient(service.api)
    office = tokens.headers("office")
    assert client.post(f"/tasks/{done_task}/completion", json={"completed_on": "2018-06-19"},
                       headers=office).status_code == 200
    yield {"client": client, "app": app, "tokens": tokens, "open": open_task, "done": done_task}
    app.close()


def _log_size(world: dict) -> int:
    return world["app"].recorder.max_notification_id() or 0


def _refused(world: dict, method: str, path: str, headers: dict, body: Any, status: int,
             field: str | None) -> dict:
    before = _log_size(world)
    response = world["client"].request(method, path, headers=headers, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error.get("field") == field, error
    assert error["message_vi"] and error["message_en"] and error["message_vi"] != error["message_en"]
    assert _log_size(world) == before, "a refused command recorded something"
    return error


PROGRESS = {"status_claimed": "in_progress", "progress": "Đang thực hiện"}


@pytest.mark.parametrize(("body", "field", "code"), [
    ({**PROGRESS, "progress": "   "}, "progress", "invalid_input"),
    ({**PROGRESS, "progress": "x" * 20_001}, "progress", "invalid_input"),
    ({**PROGRESS, "evidence": "  "}, "evidence", "invalid_input"),
    ({**PROGRESS, "status_claimed": "done"}, "status_claimed", "invalid_input"),
    ({**PROGRESS, "recorded_on": "2018-06-21"}, "recorded_on", "date_in_future"),
    ({**PROGRESS, "recorded_on": "2018-03-04"}, "recorded_on", "recorded_before_assigned"),
    ({**PROGRESS, "extra": 1}, "extra", "invalid_input"),
])
def test_bad_progress_is_refused(world, body: dict, field: str, code: str) -> None:
    headers = world["tokens"].headers("unit", unit_id="BTG")
    error = _refused(world, "POST", f"/tasks/{world['open']}/progress", headers, body, 422, field)
    assert error["code"] == code


def test_a_unit_reports_only_on_the_tasks_it_leads(world) -> None:
    tokens = world["tokens"]
    cooperating = _refused(world, "POST", f"/tasks/{world['open']}/progress",
                           tokens.headers("unit", unit_id="BDV"), PROGRESS, 403, None)
    assert cooperating["code"] == "forbidden"
    _refused(world, "POST", f"/tasks/{world['done']}/progress",
             tokens.headers("unit", unit_id="BDV"), PROGRESS, 404, "task_id")
    _refused(world, "POST", "/tasks/00000000-0000-0000-0000-000000000000/progress",
             tokens.headers("unit", unit_id="BTG"), PROGRESS, 404, "task_id")


@pytest.mark.parametrize(("path", "body", "status", "field", "code"), [
    ("completion", {"completed_on": "2018-06-21"}, 422, "completed_on", "date_in_future"),
    ("completion", {"completed_on": "2018-03-04"}, 422, "completed_on", "completed_before_assigned"),
    ("completion", {"completed_on": "20/06/2018"}, 422, "completed_on", "invalid_input"),
    ("completion", {}, 422, "completed_on", "invalid_input"),
    ("deadline-adjustments", {"kind": "extend", "decision": DECISION}, 422, "due_on",
     "due_on_required"),
    ("deadline-adjustments", {"kind": "extend", "due_on": "2018-03-01", "decision": DECISION},
     422, "due_on", "deadline_before_assigned"),
    ("deadline-adjustments", {"kind": "extend", "due_on": "2018-06-29", "decision": DECISION},
     409, "due_on", "deadline_unchanged"),
    ("deadline-adjustments", {"kind": "extend", "due_on": "2018-09-28",
                              "decision": {**DECISION, "decided_on": "2018-06-21"}},
     422, "decision.decided_on", "date_in_future"),
    ("deadline-adjustments", {"kind": "extend", "due_on": "2018-09-28",
                              "decision": {**DECISION, "decided_on": "2018-03-01"}},
     422, "decision.decided_on", "decision_before_assigned"),
    ("deadline-adjustments", {"kind": "extend", "due_on": "2018-09-28",
                              "decision": {**DECISION, "number": "  "}},
     422, "decision.number", "invalid_input"),
    ("deadline-adjustments", {"kind": "extend", "due_on": "2018-09-28"}, 422, "decision",
     "invalid_input"),
    ("deadline-adjustments", {"kind": "postpone", "due_on": "2018-09-28", "decision": DECISION},
     422, "kind", "invalid_input"),
    ("reassignment", {"lead_unit_id": "NOPE"}, 422, "lead_unit_id", "unknown_unit"),
    ("reassignment", {"lead_unit_id": "BDV", "cooperating_unit_ids": ["BTG", "NOPE"]}, 422,
     "cooperating_unit_ids[1]", "unknown_unit"),
    ("reassignment", {"lead_unit_id": "BDV", "cooperating_unit_ids": ["BTG", "BDV"]}, 422,
     "cooperating_unit_ids[1]", "lead_also_cooperating"),
    ("reassignment", {"lead_unit_id": "BTG", "cooperating_unit_ids": ["BDV"]}, 409,
     "lead_unit_id", "assignment_unchanged"),
    ("reassignment", {"lead_unit_id": "BDV", "reason": "   "}, 422, "reason", "invalid_input"),
])
def test_bad_office_commands_are_refused(world, path: str, body: dict, status: int, field: str,
                                         code: str) -> None:
    error = _refused(world, "POST", f"/tasks/{world['open']}/{path}",
                     world["tokens"].headers("office"), body, status, field)
    assert error["code"] == code


def test_a_closed_task_and_a_stale_version_are_conflicts(world) -> None:
    office = world["tokens"].headers("office")
    closed = _refused(world, "POST", f"/tasks/{world['done']}/completion", office,
                      {"completed_on": "2018-06-19"}, 409, None)
    assert closed["code"] == "task_closed"
    stale = _refused(world, "POST", f"/tasks/{world['open']}/completion",
                     {**office, "If-Match": '"9"'}, {"completed_on": "2018-06-19"}, 409, "If-Match")
    assert stale["code"] == "version_conflict"
    _refused(world, "POST", f"/tasks/{world['open']}/completion", {**office, "If-Match": "x"},
             {"completed_on": "2018-06-19"}, 400, "If-Match")


@pytest.mark.parametrize(("day", "body", "status", "field"), [
    ("2018-02-30", {"kind": "day_off", "name": "Nghỉ"}, 422, "day"),
    ("2018-06-29", {"kind": "holiday", "name": "Nghỉ"}, 422, "kind"),
    ("2018-06-29", {"kind": "day_off", "name": "   "}, 422, "name"),
    ("2018-06-29", {"kind": "day_off"}, 422, "name"),
])
def test_bad_calendar_corrections_are_refused(world, day: str, body: dict, status: int,
                                              field: str) -> None:
    _refused(world, "PUT", f"/calendar/corrections/{day}", world["tokens"].headers("admin"),
             body, status, field)
    _refused(world, "DELETE", "/calendar/corrections/2018-06-28",
             world["tokens"].headers("admin"), None, 404, "day")


def test_an_idempotency_key_records_a_command_once(world) -> None:
    client, tokens = world["client"], world["tokens"]
    headers = {**tokens.headers("unit", unit_id="BTG"), "Idempotency-Key": "btg-progress-1"}
    body = {"status_claimed": "in_progress", "progress": "Đã xây dựng dự thảo kế hoạch"}
    first = client.post(f"/tasks/{world['open']}/progress", headers=headers, json=body)
    assert first.status_code == 200, first.text
    size = _log_size(world)
    again = client.post(f"/tasks/{world['open']}/progress", headers=headers, json=body)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers.get("idempotent-replay") == "true"
    reused = _refused(world, "POST", f"/tasks/{world['open']}/progress", headers,
                      {**body, "progress": "Khác"}, 422, "Idempotency-Key")
    assert reused["code"] == "idempotency_key_reused"
    assert _log_size(world) == size


@pytest.mark.parametrize(("query", "field", "code"), [
    ("assigned_on=1900-03-05&kind=working_days&days=5", "assigned_on", "day_out_of_range"),
    ("assigned_on=2018-03-05&kind=date&due_on=2300-01-01", "due_on", "day_out_of_range"),
    ("assigned_on=2018-03-05&kind=working_days&days=0", "days", "invalid_input"),
    ("assigned_on=2018-03-05&kind=date", "kind", "invalid_rule"),
])
def test_a_bad_due_date_question_names_its_parameter(world, query: str, field: str, code: str) -> None:
    error = _refused(world, "GET", f"/calendar/due-date?{query}", world["tokens"].headers("unit"),
                     None, 422, field)
    assert error["code"] == code
