"""The HTTP API on real events: scorecards by role, a frozen year and its restatement."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest

from dondoc_platform.auth import DevSigner
from dondoc_platform.settings import AuthSettings

from dondoc_analytics.entrypoints.api import create_api
from services.analytics.tests import support as s
from services.analytics.tests.conftest import following
from services.analytics.tests.integration.test_projection import BDV, BTG, history

pytestmark = pytest.mark.integration


@pytest.fixture
def tokens(tmp_path: Path) -> tuple[AuthSettings, DevSigner]:
    jwks = tmp_path / "jwks.json"
    return AuthSettings(jwks_file=str(jwks)), DevSigner(jwks)


def bearer(signer: DevSigner, *roles: str, **claims) -> dict[str, str]:
    return {"Authorization": f"Bearer {signer.token(subject='t', roles=list(roles), **claims)}"}


@pytest.fixture(params=["postgres"])
def read_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("postgres_database")


async def test_a_closed_year_keeps_its_figures_and_shows_the_restatement(
        parts, kafka_bootstrap, prefix, tokens) -> None:
    auth, signer = tokens
    api = create_api(parts, auth)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://analytics")
    office, leader = bearer(signer, "office"), bearer(signer, "leader")
    async with s.Publisher(kafka_bootstrap, prefix) as publisher, following(parts), client:
        await publisher.publish([*history(),
                                 s.assigned("t-secret", BDV, date(2018, 5, 5), date(2018, 6, 5),
                                            secrecy="mat")])
        closed = await client.post("/v1/periods/2018/close", headers=office)
        assert closed.status_code == 201, closed.text
        assert len(closed.json()["digest"]) == 64
        again = await client.post("/v1/periods/2018/close", headers=office)
        assert again.status_code == 409 and again.json()["error"]["field"] == "year"
        assert (await client.post("/v1/periods/2018/close", headers=leader)).status_code == 403

        # recorded in 2021: the carried-over task had been completed on 1/6/2018
        late = s.completed("t-carry", BTG, date(2018, 6, 1), confirmed=date(2021, 3, 1))
        await publisher.publish([late])
        response = await client.get("/v1/scorecards/tasks", params={"year": 2018, "wait": True},
                                    headers=leader)
    assert response.status_code == 200, response.text
    card = response.json()
    btg = next(r for r in card["rows"] if r["key"] == BTG)
    assert btg["figures"]["open_overdue"] == 1          # frozen: never silently changed
    assert btg["restated"]["open_overdue"] == 0          # beside it: what we know now
    assert btg["restated"]["completed_late"] == btg["figures"]["completed_late"] + 1
    total = card["total"]  # the total row too: frozen, and restated beside it
    assert total["figures"]["open_overdue"] == sum(r["figures"]["open_overdue"] for r in card["rows"])
    assert total["restated"]["open_overdue"] == total["figures"]["open_overdue"] - 1
    assert total["restated"]["completed_late"] == total["figures"]["completed_late"] + 1
    assert card["period"]["closed_by"] == "t"
    causes = card["restatement"]["events"]
    assert [e["type"] for e in causes] == ["TaskCompleted"]
    assert "01/06/2018" in causes[0]["what_vi"]
    assert card["restatement"]["changed_tasks"][0]["task_id"] == "t-carry"


async def test_roles_scope_what_each_reader_sees(parts, kafka_bootstrap, prefix, tokens) -> None:
    auth, signer = tokens
    api = create_api(parts, auth)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://analytics")
    unit = bearer(signer, "unit", unit_id=BDV)
    async with s.Publisher(kafka_bootstrap, prefix) as publisher, following(parts), client:
        await publisher.publish([*history(),
                                 s.assigned("t-secret", BDV, date(2018, 5, 5), date(2018, 6, 5),
                                            secrecy="mat")])
        own = await client.get("/v1/scorecards/tasks", params={"year": 2018, "wait": True},
                               headers=unit)
        other = await client.get(f"/v1/scorecards/units/{BTG}/years",
                                 params={"first": 2016, "last": 2018}, headers=unit)
        early = await client.get("/v1/scorecards/tasks",
                                 params={"year": 2018, "as_of": "2017-12-31T12:00:00+07:00"},
                                 headers=bearer(signer, "leader"),
                                 )
        secret = await client.get("/v1/tasks/t-secret/history", headers=unit)
        cleared = await client.get("/v1/tasks/t-secret/history",
                                   headers=bearer(signer, "unit", unit_id=BDV, clearance="mat"))
        board = await client.get("/v1/tasks", params={"status": "open_overdue", "as_of":
                                                      "2018-12-31T23:00:00+07:00"},
                                 headers=bearer(signer, "leader"))
        anonymous = await client.get("/v1/scorecards/tasks", params={"year": 2018})
    assert [r["key"] for r in own.json()["rows"]] == [BDV]
    assert other.status_code == 403
    assert early.status_code == 422 and early.json()["error"]["field"] == "as_of"
    assert "message_en" in early.json()["error"]
    assert secret.status_code == 403 and cleared.status_code == 200
    assert {t["task_id"] for t in board.json()["items"]} >= {"t-carry"}
    assert anonymous.status_code == 401


async def test_the_cooperating_view_follows_reassignments_live_and_rebuilt(
        parts, kafka_bootstrap, prefix, tokens) -> None:
    """A reassignment gives the cooperating units after it: the view shows the task to
    them and no longer to those it dropped; a back-dated reassignment published later does
    not undo a later one (business order). A rebuild gives the same view."""
    auth, signer = tokens
    api = create_api(parts, auth)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://analytics")
    moved = s.assigned("t-coop-moved", BTG, date(2018, 3, 5), date(2018, 9, 30)).model_copy(
        update={"cooperating_unit_ids": (BDV, "MTTQ")})
    kept = s.assigned("t-coop-kept", BTG, date(2018, 3, 5), date(2018, 9, 30))
    events = [moved, kept,
              s.reassigned("t-coop-moved", BTG, BTG, date(2018, 5, 2), cooperating=("MTTQ",)),
              s.reassigned("t-coop-kept", BTG, BTG, date(2018, 6, 1), cooperating=(BDV,)),
              s.reassigned("t-coop-kept", BTG, BTG, date(2018, 4, 1))]  # back-dated: none then

    async def views() -> dict[str, list[str]]:
        out = {}
        for unit_id in (BDV, "MTTQ"):
            got = await client.get("/v1/tasks", params={"cooperating": unit_id, "wait": True},
                                   headers=bearer(signer, "unit", unit_id=unit_id))
            assert got.status_code == 200, got.text
            out[unit_id] = sorted(t["task_id"] for t in got.json()["items"])
        return out

    expected = {BDV: ["t-coop-kept"], "MTTQ": ["t-coop-moved"]}
    async with s.Publisher(kafka_bootstrap, prefix) as publisher, following(parts), client:
        await publisher.publish(events)
        assert await views() == expected
        await parts.projection.rebuild()
        assert await views() == expected


async def test_a_unit_has_its_cooperating_view_and_it_stays_out_of_its_scorecard(
        parts, kafka_bootstrap, prefix, tokens) -> None:
    """metrics.md: cooperating units do not count in a unit's task scorecard; they have
    their own cooperating view (the tasks they cooperate on, with the lead's status)."""
    auth, signer = tokens
    api = create_api(parts, auth)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://analytics")
    helped = s.assigned("t-helped", BTG, date(2018, 3, 5), date(2018, 4, 30)).model_copy(
        update={"cooperating_unit_ids": (BDV, "MTTQ")})
    other = s.assigned("t-other", BTG, date(2018, 3, 5), date(2018, 4, 30)).model_copy(
        update={"cooperating_unit_ids": ("BDV_X",)})  # an id that only looks alike
    bdv = bearer(signer, "unit", unit_id=BDV)
    async with s.Publisher(kafka_bootstrap, prefix) as publisher, following(parts), client:
        await publisher.publish([*history(), helped, other])
        view = await client.get("/v1/tasks", params={"cooperating": BDV, "wait": True}, headers=bdv)
        asked_for_another = await client.get("/v1/tasks", params={"cooperating": "MTTQ"}, headers=bdv)
        led = await client.get("/v1/tasks", headers=bdv)
        card = await client.get("/v1/scorecards/tasks", params={"year": 2018}, headers=bdv)
    assert view.status_code == 200, view.text
    assert [(t["task_id"], t["lead_unit_id"], t["status"]) for t in view.json()["items"]] == \
        [("t-helped", BTG, "open_overdue")]
    assert [t["task_id"] for t in asked_for_another.json()["items"]] == ["t-helped"]  # its own
    assert "t-helped" not in {t["task_id"] for t in led.json()["items"]}
    assert card.json()["rows"][0]["figures"]["assigned"] == 1  # t-moved only, as before
