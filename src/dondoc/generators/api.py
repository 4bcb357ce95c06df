"""docs/api/<service>.openapi.json: each service's OpenAPI document, from its own code.

A service appears here once its `bootstrap` module offers `openapi()` (the document built
without I/O beyond a scratch store).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

SERVICES = ("directives", "tasks", "reports", "notifications", "analytics")


def generate(root: Path) -> list[Path]:
    from dondoc.generate import write_if_changed

    changed: list[Path] = []
    for service in SERVICES:
        try:
            module = importlib.import_module(f"dondoc_{service}.bootstrap")
        except ModuleNotFoundError:
            continue
        openapi = getattr(module, "openapi", None)
        if openapi is None:
            continue
        path = root / "docs" / "api" / f"{service}.openapi.json"
        if write_if_changed(path, json.dumps(openapi(), ensure_ascii=False, indent=2) + "\n"):
            changed.append(path)
    return changed
