"""`projection.SharedRound`: a catch-up shared by the callers that arrive while one runs,
never counted for a caller that arrived after it began."""

from __future__ import annotations

import threading
import time

import pytest

from dondoc_platform.projection import SharedRound

pytestmark = pytest.mark.unit


def until(condition: object, deadline: float = 60) -> None:
    ends = time.monotonic() + deadline
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < ends, "the condition never held"
        time.sleep(0.005)


def test_callers_arriving_during_a_run_share_the_next_one() -> None:
    shared = SharedRound()
    first_started, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def work() -> int:
        runs.append(len(runs) + 1)
        if len(runs) == 1:
            first_started.set()
            assert release.wait(60)
        return 7

    first = threading.Thread(target=shared.run, args=(work,))
    first.start()
    assert first_started.wait(60)
    results: list[int] = []
    later = [threading.Thread(target=lambda: results.append(shared.run(work))) for _ in range(8)]
    for thread in later:
        thread.start()
    until(lambda: shared.waiting == 8)
    release.set()
    for thread in [first, *later]:
        thread.join(60)
    # the eight who came while the first ran did not count it (it read the log before them)
    # and shared one more run between them: one ran it, seven waited for it
    assert runs == [1, 2]
    assert sorted(results) == [0] * 7 + [7]


def test_a_caller_alone_runs_every_time() -> None:
    shared = SharedRound()
    assert [shared.run(lambda: 3) for _ in range(3)] == [3, 3, 3]


def test_a_failed_run_counts_for_nobody() -> None:
    shared = SharedRound()
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def failing() -> int:
        calls.append("failing")
        started.set()
        assert release.wait(60)
        raise RuntimeError("the database went away")

    def failed() -> None:
        with pytest.raises(RuntimeError):
            shared.run(failing)

    first = threading.Thread(target=failed)
    first.start()
    assert started.wait(60)
    results: list[int] = []

    def after() -> None:
        results.append(shared.run(lambda: calls.append("after") or 1))

    second = threading.Thread(target=after)
    second.start()
    until(lambda: shared.waiting == 1)
    release.set()
    first.join(60)
    second.join(60)
    assert calls == ["failing", "after"] and results == [1]
