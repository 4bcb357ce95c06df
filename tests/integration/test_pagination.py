"""Pagination of every list of the directives, tasks and reports APIs, on PostgreSQL and
SQLite: walking the pages with a small limit gives every row once, in the order of one big
page, and ends with no cursor; a cursor edited by hand (negative, text, a list, an offset
past what PostgreSQL takes) is a 422 naming `cursor`, never a 500."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_platform.eventstore import InboxEntry
from dondoc_platform.http import encode_cursor
from services.reports.tests.harness import (
    KT,
    XD,
    at,
    close_offline,
    offline_service,
    task_assigned,
    unit_registered,
)
from services.tasks.tests.support import by_date, delivery, issued, item
from tests.support.services import UNITS, Tokens, notice

pytestmark = pytest.mark.integration

FORGED = [encode_cursor(-5), encode_cursor("abc"), encode_cursor([1]), encode_cursor(10**30),
          encode_cursor(1.5), encode_cursor(True), "not base64 at all!"]


def walk(client: TestClient, path: str, headers: dict[str, str], key: str,
         params: dict[str, Any] | None = None) -> list[str]:
    seen, cursor = [], None
    for _ in range(100):
        page = client.get(path, headers=headers, params={**(params or {}), "limit": 2,
                                                         **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [row[key] for row in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    whole = client.get(path, headers=headers, params={**(params or {}), "limit": 200}).json()
    assert seen == [row[key] for row in whole["items"]], path
    assert len(seen) == len(set(seen)) >= 3, path
    return seen


def refuses_forged_cursors(client: TestClient, path: str, headers: dict[str, str]) -> None:
    for cursor in FORGED:
        response = client.get(path, headers=headers, params={"cursor": cursor})
        assert response.status_code == 422, (path, cursor, response.text)
        error = response.json()["error"]
        assert (error["field"], error["code"]) == ("cursor", "invalid_cursor"), (path, cursor)
        assert error["message_vi"] and error["message_en"]


def test_directives_pages(store_url: str, tmp_path: Path) -> None:
    from dondoc_directives.bootstrap import Settings, bootstrap

    tokens = Tokens.create(tmp_path)
    service = bootstrap(Settings(store_url=store_url),
                        clock=ManualClock(datetime(2018, 12, 10, tzinfo=VN_TZ)), auth=tokens.auth())
    client = TestClient(service.api, raise_server_exceptions=False)
    office = tokens.headers("office")
    try:
        for unit in UNITS:
            assert client.post("/units", json=unit, headers=office).status_code == 201
        for n in range(1, 8):
            body = notice(number=f"{n}-TB/TU", issued_on=date(2018, 3, n))
            assert client.post("/directives", json=body, headers=office).status_code == 201
        assert len(walk(client, "/units", office, "unit_id")) == len(UNITS)
        numbers = walk(client, "/directives", office, "number")
        assert numbers == [f"{n}-TB/TU" for n in range(7, 0, -1)]  # newest first
        assert len(walk(client, "/directives", tokens.headers("unit", unit_id="BTG"), "number")) == 7
        for path in ("/units", "/directives"):
            refuses_forged_cursors(client, path, office)
    finally:
        service.parts["app"].close()


def test_tasks_pages(store_url: str, tmp_path: Path) -> None:
    from dondoc_tasks.bootstrap import Settings, bootstrap

    tokens = Tokens.create(tmp_path)
    service = bootstrap(Settings(store_url=store_url),
                        clock=ManualClock(datetime(2018, 8, 10, tzinfo=VN_TZ)), auth=tokens.auth())
    client = TestClient(service.api, raise_server_exceptions=False)
    try:
        event = issued([item(str(n), "BTG" if n % 2 else "BDV", by_date(date(2018, 6, n)))
                        for n in range(1, 8)])
        d = delivery(event)
        assert service.parts["app"].react(d, InboxEntry("pages", d.event_id, d.topic, 0, d.offset))
        assert len(walk(client, "/tasks", tokens.headers("office"), "task_id")) == 7
        assert len(walk(client, "/tasks", tokens.headers("unit", unit_id="BTG"), "task_id")) == 4
        refuses_forged_cursors(client, "/tasks", tokens.headers("office"))
    finally:
        service.parts["app"].close()


def test_reports_pages(store_url: str, tmp_path: Path) -> None:
    tasks = [task_assigned(f"t{n}", "BTG", assigned_on=date(2018, 3, n)) for n in range(1, 6)]
    service, signer = offline_service(tmp_path, [
        unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
        unit_registered("SKHDT", "Sở Kế hoạch và Đầu tư", KT), *tasks,
        task_assigned("s1", "SKHDT", assigned_on=date(2018, 3, 5), group=KT)],
        at(date(2018, 12, 20)), store_url=store_url)
    client = TestClient(service.api, raise_server_exceptions=False)

    def auth(role: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {signer.token(subject=f'{role}.t', roles=[role], **claims)}"}

    office, btg = auth("office"), auth("unit", unit_id="BTG")
    try:
        for month in range(4, 8):
            period = {"kind": "month", "label": f"Tháng {month}/2018",
                      "starts_on": f"2018-{month:02}-01", "ends_on": f"2018-{month:02}-28"}
            opened = client.post("/cycles", headers=office, json={
                "period": period, "data_cutoff_on": f"2018-{month:02}-20",
                "due_on": f"2018-{month:02}-28", "unit_ids": ["BTG", "SKHDT"]})
            assert opened.status_code == 201, opened.text
        for n in range(1, 4):
            asked = client.post("/adjustments", headers=btg, json={
                "task_id": f"t{n}", "kind": "withdraw", "reason": f"Lý do {n}"})
            assert asked.status_code == 201, asked.text
        assert len(walk(client, "/cycles", office, "cycle_id")) == 4
        assert len(walk(client, "/reports", office, "report_id")) == 8
        assert len(walk(client, "/reports", btg, "report_id")) == 4
        assert len(walk(client, "/units/BTG/obligations", office, "report_id")) == 4
        assert len(walk(client, "/units/BTG/tasks", btg, "task_id")) == 5
        assert len(walk(client, "/adjustments", office, "request_id")) == 3
        for path in ("/cycles", "/reports", "/units/BTG/obligations", "/units/BTG/tasks",
                     "/adjustments"):
            refuses_forged_cursors(client, path, office)
    finally:
        close_offline(service)
