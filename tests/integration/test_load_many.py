"""Several aggregates read in one query, on PostgreSQL and SQLite: each as the repository
would give it, with every event applied in order; one that does not exist is absent. And a
service application loads aggregates without a runtime-protocol check per event
(`dondoc_platform.application.project`): the same aggregate as eventsourcing's own projector
makes, at any version."""

from __future__ import annotations

import typing
import uuid

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate, event

from dondoc_platform.application import ServiceApplication
from dondoc_platform.eventstore import InboxEntry, load_many, logged_events, store_env

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


@pytest.fixture
def protocol_checks(monkeypatch: pytest.MonkeyPatch) -> list[type]:
    """Every `isinstance` against a runtime-checkable protocol, while the test runs."""
    checked: list[type] = []
    meta = type(typing.Protocol)
    original = meta.__instancecheck__

    def counting(cls: type, instance: object) -> bool:
        checked.append(cls)
        return original(cls, instance)

    monkeypatch.setattr(meta, "__instancecheck__", counting)
    return checked


def test_an_aggregate_is_loaded_as_eventsourcing_makes_it_without_a_protocol_check_per_event(
        store_url: str, protocol_checks: list[type]) -> None:
    app = Books(env=store_env(store_url))
    try:
        ledger, other = Ledger("Sổ theo dõi"), Ledger("Sổ khác")
        for n in range(40):
            ledger.add(f"dòng {n}")
        app.save(ledger, other)
        protocol_checks.clear()

        loaded = app.repository.get(ledger.id)
        at_version_3 = app.repository.get(ledger.id, version=3)
        together = load_many(app, [ledger.id, other.id])
        assert protocol_checks == []

        expected = project_aggregate(None, list(app.events.get(ledger.id)))
        assert (loaded.title, loaded.lines, loaded.version) == (expected.title, expected.lines, 41)
        assert at_version_3.lines == ["dòng 0", "dòng 1"]
        assert together[ledger.id].lines == expected.lines
        assert together[other.id].title == "Sổ khác"
        # a caller's own projector is still used
        assert app.repository.get(ledger.id, projector_func=lambda a, evs: "mine") == "mine"
    finally:
        app.close()


def test_aggregates_are_saved_without_a_protocol_check_each(store_url: str,
                                                             protocol_checks: list[type]) -> None:
    """Alone, in a group commit, and with an inbox entry (a consumer's reaction): every event
    recorded, in order, and no runtime-protocol check per aggregate saved."""
    app = Books(env=store_env(store_url))
    try:
        first, second = Ledger("Sổ một"), Ledger("Sổ hai")
        first.add("dòng a")
        protocol_checks.clear()
        app.save(first, second)  # the group commit's path
        second.add("dòng b")
        app.save(second, inbox=InboxEntry(consumer="books", event_id="e-1"))  # alone
        assert protocol_checks == []
        assert [(e.originator_id, e.originator_version) for e in logged_events(app)] == [
            (first.id, 1), (first.id, 2), (second.id, 1), (second.id, 2)]
        assert app.repository.get(second.id).lines == ["dòng b"]
        assert app.recorder.inbox_has("books", "e-1")
    finally:
        app.close()
