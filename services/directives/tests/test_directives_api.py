"""The directives service through its HTTP API, on a real SQLite store: the unit directory,
directives registered, amended and revoked, and bad input refused with nothing recorded."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dondoc_directives.bootstrap import Settings, bootstrap
from dondoc_platform.clock import VN_TZ, ManualClock
from tests.support.services import UNITS, Tokens, notice

pytestmark = pytest.mark.integration


@pytest.fixture
def tokens(tmp_path: Path) -> Tokens:
    return Tokens.create(tmp_path)


@pytest.fixture
def service(tmp_path: Path, tokens: Tokens):
    clock = ManualClock(datetime(2018, 3, 10, 9, tzinfo=VN_TZ))
    service = bootstrap(Settings(store_url=f"sqlite:///{tmp_path / 'directives.sqlite'}"),
                        clock=clock, auth=tokens.auth())
    yield service
    service.parts["app"].close()


@pytest.fixture
def client(service) -> TestClient:
    return TestClient(service.api)


@pytest.fixture
def office(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("office")


@pytest.fixture
def with_units(client: TestClient, office: dict[str, str]) -> None:
    for unit in UNITS:
        assert client.post("/units", json=unit, headers=office).status_code == 201


def _log_size(service) -> int:
    return service.parts["app"].recorder.max_notification_id() or 0


def test_a_unit_is_one_unit_whatever_the_bytes_of_its_name(client, office, service) -> None:
    nfc = "Ban Tuyên giáo Tỉnh ủy"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    created = client.post("/units", json={"code": "BTG", "name": nfd}, headers=office)
    assert created.status_code == 201
    assert created.json()["name"] == nfc
    before = _log_size(service)
    again = client.post("/units", json={"code": "BTG2", "name": "  BAN TUYÊN GIÁO   tỉnh ủy "},
                        headers=office)
    assert again.status_code == 409
    assert again.json()["error"]["field"] == "name"
    assert _log_size(service) == before
    found = client.get("/units", params={"name": unicodedata.normalize("NFD", "ban tuyên giáo tỉnh ủy")},
                       headers=office).json()["items"]
    assert [u["unit_id"] for u in found] == ["BTG"]


def test_review_groups_are_matched_tolerantly_and_unknown_ones_refused(client, office) -> None:
    ok = client.post("/units", json={"code": "BTC", "name": "Ban Tổ chức Tỉnh ủy",
                                     "review_group": "xây dựng đảng,  hệ thống chính trị, NỘI CHÍNH"},
                     headers=office)
    assert ok.json()["review_group"] == "Xây dựng Đảng, hệ thống chính trị, nội chính"
    dash = client.post("/units", json={"code": "SKH", "name": "Sở Kế hoạch và Đầu tư",
                                       "review_group": "Kinh tế – xã hội"}, headers=office)
    assert dash.json()["review_group"] == "Kinh tế - xã hội"
    bad = client.post("/units", json={"code": "X", "name": "Đơn vị X", "review_group": "Văn hóa"},
                      headers=office)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "review_group"
    assert client.get("/units/X", headers=office).status_code == 404


def test_a_rename_keeps_the_identity_and_frees_the_old_name(client, office) -> None:
    client.post("/units", json={"code": "BTG", "name": "Ban Tuyên giáo Tỉnh ủy"}, headers=office)
    stale = client.patch("/units/BTG", json={"name": "Ban Tuyên giáo và Dân vận Tỉnh ủy"},
                         headers={**office, "If-Match": '"7"'})
    assert stale.status_code == 409
    renamed = client.patch("/units/BTG", json={"name": "Ban Tuyên giáo và Dân vận Tỉnh ủy"},
                           headers={**office, "If-Match": '"1"'})
    assert renamed.status_code == 200
    body = renamed.json()
    assert (body["unit_id"], body["name"], body["previous_names"], body["version"]) == (
        "BTG", "Ban Tuyên giáo và Dân vận Tỉnh ủy", ["Ban Tuyên giáo Tỉnh ủy"], 2)
    reuse = client.post("/units", json={"code": "BTG-OLD", "name": "Ban Tuyên giáo Tỉnh ủy"},
                        headers=office)
    assert reuse.status_code == 201


def test_a_units_webhook_url_is_shown_only_to_the_directory_keepers(client, office, tokens) -> None:
    hook = "https://hooks.example.vn/dondoc?token=bi-mat-123"
    client.post("/units", json={"code": "BTG", "name": "Ban Tuyên giáo Tỉnh ủy", "webhook_url": hook,
                                "emails": ["bantuyengiao@example.vn"]}, headers=office)
    client.post("/units", json={"code": "BDV", "name": "Ban Dân vận Tỉnh ủy"}, headers=office)
    for role in ("office", "admin"):
        headers = tokens.headers(role)
        listed = {u["unit_id"]: u for u in client.get("/units", headers=headers).json()["items"]}
        assert (listed["BTG"]["webhook_url"], listed["BDV"]["webhook_url"]) == (hook, None)
        assert client.get("/units/BTG", headers=headers).json()["webhook_url"] == hook
    for role in ("unit", "reviewer", "leader", "auditor"):
        headers = tokens.headers(role)
        listed = client.get("/units", headers=headers)
        assert listed.status_code == 200
        assert all("webhook_url" not in u for u in listed.json()["items"]), role
        assert "token=" not in listed.text and "token=" not in client.get("/units/BTG", headers=headers).text
        one = client.get("/units/BTG", headers=headers).json()
        assert "webhook_url" not in one and one["emails"] == ["bantuyengiao@example.vn"]


def test_a_notice_is_registered_with_its_items(client, office, with_units) -> None:
    response = client.post("/directives", json=notice(), headers=office)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["ETag"] == '"1"'
    assert body["kind_label"] == "Thông báo kết luận"
    assert [i["item_id"] for i in body["items"]] == ["1", "2", "3"]
    first, second, _ = body["items"]
    assert first["review_group"] == "Kinh tế - xã hội"   # from the lead unit
    assert second["review_group"] == "Xây dựng Đảng, hệ thống chính trị, nội chính"
    listed = client.get("/directives", params={"year": 2018}, headers=office).json()
    assert [d["number"] for d in listed["items"]] == ["125-TB/TU"]


@pytest.mark.parametrize(("change", "field", "code"), [
    ({"items": []}, "items", "invalid_input"),
    ({"summary": "x" * 20_001}, "summary", "invalid_input"),
    ({"items": [{"paragraph": "1", "text": "Việc", "lead_unit_id": "KHONGCO"}]},
     "items[0].lead_unit_id", "unknown_unit"),
    ({"items": [{"paragraph": "1", "text": "Việc", "lead_unit_id": "BTG",
                 "cooperating_unit_ids": ["BDV", "NOPE"]}]},
     "items[0].cooperating_unit_ids[1]", "unknown_unit"),
    ({"items": [{"paragraph": "1", "text": "Việc", "lead_unit_id": "BTG",
                 "cooperating_unit_ids": ["BDV", "BTG"]}]},
     "items[0].cooperating_unit_ids[1]", "lead_also_cooperating"),
    ({"items": [{"paragraph": "1", "text": "Việc", "lead_unit_id": "BTG",
                 "deadline": {"kind": "date", "due_on": "2018-03-04"}}]},
     "items[0].deadline.due_on", "deadline_before_issue"),
    ({"items": [{"paragraph": "1", "text": "y" * 20_001, "lead_unit_id": "BTG"}]},
     "items[0].text", "invalid_input"),
    ({"issued_on": "2019-01-01"}, "issued_on", "issued_in_future"),
    ({"review_group": "Nhóm lạ"}, "review_group", "unknown_review_group"),
    ({"number": "   "}, "number", "invalid_input"),
    ({"summary": " \t "}, "summary", "invalid_input"),
    ({"issuing_body": "  "}, "issuing_body", "invalid_input"),
    ({"items": [{"paragraph": "1", "text": "   ", "lead_unit_id": "BTG"}]},
     "items[0].text", "invalid_input"),
    ({"items": [{"paragraph": " ", "text": "Việc", "lead_unit_id": "BTG"}]},
     "items[0].paragraph", "invalid_input"),
])
def test_bad_directives_are_refused_naming_the_field(client, office, with_units, service,
                                                     change, field, code) -> None:
    before = _log_size(service)
    response = client.post("/directives", json=notice(**change), headers=office)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["field"], error["code"]) == (field, code)
    assert error["message_vi"] and error["message_en"] and error["message_vi"] != error["message_en"]
    assert _log_size(service) == before


def test_a_number_is_unique_within_its_year(client, office, with_units, service) -> None:
    assert client.post("/directives", json=notice(), headers=office).status_code == 201
    before = _log_size(service)
    again = client.post("/directives", json=notice(number=" 125–TB/TU "), headers=office)
    assert again.status_code == 409 and again.json()["error"]["field"] == "number"
    assert _log_size(service) == before
    next_year = notice(issued_on=datetime(2017, 12, 1).date(),
                       items=[{"paragraph": "1", "text": "Việc năm trước", "lead_unit_id": "BTG"}])
    assert client.post("/directives", json=next_year, headers=office).status_code == 201


def test_an_amendment_naming_the_lead_unit_as_cooperating_is_refused(client, office, with_units,
                                                                     service) -> None:
    url = f"/directives/{client.post('/directives', json=notice(), headers=office).json()['directive_id']}"
    before = _log_size(service)
    for field, body in (("items_added[0].cooperating_unit_ids[0]", {"items_added": [
            {"paragraph": "4", "text": "Bàn giao đất rừng", "lead_unit_id": "UBND",
             "cooperating_unit_ids": ["UBND"]}]}),
                        ("items_changed[0].cooperating_unit_ids[1]", {"items_changed": [
            {"item_id": "1", "paragraph": "1", "text": "Đẩy nhanh thu hồi đất", "lead_unit_id": "UBND",
             "cooperating_unit_ids": ["BDV", "UBND"]}]})):
        refused = client.post(f"{url}/amendments", headers=office, json=body)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert (error["field"], error["code"]) == (field, "lead_also_cooperating")
        assert "UBND" in error["message_vi"] and "UBND" in error["message_en"]
        assert error["message_vi"] != error["message_en"]
    assert _log_size(service) == before


def test_amend_then_revoke_with_versions(client, office, with_units) -> None:
    directive = client.post("/directives", json=notice(), headers=office).json()
    url = f"/directives/{directive['directive_id']}"
    no_decision = client.post(f"{url}/amendments", headers=office, json={
        "items_changed": [{"item_id": "1", "paragraph": "1", "text": "Đẩy nhanh thu hồi đất",
                           "lead_unit_id": "UBND",
                           "deadline": {"kind": "date", "due_on": "2018-09-28"}}]})
    assert no_decision.status_code == 422 and no_decision.json()["error"]["field"] == "decision"
    amended = client.post(f"{url}/amendments", headers={**office, "If-Match": '"1"'}, json={
        "items_changed": [{"item_id": "1", "paragraph": "1", "text": "Đẩy nhanh thu hồi đất",
                           "lead_unit_id": "UBND",
                           "deadline": {"kind": "date", "due_on": "2018-09-28"}}],
        "items_added": [{"paragraph": "4", "text": "Bàn giao đất rừng", "lead_unit_id": "UBND"}],
        "items_removed": ["3"],
        "decision": {"number": "1520-CV/TU", "decided_on": "2018-03-09",
                     "decider": "Thường trực Tỉnh ủy"}})
    assert amended.status_code == 200, amended.text
    assert sorted(i["item_id"] for i in amended.json()["items"]) == ["1", "2", "4"]
    stale = client.post(f"{url}/revocation", headers={**office, "If-Match": '"1"'}, json={
        "reason": "Thay thế", "decision": {"number": "160-TB/TU", "decided_on": "2018-03-10",
                                           "decider": "Ban Thường vụ Tỉnh ủy"}})
    assert stale.status_code == 409
    revoked = client.post(f"{url}/revocation", headers={**office, "If-Match": '"2"'}, json={
        "reason": "Thay thế", "decision": {"number": "160-TB/TU", "decided_on": "2018-03-10",
                                           "decider": "Ban Thường vụ Tỉnh ủy"}})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    again = client.post(f"{url}/amendments", headers=office, json={"summary": "Sửa"})
    assert again.status_code == 409


def test_secret_directives_are_seen_only_by_cleared_principals(client, tokens, with_units) -> None:
    cleared = tokens.headers("office", clearance="mat")
    secret = client.post("/directives", json=notice(number="9-TB/TU", secrecy="mat"),
                         headers=cleared)
    assert secret.status_code == 201
    directive_id = secret.json()["directive_id"]
    uncleared_office = tokens.headers("office")
    assert client.get(f"/directives/{directive_id}", headers=uncleared_office).status_code == 404
    assert client.post("/directives", json=notice(number="10-TB/TU", secrecy="toi_mat"),
                       headers=cleared).status_code == 403
    assert client.get("/directives", headers=uncleared_office).json()["items"] == []
    assert client.get(f"/directives/{directive_id}", headers=tokens.headers(
        "unit", unit_id="BTG", clearance="mat")).status_code == 200
    assert client.get(f"/directives/{directive_id}", headers=tokens.headers(
        "unit", unit_id="BDV", clearance="mat")).status_code == 200  # cooperating on item 1
    assert client.get(f"/directives/{directive_id}", headers=tokens.headers(
        "unit", unit_id="MTTQ", clearance="mat")).status_code == 200
    client.post("/units", json={"code": "LDLD", "name": "Liên đoàn Lao động tỉnh"},
                headers=uncleared_office)
    assert client.get(f"/directives/{directive_id}", headers=tokens.headers(
        "unit", unit_id="LDLD", clearance="mat")).status_code == 404


def test_idempotency_key_registers_once(client, office, with_units, service) -> None:
    headers = {**office, "Idempotency-Key": "dir-1"}
    first = client.post("/directives", json=notice(), headers=headers)
    before = _log_size(service)
    again = client.post("/directives", json=notice(), headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replay"] == "true"
    assert _log_size(service) == before


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_an_issued_directive_is_answered_as_the_register_then_shows_it(
        backend: str, tokens: Tokens, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The answer to an issue comes from the directive just saved, before the register has
    caught up: it is the register's row to the byte, on either store."""
    store = (request.getfixturevalue("postgres_database") if backend == "postgres"
             else f"sqlite:///{tmp_path / 'directives.sqlite'}")
    clock = ManualClock(datetime(2018, 3, 10, 9, tzinfo=VN_TZ))
    service = bootstrap(Settings(store_url=store), clock=clock, auth=tokens.auth())
    try:
        client, office = TestClient(service.api), tokens.headers("office")
        for unit in UNITS:
            assert client.post("/units", json=unit, headers=office).status_code == 201
        issued = client.post("/directives", json=notice(), headers=office)
        assert issued.status_code == 201, issued.text
        directive_id = issued.json()["directive_id"]
        shown = client.get(f"/directives/{directive_id}", headers=office)
        assert shown.status_code == 200
        assert issued.json() == shown.json()
        assert issued.headers["ETag"] == shown.headers["ETag"] == '"1"'
        listed = client.get("/directives", headers=office).json()["items"]
        assert [d["directive_id"] for d in listed] == [directive_id]
    finally:
        service.parts["app"].close()


