"""`dondoc grafana push` through grafana-client against an HTTP server that answers as
Grafana's API does and records every request: the first push creates the folder, the data
sources and every dashboard of deploy/grafana/dashboards; a second push writes nothing; a
changed dashboard or data source is updated alone; a wrong token fails clearly."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from dondoc.cli import app
from dondoc.grafana import DASHBOARDS, FOLDER_TITLE, FOLDER_UID
from tests.support.grafana_server import RecordingGrafana

pytestmark = pytest.mark.integration

SHIPPED = sorted(json.loads(p.read_text(encoding="utf-8"))["uid"] for p in DASHBOARDS.glob("*.json"))


@pytest.fixture
def grafana() -> Iterator[RecordingGrafana]:
    with RecordingGrafana() as server:
        yield server


def push(grafana: RecordingGrafana, *args: str, token: str | None = None) -> object:
    env = {"DONDOC_GRAFANA_URL": grafana.url, "DONDOC_GRAFANA_TOKEN": token or grafana.state.token,
           "DONDOC_GRAFANA_PROMETHEUS_URL": "http://prometheus.office.local:9090",
           "DONDOC_GRAFANA_ANALYTICS_HOST": "db.office.local:5432",
           "DONDOC_GRAFANA_ANALYTICS_PASSWORD": "mật-khẩu-đọc"}
    return CliRunner().invoke(app, ["grafana", "push", *args], env=env)


def test_the_first_push_creates_everything_and_the_second_writes_nothing(
        grafana: RecordingGrafana) -> None:
    first = push(grafana)
    assert first.exit_code == 0, first.output
    state = grafana.state
    assert state.folders[FOLDER_UID]["title"] == FOLDER_TITLE
    assert sorted(state.datasources) == ["dondoc-analytics", "dondoc-prometheus"]
    assert state.datasources["dondoc-prometheus"]["url"] == "http://prometheus.office.local:9090"
    analytics = state.datasources["dondoc-analytics"]
    assert analytics["url"] == "db.office.local:5432"
    assert analytics["secureJsonFields"] == {"password": True}
    assert sorted(state.dashboards) == SHIPPED
    for uid in SHIPPED:
        assert state.dashboards[uid]["meta"]["folderUid"] == FOLDER_UID
    writes = [(r.method, r.path) for r in state.writes()]
    assert writes == [("POST", "/api/folders"), ("POST", "/api/datasources"),
                      ("POST", "/api/datasources"), *[("POST", "/api/dashboards/db")] * len(SHIPPED)]
    posted = [r.body for r in state.writes() if r.path == "/api/datasources"]
    assert posted[1]["secureJsonData"] == {"password": "mật-khẩu-đọc"}
    assert all(r.authorization == f"Bearer {state.token}" for r in state.requests)
    assert f"{3 + len(SHIPPED)} of {3 + len(SHIPPED)} changed" in first.output

    before = len(state.requests)
    second = push(grafana)
    assert second.exit_code == 0, second.output
    assert [r for r in state.requests[before:] if r.method != "GET"] == []
    assert f"0 of {3 + len(SHIPPED)} changed" in second.output


def test_only_what_changed_is_updated_and_secrets_are_kept(grafana: RecordingGrafana) -> None:
    assert push(grafana).exit_code == 0
    state = grafana.state
    state.dashboards[SHIPPED[0]]["dashboard"]["title"] = "Sửa tay trên Grafana"
    state.datasources["dondoc-prometheus"]["url"] = "http://old-prometheus:9090"
    state.folders[FOLDER_UID]["title"] = "dondoc cũ"
    before = len(state.requests)

    dry = push(grafana, "--dry-run")
    assert dry.exit_code == 0 and "3 of" in dry.output and "would change" in dry.output
    assert [r for r in state.requests[before:] if r.method != "GET"] == []

    result = push(grafana)
    assert result.exit_code == 0, result.output
    writes = [(r.method, r.path) for r in state.requests[before:] if r.method != "GET"]
    assert writes == [("PUT", f"/api/folders/{FOLDER_UID}"),
                      ("PUT", "/api/datasources/uid/dondoc-prometheus"),
                      ("POST", "/api/dashboards/db")]
    update = next(r.body for r in state.requests[before:] if r.method == "PUT" and "datasources" in r.path)
    assert "secureJsonData" not in update  # the stored password stays
    assert state.dashboards[SHIPPED[0]]["dashboard"]["title"] != "Sửa tay trên Grafana"
    assert state.dashboards[SHIPPED[0]]["dashboard"]["version"] == 2

    reset = push(grafana, "--reset-secrets")
    assert reset.exit_code == 0
    puts = [r.body for r in state.requests if r.method == "PUT" and r.path.endswith("dondoc-analytics")]
    assert puts and puts[-1]["secureJsonData"] == {"password": "mật-khẩu-đọc"}


def test_a_refused_token_fails_with_grafana_s_answer(grafana: RecordingGrafana) -> None:
    result = push(grafana, token="wrong")
    assert result.exit_code == 1
    assert "Unauthorized" in result.output or "401" in result.output
    # the first request was refused and nothing was attempted after it
    assert [(r.method, r.path) for r in grafana.state.requests] == [("GET", f"/api/folders/{FOLDER_UID}")]
    assert grafana.state.folders == {}
