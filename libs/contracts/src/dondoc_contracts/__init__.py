"""dondoc public event contracts: versioned models, the CloudEvents envelope, topics."""

from dondoc_contracts.base import Actor, ContractEvent, Role, SYSTEM_ACTOR, nfc
from dondoc_contracts.envelope import (
    AUDIT_CHECKPOINT_TOPIC,
    BY_CE_TYPE,
    BY_KEY,
    SERVICES,
    Envelope,
    InvalidJson,
    MissingHeader,
    UndecodableEvent,
    UnknownType,
    UnsupportedVersion,
    ValidationFailed,
    contract_of,
    decode,
    decode_mapped,
    dlq_topic,
    encode,
    envelope_for,
    envelope_of,
    event_id,
    event_topic,
    topic_for,
)
from dondoc_contracts.events import *  # noqa: F403
from dondoc_contracts.events import CATALOGUE, ICT

__all__ = [
    "AUDIT_CHECKPOINT_TOPIC", "Actor", "BY_CE_TYPE", "BY_KEY", "CATALOGUE", "ContractEvent",
    "Envelope", "ICT", "InvalidJson", "MissingHeader", "Role", "SERVICES", "SYSTEM_ACTOR",
    "UndecodableEvent", "UnknownType", "UnsupportedVersion", "ValidationFailed", "contract_of",
    "decode", "decode_mapped", "dlq_topic", "encode", "envelope_for", "envelope_of", "event_id",
    "event_topic", "nfc", "topic_for",
]
