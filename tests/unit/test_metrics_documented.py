"""The metrics table of docs/services/observability.md names only metrics the code defines
(the observability integration tests check the other way: every exposed metric is in it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.observed import documented_metrics

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _sources() -> str:
    files = [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py"),
             *ROOT.glob("src/**/*.py")]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def test_every_documented_metric_is_defined_in_the_code() -> None:
    documented = documented_metrics()
    assert len(documented) >= 30
    code = _sources()
    undefined = {name for name in documented if f'"{name}"' not in code}
    assert not undefined, f"documented but defined nowhere: {sorted(undefined)}"
