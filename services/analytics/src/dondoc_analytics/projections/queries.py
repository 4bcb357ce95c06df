"""Queries over the stable views: scorecards as of any moment, the task board, histories.

The SQL that counts the figures is built once here and used twice: by the API (with the
years and as-of moments it is asked for) and by the dashboard views `analytics_task_scorecard`
and `analytics_report_scorecard` (each year as of its end, or now), so Grafana and the API
can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache

import sqlalchemy as sa

from dondoc_analytics.domain.timeliness import (
    AGEING_FIGURES,
    CATEGORY_FIGURES,
    ORIGINAL_SUFFIX,
    AsOf,
    ReportScorecard,
    TaskScorecard,
)
from dondoc_analytics.projections.schema import VIEWS, ProjectionTables


class Grouping(StrEnum):
    UNIT = "unit"
    REVIEW_GROUP = "review_group"
    DOMAIN = "domain"
    ISSUING_BODY = "issuing_body"


UNCLASSIFIED = "(chưa phân loại)"


@dataclass(frozen=True)
class YearAsOf:
    """One scorecard column: year Y as of T, with the days the SQL compares against."""

    year: int
    as_of: AsOf

    def parameters(self) -> dict[str, object]:
        o = self.as_of.overdue_day
        return {"year": self.year, "k": self.as_of.cut_day, "o": o,
                "y0": date(self.year, 1, 1), "yend": date(self.year, 12, 31),
                "o30": o - timedelta(days=30), "o90": o - timedelta(days=90),
                "o120": o - timedelta(days=120)}


YEAR_COLUMNS = ("year", "k", "o", "y0", "yend", "o30", "o90", "o120")


def years_literal(columns: Sequence[YearAsOf]) -> sa.Subquery:
    """The year columns with their values written in (for views and one-off statements)."""
    return _years([item.parameters() for item in columns])


def _years(values: Sequence[dict[str, object]] | int) -> sa.Subquery:
    """Year columns as literals, or (given a count) as bound parameters `<name>_<i>`."""
    selects = []
    for i in range(values if isinstance(values, int) else len(values)):
        selects.append(sa.select(*[
            (sa.bindparam(f"{name}_{i}", type_=sa.Integer if name == "year" else sa.Date)
             if isinstance(values, int) else
             sa.literal(values[i][name], sa.Integer if name == "year" else sa.Date)).label(name)
            for name in YEAR_COLUMNS]))
    union = selects[0] if len(selects) == 1 else sa.union_all(*selects)
    return union.subquery("years")


def year_parameters(columns: Sequence[YearAsOf]) -> dict[str, object]:
    return {f"{name}_{i}": value for i, column in enumerate(columns)
            for name, value in column.parameters().items()}


def years_default(dialect: str) -> sa.Subquery:
    """Every year from the first assignment to now, each as of its end or now (for views)."""
    if dialect == "postgresql":
        text = """
            SELECT y AS year, k, o, make_date(y, 1, 1) AS y0, make_date(y, 12, 31) AS yend,
                   o - 30 AS o30, o - 90 AS o90, o - 120 AS o120
            FROM (SELECT y,
                         LEAST(make_date(y + 1, 1, 1),
                               ((now() AT TIME ZONE 'Asia/Ho_Chi_Minh') - interval '1 microsecond')::date + 1) AS k,
                         LEAST(make_date(y + 1, 1, 1), (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date) AS o
                  FROM generate_series(
                      COALESCE((SELECT EXTRACT(YEAR FROM min(assigned_on))::int FROM analytics_task_periods),
                               EXTRACT(YEAR FROM now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::int),
                      EXTRACT(YEAR FROM now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::int) AS y) AS s
        """
    else:
        # Asia/Ho_Chi_Minh has kept UTC+07:00 since 1975: SQLite's modifiers are enough.
        text = """
            WITH RECURSIVE span(y) AS (
                SELECT COALESCE((SELECT CAST(strftime('%Y', min(assigned_on)) AS INTEGER)
                                 FROM analytics_task_periods),
                                CAST(strftime('%Y', 'now', '+7 hours') AS INTEGER))
                UNION ALL SELECT y + 1 FROM span
                WHERE y < CAST(strftime('%Y', 'now', '+7 hours') AS INTEGER))
            SELECT y AS year, k, o, printf('%04d-01-01', y) AS y0, printf('%04d-12-31', y) AS yend,
                   date(o, '-30 days') AS o30, date(o, '-90 days') AS o90,
                   date(o, '-120 days') AS o120
            FROM (SELECT y,
                         min(printf('%04d-01-01', y + 1), date('now', '+7 hours', '+1 day')) AS k,
                         min(printf('%04d-01-01', y + 1), date('now', '+7 hours')) AS o
                  FROM span)
        """
    columns = [sa.column("year", sa.Integer)] + [sa.column(n, sa.Date) for n in YEAR_COLUMNS[1:]]
    return sa.text(text).columns(*columns).subquery("years")


# --------------------------------------------------------------------------- task scorecard


def _status_counts(p: sa.Table, y: sa.Subquery, due: sa.Column, suffix: str) -> list[sa.Label]:
    completed = p.c.terminal == "completed"
    open_ = p.c.terminal.is_(None)

    def count(condition: sa.ColumnElement[bool], name: str) -> sa.Label:
        return sa.func.sum(sa.case((condition, 1), else_=0)).label(name + suffix)

    return [
        count(completed & (due.is_(None) | (p.c.terminal_on <= due)), "completed_on_time"),
        count(completed & due.is_not(None) & (p.c.terminal_on > due), "completed_late"),
        count(open_ & due.is_not(None) & (due >= y.c.o), "open_in_time"),
        count(open_ & (due < y.c.o), "open_overdue"),
        count(open_ & due.is_(None), "open_no_deadline"),
        count(p.c.terminal == "withdrawn", "withdrawn"),
        count(open_ & (due >= y.c.o30) & (due < y.c.o), "overdue_1_30"),
        count(open_ & (due >= y.c.o90) & (due < y.c.o30), "overdue_31_90"),
        count(open_ & (due >= y.c.o120) & (due < y.c.o90), "overdue_91_120"),
        count(open_ & (due < y.c.o120), "overdue_over_120"),
    ]


def _group_columns(p: sa.Table, by: Grouping) -> tuple[sa.ColumnElement, sa.ColumnElement]:
    if by is Grouping.UNIT:
        return p.c.lead_unit_id, p.c.lead_unit_id
    if by is Grouping.REVIEW_GROUP:
        return sa.func.coalesce(p.c.review_group_key, ""), sa.func.min(p.c.review_group)
    column = p.c.domain if by is Grouping.DOMAIN else p.c.issuing_body
    return sa.func.coalesce(column, ""), sa.func.min(column)


def workload_condition(p: sa.Table, y: sa.Subquery) -> sa.ColumnElement[bool]:
    """The task's state at K holds, and it is in W = assigned ∪ carried_over of year Y."""
    return sa.and_(
        p.c.valid_from <= y.c.k,
        sa.or_(p.c.valid_until.is_(None), p.c.valid_until > y.c.k),
        p.c.assigned_on <= y.c.yend,
        sa.or_(p.c.assigned_on >= y.c.y0, p.c.terminal_on.is_(None), p.c.terminal_on >= y.c.y0),
    )


def in_workload(p: sa.Table, year: int) -> sa.ColumnElement[bool]:
    """The task (its state at the cut day, selected by the caller) is in year Y's workload."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    return sa.and_(p.c.assigned_on <= last,
                   sa.or_(p.c.assigned_on >= first, p.c.terminal_on.is_(None), p.c.terminal_on >= first))


def adjustment_counts(task_id: sa.ColumnElement, cut_day: date) -> tuple[sa.Label, sa.Label]:
    """How often, by the cut day, the task's lead unit asked for an adjustment
    (AdjustmentRequested) and its deadline was adjusted by a decision (TaskDeadlineAdjusted)."""
    e = VIEWS.events

    def count(event_type: str) -> sa.ScalarSelect:
        return (sa.select(sa.func.count()).where(e.c.task_id == task_id, e.c.event_type == event_type,
                                                 e.c.business_day < cut_day)
                .scalar_subquery())

    return (count("AdjustmentRequested").label("adjustment_requests"),
            count("TaskDeadlineAdjusted").label("deadline_adjustments"))


def task_scorecard_select(y: sa.Subquery, by: Grouping, *, views: ProjectionTables = VIEWS,
                          where: Iterable[sa.ColumnElement[bool]] = ()) -> sa.Select:
    p = views.task_periods
    key, name = _group_columns(p, by)
    assigned = sa.func.sum(sa.case((p.c.assigned_on >= y.c.y0, 1), else_=0))
    carried = sa.func.sum(sa.case((p.c.assigned_on < y.c.y0, 1), else_=0))
    return (
        sa.select(y.c.year, key.label("group_key"), name.label("group_name"),
                  assigned.label("assigned"), carried.label("carried_over"),
                  *_status_counts(p, y, p.c.due_on, ""),
                  *_status_counts(p, y, p.c.original_due_on, ORIGINAL_SUFFIX))
        .select_from(y.join(p, workload_condition(p, y)))
        .where(*where)
        .group_by(y.c.year, key)
    )


def card_from_row(row: sa.RowMapping) -> TaskScorecard:
    figures = {name: row[name] for name in ("assigned", "carried_over")}
    for suffix in ("", ORIGINAL_SUFFIX):
        for name in (*CATEGORY_FIGURES, *AGEING_FIGURES):
            key = name if name == "withdrawn" else name + suffix
            figures[key] = row[name + suffix]
    return TaskScorecard.from_figures({k: int(v or 0) for k, v in figures.items()})


@dataclass
class GroupFigures:
    year: int
    group_key: str
    group_name: str
    task: TaskScorecard
    report: ReportScorecard | None = None


@lru_cache(maxsize=128)
def _task_statement(years: int, by: Grouping, views: ProjectionTables, units: bool,
                    group: bool) -> sa.Select:
    """Built once per shape: a dashboard's repeated questions skip building the SQL."""
    p = views.task_periods
    where = []
    if units:
        where.append(p.c.lead_unit_id.in_(sa.bindparam("units", expanding=True)))
    if group:
        key, _ = _group_columns(p, by)
        where.append(key == sa.bindparam("group_key"))
    return task_scorecard_select(_years(years), by, views=views, where=where)


def task_scorecards(conn: sa.Connection, columns: Sequence[YearAsOf], by: Grouping, *,
                    units: Sequence[str] | None = None, group_key: str | None = None,
                    views: ProjectionTables = VIEWS) -> list[GroupFigures]:
    statement = _task_statement(len(columns), by, views, units is not None, group_key is not None)
    parameters = year_parameters(columns)
    if units is not None:
        parameters["units"] = list(units)
    if group_key is not None:
        parameters["group_key"] = group_key
    out = []
    for row in conn.execute(statement, parameters).mappings():
        out.append(GroupFigures(row["year"], row["group_key"], row["group_name"] or UNCLASSIFIED,
                                card_from_row(row)))
    return sorted(out, key=lambda g: (g.year, g.group_key))


# --------------------------------------------------------------------------- report scorecard


def report_scorecard_select(y: sa.Subquery, *, views: ProjectionTables = VIEWS,
                            where: Iterable[sa.ColumnElement[bool]] = ()) -> sa.Select:
    r = views.reports
    rv = views.report_reviews
    submitted = r.c.first_submitted_on.is_not(None) & (r.c.first_submitted_on < y.c.k)

    def latest_review(column: sa.Column) -> sa.ScalarSelect:
        """`column` of the report's latest review in effect at T."""
        return (sa.select(column)
                .where(rv.c.report_id == r.c.report_id, rv.c.reviewed_on < y.c.k)
                .order_by(rv.c.reviewed_on.desc(), rv.c.topic.desc(), rv.c.partition.desc(),
                          rv.c.kafka_offset.desc())
                .limit(1).correlate(r, y).scalar_subquery())

    latest = latest_review(rv.c.outcome)
    generic_lines = latest_review(rv.c.lines_generic)

    def count(condition: sa.ColumnElement[bool], name: str) -> sa.Label:
        return sa.func.sum(sa.case((condition, 1), else_=0)).label(name)

    return (
        sa.select(y.c.year, r.c.unit_id.label("group_key"), sa.func.count().label("reports_due"),
                  count(submitted & (r.c.first_submitted_on <= r.c.due_on), "reports_on_time"),
                  count(submitted & (r.c.first_submitted_on > r.c.due_on), "reports_late"),
                  count(~submitted & (r.c.due_on < y.c.o), "reports_missing"),
                  count(~submitted & (r.c.due_on >= y.c.o), "reports_pending"),
                  count(latest == "accepted", "reports_accepted"),
                  count(latest == "returned", "reports_returned"),
                  count(generic_lines == 0, "reports_specific"),
                  count(generic_lines > 0, "reports_generic"))
        .select_from(y.join(r, sa.and_(r.c.due_on >= y.c.y0, r.c.due_on <= y.c.yend,
                                       r.c.requested_on < y.c.k)))
        .where(*where)
        .group_by(y.c.year, r.c.unit_id)
    )


@lru_cache(maxsize=64)
def _report_statement(years: int, views: ProjectionTables, units: bool) -> sa.Select:
    where = ([views.reports.c.unit_id.in_(sa.bindparam("units", expanding=True))]
             if units else [])
    return report_scorecard_select(_years(years), views=views, where=where)


def report_scorecards(conn: sa.Connection, columns: Sequence[YearAsOf], *,
                      units: Sequence[str] | None = None,
                      views: ProjectionTables = VIEWS) -> dict[tuple[int, str], ReportScorecard]:
    statement = _report_statement(len(columns), views, units is not None)
    parameters = year_parameters(columns)
    if units is not None:
        parameters["units"] = list(units)
    out = {}
    for row in conn.execute(statement, parameters).mappings():
        out[(row["year"], row["group_key"])] = ReportScorecard(
            **{k: int(row[k] or 0) for k in ReportScorecard.__dataclass_fields__})
    return out


def status_case(p: sa.Table, o: sa.ColumnElement | date, *, original: bool = False) -> sa.Case:
    due = p.c.original_due_on if original else p.c.due_on
    return sa.case(
        (p.c.terminal == "withdrawn", "withdrawn"),
        ((p.c.terminal == "completed") & (due.is_(None) | (p.c.terminal_on <= due)),
         "completed_on_time"),
        (p.c.terminal == "completed", "completed_late"),
        (due.is_(None), "open_no_deadline"),
        (due < o, "open_overdue"),
        else_="open_in_time",
    )
