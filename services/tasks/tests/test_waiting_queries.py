"""A query of the tasks API that waits for its answer to change (`Prefer: wait=N` with
`If-None-Match`, `dondoc_platform.longpoll`), on the real PostgreSQL: another process's
reaction to a notice wakes it through the commit notification (the fallback look is made
far longer than the wait, so only the wake explains the answer); a caller who may not see
the new tasks keeps waiting and gets 304 at the end; the answer is the query's own (filters,
ETag), and a plain conditional GET answers 304 at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from dondoc_contracts.values import Secrecy
from dondoc_platform import longpoll
from dondoc_platform.eventstore import InboxEntry, store_env
from dondoc_tasks.application.tasks_app import TasksApp
from dondoc_tasks.bootstrap import Settings, bootstrap
from tests.support.services import Tokens

from .support import by_date, delivery, issued, item

pytestmark = pytest.mark.integration

#: longer than any wait below: an answer before it comes from a commit's wake
NEVER = 600.0


def react_elsewhere(url: str, event) -> None:
    """The consumer of another process (its own application and connections) reacts."""
    app = TasksApp(env=store_env(url))
    try:
        d = delivery(event)
        assert app.react(d, InboxEntry("dondoc-tasks", d.event_id, d.topic, d.partition, d.offset))
    finally:
        app.close()


@pytest.fixture
def tokens(tmp_path: Path) -> Tokens:
    return Tokens.create(tmp_path)


async def _serving(url: str, tokens: Tokens, body, *, follower: bool = False,
                   settings: Settings | None = None) -> None:
    """Run `body(client)` against the service's API with its log listener running (and, if
    `follower`, the board's follower, unwoken never: only a commit's wake moves it)."""
    service = bootstrap(settings or Settings(store_url=url), auth=tokens.auth())
    commits = service.parts["commits"]
    stop = asyncio.Event()
    workers = [asyncio.create_task(commits.run(stop))]
    if follower:
        workers.append(asyncio.create_task(service.parts["projection"].follow(stop, interval=NEVER)))
    try:
        if commits.enabled:  # PostgreSQL: the worker hears of other processes' commits
            await asyncio.wait_for(commits.listening.wait(), 30)
        transport = httpx.ASGITransport(app=service.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://tasks") as client:
            client.service = service  # for the tests that look inside
            await body(client)
    finally:
        stop.set()
        await asyncio.gather(*workers)
        service.parts["app"].close()
        service.parts["engine"].dispose()


def test_a_waiting_query_answers_when_another_process_commits_what_it_shows(
        postgres_database: str, tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(longpoll, "FALLBACK", NEVER)
    office = tokens.headers("office")
    directive_id = str(uuid.uuid4())
    notice = issued([item("1", "BTG", by_date(date(2018, 6, 29))),
                     item("2", "UBND", by_date(date(2018, 9, 28)))], directive_id=directive_id)

    async def body(client: httpx.AsyncClient) -> None:
        query = {"directive_id": directive_id}
        # a first ask with a wait and no ETag to compare is answered at once, with its ETag
        empty = await client.get("/tasks", params=query, headers={**office, "Prefer": "wait=120"})
        assert empty.status_code == 200 and empty.json()["items"] == []
        assert empty.headers["preference-applied"] == "wait=60"  # the longest wait allowed
        etag = empty.headers["etag"]
        waiting = asyncio.create_task(client.get("/tasks", params=query, headers={
            **office, "If-None-Match": etag, "Prefer": "wait=60"}))
        await asyncio.to_thread(react_elsewhere, postgres_database, notice)
        answer = await asyncio.wait_for(waiting, 120)
        assert answer.status_code == 200
        assert answer.headers["preference-applied"] == "wait=60"
        assert answer.headers["etag"] != etag
        assert sorted(t["lead_unit_id"] for t in answer.json()["items"]) == ["BTG", "UBND"]
        # the same query, asked again: the same tasks (computed at another moment, `as_of`)
        # under the same ETag
        again = await client.get("/tasks", params=query, headers={**office, "Prefer": "wait=0"})
        assert again.headers["etag"] == answer.headers["etag"]
        assert [{**t, "as_of": None} for t in again.json()["items"]] == \
            [{**t, "as_of": None} for t in answer.json()["items"]]

    asyncio.run(_serving(postgres_database, tokens, body))


def test_a_caller_who_may_not_see_the_change_waits_to_the_end_and_gets_304(
        postgres_database: str, tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit sees only its own tasks, and nobody a task above their clearance: a notice for
    another unit, or a secret one, changes nothing in its answer, so it is not woken into
    one; the unit the notice is for sees it."""
    monkeypatch.setattr(longpoll, "MIN_GAP", 0.0)
    btg, ubnd = tokens.headers("unit", unit_id="BTG"), tokens.headers("unit", unit_id="UBND")
    office = tokens.headers("office")
    for_ubnd = issued([item("1", "UBND", by_date(date(2018, 6, 29)))],
                      directive_id=str(uuid.uuid4()), number="7-TB/TU")
    secret = issued([item("1", "BTG", by_date(date(2018, 6, 29)))],
                    directive_id=str(uuid.uuid4()), number="8-TB/TU", secrecy=Secrecy.MAT)

    async def body(client: httpx.AsyncClient) -> None:
        first = await client.get("/tasks", headers={**btg, "Prefer": "wait=0"})
        etag = first.headers["etag"]
        waiting_btg = asyncio.create_task(client.get("/tasks", headers={
            **btg, "If-None-Match": etag, "Prefer": "wait=3"}))
        waiting_ubnd = asyncio.create_task(client.get("/tasks", headers={
            **ubnd, "If-None-Match": etag, "Prefer": "wait=60"}))
        await asyncio.to_thread(react_elsewhere, postgres_database, for_ubnd)
        await asyncio.to_thread(react_elsewhere, postgres_database, secret)
        seen = await asyncio.wait_for(waiting_ubnd, 120)
        assert seen.status_code == 200
        assert [t["directive_number"] for t in seen.json()["items"]] == ["7-TB/TU"]
        unchanged = await asyncio.wait_for(waiting_btg, 60)
        assert unchanged.status_code == 304
        assert unchanged.content == b"" and unchanged.headers["etag"] == etag
        assert unchanged.headers["preference-applied"] == "wait=3"
        # the office, cleared for secret papers, sees both
        everything = await client.get("/tasks", headers=tokens.headers("office", clearance="mat"))
        assert {t["directive_number"] for t in everything.json()["items"]} == {"7-TB/TU", "8-TB/TU"}
        # the office not cleared for them does not
        plain = await client.get("/tasks", headers=office)
        assert [t["directive_number"] for t in plain.json()["items"]] == ["7-TB/TU"]

    asyncio.run(_serving(postgres_database, tokens, body))


