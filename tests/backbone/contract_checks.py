"""Checks of what goes on the wire against the committed contract files in docs/events/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from dondoc.generators.events import schema_name
from dondoc_contracts import ContractEvent

ROOT = Path(__file__).resolve().parents[2]
EVENTS_DOCS = ROOT / "docs" / "events"


def committed_schema(event: type[ContractEvent]) -> dict[str, Any]:
    return json.loads((EVENTS_DOCS / "schemas" / schema_name(event)).read_text(encoding="utf-8"))


def committed_sample(event: type[ContractEvent]) -> dict[str, Any]:
    return json.loads((EVENTS_DOCS / "samples" / schema_name(event)).read_text(encoding="utf-8"))


def schema_errors(event: type[ContractEvent], payload: object) -> list[str]:
    """Why `payload` does not validate against the event's committed JSON Schema ([] if it does)."""
    schema = committed_schema(event)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in validator.iter_errors(payload)]
