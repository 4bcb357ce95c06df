"""SqlInbox positions: an undecodable last message still moves its partition's position
(so "caught up" can be reached), and a position never moves back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from dondoc_contracts import TaskProgressRecorded, encode, envelope_for
from dondoc_platform.inbox import DeadLetters, SqlInbox, inbox_tables

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
