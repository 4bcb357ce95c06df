"""Decoding a Kafka record: every way it can fail is named by the reason the DLQ records."""

from __future__ import annotations

import unicodedata
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dondoc_contracts import (
    InvalidJson,
    MissingHeader,
    TaskOverdue,
    UnknownType,
    UnsupportedVersion,
    ValidationFailed,
    decode,
    encode,
    envelope_for,
    event_id,
)
from dondoc_contracts.envelope import NAMESPACE

pytestmark = pytest.mark.unit

EXAMPLE = TaskOverdue.example()
KEY, VALUE, HEADERS = encode(EXAMPLE, envelope_for(EXAMPLE, position=5, audit_hash="ab" * 32))


def _headers(**changes: bytes | None) -> list[tuple[str, bytes]]:
    kept = [(k, changes.get(k, v)) for k, v in HEADERS]
    return [(k, v) for k, v in kept if v is not None]


def test_a_record_decodes_to_its_envelope_and_event() -> None:
    envelope, event = decode(HEADERS, VALUE)
    assert event == EXAMPLE
    assert (envelope.sequence, envelope.audit_hash, envelope.subject) == (5, "ab" * 32,
                                                                          EXAMPLE.task_id)


@pytest.mark.parametrize(("value", "headers", "error", "reason"), [
    (b'{"occurred_at": ', HEADERS, InvalidJson, "invalid_json"),
    (b"\xff\xfe{}", HEADERS, InvalidJson, "invalid_json"),
    (b"[1, 2]", HEADERS, InvalidJson, "invalid_json"),
    (None, HEADERS, InvalidJson, "invalid_json"),
    (VALUE, _headers(ce_id=None), MissingHeader, "missing_header"),
    (VALUE, _headers(ce_specversion=b"0.3"), UnsupportedVersion, "unsupported_version"),
    (VALUE, _headers(ce_type=b"vn.dondoc.task.overdue.v7"), UnsupportedVersion,
     "unsupported_version"),
    (VALUE, _headers(ce_type=b"vn.dondoc.task.teleported.v1"), UnknownType, "unknown_type"),
    (b'{"task_id": "t-1"}', HEADERS, ValidationFailed, "validation_failed"),
], ids=["truncated", "not-utf8", "array", "no-value", "no-ce_id", "specversion", "version",
        "type", "fields"])
def test_each_undecodable_record_is_named(value: bytes | None, headers: list, error: type,
                                          reason: str) -> None:
    with pytest.raises(error) as caught:
        decode(headers, value)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_text_arriving_in_nfd_is_decoded_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Quá hạn: Ban Tuyên giáo")
    value = VALUE.replace(EXAMPLE.actor.name.encode(), decomposed.encode())  # type: ignore[union-attr]
    _, event = decode(HEADERS, value)
    assert event.actor.name == unicodedata.normalize("NFC", decomposed)


@given(service=st.sampled_from(["directives", "tasks", "reports", "notifications"]),
       position=st.integers(min_value=0, max_value=2**63 - 1))
def test_the_event_id_is_the_uuid5_of_service_and_position(service: str, position: int) -> None:
    assert event_id(service, position) == str(uuid.uuid5(NAMESPACE, f"{service}:{position}"))
