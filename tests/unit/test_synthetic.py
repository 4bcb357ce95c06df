"""The synthetic generator: seeded, shaped by provinces and years, every event a valid contract
event of its type; and the `dondoc synthetic` command writing it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dondoc.cli import app
from dondoc.synthetic import History
from dondoc_contracts import BY_CE_TYPE

pytestmark = pytest.mark.unit


def _events(history: History) -> list[tuple[str, str, str]]:
    return [(e.service, e.ce_type, e.payload) for e in history.events()]


def test_the_same_seed_and_shape_give_the_same_events() -> None:
    shape = {"provinces": 2, "years": range(2017, 2019), "units_per_province": 3, "tasks_per_unit_year": 4}
    first = _events(History(7, **shape))
    assert first == _events(History(7, **shape))
    assert first != _events(History(8, **shape))


def test_provinces_and_years_shape_the_history_and_every_event_is_a_contract_event() -> None:
    history = History(7, provinces=65, years=range(2016, 2019), units_per_province=2, tasks_per_unit_year=1)
    assert history.provinces[-1] == "Tỉnh 65" and len(history.units()) == 130
    kinds: Counter = Counter()
    years: set[int] = set()
    for event in history.events():
        model = BY_CE_TYPE[event.ce_type].model_validate(json.loads(event.payload))
        kinds[type(model).__name__] += 1
        if type(model).__name__ == "TaskAssigned":
            years.add(model.assigned_on.year)
    assert kinds["UnitRegistered"] == 130
    assert kinds["TaskAssigned"] == 130 * 3 and kinds["DirectiveIssued"] == 65 * 3 * 20
    assert kinds["ReportRequested"] == 130 * 3 * 2
    assert years == {2016, 2017, 2018}


def test_the_benchmark_scale_keeps_its_shape() -> None:
    assert len(History(1, 1.0).provinces) == 63 and History(1, 1.0).tasks_per_unit_year == 70
    assert len(History(1, 0.05).provinces) == 16 and History(1, 0.05).tasks_per_unit_year == 4


def test_the_command_writes_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(app, ["synthetic", "-o", str(out), "--provinces", "1", "--from", "2018",
                                      "--to", "2018", "--units", "2", "--tasks", "2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert f"{len(lines)} events" in result.output.replace(",", "")
    assert {line["service"] for line in lines} == {"directives", "tasks", "reports"}
    assert all(BY_CE_TYPE[line["type"]].model_validate(line["payload"]) for line in lines)
