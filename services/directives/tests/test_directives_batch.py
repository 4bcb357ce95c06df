"""`POST /directives/batch` on the real stores (SQLite and PostgreSQL): many directives in one
request, all or none; a bad entry is named by its index and field and records nothing; a
repeated key answers the first answer; a transaction that fails half-way leaves nothing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dondoc_directives.application.commands import MAX_BATCH, MAX_BATCH_BYTES
from dondoc_directives.bootstrap import Settings, bootstrap
from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_platform.eventstore import logged_events, recorder_of, verify_store
from tests.support.services import UNITS, Tokens, notice

pytestmark = pytest.mark.integration

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture
def tokens(tmp_path: Path) -> Tokens:
    return Tokens.create(tmp_path)


@pytest.fixture(params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path: Path, tokens: Tokens):
    store = (request.getfixturevalue("postgres_database") if request.param == "postgres"
             else f"sqlite:///{tmp_path / 'directives.sqlite'}")
    service = bootstrap(Settings(store_url=store),
                        clock=ManualClock(datetime(2018, 3, 10, 9, tzinfo=VN_TZ)), auth=tokens.auth())
    client = TestClient(service.api)
    for unit in UNITS:
        assert client.post("/units", json=unit, headers=tokens.headers("office")).status_code == 201
    service.parts["client"] = client
    yield service
    service.parts["app"].close()


@pytest.fixture
def client(service) -> TestClient:
    return service.parts["client"]


@pytest.fixture
def office(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("office")


def _log_size(service) -> int:
    return service.parts["app"].recorder.max_notification_id() or 0


def notices(count: int, start: int = 1) -> list[dict]:
    return [notice(number=f"{n}-TB/TU") for n in range(start, start + count)]


def test_a_batch_registers_every_directive_in_one_transaction(client, office, service) -> None:
    before = _log_size(service)
    response = client.post("/directives/batch", json={"directives": notices(3)}, headers=office)
    assert response.status_code == 201, response.text
    entries = response.json()["directives"]
    assert [(e["index"], e["number"], e["version"]) for e in entries] == [
        (0, "1-TB/TU", 1), (1, "2-TB/TU", 1), (2, "3-TB/TU", 1)]
    for entry in entries:
        assert entry["location"] == f"/directives/{entry['directive_id']}"
        shown = client.get(entry["location"], headers=office)
        assert shown.status_code == 200 and shown.json()["number"] == entry["number"]
        assert [i["item_id"] for i in shown.json()["items"]] == ["1", "2", "3"]
    # a directive and its number's claim each; one chain, unbroken
    logged = [e for e in logged_events(service.parts["app"], start=before + 1)]
    assert len(logged) == 6
    assert verify_store(service.parts["app"]) == []
    # one transaction: the batch's events took consecutive positions with no other writer
    assert [e.position for e in logged] == list(range(before + 1, before + 7))
    listed = client.get("/directives", params={"year": 2018, "limit": 10}, headers=office).json()
    assert sorted(d["number"] for d in listed["items"]) == ["1-TB/TU", "2-TB/TU", "3-TB/TU"]


def test_a_notice_reads_its_units_and_its_numbers_claim_in_one_query(client, office, service) -> None:
    # One round trip for both, alone or in a batch; a number taken is still refused by it.
    recorder = recorder_of(service.parts["app"])
    reads: list[int] = []
    select_events_of = recorder.select_events_of
    recorder.select_events_of = lambda ids: (reads.append(len(ids)), select_events_of(ids))[1]
    assert client.post("/directives", json=notice(number="7-TB/TU"), headers=office).status_code == 201
    assert client.post("/directives/batch", json={"directives": notices(3)},
                       headers=office).status_code == 201
    taken = client.post("/directives", json=notice(number="2-TB/TU"), headers=office)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "duplicate_number"
    assert len(reads) == 3
    assert reads[1] > 3  # the batch's units and its three claims together


BAD_ENTRIES = [
    ({"items": [{"paragraph": "1", "text": "Việc", "lead_unit_id": "KHONGCO"}]},
     "directives[1].items[0].lead_unit_id", "unknown_unit", 422),
    ({"items": [{"paragraph": "1", "text": "Việc", "lead_unit_id": "BTG",
                 "deadline": {"kind": "date", "due_on": "2018-03-04"}}]},
     "directives[1].items[0].deadline.due_on", "deadline_before_issue", 422),
    ({"number": " 1–TB/TU "}, "directives[1].number", "duplicate_number", 409),
    ({"items": []}, "directives[1].items", "invalid_input", 422),
    ({"summary": "x" * 20_001}, "directives[1].summary", "invalid_input", 422),
    ({"items": [{"paragraph": "1", "text": "y" * 20_001, "lead_unit_id": "BTG"}]},
     "directives[1].items[0].text", "invalid_input", 422),
    ({"issued_on": "2019-01-01"}, "directives[1].issued_on", "issued_in_future", 422),
    ({"review_group": "Nhóm lạ"}, "directives[1].review_group", "unknown_review_group", 422),
]


@pytest.mark.parametrize(("change", "field", "code", "status"), BAD_ENTRIES,
                         ids=[c for _, _, c, _ in BAD_ENTRIES])
def test_a_bad_entry_in_the_middle_records_nothing(client, office, service, change, field, code,
                                                   status) -> None:
    batch = notices(3)
    batch[1].update(change)
    before = _log_size(service)
    response = client.post("/directives/batch", json={"directives": batch}, headers=office)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["field"], error["code"]) == (field, code)
    assert error["message_vi"] and error["message_en"] and error["message_vi"] != error["message_en"]
    if code != "invalid_input":  # the domain's refusals name the entry in their words too
        assert "directives[1]" in error["message_vi"] and "directives[1]" in error["message_en"]
    assert _log_size(service) == before
    assert client.get("/directives", headers=office).json()["items"] == []


def test_a_number_already_registered_refuses_the_whole_batch(client, office, service) -> None:
    assert client.post("/directives", json=notice(number="2-TB/TU"), headers=office).status_code == 201
    before = _log_size(service)
    response = client.post("/directives/batch", json={"directives": notices(3)}, headers=office)
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["field"], error["code"]) == ("directives[1].number", "duplicate_number")
    assert "đã được đăng ký" in error["message_vi"]
    assert _log_size(service) == before


def test_too_many_entries_or_bytes_are_refused(client, office, service) -> None:
    before = _log_size(service)
    many = client.post("/directives/batch", json={"directives": notices(MAX_BATCH + 1)},
                       headers=office)
    assert many.status_code == 422
    assert many.json()["error"]["field"] == "directives"
    empty = client.post("/directives/batch", json={"directives": []}, headers=office)
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "directives"
    # within the entry count, each entry within the single command's limits, but over the bytes
    huge = notice(summary="x" * 20_000, items=[
        {"paragraph": str(n), "text": "y" * 20_000, "lead_unit_id": "BTG"} for n in range(5)])
    count = MAX_BATCH_BYTES // 100_000 + 1
    assert count <= MAX_BATCH
    big = client.post("/directives/batch", json={"directives": [huge] * count},
                      headers={**office, "Idempotency-Key": "big"})
    assert big.status_code == 413, big.text
    assert big.json()["error"]["code"] == "batch_too_large"
    assert "MiB" in big.json()["error"]["message_vi"]
    assert _log_size(service) == before


def test_an_entry_above_the_callers_clearance_refuses_the_batch(client, tokens, service) -> None:
    batch = notices(2)
    batch[1]["secrecy"] = "mat"
    before = _log_size(service)
    response = client.post("/directives/batch", json={"directives": batch},
                           headers=tokens.headers("office"))
    assert response.status_code == 403 and "directives[1]" in response.json()["error"]["message_en"]
    assert _log_size(service) == before
    cleared = client.post("/directives/batch", json={"directives": batch},
                          headers=tokens.headers("office", clearance="mat"))
    assert cleared.status_code == 201


def test_a_repeated_key_returns_the_first_answer(client, office, service) -> None:
    headers = {**office, "Idempotency-Key": "import-2018"}
    first = client.post("/directives/batch", json={"directives": notices(3)}, headers=headers)
    assert first.status_code == 201
    before = _log_size(service)
    again = client.post("/directives/batch", json={"directives": notices(3)}, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replay"] == "true"
    other = client.post("/directives/batch", json={"directives": notices(2, start=10)},
                        headers=headers)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert _log_size(service) == before


def test_a_number_taken_between_the_check_and_the_save_records_nothing(
        client, office, service, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another request registers entry 2's number after the batch was checked: the store
    refuses that claim inside the batch's transaction, and none of the batch is kept."""
    app = service.parts["app"]
    assert client.post("/directives", json=notice(number="3-TB/TU"), headers=office).status_code == 201
    before = _log_size(service)
    units_and_claims = app._units_and_claims
    monkeypatch.setattr(app, "_units_and_claims",  # the check saw the number free
                        lambda commands: (units_and_claims(commands)[0], set()))
    response = client.post("/directives/batch", json={"directives": notices(4)}, headers=office)
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "duplicate_number"
    assert _log_size(service) == before
    assert verify_store(app) == []


