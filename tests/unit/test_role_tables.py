"""The role × endpoint tables cover every operation the services publish: an endpoint added
to an API without its line in the table fails here, not silently untested."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def operations(service: str) -> set[tuple[str, str]]:
    document = json.loads((ROOT / "docs" / "api" / f"{service}.openapi.json").read_text())
    return {(method.upper(), path) for path, methods in document["paths"].items()
            for method in methods}


def shape(path: str) -> str:
    """A path with its parameters and query left out: /tasks/{x}/history → /tasks/{}/history."""
    path = path.split("?", 1)[0]
    path = re.sub(r"\{[^}]+\}", "{}", path)
    return re.sub(r"/(BTG|BDV|\d{4}-\d{2}-\d{2})(?=/|$)", "/{}", path)


def covered(table: list[tuple]) -> set[tuple[str, str]]:
    return {(row[0], shape(row[1])) for row in table}


@pytest.mark.parametrize("service", ["directives", "tasks", "reports"])
def test_every_operation_has_its_line_in_a_role_table(service: str) -> None:
    from services.reports.tests.test_roles import ENDPOINTS as REPORT_ENDPOINTS
    from tests.integration.test_roles import DIRECTIVE_ENDPOINTS, TASK_ENDPOINTS

    table = {"directives": DIRECTIVE_ENDPOINTS, "tasks": TASK_ENDPOINTS,
             "reports": REPORT_ENDPOINTS}[service]
    published = {(method, shape(path)) for method, path in operations(service)}
    assert published - covered(table) == set()
