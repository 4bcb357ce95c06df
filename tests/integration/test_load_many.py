"""Several aggregates read in one query, on PostgreSQL and SQLite: each as the repository
would give it, with every event applied in order; one that does not exist is absent."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.domain import Aggregate, event

from dondoc_platform.application import ServiceApplication
from dondoc_platform.eventstore import load_many, store_env

pytestmark = pytest.mark.integration


class Ledger(Aggregate):
    @event("Opened")
    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[str] = []

    @event("LineAdded")
    def add(self, line: str) -> None:
        self.lines.append(line)


class Books(ServiceApplication):
    name = "Books"


def test_several_aggregates_in_one_read(store_url: str) -> None:
    app = Books(env=store_env(store_url))
    try:
        first, second = Ledger("Sổ theo dõi"), Ledger("Sổ đôn đốc")
        for n in range(3):
            first.add(f"dòng {n}")
        second.add("một dòng")
        app.save(first, second)
        missing = uuid.uuid4()
        found = load_many(app, [first.id, missing, second.id, first.id])
        assert set(found) == {first.id, second.id}
        for ledger in (first, second):
            stored = app.repository.get(ledger.id)
            assert (found[ledger.id].title, found[ledger.id].lines, found[ledger.id].version) == (
                stored.title, stored.lines, stored.version)
        assert found[first.id].lines == ["dòng 0", "dòng 1", "dòng 2"]
    finally:
        app.close()