def test_a_transaction_broken_half_way_leaves_nothing_and_the_key_may_be_retried(
        client, office, service, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store fails after the batch's events and chain links were written, before the
    commit (as a crash or a lost connection would): nothing of it is kept, the caller gets a
    5xx, and the same key then registers the batch."""
    app = service.parts["app"]
    recorder = recorder_of(app)
    written = {"events": 0}
    original = type(recorder)._insert_events

    def broken(self, cursor, stored_events, **kwargs):
        result = original(self, cursor, stored_events, **kwargs)
        written["events"] += len(stored_events)
        raise ConnectionError("the database went away mid-transaction")

    monkeypatch.setattr(type(recorder), "_insert_events", broken)
    before = _log_size(service)
    headers = {**office, "Idempotency-Key": "retry-me"}
    failing = TestClient(service.api, raise_server_exceptions=False)
    response = failing.post("/directives/batch", json={"directives": notices(5)}, headers=headers)
    assert response.status_code == 500
    assert written["events"] == 10  # all of it was written inside the transaction
    assert _log_size(service) == before
    assert verify_store(app) == []
    monkeypatch.undo()
    retried = client.post("/directives/batch", json={"directives": notices(5)}, headers=headers)
    assert retried.status_code == 201, retried.text
    assert len(retried.json()["directives"]) == 5
    assert _log_size(service) == before + 10
    assert verify_store(app) == []


def test_a_body_streamed_without_its_length_is_cut_off_at_the_limit(client, office, service) -> None:
    """No Content-Length (chunked): the body is counted as it comes and refused once over."""
    sent = {"bytes": 0}

    def chunks():
        yield b'{"directives": ['
        piece = b'{"summary": "' + b"x" * (1024 * 1024) + b'"},'
        while sent["bytes"] <= MAX_BATCH_BYTES + len(piece):
            sent["bytes"] += len(piece)
            yield piece
        yield b"{}]}"

    before = _log_size(service)
    response = client.post("/directives/batch", content=chunks(),
                           headers={**office, "Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "batch_too_large"
    assert _log_size(service) == before
