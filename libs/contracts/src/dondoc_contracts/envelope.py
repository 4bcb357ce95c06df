"""CloudEvents 1.0 in Kafka binary mode: the data is the message value (JSON), the context
attributes are `ce_*` headers, the partition key is the aggregate id.

Extension attributes: `ce_correlationid` (the first event of the chain of causes),
`ce_causationid` (the event that caused this one), `ce_audithash` (the producing service's
hash-chain value at this event, hex), `ce_sequence` (the event's position in the producing
service's log), `ce_dataversion` (the contract version, also in `ce_type`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from dondoc_contracts.base import ContractEvent
from dondoc_contracts.events import CATALOGUE

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json; charset=utf-8"
NAMESPACE = uuid.UUID("5b8e3a52-8f57-4bb0-9d2e-6f1b8b6c0d11")
_NAMESPACE_BYTES = NAMESPACE.bytes

SERVICES = ("directives", "tasks", "reports", "notifications")
AUDIT_CHECKPOINT_TOPIC = "dondoc.audit.checkpoints"

BY_KEY: dict[tuple[str, int], type[ContractEvent]] = {c.key(): c for c in CATALOGUE}
BY_CE_TYPE: dict[str, type[ContractEvent]] = {c.ce_type: c for c in CATALOGUE}
KNOWN_TYPES: set[str] = {c.event_type for c in CATALOGUE}


def topic_for(service: str, major: int = 1) -> str:
    return f"dondoc.{service}.v{major}"


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


def event_topic(event: type[ContractEvent] | ContractEvent) -> str:
    return topic_for(event.service, event.version)


def source_for(service: str) -> str:
    return f"/dondoc/{service}"


def event_id(service: str, position: int) -> str:
    """Deterministic id of the event at `position` of a service's log: a republished event
    keeps its id, so consumers can deduplicate on `ce_id`.

    It is `str(uuid.uuid5(NAMESPACE, f"{service}:{position}"))`, computed without building
    UUID objects (the relay computes one per event).
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{service}:{position}".encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    sequence: int | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    audit_hash: str | None = None
    data_version: int = 1

    def headers(self) -> list[tuple[str, bytes]]:
        pairs = [
            _SPEC_VERSION_HEADER,
            ("ce_id", self.id.encode()),
            ("ce_type", self.type.encode()),
            ("ce_source", self.source.encode()),
            ("ce_subject", self.subject.encode("utf-8")),
            ("ce_time", self.time.isoformat().encode()),
            ("ce_dataversion", str(self.data_version).encode()),
            _CONTENT_TYPE_HEADER,
        ]
        if self.sequence is not None:
            pairs.append(("ce_sequence", str(self.sequence).encode()))
        if self.correlation_id:
            pairs.append(("ce_correlationid", self.correlation_id.encode("utf-8")))
        if self.causation_id:
            pairs.append(("ce_causationid", self.causation_id.encode("utf-8")))
        if self.audit_hash:
            pairs.append(("ce_audithash", self.audit_hash.encode()))
        return pairs


_SPEC_VERSION_HEADER = ("ce_specversion", SPEC_VERSION.encode())
_CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())


