"""Debian's real Prometheus scrapes the running services (file discovery, as the local stack
does), loads the alert rules, and answers every query of every dashboard panel (each
returns series) and every rule expression (each parses and evaluates without error)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dondoc.dashboards import dashboards, render
from dondoc.dashboards.queries import (
    Query,
    label_values,
    panel_queries,
    substitute_promql,
    variable_queries,
    variables,
)
from dondoc.dev.process import free_port, wait_until
from dondoc.dev.prometheus import PrometheusConfig, PrometheusServer
from dondoc.dev.stack import repository_rule_files
from tests.support.observed import ObservedSuite

pytestmark = pytest.mark.integration

MODELS = [render(build()) for _, build in dashboards()]
PROMQL = [q for model in MODELS for q in panel_queries(model) if q.language == "promql"]


class PrometheusAPI:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:  # 400 with the parser's message
            return json.loads(e.read())

    def run(self, query: str, *, instant: bool) -> dict[str, Any]:
        now = time.time()
        if instant:
            return self.get("/api/v1/query", query=query, time=now)
        return self.get("/api/v1/query_range", query=query, start=now - 120, end=now, step=2)


@pytest.fixture(scope="module")
def prometheus(observed: ObservedSuite, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[PrometheusAPI]:
    server = PrometheusServer(PrometheusConfig(
        state_dir=tmp_path_factory.mktemp("prometheus"), port=free_port(), scrape_interval="1s",
        rule_files=repository_rule_files()))
    server.start()
    try:
        for name, process in observed.processes.items():
            server.register_target(name, f"127.0.0.1:{process.port}", {"role": "all"})
        api = PrometheusAPI(server.url)

        def targets_up() -> bool:
            active = api.get("/api/v1/targets")["data"]["activeTargets"]
            ours = [t for t in active if t["labels"].get("service") in observed.processes]
            return len(ours) == len(observed.processes) and all(t["health"] == "up" for t in ours)

        wait_until(targets_up, timeout=60, what="every service's target up in Prometheus")
        # rates need a few samples of every series: wait until the targets were scraped
        # for a while rather than for a fixed time
        wait_until(lambda: _values(api.run(
            f'min(count_over_time(up{{service=~"{"|".join(observed.processes)}"}}[1m]))',
            instant=True)) >= [15.0], timeout=60, what="15 scrapes of every target")
        yield api
    finally:
        server.stop()


def _values(answer: dict[str, Any]) -> list[float]:
    return [float(r["value"][1]) for r in answer.get("data", {}).get("result", [])]


def _all_values() -> dict[str, str]:
    """Each variable as Grafana sends it with "All" selected: its allValue."""
    return {v["name"]: v.get("allValue") or ".*" for model in MODELS for v in variables(model)}


def test_the_dashboards_have_prometheus_queries() -> None:
    assert len(PROMQL) >= 30
    assert {q.dashboard for q in PROMQL} == {"dondoc-operations", "dondoc-audit"}


@pytest.mark.parametrize("query", PROMQL, ids=str)
def test_every_panel_query_returns_series(prometheus: PrometheusAPI, query: Query) -> None:
    expr = substitute_promql(query.text, _all_values())
    seen: dict[str, Any] = {}

    def answered() -> bool:
        seen["answer"] = prometheus.run(expr, instant=query.instant)
        assert seen["answer"]["status"] == "success", (expr, seen["answer"])
        return bool(seen["answer"]["data"]["result"])

    # a rate needs two samples in its window, a figure its first scrape: wait for them
    wait_until(answered, timeout=90, what=f"series for {query}: {expr}",
               detail=lambda: json.dumps(seen.get("answer"))[:2000])


def test_every_variable_lists_values(prometheus: PrometheusAPI) -> None:
    for model in MODELS:
        for query in variable_queries(model):
            if query.language != "promql":
                continue
            selector, label = label_values(query.text)
            answer = prometheus.run(selector, instant=True)
            assert answer["status"] == "success", (query, answer)
            assert {r["metric"].get(label) for r in answer["data"]["result"]} >= {"tasks"}, query


def _rules() -> list[dict[str, Any]]:
    return [rule for path in repository_rule_files()
            for group in yaml.safe_load(Path(path).read_text(encoding="utf-8"))["groups"]
            for rule in group["rules"]]


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: r.get("alert") or r["record"])
def test_every_rule_expression_parses_and_evaluates(prometheus: PrometheusAPI,
                                                    rule: dict[str, Any]) -> None:
    answer = prometheus.run(rule["expr"], instant=True)
    assert answer["status"] == "success", (rule["expr"], answer)


def test_prometheus_evaluates_the_loaded_rules_without_error(prometheus: PrometheusAPI) -> None:
    names = {r.get("alert") or r["record"] for r in _rules()}

    def evaluated() -> bool:
        groups = prometheus.get("/api/v1/rules")["data"]["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        return names <= set(rules) and all(
            rules[n].get("health") == "ok" and rules[n].get("lastEvaluation", "").startswith("20")
            for n in names)

    wait_until(evaluated, timeout=60, what="every rule evaluated with health ok",
               detail=lambda: json.dumps(prometheus.get("/api/v1/rules"))[:3000])
    # the suite is healthy: no pipeline or service alert fires (dead letters may: the
    # observed suite sends a poison message on purpose)
    alerts = prometheus.get("/api/v1/alerts")["data"]["alerts"]
    firing = {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}
    assert firing <= {"DondocDeadLettersAppearing"}, firing
