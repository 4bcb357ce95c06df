"""A unit's task list in the reports service waits for its answer to change (`Prefer: wait=N`
with `If-None-Match`, `dondoc_platform.longpoll`), on the real broker and PostgreSQL: the
directory consumer's batch wakes it (the fallback look is made far longer than the wait, so
only the wake explains the answer), and a task the caller is not cleared for changes nothing
in its answer, so it waits to the end (304)."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from dondoc_platform import longpoll
from services.reports.tests.harness import XD, Harness, task_assigned, unit_registered, until

pytestmark = pytest.mark.integration


async def test_a_unit_task_list_waits_for_the_consumer_to_apply_a_task(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness
    await h.produce(unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
                    task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5)))

    async def listed() -> bool:
        response = await h.client.get("/units/BTG/tasks", headers=h.token("office"))
        return [t["task_id"] for t in response.json()["items"]] == ["t1"]

    await until(listed, what="t1 applied")
    monkeypatch.setattr(longpoll, "FALLBACK", 600.0)  # before the app's first waiting request
    office = h.token("office")
    first = await h.client.get("/units/BTG/tasks", headers={**office, "Prefer": "wait=60"})
    etag = first.headers["etag"]
    waiting = asyncio.create_task(h.client.get("/units/BTG/tasks", headers={
        **office, "If-None-Match": etag, "Prefer": "wait=60"}))
    secret_waiting = asyncio.create_task(h.client.get("/units/BTG/tasks", headers={
        **office, "If-None-Match": etag, "Prefer": "wait=2"}))
    await h.produce(task_assigned("t2", "BTG", assigned_on=date(2018, 3, 6), secrecy="mat"))
    # the office cleared for secret papers sees it; the ordinary office does not
    cleared = h.token("office", clearance="mat")
    seen = await asyncio.wait_for(h.client.get("/units/BTG/tasks", headers={
        **cleared, "If-None-Match": etag, "Prefer": "wait=60"}), 120)
    assert seen.status_code == 200 and seen.headers["preference-applied"] == "wait=60"
    assert [t["task_id"] for t in seen.json()["items"]] == ["t1", "t2"]
    unchanged = await asyncio.wait_for(secret_waiting, 60)
    assert unchanged.status_code == 304 and unchanged.headers["etag"] == etag
    await h.produce(task_assigned("t3", "BTG", assigned_on=date(2018, 3, 7)))
    answer = await asyncio.wait_for(waiting, 120)
    assert answer.status_code == 200
    assert [t["task_id"] for t in answer.json()["items"]] == ["t1", "t3"]
