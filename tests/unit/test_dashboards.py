"""The dashboards as code: built with the SDK build that matches the Grafana docker compose
runs, every panel on a provisioned data source, with a Vietnamese title and a bilingual
description, ids unique, laid out on Grafana's 24-column grid."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from pathlib import Path

import pytest
import yaml

from dondoc.dashboards import all_panels, dashboards, render
from dondoc.dashboards.queries import label_values, panel_queries, substitute_promql, substitute_sql
from dondoc.grafana import provisioning

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MODELS = [render(build()) for _, build in dashboards()]


def test_the_sdk_build_matches_the_grafana_that_compose_runs() -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (sdk,) = [p for p in pins if p.startswith("grafana-foundation-sdk==")]
    sdk_grafana = re.search(r"!(\d+\.\d+)\.\d+$", sdk)[1]
    compose = yaml.safe_load((ROOT / "deploy/compose/infrastructure.yml").read_text())
    image = compose["services"]["grafana"]["image"]
    assert image.startswith(f"grafana/grafana:{sdk_grafana}."), (sdk, image)


def test_every_panel_uses_a_provisioned_data_source() -> None:
    for target in ("compose", "kubernetes"):
        provided = {d["uid"] for d in provisioning(target)["datasources"]}
        for model in MODELS:
            for panel in all_panels(model):
                if panel["type"] in ("row", "text"):
                    continue
                uids = {panel["datasource"]["uid"]} | {t["datasource"]["uid"] for t in panel["targets"]}
                assert uids <= provided, (model["uid"], panel["title"], uids)


def test_compose_provisions_the_dashboards_into_the_folder_push_writes_to() -> None:
    from dondoc.grafana import FOLDER_TITLE, FOLDER_UID

    (provider,) = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/dondoc.yml").read_text(encoding="utf-8"))["providers"]
    assert (provider["folderUid"], provider["folder"]) == (FOLDER_UID, FOLDER_TITLE)


def test_titles_are_vietnamese_and_descriptions_bilingual() -> None:
    for model in MODELS:
        assert model["title"].startswith("Đôn đốc — ")
        for panel in all_panels(model):
            title = panel["title"]
            assert title and unicodedata.normalize("NFC", title) == title
            if panel["type"] not in ("row", "text"):
                assert " / " in panel["description"], (model["uid"], title)


def test_panel_ids_and_titles_are_unique_and_panels_fit_the_grid() -> None:
    for model in MODELS:
        ids = [p["id"] for p in all_panels(model)]
        assert len(ids) == len(set(ids))
        titles = [p["title"] for p in all_panels(model)]
        assert len(titles) == len(set(titles)), model["uid"]  # the tests find panels by title
        for panel in all_panels(model):
            position = panel["gridPos"]
            assert 0 <= position["x"] and position["x"] + position["w"] <= 24, panel["title"]


def test_grafana_substitution_of_macros_and_variables() -> None:
    assert substitute_promql('rate(x{service=~"$service"}[$__rate_interval]) [$__range]',
                             {"service": "tasks|reports"}) == \
        'rate(x{service=~"tasks|reports"}[1m]) [5m]'
    assert label_values('label_values(up{service=~"a|b"}, service)') == ('up{service=~"a|b"}', "service")
    from datetime import datetime, timezone

    start, end = datetime(2018, 1, 1, tzinfo=timezone.utc), datetime(2019, 1, 1, tzinfo=timezone.utc)
    assert substitute_sql("SELECT 1 WHERE $__timeFilter(at) AND y = $year AND u = ${unit}",
                          {"year": "2018", "unit": "'BTG'"}, start=start, end=end) == (
        "SELECT 1 WHERE at BETWEEN '2018-01-01T00:00:00Z' AND '2019-01-01T00:00:00Z' "
        "AND y = 2018 AND u = 'BTG'")
    with pytest.raises(ValueError):
        substitute_sql("SELECT $__timeGroup(at, '1d')", {}, start=start, end=end)


def test_every_query_is_found() -> None:
    found = [q for m in MODELS for q in panel_queries(m)]
    targets = [t for m in MODELS for p in all_panels(m) for t in p.get("targets", [])]
    assert len(found) == len(targets) > 0
