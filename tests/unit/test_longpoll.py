"""The parts of a query that waits for its answer to change (`dondoc_platform.longpoll`):
the `Prefer: wait` header, the ETag comparison, and the wake of a waiting request."""

from __future__ import annotations

import asyncio
import threading

import pytest

from dondoc_platform.longpoll import MAX_WAIT, Changes, concerns, matches, requested_wait, weak_etag

pytestmark = pytest.mark.unit


def test_the_wait_preference_is_read_among_others_and_bounded() -> None:
    assert requested_wait("wait=10") == 10
    assert requested_wait("respond-async, wait=2.5") == 2.5
    assert requested_wait("return=minimal; foo=bar, WAIT = 7") == 7
    assert requested_wait("wait=100000") == MAX_WAIT
    assert requested_wait("wait=-3") == 0
    assert requested_wait("wait=soon") is None
    assert requested_wait("return=minimal") is None
    assert requested_wait(None) is None


def test_if_none_match_compares_weakly_and_takes_a_list() -> None:
    assert matches('"3"', '"3"')
    assert matches('W/"abc"', '"abc"') and matches('"abc"', 'W/"abc"')
    assert matches('"1", W/"abc"', 'W/"abc"')
    assert matches("*", '"9"')
    assert not matches('"3"', '"4"')


def test_a_weak_etag_changes_with_its_parts_only() -> None:
    assert weak_etag("2026-11-28", [("t1", 1)]) == weak_etag("2026-11-28", [("t1", 1)])
    assert weak_etag("2026-11-28", [("t1", 1)]) != weak_etag("2026-11-28", [("t1", 2)])
    assert weak_etag("2026-11-28", [("t1", 1)]).startswith('W/"')


def test_a_waiter_wakes_at_a_notification_from_another_thread_and_none_is_lost() -> None:
    async def scenario() -> None:
        changes = Changes()
        before = changes.mark()
        waiting = asyncio.create_task(changes.wait(before, 600))
        await asyncio.sleep(0)  # the waiter is registered with its loop
        threading.Thread(target=changes.notify).start()
        await asyncio.wait_for(waiting, 60)
        assert changes.generation == before + 1
        # a notification that came before the wait began is not waited for again
        await asyncio.wait_for(changes.wait(before, 600), 60)

    asyncio.run(scenario())


def test_a_change_concerns_the_queries_that_read_what_it_names() -> None:
    task = frozenset({"task:T1"})
    assert concerns(frozenset({"task:T1", "directive:D"}), task)
    assert not concerns(frozenset({"task:T2", "directive:D"}), task)
    assert not concerns(frozenset({"commit"}), task)
    assert concerns(frozenset(), task)  # a change that names nothing may be anything
    assert concerns(frozenset({"task:T2"}), None)  # a query that declared nothing: any change


def test_a_waiter_sleeps_through_changes_of_other_keys_and_wakes_at_its_own() -> None:
    async def scenario() -> None:
        changes = Changes()
        before = changes.mark()
        mine = frozenset({"task:T1"})
        waiting = asyncio.create_task(changes.wait(before, 600, mine))
        anyone = asyncio.create_task(changes.wait(before, 600))
        await asyncio.sleep(0)
        changes.notify("task:T2", "directive:D2")
        changes.notify("commit")
        await asyncio.wait_for(anyone, 60)  # an undeclared waiter is woken by any change
        await asyncio.sleep(0.05)
        assert not waiting.done()
        threading.Thread(target=changes.notify, args=("task:T1",)).start()
        await asyncio.wait_for(waiting, 60)
        # looked before the changes, waits after them: its own is remembered, not waited for
        await asyncio.wait_for(changes.wait(before, 600, mine), 60)
        assert not changes.changed_since(before, frozenset({"task:T9"}))
        assert changes.changed_since(before, frozenset({"directive:D2"}))

    asyncio.run(scenario())


def test_a_waiter_older_than_the_remembered_changes_looks_again() -> None:
    async def scenario() -> None:
        changes = Changes(remembered=2)
        before = changes.mark()
        for n in range(3):
            changes.notify(f"task:T{n}")
        for _ in range(1000):  # the loop runs the notifications it was handed
            if changes.generation == before + 3:
                break
            await asyncio.sleep(0)
        assert changes.generation == before + 3
        # the change of T0 is forgotten: the waiter cannot know it was not its own
        assert changes.changed_since(before, frozenset({"task:T9"}))
        assert not changes.changed_since(before + 1, frozenset({"task:T9"}))

    asyncio.run(scenario())


def test_a_process_told_of_every_commit_looks_unwoken_at_its_longer_fallback_only_while_told() -> None:
    changes = Changes()
    assert changes.fallback(0.2) == 0.2  # told of nothing: the short look
    listening = {"now": True}
    changes.told_of_commits(lambda: listening["now"], 1.0)
    assert changes.fallback(0.2) == 1.0
    assert changes.fallback(600.0) == 600.0  # never more often than without it
    listening["now"] = False  # the listener lost its connection: commits may go unheard
    assert changes.fallback(0.2) == 0.2


def test_the_document_declares_the_wait_headers_and_the_304_of_every_get() -> None:
    from fastapi import Header
    from fastapi.testclient import TestClient

    from dondoc_platform.http import create_app

    app = create_app(service="example", title="example", description="example")

    @app.get("/things")
    def things() -> dict[str, int]:
        return {"count": 3}

    @app.get("/own")
    def own(if_none_match: str | None = Header(default=None, alias="If-None-Match",
                                                description="the endpoint's own")) -> dict:
        return {}

    @app.post("/things")
    def add() -> dict[str, int]:
        return {"count": 4}

    document = app.openapi()
    get = document["paths"]["/things"]["get"]
    headers = {p["name"]: p for p in get["parameters"] if p["in"] == "header"}
    assert set(headers) == {"If-None-Match", "Prefer"}
    assert not any(p["required"] for p in headers.values())
    assert "304" in get["responses"] and "ETag" in get["responses"]["200"]["headers"]
    post = document["paths"]["/things"]["post"]
    assert "304" not in post["responses"] and "parameters" not in post
    own_headers = [p for p in document["paths"]["/own"]["get"]["parameters"]
                   if p["name"].lower() == "if-none-match"]
    assert [p["description"] for p in own_headers] == ["the endpoint's own"]
    assert app.openapi() is document  # built once

    # what the document says is what the middleware does
    client = TestClient(app)
    assert "etag" not in client.get("/things").headers  # untouched unless asked
    first = client.get("/things", headers={"Prefer": "wait=0"})
    again = client.get("/things", headers={"If-None-Match": first.headers["etag"],
                                           "Prefer": "wait=0"})
    assert (first.status_code, again.status_code) == (200, 304)
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["preference-applied"] == "wait=0"
