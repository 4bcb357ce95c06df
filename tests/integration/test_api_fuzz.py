"""Schemathesis against each service's OpenAPI document, in-process on the ASGI app with
valid tokens of several roles, on real SQLite stores holding some data: no 5xx, and no
response that breaks the document's schema."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_platform.eventstore import InboxEntry
from services.tasks.tests.support import by_date, delivery, issued, item
from tests.support.services import UNITS, Tokens, notice

pytestmark = pytest.mark.integration

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
SETTINGS = hypothesis.settings(max_examples=25, deadline=None, derandomize=True,
                               suppress_health_check=list(HealthCheck), database=None)
ROLES = [("office", {}), ("unit", {"unit_id": "BTG"}), ("admin", {}),
         ("reviewer", {"review_group": "Kinh tế - xã hội"}), ("auditor", {"clearance": "tuyet_mat"})]


def call(client: TestClient, case, headers: dict[str, str]):
    """Send the case through Starlette's test client (httpx): the requests transport of
    schemathesis does not work beside urllib3-future, which another dev tool installs."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    sent = {k: v for k, v in kwargs["headers"].items() if k.lower() != "authorization"}
    body = {k: kwargs[k] for k in ("json", "data") if k in kwargs}
    if "data" in body:
        body = {"content": body["data"]}
    return client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                          headers={**sent, **headers}, **body)


def _directives(tmp: Path, tokens: Tokens):
    from dondoc_directives.bootstrap import Settings, bootstrap

    service = bootstrap(Settings(store_url=f"sqlite:///{tmp / 'd.sqlite'}"),
                        clock=ManualClock(datetime(2018, 3, 10, tzinfo=VN_TZ)), auth=tokens.auth())
    client = TestClient(service.api)
    for unit in UNITS:
        client.post("/units", json=unit, headers=tokens.headers("office"))
    client.post("/directives", json=notice(), headers=tokens.headers("office"))
    return service


def _tasks(tmp: Path, tokens: Tokens):
    from dondoc_tasks.bootstrap import Settings, bootstrap

    service = bootstrap(Settings(store_url=f"sqlite:///{tmp / 't.sqlite'}"),
                        clock=ManualClock(datetime(2018, 8, 10, tzinfo=VN_TZ)), auth=tokens.auth())
    event = issued([item("1", "BTG", by_date(datetime(2018, 6, 29).date())),
                    item("2", "UBND", by_date(datetime(2018, 12, 28).date()),
                         review_group="Kinh tế - xã hội")])
    d = delivery(event)
    service.parts["app"].react(d, InboxEntry("fuzz", d.event_id, d.topic, 0, d.offset))
    return service


@pytest.mark.parametrize("which", ["directives", "tasks"])
@pytest.mark.parametrize(("role", "claims"), ROLES, ids=[r for r, _ in ROLES])
def test_no_server_errors_and_responses_match_the_document(which: str, role: str, claims: dict,
                                                           tmp_path: Path) -> None:
    tokens = Tokens.create(tmp_path)
    service = (_directives if which == "directives" else _tasks)(tmp_path, tokens)
    headers = tokens.headers(role, **claims)
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.api)
    client = TestClient(service.api)
    failures: list[str] = []
    operations: list[str] = []
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations.append(f"{operation.method.upper()} {operation.path}")

            @SETTINGS
            @hypothesis.given(case=operation.as_strategy())
            def run(case) -> None:
                response = call(client, case, headers)
                case.validate_response(response, checks=CHECKS)

            try:
                run()
            except Exception as e:  # noqa: BLE001 - collect every operation's failure
                failures.append(f"{operation.method.upper()} {operation.path}: {e}")
    finally:
        service.parts["app"].close()
    assert len(operations) >= 7
    if which == "directives":  # the bulk entry is fuzzed as every other command
        assert "POST /directives/batch" in operations
    assert failures == []
