"""Pure parts of the local stack."""

from __future__ import annotations

import uuid

import pytest

from dondoc.dev import kafka

pytestmark = pytest.mark.unit


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    dashed = uuid.UUID(bytes=b"\xf8" + bytes(15))  # 0b111110… is "-" in url-safe base64
    plain = uuid.UUID(bytes=b"\x10" + bytes(15))
    assert kafka.uuid_to_kafka_id(dashed).startswith("-")
    draws = iter([dashed, plain])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    assert kafka.new_cluster_id() == kafka.uuid_to_kafka_id(plain)
