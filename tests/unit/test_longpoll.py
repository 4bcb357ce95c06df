"""The parts of a query that waits for its answer to change (`dondoc_platform.longpoll`):
the `Prefer: wait` header, the ETag comparison, and the wake of a waiting request."""

from __future__ import annotations

import asyncio
import threading

import pytest

from dondoc_platform.longpoll import MAX_WAIT, Changes, matches, requested_wait, weak_etag

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
