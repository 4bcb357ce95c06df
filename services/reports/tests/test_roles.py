"""Every role × endpoint combination, allowed or denied (table-driven), with the scoping of a
unit to its own unit and of a reviewer to its review group. SQLite store, real Kafka."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.reports.tests.harness import KT, XD, Harness, at, task_assigned, unit_registered, until

pytestmark = pytest.mark.integration

ROLES = {
    "anonymous": None,
    "office": {"role": "office"},
    "unit": {"role": "unit", "unit": "BTG"},
    "unit_other": {"role": "unit", "unit": "SKHDT"},
    "reviewer": {"role": "reviewer", "group": "xây dựng đảng, hệ thống chính trị, nội chính"},
    "reviewer_other": {"role": "reviewer", "group": KT},
    "leader": {"role": "leader"},
    "auditor": {"role": "auditor"},
    "admin": {"role": "admin"},
}
READERS = {"office", "unit", "reviewer", "leader", "auditor", "admin"}
EVERYONE = READERS | {"unit_other", "reviewer_other"}

CYCLE_BODY = {"period": {"kind": "quarter", "label": "Quý III/2018", "starts_on": "2018-07-01",
                         "ends_on": "2018-09-30"},
              "data_cutoff_on": "2018-09-15", "due_on": "2018-09-28", "unit_ids": ["BTG"]}
LINES = {"lines": [{"task_id": "t1", "status_claimed": "in_progress", "progress": "Đang làm"},
                   {"task_id": "t2", "status_claimed": "in_progress", "progress": "Đang làm"}]}
REVIEW = {"revision": 1, "lines": [
    {"task_id": "t1", "verdict": "returned", "quality": "generic"},
    {"task_id": "t2", "verdict": "returned", "quality": "generic"}]}
ADJUST = {"task_id": "t2", "kind": "extend", "proposed_due_on": "2018-12-28",
          "reason": "Chờ ý kiến Trung ương"}
DECIDE = {"approved": False, "decision": {"number": "99-CV/TU", "decided_on": "2018-08-01",
                                          "decider": "Thường trực Tỉnh ủy"}}

# (method, path, body, roles allowed, {role: status} when refused otherwise than with 403)
ENDPOINTS: list[tuple[str, str, Any, set[str], dict[str, int]]] = [
    ("GET", "/cycles", None, EVERYONE, {}),
    ("GET", "/cycles/{cycle}", None, EVERYONE, {}),
    ("POST", "/cycles", CYCLE_BODY, {"office"}, {}),
    ("POST", "/cycles/{spare_cycle}/close", None, {"office"}, {}),
    ("GET", "/reports", None, EVERYONE, {}),
    ("GET", "/reports/{report}", None, READERS, {}),
    ("POST", "/reports/{report}/submissions", LINES, {"unit", "office"}, {}),
    ("POST", "/reports/{report}/reviews", REVIEW, {"office", "reviewer"}, {}),
    ("GET", "/units/BTG/obligations", None, READERS, {}),
    ("GET", "/units/BTG/tasks", None, READERS, {}),
    ("POST", "/adjustments", ADJUST, {"unit"}, {"unit_other": 422}),
    ("GET", "/adjustments", None, EVERYONE, {}),
    ("GET", "/adjustments/{request}", None, READERS, {}),
    ("POST", "/adjustments/{request}/decision", DECIDE, {"office"}, {}),
    ("GET", "/admin/clock", None, {"admin"}, {}),
    ("POST", "/admin/clock", {"advance_seconds": 1}, {"admin"}, {}),
]

CASES = [pytest.param(method, path, body, role, allowed, exceptions,
                      id=f"{method} {path} as {role}")
         for method, path, body, allowed, exceptions in ENDPOINTS for role in ROLES]


@pytest.fixture(scope="module")
async def world(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("roles")
    h = Harness(kafka_bootstrap, f"sqlite:///{tmp / 'reports.sqlite'}", Path(tmp),
                start=at(date(2018, 8, 1)))
    await h.start_service()
    await h.produce(unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
                    unit_registered("SKHDT", "Sở Kế hoạch và Đầu tư", KT),
                    task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5)),
                    task_assigned("t2", "BTG", assigned_on=date(2018, 3, 5), due_on=date(2018, 10, 31)),
                    task_assigned("t3", "SKHDT", assigned_on=date(2018, 3, 5), group=KT))
    office = h.token("office")
    await until(lambda: _count_tasks(h, office), what="the local view")
    ids = {}
    for key in ("cycle", "spare_cycle"):
        opened = await h.client.post("/cycles", headers=office, json={**CYCLE_BODY, "unit_ids": None})
        assert opened.status_code == 201, opened.text
        ids[key] = opened.json()["cycle_id"]
    cycle = (await h.client.get(f"/cycles/{ids['cycle']}", headers=office)).json()
    ids["report"] = next(o["report_id"] for o in cycle["obligations"] if o["unit_id"] == "BTG")
    btg = h.token("unit", unit="BTG")
    asked = await h.client.post("/adjustments", headers=btg, json={**ADJUST, "task_id": "t1",
                                                                    "kind": "withdraw",
                                                                    "proposed_due_on": None})
    assert asked.status_code == 201, asked.text
    ids["request"] = asked.json()["request_id"]
    yield h, ids
    await h.close()


async def _count_tasks(h: Harness, headers: dict[str, str]) -> bool:
    """Both units' tasks are in the local view (they arrive on different partitions)."""
    btg = await h.client.get("/units/BTG/tasks", headers=headers)
    skhdt = await h.client.get("/units/SKHDT/tasks", headers=headers)
    return len(btg.json()["items"]) == 2 and len(skhdt.json()["items"]) == 1


