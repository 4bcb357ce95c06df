"""Every role × endpoint of the directives and tasks APIs, allowed or denied (table-driven),
on real SQLite stores. Allowed means the role passes authorisation (the answer may still be
a 404/409/422 about the data); denied is a 403 that records nothing; no token is a 401."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_platform.eventstore import InboxEntry
from services.tasks.tests.support import by_date, delivery, issued, item
from tests.support.services import REVIEW_GROUP_PARTY, UNITS, Tokens, notice

pytestmark = pytest.mark.integration

ROLES = ("office", "unit", "reviewer", "leader", "auditor", "admin")
ALL = set(ROLES)
READERS = {"office", "unit", "reviewer", "leader", "auditor"}

DIRECTIVE_ENDPOINTS = [
    # (method, path, body, roles allowed)
    ("GET", "/units", None, ALL),
    ("GET", "/units/BTG", None, ALL),
    ("POST", "/units", {"code": "NEW", "name": "Đơn vị mới"}, {"office", "admin"}),
    ("PATCH", "/units/BDV", {"emails": ["bdv@example.vn"]}, {"office", "admin"}),
    ("GET", "/directives", None, READERS),
    ("GET", "/directives/{directive}", None, READERS),
    ("POST", "/directives", "notice", {"office"}),
    ("POST", "/directives/batch", "batch", {"office"}),
    ("POST", "/directives/{directive}/amendments", {"summary": "Sửa trích yếu"}, {"office"}),
    ("POST", "/directives/{directive}/revocation",
     {"reason": "Thay thế", "decision": {"number": "9-TB/TU", "decided_on": "2018-03-10",
                                         "decider": "BTV"}}, {"office"}),
    ("GET", "/admin/clock", None, {"admin"}),
    ("POST", "/admin/clock", {"advance_seconds": 60}, {"admin"}),
]

TASK_ENDPOINTS = [
    ("GET", "/tasks", None, READERS),
    ("GET", "/tasks/{task}", None, READERS),
    ("GET", "/tasks/{task}/history", None, READERS),
    ("POST", "/tasks/{task}/progress", {"status_claimed": "in_progress", "progress": "Đang làm"},
     {"unit"}),
    ("POST", "/tasks/{task}/completion", {"completed_on": "2018-03-09"}, {"office", "reviewer"}),
    ("POST", "/tasks/{task}/deadline-adjustments",
     {"kind": "extend", "due_on": "2018-12-28",
      "decision": {"number": "1520-CV/TU", "decided_on": "2018-03-09", "decider": "TT"}},
     {"office"}),
    ("POST", "/tasks/{task}/reassignment", {"lead_unit_id": "BDV"}, {"office"}),
    ("GET", "/calendar/days?year=2018", None, ALL),
    ("GET", "/calendar/due-date?assigned_on=2018-03-05&kind=working_days&days=5", None, ALL),
    ("PUT", "/calendar/corrections/2018-06-29", {"kind": "day_off", "name": "Nghỉ"}, {"admin"}),
    ("DELETE", "/calendar/corrections/2018-06-29", None, {"admin"}),
    ("GET", "/admin/clock", None, {"admin"}),
    ("POST", "/admin/clock", {"advance_seconds": 60}, {"admin"}),
]


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Tokens:
    return Tokens.create(tmp_path_factory.mktemp("keys"))


def headers(tokens: Tokens, role: str) -> dict[str, str]:
    return tokens.headers(role, unit_id="BTG", review_group=REVIEW_GROUP_PARTY)


@pytest.fixture(scope="module")
def directives(tokens: Tokens, tmp_path_factory: pytest.TempPathFactory):
    from dondoc_directives.bootstrap import Settings, bootstrap

    path: Path = tmp_path_factory.mktemp("directives") / "d.sqlite"
    service = bootstrap(Settings(store_url=f"sqlite:///{path}", clock="manual"),
                        clock=ManualClock(datetime(2018, 3, 10, tzinfo=VN_TZ)), auth=tokens.auth())
    client = TestClient(service.api)
    office = tokens.headers("office")
    for unit in UNITS:
        client.post("/units", json=unit, headers=office)
    service.parts["client"] = client
    yield service
    service.parts["app"].close()


@pytest.fixture(scope="module")
def tasks(tokens: Tokens, tmp_path_factory: pytest.TempPathFactory):
    from dondoc_tasks.bootstrap import Settings, bootstrap

    path: Path = tmp_path_factory.mktemp("tasks") / "t.sqlite"
    service = bootstrap(Settings(store_url=f"sqlite:///{path}", clock="manual"),
                        clock=ManualClock(datetime(2018, 3, 10, tzinfo=VN_TZ)), auth=tokens.auth())
    service.parts["client"] = TestClient(service.api)
    yield service
    service.parts["app"].close()


def fresh_directive(directives, tokens: Tokens) -> str:
    client = directives.parts["client"]
    count = directives.parts.setdefault("count", [0])
    count[0] += 1
    body = notice(number=f"{count[0]}-TB/TU")
    response = client.post("/directives", json=body, headers=tokens.headers("office"))
    assert response.status_code == 201, response.text
    return response.json()["directive_id"]


def fresh_task(tasks) -> str:
    from dondoc_tasks.domain.tasks import task_id_for

    event = issued([item("1", "BTG", by_date(datetime(2018, 6, 29).date()),
                         review_group=REVIEW_GROUP_PARTY)])
    d = delivery(event)
    assert tasks.parts["app"].react(d, InboxEntry("roles", d.event_id, d.topic, 0, d.offset))
    return str(task_id_for(event.directive_id, "1"))


def _log_size(service) -> int:
    return service.parts["app"].recorder.max_notification_id() or 0


def _call(client: TestClient, method: str, path: str, body, hdrs):
    return client.request(method, path, json=body, headers=hdrs)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "allowed"), DIRECTIVE_ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, _, _ in DIRECTIVE_ENDPOINTS])
def test_directives_api_roles(directives, tokens, role, method, path, body, allowed) -> None:
    client = directives.parts["client"]
    if "{directive}" in path:
        path = path.replace("{directive}", fresh_directive(directives, tokens))
    if body == "notice":
        body = notice(number=f"R{role}-{len(path)}-TB/TU")
    elif body == "batch":
        body = {"directives": [notice(number=f"R{role}-B{n}-TB/TU") for n in range(3)]}
    before = _log_size(directives)
    assert _call(client, method, path, body, {}).status_code == 401
    response = _call(client, method, path, body, headers(tokens, role))
    if role in allowed:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
        assert _log_size(directives) == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "allowed"), TASK_ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, _, _ in TASK_ENDPOINTS])
def test_tasks_api_roles(tasks, tokens, role, method, path, body, allowed) -> None:
    client = tasks.parts["client"]
    if "{task}" in path:
        path = path.replace("{task}", fresh_task(tasks))
    before = _log_size(tasks)
    assert _call(client, method, path, body, {}).status_code == 401
    response = _call(client, method, path, body, headers(tokens, role))
    if role in allowed:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500
    else:
        assert response.status_code == 403, response.text
        assert _log_size(tasks) == before


def test_a_unit_acts_only_on_its_own_tasks(tasks, tokens) -> None:
    client = tasks.parts["client"]
    task = fresh_task(tasks)  # led by BTG
    body = {"status_claimed": "completed", "progress": "Đã xong"}
    before = _log_size(tasks)
    other = client.post(f"/tasks/{task}/progress", json=body,
                        headers=tokens.headers("unit", unit_id="BDV"))
    assert other.status_code == 404  # another unit's task does not exist for it
    assert client.get(f"/tasks/{task}", headers=tokens.headers("unit", unit_id="BDV")).status_code == 404
    assert _log_size(tasks) == before
    own = client.post(f"/tasks/{task}/progress", json=body, headers=tokens.headers("unit", unit_id="BTG"))
    assert own.status_code == 200
    assert own.json()["state"] == "open"  # a claim, not a completion
    assert own.json()["last_progress"]["status_claimed"] == "completed"


def test_a_cooperating_unit_sees_but_does_not_report(tasks, tokens) -> None:
    from dondoc_tasks.domain.tasks import task_id_for

    event = issued([item("1", "BTG", by_date(datetime(2018, 6, 29).date()),
                         cooperating_unit_ids=("BDV",))])
    d = delivery(event)
    tasks.parts["app"].react(d, InboxEntry("roles", d.event_id, d.topic, 0, d.offset))
    task = str(task_id_for(event.directive_id, "1"))
    client = tasks.parts["client"]
    bdv = tokens.headers("unit", unit_id="BDV")
    assert client.get(f"/tasks/{task}", headers=bdv).status_code == 200
    refused = client.post(f"/tasks/{task}/progress", headers=bdv,
                          json={"status_claimed": "in_progress", "progress": "Phối hợp"})
    assert refused.status_code == 403
    assert "BTG" in refused.json()["error"]["message_vi"]


def test_reviewers_see_their_group_and_secret_tasks_need_clearance(tasks, tokens) -> None:
    from dondoc_contracts.values import Secrecy
    from dondoc_tasks.domain.tasks import task_id_for

    event = issued([item("1", "UBND", by_date(datetime(2018, 6, 29).date()),
                         review_group="Kinh tế - xã hội")], secrecy=Secrecy.MAT, number="7-TB/TU")
    d = delivery(event)
    tasks.parts["app"].react(d, InboxEntry("roles", d.event_id, d.topic, 0, d.offset))
    task = str(task_id_for(event.directive_id, "1"))
    client = tasks.parts["client"]
    assert client.get(f"/tasks/{task}", headers=tokens.headers("auditor")).status_code == 404
    assert client.get(f"/tasks/{task}", headers=tokens.headers("auditor", clearance="mat")).status_code == 200
    economy = tokens.headers("reviewer", review_group="kinh tế – XÃ HỘI", clearance="toi_mat")
    assert client.get(f"/tasks/{task}", headers=economy).status_code == 200
    party = tokens.headers("reviewer", review_group=REVIEW_GROUP_PARTY, clearance="toi_mat")
    assert client.get(f"/tasks/{task}", headers=party).status_code == 404
    listed = client.get("/tasks", headers=tokens.headers("office")).json()["items"]
    assert task not in [t["task_id"] for t in listed]
