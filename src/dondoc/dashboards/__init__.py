"""The suite's Grafana dashboards as code (grafana-foundation-sdk builders, pinned to the
Grafana version docker-compose.yml runs). `make generate` writes each to
deploy/grafana/dashboards/<uid>.json; Grafana loads them from there (provisioning) or from
`dondoc grafana push`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

#: (uid, builder) of every dashboard, in the order they are listed.
def dashboards() -> list[tuple[str, Callable[[], Any]]]:
    from dondoc.dashboards import audit, leadership, operations

    return [(leadership.UID, leadership.build), (operations.UID, operations.build),
            (audit.UID, audit.build)]


def render(builder: Any) -> dict[str, Any]:
    """The dashboard's JSON model, panels numbered in order (Grafana wants unique ids)."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    model = json.loads(json.dumps(builder.build(), cls=JSONEncoder, ensure_ascii=False))
    number = 0
    for panel in all_panels(model):
        number += 1
        panel["id"] = number
    return model


def all_panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    found = []
    for panel in model.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def to_text(model: dict[str, Any]) -> str:
    return json.dumps(model, ensure_ascii=False, indent=2) + "\n"