def test_oversize_and_blank_text_are_named_as_text_in_both_languages(client, office, with_units) -> None:
    """A length is checked after NFC: the message speaks of characters, not of "items"."""
    long = client.post("/directives", json=notice(summary="x" * 20_001), headers=office).json()
    assert "20000 ký tự" in long["error"]["message_vi"]
    assert "20000 characters" in long["error"]["message_en"]
    blank = client.post("/directives", json=notice(number=" "), headers=office).json()
    assert "để trống" in blank["error"]["message_vi"] and "blank" in blank["error"]["message_en"]


def test_a_decision_is_not_dated_in_the_future_and_an_amendment_keeps_an_item(
        client, office, with_units, service) -> None:
    url = f"/directives/{client.post('/directives', json=notice(), headers=office).json()['directive_id']}"
    before = _log_size(service)
    tomorrow = {"number": "160-TB/TU", "decided_on": "2018-03-11", "decider": "BTV"}
    revoked = client.post(f"{url}/revocation", headers=office,
                          json={"reason": "Thay thế", "decision": tomorrow})
    assert revoked.status_code == 422, revoked.text
    assert (revoked.json()["error"]["field"], revoked.json()["error"]["code"]) == (
        "decision.decided_on", "decision_in_future")
    amended = client.post(f"{url}/amendments", headers=office,
                          json={"summary": "Sửa trích yếu", "decision": tomorrow})
    assert amended.json()["error"]["code"] == "decision_in_future"
    blank_decider = client.post(f"{url}/revocation", headers=office, json={
        "reason": "Thay thế", "decision": {**tomorrow, "decided_on": "2018-03-10", "decider": " "}})
    assert blank_decider.json()["error"]["field"] == "decision.decider"
    emptied = client.post(f"{url}/amendments", headers=office,
                          json={"items_removed": ["1", "2", "3"]})
    assert emptied.status_code == 422
    assert (emptied.json()["error"]["field"], emptied.json()["error"]["code"]) == (
        "items_removed", "no_items_left")
    assert _log_size(service) == before
    assert client.get(url, headers=office).json()["status"] == "issued"