@pytest.mark.parametrize(("method", "path", "body", "role", "allowed", "exceptions"), CASES)
async def test_role_may_or_may_not_call_endpoint(world, method: str, path: str, body: Any, role: str,
                                                 allowed: set[str], exceptions: dict[str, int]) -> None:
    h, ids = world
    spec = ROLES[role]
    headers = {} if spec is None else h.token(spec["role"], unit=spec.get("unit"),
                                              group=spec.get("group"))
    response = await h.client.request(method, path.format(**ids), headers=headers, json=body)
    if spec is None:
        assert response.status_code == 401, response.text
    elif role in allowed:
        assert response.status_code in (200, 201, 409), response.text
    elif role in exceptions:
        assert response.status_code == exceptions[role], response.text
    else:
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["code"] == "forbidden" and error["message_vi"] and error["message_en"]


async def test_lists_show_a_unit_its_own_and_a_reviewer_its_group(world) -> None:
    h, ids = world
    for who, headers, expected in [
        ("unit", h.token("unit", unit="BTG"), {"BTG"}),
        ("unit_other", h.token("unit", unit="SKHDT"), {"SKHDT"}),
        ("reviewer", h.token("reviewer", group=XD), {"BTG"}),
        ("reviewer_other", h.token("reviewer", group=KT), {"SKHDT"}),
        ("leader", h.token("leader"), {"BTG", "SKHDT"}),
    ]:
        listed = await h.client.get("/reports", headers=headers, params={"cycle_id": ids["cycle"]})
        assert {r["unit_id"] for r in listed.json()["items"]} == expected, who
        cycle = await h.client.get(f"/cycles/{ids['cycle']}", headers=headers)
        assert {o["unit_id"] for o in cycle.json()["obligations"]} == expected, who
    other = await h.client.get("/reports", headers=h.token("unit", unit="SKHDT"),
                               params={"unit_id": "BTG"})
    assert other.status_code == 403
    adjustments = await h.client.get("/adjustments", headers=h.token("unit", unit="SKHDT"))
    assert adjustments.json()["items"] == []
