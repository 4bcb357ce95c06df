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


async def test_a_unit_task_list_is_not_run_again_for_a_report_saved_in_the_log(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit's task list is made of the directory alone (`longpoll.reads`): a commit on the
    service's log (a cycle opened, reports requested) does not run it again; the
    directory's next batch does."""
    h = harness
    await h.produce(unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
                    task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5)))
    office = h.token("office")

    async def listed() -> bool:
        response = await h.client.get("/units/BTG/tasks", headers=office)
        return [t["task_id"] for t in response.json()["items"]] == ["t1"]

    await until(listed, what="t1 applied")
    monkeypatch.setattr(longpoll, "FALLBACK", 600.0)
    monkeypatch.setattr(longpoll, "MIN_GAP", 0.0)
    directory, changes = h.service.parts["directory"], h.service.parts["changes"]
    looks = {"n": 0}
    unit_tasks = directory.unit_tasks

    def counted(*args, **kwargs):
        looks["n"] += 1
        return unit_tasks(*args, **kwargs)

    monkeypatch.setattr(directory, "unit_tasks", counted)
    first = await h.client.get("/units/BTG/tasks", headers={**office, "Prefer": "wait=0"})
    waiting = asyncio.create_task(h.client.get("/units/BTG/tasks", headers={
        **office, "If-None-Match": first.headers["etag"], "Prefer": "wait=60"}))
    await until(lambda: looks["n"] == 2, what="the waiting request's first look")
    before = changes.generation
    opened = await h.client.post("/cycles", headers=office, json={
        "period": {"kind": "quarter", "label": "Quý II/2018", "starts_on": "2018-04-01",
                   "ends_on": "2018-06-30"},
        "data_cutoff_on": "2018-06-15", "due_on": "2018-06-29", "unit_ids": ["BTG"]})
    assert opened.status_code == 201, opened.text
    await until(lambda: changes.generation > before, what="the commit heard")
    await asyncio.sleep(0.2)  # time for a wrong wake to run the query (none may come)
    assert looks["n"] == 2 and not waiting.done()
    await h.produce(task_assigned("t2", "BTG", assigned_on=date(2018, 3, 6)))
    answer = await asyncio.wait_for(waiting, 120)
    assert answer.status_code == 200
    assert [t["task_id"] for t in answer.json()["items"]] == ["t1", "t2"]


async def test_a_unit_task_list_waits_for_its_own_units_changes_only(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit's task list declares its unit's key (`directory.unit_key`): a batch assigning
    tasks to other units, or holding only events the directory ignores, does not run it
    again; its own unit's new task does, and so does a task of its completed (the directory's
    update names the unit that leads it) or moved to another unit."""
    from dondoc_contracts import TaskCompleted, TaskProgressRecorded, TaskReassigned

    h = harness
    await h.produce(unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
                    unit_registered("BDV", "Ban Dân vận Tỉnh ủy", XD),
                    task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5)))
    office = h.token("office")

    async def listed(unit: str, *expected: str) -> bool:
        response = await h.client.get(f"/units/{unit}/tasks", headers=office)
        return [t["task_id"] for t in response.json()["items"]] == list(expected)

    await until(lambda: listed("BTG", "t1"), what="t1 applied")
    monkeypatch.setattr(longpoll, "FALLBACK", 600.0)
    monkeypatch.setattr(longpoll, "MIN_GAP", 0.0)
    monkeypatch.setattr(longpoll, "MAX_WAIT", 600.0)  # only a wake answers within the test
    directory, changes = h.service.parts["directory"], h.service.parts["changes"]
    looks: dict[str, int] = {}
    unit_tasks = directory.unit_tasks

    def counted(unit_id, *args, **kwargs):
        looks[unit_id] = looks.get(unit_id, 0) + 1
        return unit_tasks(unit_id, *args, **kwargs)

    monkeypatch.setattr(directory, "unit_tasks", counted)

    async def waiting_on_btg() -> asyncio.Task:
        first = await h.client.get("/units/BTG/tasks", headers={**office, "Prefer": "wait=0"})
        looked = looks["BTG"]
        waiting = asyncio.create_task(h.client.get("/units/BTG/tasks", headers={
            **office, "If-None-Match": first.headers["etag"], "Prefer": "wait=600"}))
        await until(lambda: looks["BTG"] == looked + 1, what="the waiting request's first look")
        return waiting

    waiting = await waiting_on_btg()
    looked, before = looks["BTG"], changes.generation
    progress = TaskProgressRecorded.example().model_copy(update={"task_id": "t1", "unit_id": "BTG"})
    await h.produce(progress, task_assigned("t9", "BDV", assigned_on=date(2018, 3, 6)))
    await until(lambda: listed("BDV", "t9"), what="BDV's task applied")
    await until(lambda: changes.generation > before, what="the batch's change told")
    assert looks["BTG"] == looked and not waiting.done()  # not BTG's change: no look
    await h.produce(task_assigned("t2", "BTG", assigned_on=date(2018, 3, 6)))
    answer = await asyncio.wait_for(waiting, 120)
    assert [t["task_id"] for t in answer.json()["items"]] == ["t1", "t2"]

    waiting = await waiting_on_btg()
    await h.produce(TaskCompleted.example().model_copy(update={
        "task_id": "t1", "lead_unit_id": "BTG", "completed_on": date(2018, 6, 1)}))
    answer = await asyncio.wait_for(waiting, 120)
    assert [t["task_id"] for t in answer.json()["items"]] == ["t2"]

    waiting = await waiting_on_btg()
    await h.produce(TaskReassigned.example().model_copy(update={
        "task_id": "t2", "previous_lead_unit_id": "BTG", "lead_unit_id": "BDV"}))
    answer = await asyncio.wait_for(waiting, 120)
    assert answer.json()["items"] == []
