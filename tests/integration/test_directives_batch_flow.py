"""A batch of directives (`POST /directives/batch`) ends in the same tasks and the same
reports-side task lists as the same directives sent one by one: the directives, tasks and
reports services in-process on their own PostgreSQL databases and the real Kafka broker."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dondoc_contracts import DirectiveIssued, TaskAssigned
from dondoc_platform.clock import VN_TZ
from tests.support.inprocess import suite
from tests.support.services import UNITS, notice, until

pytestmark = pytest.mark.integration

# what differs between a directive sent alone and its twin in the batch: its identity only
IDENTITY = {"task_id", "directive_id", "directive_number", "number", "occurred_at"}


def _same_but_identity(event: Any) -> dict[str, Any]:
    return {k: v for k, v in event.model_dump(mode="json").items() if k not in IDENTITY}


def _bodies(start: int) -> list[dict[str, Any]]:
    """Three notices whose contents differ from one another, numbered from `start`."""
    bodies = []
    for n in range(3):
        body = notice(number=f"{start + n}-TB/TU", summary=f"Kết luận số {n + 1} về kinh tế - xã hội")
        body["items"][0]["text"] += f" (đợt {n + 1})"
        bodies.append(body)
    return bodies


async def test_a_batch_ends_as_the_same_directives_sent_one_by_one(kafka_bootstrap: str, infra,
                                                                    tmp_path: Path) -> None:
    admin = infra.postgres_database_url("postgres")
    async with suite(kafka_bootstrap, admin, tmp_path, datetime(2018, 3, 10, 9, tzinfo=VN_TZ)) as s:
        office = s.tokens.headers("office")
        for unit in UNITS:
            assert (await s.d.post("/units", json=unit, headers=office)).status_code == 201
        singles = []
        for body in _bodies(1):
            answer = await s.d.post("/directives", json=body, headers=office)
            assert answer.status_code == 201, answer.text
            singles.append(answer.json()["directive_id"])

        broken = _bodies(101)
        broken[1]["items"][2]["lead_unit_id"] = "KHONGCO"
        refused = await s.d.post("/directives/batch", json={"directives": broken},
                                 headers={**office, "Idempotency-Key": "broken"})
        assert refused.status_code == 422
        assert refused.json()["error"]["field"] == "directives[1].items[2].lead_unit_id"

        key = {**office, "Idempotency-Key": "hoi-nghi-2018"}
        batch = await s.d.post("/directives/batch", json={"directives": _bodies(101)}, headers=key)
        assert batch.status_code == 201, batch.text
        batched = [e["directive_id"] for e in batch.json()["directives"]]
        again = await s.d.post("/directives/batch", json={"directives": _bodies(101)}, headers=key)
        assert again.json() == batch.json() and again.headers["idempotent-replay"] == "true"

        issued = await s.seen(DirectiveIssued, 6, "three alone, three in the batch")
        assert sorted(e.number for e in issued) == [
            "1-TB/TU", "101-TB/TU", "102-TB/TU", "103-TB/TU", "2-TB/TU", "3-TB/TU"]
        by_id = {e.directive_id: e for e in issued}
        for alone, twin in zip(singles, batched, strict=True):
            assert _same_but_identity(by_id[alone]) == _same_but_identity(by_id[twin])

        assigned = await s.seen(TaskAssigned, 18, "three items of six notices")
        tasks_of: dict[str, list[Any]] = {}
        for event in assigned:
            tasks_of.setdefault(event.directive_id, []).append(event)
        assert set(tasks_of) == set(singles) | set(batched)  # nothing of the refused batch
        leader = s.tokens.headers("leader")
        for alone, twin in zip(singles, batched, strict=True):
            assert (sorted((_same_but_identity(e) for e in tasks_of[alone]), key=str)
                    == sorted((_same_but_identity(e) for e in tasks_of[twin]), key=str))
            shown = [(await s.t.get("/tasks", params={"directive_id": d}, headers=leader)).json()
                     for d in (alone, twin)]
            assert [len(page["items"]) for page in shown] == [3, 3]
            assert ({(t["paragraph"], t["lead_unit_id"], t["status"]) for t in shown[0]["items"]}
                    == {(t["paragraph"], t["lead_unit_id"], t["status"]) for t in shown[1]["items"]})

        # the reports service lists, for each lead unit, the twin's task beside the original's
        numbers = {"1": "101", "2": "102", "3": "103"}

        async def reports_lists() -> dict[str, list[Any]] | None:
            lists = {}
            for unit_id in ("UBND", "BTG", "MTTQ"):
                page = (await s.r.get(f"/units/{unit_id}/tasks", headers=office)).json()["items"]
                if len(page) < 6:
                    return None
                lists[unit_id] = page
            return lists

        lists = await until(reports_lists, what="the reports service knows the 18 tasks")
        for unit_id, page in lists.items():
            rows = {t["directive_number"]: {k: v for k, v in t.items()
                                            if k not in ("task_id", "directive_number")}
                    for t in page}
            for single, twin in numbers.items():
                assert rows[f"{single}-TB/TU"] == rows[f"{twin}-TB/TU"], unit_id