def envelope_for(
    event: ContractEvent,
    *,
    position: int,
    audit_hash: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> Envelope:
    ident = event_id(event.service, position)
    return Envelope(
        id=ident, type=event.ce_type, source=source_for(event.service), subject=event.subject,
        time=event.occurred_at, sequence=position, correlation_id=correlation_id or ident,
        causation_id=causation_id, audit_hash=audit_hash, data_version=event.version,
    )


def encode(event: ContractEvent, envelope: Envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of the Kafka record."""
    return envelope.subject.encode("utf-8"), event.to_json_bytes(), envelope.headers()


# --------------------------------------------------------------------------- decoding


class UndecodableEvent(ValueError):
    """A message that no retry can fix: it goes to the dead-letter topic with `reason`."""

    reason = "undecodable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidJson(UndecodableEvent):
    reason = "invalid_json"


class MissingHeader(UndecodableEvent):
    reason = "missing_header"


class UnknownType(UndecodableEvent):
    reason = "unknown_type"


class UnsupportedVersion(UndecodableEvent):
    reason = "unsupported_version"


class ValidationFailed(UndecodableEvent):
    reason = "validation_failed"


def header_map(headers: Iterable[tuple[str, bytes | None]] | Mapping[str, bytes | str]) -> dict[str, str]:
    items = list(headers.items() if isinstance(headers, Mapping) else headers)
    try:  # the usual case, UTF-8 bytes, as fast as it goes (it runs for every header consumed)
        return {key: value.decode() for key, value in items if value is not None}
    except (AttributeError, UnicodeDecodeError):
        return {key: value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray)
                else str(value) for key, value in items if value is not None}


def decode(
    headers: Iterable[tuple[str, bytes | None]] | Mapping[str, bytes | str], value: bytes | None
) -> tuple[Envelope, ContractEvent]:
    """Parse a Kafka record into its envelope and contract event, or say why not."""
    return decode_mapped(header_map(headers), value)


def decode_mapped(h: Mapping[str, str], value: bytes | None) -> tuple[Envelope, ContractEvent]:
    """`decode` of a record whose headers are already a `header_map` (a bulk reader makes
    the map in its own loop)."""
    model = contract_of(h)
    if value is None:
        raise InvalidJson("the message has no value")
    try:
        # parsed and validated in one pass by pydantic-core: no intermediate Python objects
        event = model.model_validate_json(value)
    except ValidationError as e:
        first = e.errors()[0]
        if first["type"] == "json_invalid":
            raise InvalidJson(f"not JSON: {first['msg']}") from e
        if first["type"] == "model_type" and not first["loc"]:
            raise InvalidJson("the JSON value is not an object") from e
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise ValidationFailed(f"{model.event_type}: {where}: {first['msg']} "
                               f"({e.error_count()} error(s))") from e
    return envelope_of(h, model, event), event


def contract_of(h: Mapping[str, str]) -> type[ContractEvent]:
    """The contract a record's headers name (a `header_map`), or why there is none: the
    first step of `decode_mapped`, for a reader that validates the value its own way."""
    for required in ("ce_id", "ce_type", "ce_source", "ce_specversion"):
        if not h.get(required):
            raise MissingHeader(f"header {required} is missing")
    if h["ce_specversion"] != SPEC_VERSION:
        raise UnsupportedVersion(f"CloudEvents specversion {h['ce_specversion']!r} is not 1.0")
    ce_type = h["ce_type"]
    model = BY_CE_TYPE.get(ce_type)
    if model is None:
        base, _, version = ce_type.rpartition(".v")
        known = {c.ce_type.rpartition(".v")[0] for c in CATALOGUE}
        if base in known and version.isdigit():
            raise UnsupportedVersion(f"{ce_type}: version {version} is not supported here")
        raise UnknownType(f"{ce_type}: not an event type of the dondoc catalogue")
    return model


def sequence_number(text: str | None) -> int | None:
    """The position a `ce_sequence` header gives, or None when it is absent or not a number
    in ASCII digits ("²" and "٣" are digits to `str.isdigit`, not positions)."""
    return int(text) if text and text.isascii() and text.isdigit() else None


def envelope_of(h: Mapping[str, str], model: type[ContractEvent], event: ContractEvent) -> Envelope:
    """The envelope of a record whose headers (`contract_of`) and value were accepted: the
    last step of `decode_mapped`."""
    sequence = h.get("ce_sequence")
    subject = h.get("ce_subject")
    return Envelope(
        id=h["ce_id"], type=h["ce_type"], source=h["ce_source"],
        subject=event.subject if subject is None else subject,
        time=event.occurred_at, sequence=sequence_number(sequence),
        correlation_id=h.get("ce_correlationid"), causation_id=h.get("ce_causationid"),
        audit_hash=h.get("ce_audithash"), data_version=model.version,
    )
