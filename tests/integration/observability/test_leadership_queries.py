"""Every SQL query of the dashboards (panels and variables), with Grafana's macros and the
dashboard's variables substituted as Grafana does, on the real analytics read models: the
analytics service of the observed suite (`dondoc serve analytics` on its own PostgreSQL
database) has projected the suite's events. Each query runs as Grafana's read-only role
would and returns rows with the columns its panel names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from dondoc.dashboards import dashboards, render
from dondoc.dashboards.queries import (
    Query,
    panel_queries,
    shown_columns,
    substitute_sql,
    variable_queries,
)
from dondoc.dev.process import wait_until
from tests.support.observed import ObservedSuite, run_read_only

pytestmark = pytest.mark.integration

MODELS = [render(build()) for _, build in dashboards()]
PANELS = [q for m in MODELS for q in panel_queries(m) if q.language == "sql"]
VARIABLES = [q for m in MODELS for q in variable_queries(m) if q.language == "sql"]


def _model(query: Query) -> dict[str, Any]:
    return next(m for m in MODELS if m["uid"] == query.dashboard)


@pytest.fixture(scope="module")
def read_models(observed: ObservedSuite) -> Any:
    engine = sa.create_engine(observed.analytics_sqlalchemy_url())

    def projected() -> bool:
        with engine.connect() as conn:
            board = conn.execute(sa.text("SELECT count(*) FROM analytics_task_board")).scalar()
            reports = conn.execute(sa.text("SELECT count(*) FROM analytics_reports")).scalar()
            return board == 6 and reports == 4

    wait_until(projected, timeout=120, what="the suite's tasks and reports in the analytics views")
    yield engine
    engine.dispose()


def _values(engine: sa.Engine, observed: ObservedSuite, review_group: str) -> dict[str, str]:
    with engine.connect() as conn:
        task = conn.execute(sa.text(
            "SELECT task_id FROM analytics_task_board WHERE lead_unit_id = 'UBND' "
            "ORDER BY due_on LIMIT 1")).scalar_one()
    return {"year": str(observed.today.year), "review_group": review_group, "unit": "UBND",
            "task": task}


@pytest.mark.parametrize("review_group", ["*", "Kinh tế - xã hội"])
@pytest.mark.parametrize("query", PANELS, ids=str)
def test_every_panel_query_returns_the_columns_its_panel_shows(
        read_models: sa.Engine, observed: ObservedSuite, query: Query, review_group: str) -> None:
    end = datetime.now(timezone.utc)
    sql = substitute_sql(query.text, _values(read_models, observed, review_group),
                         start=end - timedelta(days=365), end=end)
    columns, rows = run_read_only(read_models, sql)
    assert rows, f"{query} returned no row:\n{sql}"
    assert shown_columns(_model(query), query) <= set(columns), (query, columns)


@pytest.mark.parametrize("query", VARIABLES, ids=str)
def test_every_variable_lists_values(read_models: sa.Engine, observed: ObservedSuite,
                                     query: Query) -> None:
    end = datetime.now(timezone.utc)
    sql = substitute_sql(query.text, _values(read_models, observed, "*"),
                         start=end - timedelta(days=365), end=end)
    columns, rows = run_read_only(read_models, sql)
    assert {"__value", "__text"} <= set(columns) and rows, (query, sql)


def test_the_scorecards_hold_the_suite_s_figures(read_models: sa.Engine,
                                                 observed: ObservedSuite) -> None:
    """The leadership sees the figures metrics.md defines for what the suite did."""
    (query,) = [q for q in PANELS if q.panel == "Đơn vị $unit qua các năm"]
    values = _values(read_models, observed, "*")
    end = datetime.now(timezone.utc)
    with read_models.connect() as conn:
        rows = conn.execute(sa.text(substitute_sql(
            query.text, {**values, "unit": "BTG"}, start=end, end=end))).mappings().all()
    this_year = next(r for r in rows if r["year"] == observed.today.year)
    # BTG: item 2 overdue (carried over or assigned this year), item 6 completed on time
    assert this_year["completed_on_time"] == 1 and this_year["open_overdue"] == 1
    assert this_year["on_time_rate_of_due"] == pytest.approx(0.5)
