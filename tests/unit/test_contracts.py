"""Contract tests: the committed JSON Schemas, the golden samples and `make generate`.

A golden sample pins what a `(type, version)` looks like on the wire. It is written once and
never regenerated; if the model of that version stops producing it, the change is breaking
and needs a new version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from dondoc.generators.events import golden_sample, schema_name
from dondoc_contracts import CATALOGUE, ContractEvent, decode
from tests.backbone.contract_checks import (
    EVENTS_DOCS,
    ROOT,
    committed_sample,
    committed_schema,
    schema_errors,
)

pytestmark = pytest.mark.unit

EVENTS = pytest.mark.parametrize("event", CATALOGUE, ids=lambda e: f"{e.event_type}.v{e.version}")


def test_every_event_has_a_schema_and_a_sample_and_every_file_an_event() -> None:
    names = {schema_name(e) for e in CATALOGUE}
    assert {p.name for p in (EVENTS_DOCS / "schemas").glob("*.json")} == names
    assert {p.name for p in (EVENTS_DOCS / "samples").glob("*.json")} == names


@EVENTS
def test_the_committed_schema_is_valid_draft_2020_12(event: type[ContractEvent]) -> None:
    schema = committed_schema(event)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema["x-cloudevents-type"] == event.ce_type


@EVENTS
def test_the_example_validates_against_the_committed_schema(event: type[ContractEvent]) -> None:
    payload = json.loads(event.example().to_json_bytes())
    assert schema_errors(event, payload) == []


@EVENTS
def test_a_payload_missing_a_required_field_fails_the_schema(event: type[ContractEvent]) -> None:
    """The schemas really constrain: the validation above could fail."""
    payload = json.loads(event.example().to_json_bytes())
    del payload[event.subject_field]
    assert schema_errors(event, payload)


def _differences(pinned: Any, current: Any, where: str = "") -> list[str]:
    """Where `current` differs from `pinned` on `pinned`'s keys (new keys are allowed)."""
    if isinstance(pinned, dict) and isinstance(current, dict):
        found = []
        for key, value in pinned.items():
            if key not in current:
                found.append(f"{where}/{key}: removed")
            else:
                found += _differences(value, current[key], f"{where}/{key}")
        return found
    if isinstance(pinned, list) and isinstance(current, list) and len(pinned) == len(current):
        return [d for i, (a, b) in enumerate(zip(pinned, current, strict=True))
                for d in _differences(a, b, f"{where}/{i}")]
    return [] if pinned == current else [f"{where or '/'}: {pinned!r} became {current!r}"]


@EVENTS
def test_the_golden_sample_round_trips_through_decode(event: type[ContractEvent]) -> None:
    sample = committed_sample(event)
    headers = [(k, v.encode("utf-8")) for k, v in sample["headers"].items()]
    value = json.dumps(sample["value"], ensure_ascii=False).encode("utf-8")
    envelope, decoded = decode(headers, value)
    assert type(decoded) is event
    assert envelope.id == sample["headers"]["ce_id"]
    assert envelope.type == event.ce_type
    assert envelope.subject == sample["key"]
    assert decoded.subject == sample["key"]
    changed = _differences(sample["value"], decoded.model_dump(mode="json"))
    assert not changed, (f"{schema_name(event)}: the decoded golden sample differs: {changed}")


@EVENTS
def test_the_model_still_produces_its_golden_sample(event: type[ContractEvent]) -> None:
    pinned = committed_sample(event)
    changed = _differences(pinned, golden_sample(event))
    assert not changed, (
        f"the golden sample {schema_name(event)} is no longer what {event.__name__} "
        f"v{event.version} produces: {changed}. Published events change only additively "
        f"within a version (new optional fields); anything else is a breaking change and needs "
        f"a new version (a model with version = {event.version + 1}: a new ce_type and topic), "
        f"with its own golden sample. Never edit or regenerate a golden sample."
    )


def test_golden_samples_hold_vietnamese_text_in_nfc() -> None:
    for path in sorted((EVENTS_DOCS / "samples").glob("*.json")):
        text = path.read_text(encoding="utf-8")
        assert unicodedata.is_normalized("NFC", text), f"{path.name} is not NFC"


_GENERATE = ("import sys; from pathlib import Path; "
             "from dondoc.generators.events import generate; generate(Path(sys.argv[1]))")


def _generate_into(root: Path, hash_seed: str) -> dict[str, bytes]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    subprocess.run([sys.executable, "-c", _GENERATE, str(root)], check=True, env=env,
                   cwd=ROOT, timeout=120)
    base = root / "docs" / "events"
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def test_make_generate_is_deterministic_and_the_committed_files_are_current(tmp_path: Path) -> None:
    first = _generate_into(tmp_path / "a", "1")
    second = _generate_into(tmp_path / "b", "2")
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    generated = {name: data for name, data in first.items() if not name.startswith("samples/")}
    stale = [name for name, data in generated.items() if (EVENTS_DOCS / name).read_bytes() != data]
    assert stale == [], "stale generated files: run `make generate` and commit them"
