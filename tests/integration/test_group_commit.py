"""Group commit on the real stores: concurrent commands share transactions, each command's
events stay whole, and a command that conflicts is refused alone while the others of its
batch commit. Also: read-model transactions commit without waiting for the WAL flush, the
store's own transactions still wait for it."""

from __future__ import annotations

import threading
from pathlib import Path
from uuid import NAMESPACE_URL, uuid5

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from prometheus_client import REGISTRY

from dondoc_platform.application import ServiceApplication
from dondoc_platform.eventstore import logged_events, store_env, verify_store
from dondoc_platform.projection import relaxed_commit, sql_engine
from dondoc_platform.stores import StoreURL

pytestmark = pytest.mark.integration


class Dossier(Aggregate):
    """A file of the office, opened once under its number (its id derives from it)."""

    @staticmethod
    def create_id(number: str) -> object:
        return uuid5(NAMESPACE_URL, f"dossier:{number}")

    @event("Opened")
    def __init__(self, number: str) -> None:
        self.number = number
        self.notes: list[str] = []

    @event("Noted")
    def note(self, text: str) -> None:
        self.notes.append(text)


class Office(ServiceApplication):
    name = "GroupCommitOffice"


@pytest.fixture(params=["postgres", "sqlite"])
def app(request: pytest.FixtureRequest, tmp_path: Path):
    url = (request.getfixturevalue("postgres_database") if request.param == "postgres"
           else f"sqlite:///{tmp_path / 'office.sqlite'}")
    office = Office(env=store_env(url))
    yield office
    office.close()


def written(app: Office) -> tuple[float, float]:
    """(transactions, commands) the group commit of `app` has written so far."""
    labels = {"service": app.group_commit.service}
    return (REGISTRY.get_sample_value("dondoc_group_commit_commands_count", labels) or 0,
            REGISTRY.get_sample_value("dondoc_group_commit_commands_sum", labels) or 0)


def concurrently(app: Office, writers: int, per_writer: int) -> list[BaseException]:
    """`writers` threads, released together, each saving `per_writer` dossiers of three
    events, one command at a time; returns what the saves raised."""
    gate = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(w: int) -> None:
        gate.wait()
        for n in range(per_writer):
            dossier = Dossier(f"{w}-{n}")
            dossier.note("Thụ lý hồ sơ")
            dossier.note("Chuyển Thường trực")
            try:
                app.save(dossier)
            except BaseException as e:  # noqa: BLE001 - reported to the caller
                failures.append(e)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_concurrent_commands_share_transactions_and_stay_whole(app: Office) -> None:
    writers, per_writer = 16, 15
    transactions_before, commands_before = written(app)
    assert concurrently(app, writers, per_writer) == []
    transactions, commands = (after - before for after, before in zip(
        written(app), (transactions_before, commands_before), strict=True))
    assert commands == writers * per_writer
    assert transactions < commands  # some commands were written together
    events = list(logged_events(app))
    assert len(events) == writers * per_writer * 3
    # each command's three events sit together, in their order
    for first in range(0, len(events), 3):
        trio = events[first:first + 3]
        assert {e.originator_id for e in trio} == {trio[0].originator_id}
        assert [e.originator_version for e in trio] == [1, 2, 3]
    assert app.repository.get(Dossier.create_id("7-9")).notes == ["Thụ lý hồ sơ",
                                                                  "Chuyển Thường trực"]
    assert verify_store(app) == []


def test_a_conflicting_command_is_refused_alone(app: Office) -> None:
    app.save(Dossier("125-TB/TU"))
    writers = 12
    gate = threading.Barrier(writers)
    outcomes: dict[int, str] = {}

    def write(w: int) -> None:
        # even writers open a dossier whose number is taken: the store refuses it
        dossier = Dossier("125-TB/TU" if w % 2 == 0 else f"{w}-TB/TU")
        gate.wait()
        try:
            app.save(dossier)
            outcomes[w] = "saved"
        except IntegrityError:
            outcomes[w] = "refused"

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {w: "refused" if w % 2 == 0 else "saved" for w in range(writers)}
    numbers = sorted(app.repository.get(e.originator_id).number for e in logged_events(app))
    assert numbers == sorted(["125-TB/TU", *(f"{w}-TB/TU" for w in range(1, writers, 2))])
    assert verify_store(app) == []


def test_read_models_commit_without_waiting_for_the_flush(postgres_database: str) -> None:
    engine = sql_engine(StoreURL.parse(postgres_database).sqlalchemy_url())
    try:
        with engine.begin() as conn:
            relaxed_commit(conn)
            assert conn.exec_driver_sql("show synchronous_commit").scalar() == "off"
        with engine.begin() as conn:
            assert conn.exec_driver_sql("show synchronous_commit").scalar() == "on"
    finally:
        engine.dispose()


def test_a_long_queue_is_written_in_bounded_transactions(app: Office) -> None:
    app.group_commit.max_events = 7  # two commands of three events at most per transaction
    writers, per_writer = 8, 6
    assert concurrently(app, writers, per_writer) == []
    assert len(list(logged_events(app))) == writers * per_writer * 3
    assert verify_store(app) == []


def test_the_saved_callbacks_hear_each_committed_save_once(app: Office) -> None:
    """Grouped or alone (with recorder arguments), a save that committed is told to the
    `saved` callbacks with its events and aggregates; a refused one is not; a callback that
    fails does not make a committed save fail."""
    heard: list[tuple[list[str], list[object]]] = []
    app.saved.append(lambda processing: heard.append(
        ([type(e).__name__ for e in processing.events], list(processing.aggregates))))
    app.saved.append(lambda processing: 1 / 0)
    dossier = Dossier("7-TB/TU")
    dossier.note("Thụ lý hồ sơ")
    app.save(dossier)  # the group commit
    assert heard == [(["Opened", "Noted"], [dossier.id])]
    assert concurrently(app, writers=4, per_writer=2) == []
    assert len(heard) == 9 and all(names == ["Opened", "Noted", "Noted"]
                                   for names, _ in heard[1:])
    with pytest.raises(IntegrityError):
        app.save(Dossier("7-TB/TU"))  # the number is taken: nothing committed
    assert len(heard) == 9
    alone = app.repository.get(dossier.id)
    alone.note("Chuyển Thường trực")
    app.save(alone, inbox=[])  # recorder arguments: saved alone, not grouped
    assert heard[-1] == (["Noted"], [dossier.id])
