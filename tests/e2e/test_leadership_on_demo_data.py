"""The leadership dashboard on the demo's data: the demo province (`dondoc.scenario`, the seed
`dondoc demo` uses, 2016 to today) imported through the real import and APIs into the
services on PostgreSQL, projected by the analytics service; every SQL query of the
leadership dashboard, Grafana's macros and variables substituted, for 2018 and this year, for every
review group and for all: each returns rows with the columns its panel shows, and the
scorecard by unit shows the figures the analytics API gives."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from dondoc import scenario
from dondoc.dashboards import dashboards, render
from dondoc.dashboards.queries import Query, panel_queries, shown_columns, substitute_sql, variable_queries
from dondoc.demo import DEMO_SEED
from dondoc.dev.process import wait_until
from tests.support.observed import ObservedSuite, run_read_only, start_suite
from tests.support.services import prefix

pytestmark = pytest.mark.e2e

MODELS = {m["uid"]: m for m in (render(build()) for _, build in dashboards())}
LEADERSHIP = MODELS["dondoc-leadership"]
# (the audit dashboard's SQL panel lists checkpoints, which this run does not wait for: the
# observed suite's test runs it)
PANELS = panel_queries(LEADERSHIP)
VARIABLES = variable_queries(LEADERSHIP)
REVIEWED_YEAR = 2018
OUTBOX = re.compile(r'^dondoc_outbox_(position|lag_events)\{service="\w+"\} (\S+)$', re.M)
UNIT_SCORECARD = "Bảng điểm theo đơn vị chủ trì"


@pytest.fixture(scope="module")
def demo(infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ObservedSuite, sa.Engine]]:
    from dondoc.importer.client import Suite
    from dondoc.importer.run import OK, run_import

    admin = infra.postgres_database_url("postgres")
    home = tmp_path_factory.mktemp("demo-data")
    # the services' own settings (no fast checkpoints or verification: the import is the load)
    suite = start_suite(home, kafka_bootstrap=infra.kafka_bootstrap, admin_url=admin,
                        topic_prefix=prefix(), extra_env={})
    engine = None
    try:
        province = scenario.generate(seed=DEMO_SEED, today=suite.today)
        workbook = province.write_workbook(home / "so-theo-doi.xlsx")
        token = suite.signer.token(subject="vptu.nhaplieu", roles=["office"], name="Nhập liệu")
        with Suite({n: suite.url(n) for n in ("directives", "tasks", "reports")}, token) as api:
            outcome = run_import(api, [workbook], today=suite.today)
        assert outcome.code == OK, outcome
        _settle(suite)
        engine = sa.create_engine(suite.analytics_sqlalchemy_url())
        tasks = sum(len(d.tasks) for d in province.directives)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM analytics_task_board")).scalar() == tasks
        yield suite, engine
    finally:
        if engine is not None:
            engine.dispose()
        suite.stop(admin)


def _settle(suite: ObservedSuite) -> None:
    """Every recorded event published (relay lag 0), then analytics has applied every
    published event (its API's `wait`), twice with nothing moving in between."""
    def outbox() -> dict[str, list[tuple[str, str]]]:
        return {name: OUTBOX.findall(suite.metrics(name)) for name in ("directives", "tasks", "reports")}

    def settled() -> bool:
        first = outbox()
        if not all(figures and all(float(v) == 0 for kind, v in figures if kind == "lag_events")
                   for figures in first.values()):
            return False
        status, _ = suite.call("analytics", "GET", f"/v1/scorecards/tasks?year={REVIEWED_YEAR}&wait=true",
                               role="leader")
        return status == 200 and outbox() == first

    wait_until(settled, timeout=600, what="the demo's events applied by the analytics read models")


def _choices(engine: sa.Engine) -> tuple[list[str], str, str]:
    """The review groups, the unit with the most tasks and its first task."""
    with engine.connect() as conn:
        groups = list(conn.execute(sa.text(
            "SELECT DISTINCT review_group FROM analytics_units WHERE review_group IS NOT NULL "
            "ORDER BY 1")).scalars())
        unit = conn.execute(sa.text(
            "SELECT lead_unit_id FROM analytics_task_board GROUP BY 1 ORDER BY count(*) DESC, 1 "
            "LIMIT 1")).scalar_one()
        task = conn.execute(sa.text(
            "SELECT task_id FROM analytics_task_board WHERE lead_unit_id = :unit ORDER BY assigned_on "
            "LIMIT 1"), {"unit": unit}).scalar_one()
    return groups, unit, task


def _sql(query: Query, *, year: int, review_group: str, unit: str, task: str) -> str:
    end = datetime.now(timezone.utc)
    return substitute_sql(query.text, {"year": str(year), "review_group": review_group,
                                       "unit": unit, "task": task},
                          start=end - timedelta(days=365), end=end)


@pytest.mark.parametrize("year", [REVIEWED_YEAR, "this year"])
@pytest.mark.parametrize("query", PANELS, ids=str)
def test_every_panel_query_returns_rows_on_the_demo_data(demo: tuple[ObservedSuite, sa.Engine],
                                                          query: Query, year: Any) -> None:
    suite, engine = demo
    year = suite.today.year if year == "this year" else year
    groups, unit, task = _choices(engine)
    assert len(groups) >= 3
    answered = 0
    for review_group in ["*", *groups]:
        columns, rows = run_read_only(engine, _sql(query, year=year, review_group=review_group,
                                                   unit=unit, task=task))
        assert shown_columns(LEADERSHIP, query) <= set(columns), (query, columns)
        answered += bool(rows)
        if review_group == "*":
            assert rows, f"{query} ({year}, every review group) returned no row"
    assert answered >= 2, f"{query} ({year}) has rows for no single review group"


@pytest.mark.parametrize("query", VARIABLES, ids=str)
def test_every_variable_lists_the_demo_s_values(demo: tuple[ObservedSuite, sa.Engine],
                                                query: Query) -> None:
    suite, engine = demo
    groups, unit, task = _choices(engine)
    columns, rows = run_read_only(engine, _sql(query, year=REVIEWED_YEAR, review_group="*",
                                               unit=unit, task=task))
    assert {"__value", "__text"} <= set(columns) and rows, query
    if query.panel == "$year":
        assert {r[0] for r in rows} >= set(range(2016, suite.today.year + 1))


def test_the_unit_scorecard_panel_shows_the_api_s_figures(demo: tuple[ObservedSuite, sa.Engine]) -> None:
    """What the leadership reads on the dashboard is what the analytics API (and the demo)
    reports for 2018: every unit, every figure the panel shows."""
    suite, engine = demo
    (query,) = [q for q in PANELS if q.panel == UNIT_SCORECARD]
    groups, unit, task = _choices(engine)
    with engine.connect() as conn:
        shown = {row["group_key"]: row for row in conn.execute(sa.text(
            _sql(query, year=REVIEWED_YEAR, review_group="*", unit=unit, task=task))).mappings()}
    status, card = suite.call("analytics", "GET", f"/v1/scorecards/tasks?year={REVIEWED_YEAR}&by=unit",
                              role="leader")
    assert status == 200, card
    api = {row["key"]: row["figures"] for row in card["rows"]}
    assert set(shown) == set(api) and len(api) >= 10
    compared = 0
    for key, figures in api.items():
        for name, value in figures.items():
            if name in shown[key]:
                figure = shown[key][name]
                assert (None if figure is None else float(figure)) == pytest.approx(value), (key, name)
                compared += 1
    assert compared >= 10 * len(api)
