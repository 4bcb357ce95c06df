"""A lingering consumer's batch takes in what its consumer fetched during the pause."""

from __future__ import annotations

import asyncio

import pytest

from dondoc_platform.inbox import _lingering

pytestmark = pytest.mark.unit


class _Consumer:
    """What aiokafka's consumer holds: records fetched in the background, by partition."""

    def __init__(self) -> None:
        self.held: dict[str, list[str]] = {}
        self.asked: list[int] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[str]]:
        assert timeout_ms == 0  # only what it holds: the pause was the wait
        self.asked.append(max_records)
        taken, self.held = self.held, {}
        return taken


def test_the_records_fetched_during_the_pause_join_the_batch() -> None:
    consumer = _Consumer()

    async def first_poll(_: object) -> tuple[str, ...]:
        # while the batch lingers, two more partitions' records arrive
        asyncio.get_running_loop().call_soon(consumer.held.update, {"p1": ["b", "c"], "p2": ["d"]})
        return ("a",)

    batch = asyncio.run(_lingering(first_poll, 0.01, 10)(consumer))
    assert batch == ("a", "b", "c", "d")
    assert consumer.asked == [9]  # never more than max_records in all


def test_an_empty_or_full_poll_is_handed_on_at_once() -> None:
    consumer = _Consumer()

    async def nothing(_: object) -> tuple[str, ...]:
        return ()

    async def full(_: object) -> tuple[str, ...]:
        return ("a", "b")

    assert asyncio.run(_lingering(nothing, 60, 2)(consumer)) == ()
    assert asyncio.run(_lingering(full, 60, 2)(consumer)) == ("a", "b")
    assert consumer.asked == []
