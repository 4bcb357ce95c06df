"""docs/events/: JSON Schema per event, the AsyncAPI document, golden samples."""

from __future__ import annotations

import json
from pathlib import Path

from dondoc_contracts import CATALOGUE, ContractEvent, encode, envelope_for, event_topic

SAMPLE_POSITION = 42


def schema_name(event: type[ContractEvent]) -> str:
    return f"{event.event_type}.v{event.version}.json"


def json_schema(event: type[ContractEvent]) -> dict:
    schema = event.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://dondoc.vn/events/schemas/{schema_name(event)}"
    schema["title"] = event.event_type
    schema["description"] = event.description
    schema["x-cloudevents-type"] = event.ce_type
    schema["x-topic"] = event_topic(event)
    schema["x-key"] = event.subject_field
    return schema


def golden_sample(event: type[ContractEvent]) -> dict:
    """The whole Kafka record of the event's example: key, ce_* headers and value."""
    example = event.example()
    envelope = envelope_for(example, position=SAMPLE_POSITION, audit_hash="0" * 64)
    key, value, headers = encode(example, envelope)
    return {
        "topic": event_topic(event),
        "key": key.decode(),
        "headers": {k: v.decode() for k, v in headers},
        "value": json.loads(value),
    }


def dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def asyncapi_yaml() -> str:
    from faststream.kafka import KafkaBroker
    from faststream.specification import AsyncAPI

    broker = KafkaBroker("kafka:9092", description="dondoc event backbone (CloudEvents 1.0, binary mode)")
    for event in CATALOGUE:
        topic = event_topic(event)
        broker.publisher(
            topic, title=f"{topic}:{event.event_type}", schema=event,
            description=f"{event.description} Type {event.ce_type}; key: {event.subject_field}.",
        )
    spec = AsyncAPI(broker, title="dondoc events", version="1.0.0", schema_version="3.0.0",
                    description="Public events of dondoc. See docs/events/README.md.")
    return _stable_yaml(spec.to_specification().to_yaml())


def _stable_yaml(text: str) -> str:
    """FastStream lists channels, operations and components in an order that changes with
    the interpreter's hash seed: sort them, so the file is the same on every run."""
    import yaml

    data = yaml.safe_load(text)
    for section in ("channels", "operations"):
        if isinstance(data.get(section), dict):
            data[section] = dict(sorted(data[section].items()))
    for section, entries in (data.get("components") or {}).items():
        if isinstance(entries, dict):
            data["components"][section] = dict(sorted(entries.items()))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def generate(root: Path) -> list[Path]:
    from dondoc.generate import write_if_changed

    docs = root / "docs" / "events"
    changed: list[Path] = []
    wanted_schemas = set()
    for event in CATALOGUE:
        path = docs / "schemas" / schema_name(event)
        wanted_schemas.add(path.name)
        if write_if_changed(path, dumps(json_schema(event))):
            changed.append(path)
        sample = docs / "samples" / schema_name(event)
        if not sample.exists():  # golden samples are immutable: a change needs a new version
            write_if_changed(sample, dumps(golden_sample(event)))
            changed.append(sample)
    for stale in (docs / "schemas").glob("*.json"):
        if stale.name not in wanted_schemas:
            stale.unlink()
            changed.append(stale)
    path = docs / "asyncapi.yaml"
    if write_if_changed(path, asyncapi_yaml()):
        changed.append(path)
    return changed