def test_a_conditional_get_answers_304_at_once_and_a_task_keeps_its_version_etag(
        postgres_database: str, tokens: Tokens) -> None:
    office = tokens.headers("office")
    notice = issued([item("1", "BTG", by_date(date(2018, 6, 29)))], directive_id=str(uuid.uuid4()))

    async def body(client: httpx.AsyncClient) -> None:
        await asyncio.to_thread(react_elsewhere, postgres_database, notice)
        listed = await client.get("/tasks", headers={**office, "Prefer": "wait=0"})
        task_id = listed.json()["items"][0]["task_id"]
        same = await client.get("/tasks", headers={**office, "If-None-Match": listed.headers["etag"]})
        assert same.status_code == 304 and "preference-applied" not in same.headers
        task = await client.get(f"/tasks/{task_id}", headers=office)
        assert task.headers["etag"] == f'"{task.json()["version"]}"'
        again = await client.get(f"/tasks/{task_id}", headers={
            **office, "If-None-Match": task.headers["etag"], "Prefer": "wait=0"})
        assert again.status_code == 304 and again.headers["etag"] == task.headers["etag"]
        other = await client.get(f"/tasks/{task_id}", headers={**office, "If-None-Match": '"999"'})
        assert other.status_code == 200 and other.json()["version"] == task.json()["version"]
        # an error is answered at once, whatever the wait asked for
        missing = await client.get("/tasks/nothing-here", headers={
            **office, "If-None-Match": '"1"', "Prefer": "wait=60"})
        assert missing.status_code == 404

    asyncio.run(_serving(postgres_database, tokens, body))


def test_without_notifications_the_fallback_look_finds_the_change(tmp_path: Path,
                                                                    tokens: Tokens) -> None:
    """SQLite has no LISTEN/NOTIFY: a waiting query looks again every `FALLBACK` seconds
    and answers with what another process wrote meanwhile."""
    url = f"sqlite:///{tmp_path / 'tasks.sqlite'}"
    office = tokens.headers("office")
    directive_id = str(uuid.uuid4())
    notice = issued([item("1", "BTG", by_date(date(2018, 6, 29)))], directive_id=directive_id)

    async def body(client: httpx.AsyncClient) -> None:
        query = {"directive_id": directive_id}
        empty = await client.get("/tasks", params=query, headers={**office, "Prefer": "wait=0"})
        waiting = asyncio.create_task(client.get("/tasks", params=query, headers={
            **office, "If-None-Match": empty.headers["etag"], "Prefer": "wait=60"}))
        await asyncio.to_thread(react_elsewhere, url, notice)
        answer = await asyncio.wait_for(waiting, 120)
        assert answer.status_code == 200
        assert [t["lead_unit_id"] for t in answer.json()["items"]] == ["BTG"]

    asyncio.run(_serving(url, tokens, body))


