"""Query filters on Vietnamese text find what was stored whatever the bytes typed: a filter
value in NFD (copied from Word, converted from an old font) or with doubled spaces is
compared in the stored form (NFC, single spaces). Real SQLite stores."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_platform.eventstore import InboxEntry
from services.tasks.tests.support import by_date, delivery, issued, item
from tests.support.services import UNITS, Tokens, notice

pytestmark = pytest.mark.integration


def typed_badly(text: str) -> str:
    return "  " + unicodedata.normalize("NFD", text).replace(" ", "  ") + " "


def test_directives_by_issuing_body_and_number_in_any_form(tmp_path: Path) -> None:
    from dondoc_directives.bootstrap import Settings, bootstrap

    tokens = Tokens.create(tmp_path)
    service = bootstrap(Settings(store_url=f"sqlite:///{tmp_path / 'd.sqlite'}"),
                        clock=ManualClock(datetime(2018, 3, 10, tzinfo=VN_TZ)), auth=tokens.auth())
    try:
        client, office = TestClient(service.api), tokens.headers("office")
        for unit in UNITS:
            assert client.post("/units", json=unit, headers=office).status_code == 201
        body = notice(issuing_body="Ban Thường vụ Tỉnh ủy", number="125-TB/TU")
        assert client.post("/directives", json=body, headers=office).status_code == 201
        assert client.post("/directives", json=notice(number="126-TB/TU", issuing_body="TT"),
                           headers=office).status_code == 201
        found = client.get("/directives", headers=office,
                           params={"issuing_body": typed_badly("Ban Thường vụ Tỉnh ủy")}).json()
        assert [d["number"] for d in found["items"]] == ["125-TB/TU"]
        by_number = client.get("/directives", headers=office,
                               params={"number": " 125-TB/TU "}).json()
        assert [d["number"] for d in by_number["items"]] == ["125-TB/TU"]
    finally:
        service.parts["app"].close()


def test_tasks_by_domain_in_any_form(tmp_path: Path) -> None:
    from dondoc_tasks.bootstrap import Settings, bootstrap

    tokens = Tokens.create(tmp_path)
    service = bootstrap(Settings(store_url=f"sqlite:///{tmp_path / 't.sqlite'}"),
                        clock=ManualClock(datetime(2018, 3, 10, tzinfo=VN_TZ)), auth=tokens.auth())
    try:
        event = issued([item("1", "UBND", by_date(date(2018, 6, 29)), domain="Đất đai"),
                        item("2", "BTG", by_date(date(2018, 6, 29)), domain="Tuyên giáo")])
        d = delivery(event)
        assert service.parts["app"].react(d, InboxEntry("filters", d.event_id, d.topic, 0, d.offset))
        client = TestClient(service.api)
        found = client.get("/tasks", headers=tokens.headers("office"),
                           params={"domain": typed_badly("Đất đai")}).json()
        assert [t["item_id"] for t in found["items"]] == ["1"]
    finally:
        service.parts["app"].close()
