"""The bulk load's shortcuts give what the live consumer's path gives."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dondoc_contracts import decode, decode_mapped, encode, envelope_for
from dondoc_contracts import events as ev
from dondoc_contracts.envelope import header_map
from dondoc_platform.inbox import Delivery, sanitize

from dondoc_analytics.application.projection import _headers
from dondoc_analytics.projections.rows import EVENT_COLUMNS, event_row
from dondoc_analytics.projections.schema import projection_tables

pytestmark = pytest.mark.unit


@dataclass
class Record:
    headers: list
    value: bytes
    topic: str = "t.dondoc.tasks"
    partition: int = 0
    offset: int = 7


def test_event_columns_are_the_events_table_in_order() -> None:
    assert EVENT_COLUMNS == tuple(c.name for c in projection_tables("an1_").events.columns)


@pytest.mark.parametrize("headers", [
    [("ce_id", b"x"), ("ce_subject", None), ("ce_audithash", b"\xff\xfeab")],
    [("ce_id", b"x"), ("ce_sequence", b"12"), ("ce_audithash", b"")],
    [],
])
def test_the_bulk_header_map_is_the_one_decode_makes_of_a_sanitized_record(headers) -> None:
    record = Record(headers, b"{}")
    assert _headers(headers) == header_map(sanitize(record).headers)


def test_a_bulk_row_is_the_live_row() -> None:
    event = ev.TaskAssigned.example()
    key, value, headers = encode(event, envelope_for(event, position=41, audit_hash="ab" * 32))
    envelope, decoded = decode_mapped(_headers(headers), value)
    assert (envelope, decoded) == decode(headers, value)
    row = event_row(Delivery(envelope, decoded, "t.dondoc.tasks", 2, 9))
    assert row["position"] == 41 and row["audit_hash"] == "ab" * 32
    assert row["fact_kind"] == "assigned" and row["payload"] == decoded.model_dump_json()
    assert list(row) == list(EVENT_COLUMNS)