def record_progress_elsewhere(url: str, task_id: str, unit_id: str) -> None:
    """The lead unit's claim, saved by another process (its own application)."""
    from dondoc_contracts import Actor, Role
    from dondoc_contracts.values import ClaimedStatus
    from dondoc_tasks.application.commands import RecordProgress

    app = TasksApp(env=store_env(url))
    try:
        app.record_progress(task_id, RecordProgress(status_claimed=ClaimedStatus.IN_PROGRESS,
                                                    progress="Đã họp triển khai"),
                            Actor(id=f"{unit_id}.a", role=Role.UNIT, unit_id=unit_id))
    finally:
        app.close()


def count_histories(app: TasksApp, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times a task's history is read (each look of a waiting history query)."""
    looks = {"history": 0}
    history = app.history

    def counted(task_id: str):
        looks["history"] += 1
        return history(task_id)

    monkeypatch.setattr(app, "history", counted)
    return looks


async def until(condition, deadline: float = 60) -> None:
    ends = asyncio.get_running_loop().time() + deadline
    while not condition():
        assert asyncio.get_running_loop().time() < ends, "the condition never held"
        await asyncio.sleep(0.01)


def test_a_waiting_query_is_looked_at_again_only_when_what_it_reads_changes(
        postgres_database: str, tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task's history and a directive's list declare what they read (`longpoll.reads`):
    commits of other tasks and directives, once the board's follower has applied them, do
    not run them again (the fallback look made longer than the wait), and they end in 304;
    a claim on the task itself, saved by another process, answers them at once (the
    follower, woken by the commit because queries wait, catches the board up for them)."""
    monkeypatch.setattr(longpoll, "FALLBACK", NEVER)
    monkeypatch.setattr(longpoll, "MIN_GAP", 0.0)
    office = tokens.headers("office")
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    notice = issued([item("1", "BTG", by_date(date(2018, 6, 29)))], directive_id=mine)
    elsewhere = [issued([item("1", "UBND", by_date(date(2018, 6, 29)))], directive_id=other,
                        number=f"{n}-TB/TU") for n in (11, 12)]

    async def body(client: httpx.AsyncClient) -> None:
        service = client.service
        app, projection = service.parts["app"], service.parts["projection"]
        looks = count_histories(app, monkeypatch)
        await asyncio.to_thread(react_elsewhere, postgres_database, notice)
        listed = await client.get("/tasks", params={"directive_id": mine},
                                  headers={**office, "Prefer": "wait=0"})
        task_id = listed.json()["items"][0]["task_id"]
        first = await client.get(f"/tasks/{task_id}/history", headers={**office, "Prefer": "wait=0"})
        assert first.status_code == 200 and looks["history"] == 1
        waiting_history = asyncio.create_task(client.get(f"/tasks/{task_id}/history", headers={
            **office, "If-None-Match": first.headers["etag"], "Prefer": "wait=60"}))
        waiting_list = asyncio.create_task(client.get("/tasks", params={"directive_id": mine},
            headers={**office, "If-None-Match": listed.headers["etag"], "Prefer": "wait=4"}))
        await until(lambda: looks["history"] == 2)  # its first look, then it waits
        for notice_elsewhere in elsewhere:
            await asyncio.to_thread(react_elsewhere, postgres_database, notice_elsewhere)
        head = app.recorder.max_notification_id()
        await until(lambda: projection.position() >= head)  # the follower applied them
        await asyncio.sleep(0.2)  # time for a wrong wake to run the query (none may come)
        assert looks["history"] == 2 and not waiting_history.done()
        unchanged = await asyncio.wait_for(waiting_list, 60)
        assert unchanged.status_code == 304

        await asyncio.to_thread(record_progress_elsewhere, postgres_database, task_id, "BTG")
        answer = await asyncio.wait_for(waiting_history, 30)
        assert answer.status_code == 200 and answer.headers["etag"] != first.headers["etag"]
        assert answer.json()[-1]["type"] == "TaskProgressRecorded"

    asyncio.run(_serving(postgres_database, tokens, body, follower=True))


def react_here(service, event) -> None:
    """The service's own consumer reacts: a save of this process, which it tells of by name."""
    d = delivery(event)
    assert service.parts["app"].react(d, InboxEntry("dondoc-tasks", d.event_id, d.topic,
                                                    d.partition, d.offset))


def test_the_process_s_own_saves_wake_the_queries_they_concern_by_name(
        postgres_database: str, tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer of this process reacts to a notice and records a claim: the waiting
    queries these saves concern answer at once — though no follower of the board runs, it
    would not be woken for them anyway (its own commits are not another process's), and
    nothing looks unwoken (the fallback far longer than the waits) — and a waiting query they
    do not concern is not run again."""
    monkeypatch.setattr(longpoll, "FALLBACK", NEVER)
    monkeypatch.setattr(longpoll, "MIN_GAP", 0.0)
    office = tokens.headers("office")
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    notice = issued([item("1", "BTG", by_date(date(2018, 6, 29)))], directive_id=mine)
    later = issued([item("1", "UBND", by_date(date(2018, 9, 28)))], directive_id=other,
                   number="21-TB/TU")

    async def body(client: httpx.AsyncClient) -> None:
        service = client.service
        app, projection = service.parts["app"], service.parts["projection"]
        follower_wakes = {"n": 0}
        monkeypatch.setattr(projection, "wake",
                            lambda: follower_wakes.__setitem__("n", follower_wakes["n"] + 1))
        looks = count_histories(app, monkeypatch)
        await asyncio.to_thread(react_here, service, notice)
        listed = await client.get("/tasks", params={"directive_id": mine},
                                  headers={**office, "Prefer": "wait=0"})
        task_id = listed.json()["items"][0]["task_id"]
        first = await client.get(f"/tasks/{task_id}/history", headers={**office, "Prefer": "wait=0"})
        empty = await client.get("/tasks", params={"directive_id": other},
                                 headers={**office, "Prefer": "wait=0"})
        assert empty.json()["items"] == [] and looks["history"] == 1
        waiting_history = asyncio.create_task(client.get(f"/tasks/{task_id}/history", headers={
            **office, "If-None-Match": first.headers["etag"], "Prefer": "wait=60"}))
        waiting_list = asyncio.create_task(client.get("/tasks", params={"directive_id": other},
            headers={**office, "If-None-Match": empty.headers["etag"], "Prefer": "wait=60"}))
        await until(lambda: looks["history"] == 2 and service.parts["changes"].requests_waiting == 2)

        await asyncio.to_thread(react_here, service, later)
        answered = await asyncio.wait_for(waiting_list, 30)
        assert answered.status_code == 200
        assert [t["lead_unit_id"] for t in answered.json()["items"]] == ["UBND"]
        assert looks["history"] == 2 and not waiting_history.done()  # not its task

        await asyncio.to_thread(record_progress_here, service, task_id)
        answer = await asyncio.wait_for(waiting_history, 30)
        assert answer.status_code == 200
        assert answer.json()[-1]["type"] == "TaskProgressRecorded"
        assert looks["history"] == 3  # once for its own task's change, not for the other's
        assert follower_wakes["n"] == 0

    asyncio.run(_serving(postgres_database, tokens, body))


def record_progress_here(service, task_id: str) -> None:
    from dondoc_contracts import Actor, Role
    from dondoc_contracts.values import ClaimedStatus
    from dondoc_tasks.application.commands import RecordProgress

    service.parts["app"].record_progress(
        task_id, RecordProgress(status_claimed=ClaimedStatus.IN_PROGRESS, progress="Đang làm"),
        Actor(id="BTG.a", role=Role.UNIT, unit_id="BTG"))


def test_a_lost_wake_is_answered_by_the_fallback_look(
        postgres_database: str, tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    """The named wake of the process's own saves is broken (its `saved` callbacks gone), the
    listener hears the commit but leaves it to them (its own), the follower never looks
    unwoken: the waiting query's own look, every `log_poll_seconds` while the process is
    told of commits, still answers."""
    monkeypatch.setattr(longpoll, "MIN_GAP", 0.0)
    office = tokens.headers("office")
    directive_id = str(uuid.uuid4())
    notice = issued([item("1", "BTG", by_date(date(2018, 6, 29)))], directive_id=directive_id)

    async def body(client: httpx.AsyncClient) -> None:
        service = client.service
        service.parts["app"].saved.clear()
        changes = service.parts["changes"]
        assert changes.fallback(longpoll.FALLBACK) == 0.5  # told of commits: the longer look
        query = {"directive_id": directive_id}
        empty = await client.get("/tasks", params=query, headers={**office, "Prefer": "wait=0"})
        waiting = asyncio.create_task(client.get("/tasks", params=query, headers={
            **office, "If-None-Match": empty.headers["etag"], "Prefer": "wait=60"}))
        await until(lambda: changes.requests_waiting == 1)
        await asyncio.to_thread(react_here, service, notice)
        answer = await asyncio.wait_for(waiting, 30)
        assert answer.status_code == 200
        assert [t["lead_unit_id"] for t in answer.json()["items"]] == ["BTG"]

    asyncio.run(_serving(postgres_database, tokens, body, follower=True,
                         settings=Settings(store_url=postgres_database, log_poll_seconds=0.5)))
