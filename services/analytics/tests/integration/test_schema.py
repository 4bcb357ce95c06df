"""Processes that start together on a fresh read-model database (the worker, the API, a
`dondoc scorecard --wait` run by a script) each make sure the schema is there: they must
agree on one live generation and none of them may fail."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from dondoc_analytics.bootstrap import Parts, Settings
from dondoc_analytics.projections import generations as gens
from dondoc_analytics.projections.schema import GENERATIONS

pytestmark = pytest.mark.integration

STARTERS = 6


def test_starters_racing_on_a_fresh_database_agree_on_one_generation(read_url: str) -> None:
    parts = [Parts(Settings(store_url=read_url)) for _ in range(STARTERS)]
    start = threading.Barrier(STARTERS)
    results: dict[int, int | BaseException] = {}

    def starter(i: int) -> None:
        start.wait()
        try:
            results[i] = parts[i].ensure_schema()
        except BaseException as e:  # what a starting process would die of
            results[i] = e

    threads = [threading.Thread(target=starter, args=(i,)) for i in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        failures = [r for r in results.values() if isinstance(r, BaseException)]
        assert not failures, failures
        assert set(results.values()) == {1}
        with parts[0].engine.connect() as conn:
            rows = conn.execute(sa.select(GENERATIONS.c.generation, GENERATIONS.c.state)).all()
            assert [tuple(r) for r in rows] == [(1, "active")]
            assert gens.active_generation(conn) == 1
            conn.execute(sa.text("SELECT count(*) FROM analytics_task_scorecard")).scalar_one()
    finally:
        for made in parts:
            made.engine.dispose()
