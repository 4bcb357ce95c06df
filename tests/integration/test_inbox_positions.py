"""SqlInbox positions: an undecodable last message still moves its partition's position
(so "caught up" can be reached), and a position never moves back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from dondoc_contracts import TaskProgressRecorded, encode, envelope_for
from dondoc_platform.inbox import DeadLetters, SqlInbox, inbox_tables
from dondoc_platform.stores import StoreURL

pytestmark = pytest.mark.integration


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list
    timestamp: int = 0


def record(offset: int, *, broken: bool = False) -> FakeRecord:
    event = TaskProgressRecorded.example()
    key, value, headers = encode(event, envelope_for(event, position=offset + 1))
    return FakeRecord("dondoc.tasks.v1", 0, offset, key, b"{not json" if broken else value, headers)


async def test_positions_cover_undecodable_records_and_never_go_back(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'inbox.sqlite'}")
    metadata = sa.MetaData()
    _, positions = inbox_tables(metadata)
    metadata.create_all(engine)
    letters: list[tuple[str, int]] = []

    async def publish(topic, key, value, headers) -> None:
        letters.append((topic, dict(headers)["dlq_origin_offset"]))

    applied: list[int] = []
    inbox = SqlInbox(engine, metadata, consumer="c", dead_letters=DeadLetters(publish, "c"),
                     apply=lambda conn, ds: applied.extend(d.offset for d in ds))

    def position() -> int:
        with engine.connect() as conn:
            return conn.execute(sa.select(positions.c.kafka_offset)).scalar()

    await inbox.handle([record(0), record(1), record(2, broken=True)])
    assert applied == [0, 1] and letters == [("dondoc.tasks.v1.dlq", b"2")]
    assert position() == 2
    await inbox.handle([record(1)])  # a redelivery of an older message
    assert position() == 2 and applied == [0, 1]



@pytest.fixture(params=["postgres", "sqlite"])
def inbox_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'inbox.sqlite'}"
    else:
        url = StoreURL.parse(request.getfixturevalue("postgres_database")).sqlalchemy_url()
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def carrying(offset: int, position: int, ce_id: str | None = None) -> FakeRecord:
    """The record at `offset` carrying the event at `position` of the producer's log (a
    relay that republished puts an event at a second offset), or a foreign producer's
    event with the id `ce_id`."""
    event = TaskProgressRecorded.example()
    key, value, headers = encode(event, envelope_for(event, position=position))
    if ce_id is not None:
        headers = [(k, ce_id.encode() if k == "ce_id" else v) for k, v in headers]
    return FakeRecord("dondoc.tasks.v1", 0, offset, key, value, headers)


def _skipped(consumer: str) -> float:
    return REGISTRY.get_sample_value("dondoc_inbox_redeliveries_skipped_total",
                                     {"consumer": consumer}) or 0.0


async def test_each_event_is_applied_once_however_batches_repeat_it(inbox_engine: sa.Engine) -> None:
    """A batch of new events is recorded with a plain insert on PostgreSQL; one holding an
    event recorded before is voided and done again without it; an event twice in one batch
    is applied once. The inbox keeps the offset where each event was first applied."""
    metadata = sa.MetaData()
    inbox_table, positions = inbox_tables(metadata)
    metadata.create_all(inbox_engine)
    applied: list[int] = []

    async def publish(topic, key, value, headers) -> None:
        raise AssertionError("nothing here is a dead letter")

    inbox = SqlInbox(inbox_engine, metadata, consumer="once", dead_letters=DeadLetters(publish, "once"),
                     apply=lambda conn, ds: applied.extend(d.offset for d in ds))
    before = _skipped("once")
    await inbox.handle([carrying(0, 1), carrying(1, 2), carrying(2, 2)])  # twice in a batch
    assert applied == [0, 1] and _skipped("once") - before == 1
    # a later batch bringing position 2 again, beside new events, one of them twice
    await inbox.handle([carrying(3, 2), carrying(4, 4), carrying(5, 4), carrying(6, 6)])
    assert applied == [0, 1, 4, 6] and _skipped("once") - before == 3
    await inbox.handle([carrying(1, 2)])  # an old batch delivered again changes nothing
    assert applied == [0, 1, 4, 6] and _skipped("once") - before == 4
    # ids are any non-empty text: commas, quotes, braces, even the joined columns' separator
    odd = ['c,d', '"e"', "{j}", "a\x1fb"]
    await inbox.handle([carrying(7 + n, 100 + n, ce_id=i) for n, i in enumerate(odd[:3])])
    await inbox.handle([carrying(10, 103, ce_id=odd[3])])
    await inbox.handle([carrying(11, 104, ce_id="a\x1fb"), carrying(12, 105, ce_id="h,i")])
    assert applied == [0, 1, 4, 6, 7, 8, 9, 10, 12] and _skipped("once") - before == 5
    with inbox_engine.connect() as conn:
        assert conn.execute(sa.select(inbox_table.c.kafka_offset).order_by(
            inbox_table.c.kafka_offset)).scalars().all() == [0, 1, 4, 6, 7, 8, 9, 10, 12]
        assert set(conn.execute(sa.select(inbox_table.c.event_id).where(
            inbox_table.c.kafka_offset >= 7)).scalars()) == {*odd, "h,i"}
        assert conn.execute(sa.select(positions.c.kafka_offset)).scalar() == 12


async def test_the_applied_callbacks_are_told_what_the_batch_changed(inbox_engine: sa.Engine) -> None:
    """`SqlInbox.applied` callbacks get the keys `apply` returned for the batch that
    committed (the reports service wakes only the queries of the units a batch touched);
    a batch seen before changed nothing (empty); an `apply` that says nothing may have
    changed anything (None)."""
    metadata = sa.MetaData()
    inbox_tables(metadata)
    metadata.create_all(inbox_engine)

    async def publish(topic, key, value, headers) -> None:
        raise AssertionError("nothing here is a dead letter")

    told: list[frozenset[str] | None] = []
    inbox = SqlInbox(inbox_engine, metadata, consumer="keys", dead_letters=DeadLetters(publish, "keys"),
                     apply=lambda conn, ds: {f"offset:{d.offset}" for d in ds})
    inbox.applied.append(told.append)
    await inbox.handle([carrying(0, 1), carrying(1, 2)])
    await inbox.handle([carrying(1, 2)])  # seen before: nothing applied
    await inbox.handle([carrying(2, 2), carrying(3, 3)])  # one seen before, one new
    assert told == [frozenset({"offset:0", "offset:1"}), frozenset(), frozenset({"offset:3"})]
    silent = SqlInbox(inbox_engine, metadata, consumer="silent",
                      dead_letters=DeadLetters(publish, "silent"), apply=lambda conn, ds: None)
    silent.applied.append(told.append)
    await silent.handle([carrying(4, 4)])
    assert told[-1] is None
