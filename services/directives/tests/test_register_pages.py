"""The register applies a page of events in order, the directives it issues together: on the
real stores (SQLite and PostgreSQL), notices, an amendment and a revocation caught up in one
page end as the same rows as when each is caught up on its own, and the page's notices are
written in two statements (their rows, their parties), not two each."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from dondoc_contracts import Actor, Role
from dondoc_directives.application.commands import AmendDirective, IssueDirective, RevokeDirective
from dondoc_directives.bootstrap import Settings, bootstrap
from dondoc_platform.clock import VN_TZ, ManualClock
from tests.support.services import UNITS, Tokens, notice

pytestmark = pytest.mark.integration

OFFICE = Actor(id="office.1", role=Role.OFFICE)
DECISION = {"number": "7-QĐ/TU", "decided_on": "2018-03-09", "decider": "Thường trực Tỉnh ủy"}


def _service(store: str, tokens: Tokens):
    service = bootstrap(Settings(store_url=store),
                        clock=ManualClock(datetime(2018, 3, 10, 9, tzinfo=VN_TZ)), auth=tokens.auth())
    client = TestClient(service.api)
    for unit in UNITS:
        assert client.post("/units", json=unit, headers=tokens.headers("office")).status_code == 201
    return service, client


def _work(app, caught_up) -> list[str]:
    """Three notices, the first amended (its last item removed, the summary changed), the
    second revoked; `caught_up()` after each command."""
    ids = []
    for n in (1, 2, 3):
        ids.append(str(app.issue_directive(
            IssueDirective.model_validate(notice(number=f"{n}-TB/TU")), OFFICE).id))
        caught_up()
    last_item = list(app.directive(ids[0]).items)[-1]
    app.amend_directive(ids[0], AmendDirective(summary="Tóm tắt đã sửa",
                                               items_removed=[last_item]), OFFICE)
    caught_up()
    app.revoke_directive(ids[1], RevokeDirective.model_validate(
        {"reason": "Thay thế bằng văn bản khác", "decision": DECISION}), OFFICE)
    caught_up()
    return ids


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_page_of_notices_an_amendment_and_a_revocation(backend: str, tmp_path: Path,
                                                         request: pytest.FixtureRequest) -> None:
    tokens = Tokens.create(tmp_path)
    office = tokens.headers("office")
    shown = []
    for together in (True, False):
        store = (request.getfixturevalue("new_postgres_database")() if backend == "postgres"
                 else f"sqlite:///{tmp_path / f'directives-{together}.sqlite'}")
        service, client = _service(store, tokens)
        app, projection = service.parts["app"], service.parts["projection"]
        try:
            projection.catch_up()
            if together:
                ids = _work(app, lambda: None)
                statements: list[str] = []
                engine = projection.engine
                listen = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
                sa.event.listen(engine, "before_cursor_execute", listen)
                assert projection.catch_up() == 3 * 2 + 2  # each notice with its number's claim
                sa.event.remove(engine, "before_cursor_execute", listen)
                inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
                assert sum("register_directives " in s or "register_directives(" in s
                           for s in inserts) == 1
                # the page's parties once, then the amended directive's again
                assert sum("register_directive_parties" in s for s in inserts) == 2
            else:
                ids = _work(app, projection.catch_up)
            answers = [client.get(f"/directives/{i}", headers=office).json() for i in ids]
            for answer in answers:
                answer.pop("directive_id")
                answer.pop("registered_at")
                answer.pop("changed_at")
                if answer["revocation"]:
                    answer["revocation"].pop("at")
            units = client.get("/directives", params={"unit_id": "BTG", "limit": 10},
                               headers=office).json()
            shown.append((answers, sorted(d["number"] for d in units["items"])))
        finally:
            app.close()
    assert shown[0] == shown[1]
    answers, _ = shown[0]
    assert answers[0]["summary"] == "Tóm tắt đã sửa" and answers[0]["status"] == "amended"
    assert len(answers[0]["items"]) == 2
    assert answers[1]["status"] == "revoked" and answers[1]["revocation"]["reason"]
    assert answers[2]["status"] == "issued" and answers[2]["revocation"] is None
    assert date.fromisoformat(answers[2]["issued_on"]) == date(2018, 3, 5)
