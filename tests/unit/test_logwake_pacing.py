"""A follower woken at most every so often still gets a call after the last commit."""

from __future__ import annotations

import asyncio

import pytest

from dondoc_platform.logwake import LogListener

pytestmark = pytest.mark.unit


def test_commits_within_the_gap_are_answered_by_one_call_when_it_ends() -> None:
    async def scenario() -> None:
        calls: list[float] = []
        loop = asyncio.get_running_loop()
        listener = LogListener("postgresql://dondoc@127.0.0.1:1/none", "stored_events")
        listener.on_commit(lambda: calls.append(loop.time()), at_most_every=0.2)
        listener._wake()
        assert len(calls) == 1  # idle: at once
        for _ in range(5):  # a burst within the gap
            listener._wake()
        assert len(calls) == 1
        deadline = loop.time() + 10
        while len(calls) < 2:
            assert loop.time() < deadline, "the commits of the burst were never answered"
            await asyncio.sleep(0.01)
        assert calls[1] - calls[0] >= 0.19
        assert len(calls) == 2  # one call for the whole burst

    asyncio.run(scenario())


def test_the_foreign_only_callbacks_skip_the_process_s_own_commits() -> None:
    """A notification from one of the process's own writers (`own`) calls the callbacks
    that hear every commit, not the `foreign_only` ones; one from another server process,
    or of unknown origin (after a reconnection), calls both."""
    heard: list[str] = []
    listener = LogListener("postgresql://dondoc@127.0.0.1:1/none", "stored_events")
    listener.own = {4242}.__contains__
    listener.on_commit(lambda: heard.append("every"))
    listener.on_commit(lambda: heard.append("foreign"), foreign_only=True)
    listener._wake(4242)
    assert heard == ["every"]
    listener._wake(777)
    assert heard == ["every", "every", "foreign"]
    listener._wake(None)
    assert heard[3:] == ["every", "foreign"]
