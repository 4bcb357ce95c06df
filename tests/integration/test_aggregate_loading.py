"""A service application loads an aggregate from its events without a runtime-protocol check
per event (`dondoc_platform.application.project`): the same aggregate as eventsourcing's own
projector makes, at any version."""

from __future__ import annotations

import typing

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate, event

from dondoc_platform.application import ServiceApplication
from dondoc_platform.eventstore import load_many, store_env

pytestmark = pytest.mark.integration


class Dossier(Aggregate):
    @event("Opened")
    def __init__(self, title: str) -> None:
        self.title = title
        self.notes: list[str] = []

    @event("Noted")
    def note(self, text: str) -> None:
        self.notes.append(text)


class Office(ServiceApplication):
    pass


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
    app = Office(env=store_env(store_url))
    dossier = Dossier("Hồ sơ kết luận")
    for i in range(40):
        dossier.note(f"ghi chú {i}")
    other = Dossier("Hồ sơ khác")
    app.save(dossier, other)
    protocol_checks.clear()

    loaded = app.repository.get(dossier.id)
    at_version_3 = app.repository.get(dossier.id, version=3)
    together = load_many(app, [dossier.id, other.id])
    assert protocol_checks == []

    events = list(app.events.get(dossier.id))
    expected = project_aggregate(None, events)
    assert (loaded.title, loaded.notes, loaded.version) == (expected.title, expected.notes, 41)
    assert at_version_3.notes == ["ghi chú 0", "ghi chú 1"]
    assert together[dossier.id].notes == expected.notes
    assert together[other.id].title == "Hồ sơ khác"
    # a caller's own projector is still used
    assert app.repository.get(dossier.id, projector_func=lambda a, evs: "mine") == "mine"
    app.close()
