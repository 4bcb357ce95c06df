"""Frozen periods: a closed year keeps the figures it was closed with, task by task.

Closing year Y as of T records (1) every group's figures, (2) the standing of every task
and report obligation that made them, (3) the Kafka positions the figures include, and a
digest of it all (signed when an audit key is configured). Later events never change
those rows; a restatement compares them with the figures the read models give now for the
same T, and names the events recorded after the close that caused each difference.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import sqlalchemy as sa

from dondoc_analytics.domain.timeliness import (
    REPORT_FIGURES,
    REVIEW_FIGURES,
    TASK_FIGURES,
    AsOf,
    ReportScorecard,
    TaskScorecard,
)
from dondoc_analytics.domain.wording import render
from dondoc_analytics.projections import queries
from dondoc_analytics.projections.projector import chunks
from dondoc_analytics.projections.queries import Grouping, YearAsOf
from dondoc_analytics.projections.schema import (
    FROZEN_REPORT_SCORECARDS,
    FROZEN_REPORTS,
    FROZEN_TASK_SCORECARDS,
    FROZEN_TASKS,
    PERIODS,
    VIEWS,
    ProjectionTables,
)


def period_id(year: int) -> str:
    return f"year-{year}"


class PeriodClosed(Exception):
    """The period is closed already: its figures never change."""


def task_states(conn: sa.Connection, column: YearAsOf, *,
                views: ProjectionTables = VIEWS) -> list[dict[str, Any]]:
    """The standing of every task of year Y's workload as of T."""
    p = views.task_periods
    y = queries.years_literal([column])
    statement = (
        sa.select(p.c.task_id, p.c.lead_unit_id, p.c.review_group_key, p.c.domain,
                  p.c.issuing_body,
                  sa.case((p.c.assigned_on >= y.c.y0, "assigned"), else_="carried_over")
                  .label("membership"),
                  queries.status_case(p, y.c.o).label("category"),
                  queries.status_case(p, y.c.o, original=True).label("category_original"),
                  p.c.due_on, p.c.original_due_on, p.c.terminal_on)
        .select_from(y.join(p, queries.workload_condition(p, y)))
        .order_by(p.c.task_id))
    return [dict(r) for r in conn.execute(statement).mappings()]


def report_states(conn: sa.Connection, column: YearAsOf, *,
                  views: ProjectionTables = VIEWS) -> list[dict[str, Any]]:
    r = views.reports
    p = column.parameters()
    submitted = r.c.first_submitted_on.is_not(None) & (r.c.first_submitted_on < p["k"])
    standing = sa.case(
        (submitted & (r.c.first_submitted_on <= r.c.due_on), "reports_on_time"),
        (submitted, "reports_late"),
        (r.c.due_on < p["o"], "reports_missing"),
        else_="reports_pending")
    statement = (sa.select(r.c.report_id, r.c.unit_id, standing.label("standing"),
                           r.c.first_submitted_on, r.c.due_on)
                 .where(r.c.due_on >= p["y0"], r.c.due_on <= p["yend"], r.c.requested_on < p["k"])
                 .order_by(r.c.report_id))
    return [dict(row) for row in conn.execute(statement).mappings()]


def _json_default(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def digest_of(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                           default=_json_default)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class FrozenFigures:
    grouping: str
    group_key: str
    group_name: str
    figures: dict[str, int | float | None]


def current_figures(conn: sa.Connection, column: YearAsOf, *,
                    views: ProjectionTables = VIEWS) -> list[FrozenFigures]:
    """Every grouping's figures as the read models give them now."""
    out = []
    reports = queries.report_scorecards(conn, [column], views=views)
    for grouping in Grouping:
        for group in queries.task_scorecards(conn, [column], grouping, views=views):
            figures: dict[str, Any] = dict(group.task.figures())
            if grouping is Grouping.UNIT:
                card = reports.pop((column.year, group.group_key), ReportScorecard())
                figures.update(card.figures())
            out.append(FrozenFigures(grouping.value, group.group_key, group.group_name, figures))
    for (_, unit_id), card in reports.items():  # units with reports but no tasks
        figures = dict(TaskScorecard().figures())
        figures.update(card.figures())
        out.append(FrozenFigures(Grouping.UNIT.value, unit_id, unit_id, figures))
    return out


def close(conn: sa.Connection, year: int, as_of: AsOf, *, closed_by: str, closed_at: datetime,
          positions: dict[str, int], sign=None) -> dict[str, Any]:
    """Freeze year Y as of T (inside the caller's transaction). `sign(digest) -> (key_id,
    signature)` signs the digest when an audit key is configured."""
    pid = period_id(year)
    if conn.execute(sa.select(PERIODS.c.period_id).where(PERIODS.c.period_id == pid)).first():
        raise PeriodClosed(pid)
    column = YearAsOf(year, as_of)
    groups = current_figures(conn, column)
    tasks = task_states(conn, column)
    reports = report_states(conn, column)
    document = {"period_id": pid, "year": year, "as_of": as_of.moment, "positions": positions,
                "groups": [g.__dict__ for g in groups], "tasks": tasks, "reports": reports}
    digest = digest_of(document)
    key_id, signature = sign(digest) if sign else (None, None)
    conn.execute(PERIODS.insert().values(
        period_id=pid, kind="year", year=year, label=f"Năm {year}",
        as_of=as_of.moment.astimezone(timezone.utc), closed_at=closed_at.astimezone(timezone.utc), closed_by=closed_by, positions=json.dumps(positions, sort_keys=True),
        digest=digest, signature=signature, key_id=key_id))
    task_cards = groups
    if task_cards:
        conn.execute(FROZEN_TASK_SCORECARDS.insert(), [
            {"period_id": pid, "grouping": g.grouping, "group_key": g.group_key,
             "group_name": g.group_name, **{f: g.figures.get(f) for f in TASK_FIGURES}}
            for g in task_cards])
    unit_reports = [g for g in groups if g.grouping == Grouping.UNIT.value
                    and g.figures.get("reports_due")]
    if unit_reports:
        conn.execute(FROZEN_REPORT_SCORECARDS.insert(), [
            {"period_id": pid, "grouping": g.grouping, "group_key": g.group_key,
             "group_name": g.group_name,
             **{f: g.figures.get(f) for f in REPORT_FIGURES + REVIEW_FIGURES}}
            for g in unit_reports])
    if tasks:
        conn.execute(FROZEN_TASKS.insert(), [{"period_id": pid, **t} for t in tasks])
    if reports:
        conn.execute(FROZEN_REPORTS.insert(), [{"period_id": pid, **r} for r in reports])
    return {"period_id": pid, "digest": digest, "key_id": key_id, "signature": signature}


def closed_period(conn: sa.Connection, year: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(PERIODS).where(PERIODS.c.period_id == period_id(year))).mappings().first()
    return dict(row) if row else None


def frozen_figures(conn: sa.Connection, year: int, grouping: Grouping) -> list[FrozenFigures]:
    pid = period_id(year)
    tasks = conn.execute(sa.select(FROZEN_TASK_SCORECARDS).where(
        FROZEN_TASK_SCORECARDS.c.period_id == pid,
        FROZEN_TASK_SCORECARDS.c.grouping == grouping.value)).mappings()
    reports = {r["group_key"]: r for r in conn.execute(sa.select(FROZEN_REPORT_SCORECARDS).where(
        FROZEN_REPORT_SCORECARDS.c.period_id == pid,
        FROZEN_REPORT_SCORECARDS.c.grouping == grouping.value)).mappings()}
    out = []
    for row in tasks:
        figures = {f: row[f] for f in TASK_FIGURES}
        if grouping is Grouping.UNIT:
            report = reports.get(row["group_key"])
            figures.update({f: (report[f] if report else 0) for f in REPORT_FIGURES + REVIEW_FIGURES})
        out.append(FrozenFigures(grouping.value, row["group_key"], row["group_name"], figures))
    return out


@dataclass
class Restatement:
    """What the read models say now about a frozen period, beside what was frozen."""

    period: dict[str, Any]
    changed_tasks: list[dict[str, Any]] = field(default_factory=list)
    changed_reports: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def restated(self) -> bool:
        return bool(self.changed_tasks or self.changed_reports)


_TASK_KEYS = ("lead_unit_id", "review_group_key", "domain", "issuing_body", "membership",
              "category", "category_original")


def restatement(conn: sa.Connection, year: int, *, views: ProjectionTables = VIEWS) -> Restatement | None:
    period = closed_period(conn, year)
    if period is None:
        return None
    pid = period["period_id"]
    as_of = AsOf(_aware(period["as_of"]))
    column = YearAsOf(year, as_of)
    frozen = {r["task_id"]: dict(r) for r in conn.execute(
        sa.select(FROZEN_TASKS).where(FROZEN_TASKS.c.period_id == pid)).mappings()}
    now = {r["task_id"]: r for r in task_states(conn, column, views=views)}
    out = Restatement(period)
    for task_id in sorted(set(frozen) | set(now)):
        before, after = frozen.get(task_id), now.get(task_id)
        if before and after and all(before[k] == after[k] for k in _TASK_KEYS):
            continue
        out.changed_tasks.append({"task_id": task_id,
                                  "frozen": {k: before[k] for k in _TASK_KEYS} if before else None,
                                  "now": {k: after[k] for k in _TASK_KEYS} if after else None})
    frozen_reports = {r["report_id"]: dict(r) for r in conn.execute(
        sa.select(FROZEN_REPORTS).where(FROZEN_REPORTS.c.period_id == pid)).mappings()}
    now_reports = {r["report_id"]: r for r in report_states(conn, column, views=views)}
    for report_id in sorted(set(frozen_reports) | set(now_reports)):
        before, after = frozen_reports.get(report_id), now_reports.get(report_id)
        if before and after and before["standing"] == after["standing"] \
                and before["unit_id"] == after["unit_id"]:
            continue
        out.changed_reports.append({
            "report_id": report_id,
            "frozen": {"unit_id": before["unit_id"], "standing": before["standing"]} if before else None,
            "now": {"unit_id": after["unit_id"], "standing": after["standing"]} if after else None})
    positions = {tuple(k.rsplit(":", 1)): v for k, v in json.loads(period["positions"]).items()}
    out.events = causes(conn, [c["task_id"] for c in out.changed_tasks],
                        [c["report_id"] for c in out.changed_reports], positions,
                        as_of.cut_day, views=views)
    return out


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def positions_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def causes(conn: sa.Connection, task_ids: Sequence[str], report_ids: Sequence[str],
           positions: dict[tuple[str, str], int], cut_day: date, *,
           views: ProjectionTables = VIEWS) -> list[dict[str, Any]]:
    """Events recorded after the close, dated inside the period, about these tasks/reports."""
    e, links = views.events, views.event_tasks
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(list(task_ids)):
        linked = sa.select(links.c.event_id).where(links.c.task_id.in_(chunk))
        rows = conn.execute(sa.select(e).where(
            sa.or_(e.c.task_id.in_(chunk), e.c.event_id.in_(linked)),
            e.c.business_day < cut_day)).mappings()
        found.update({r["event_id"]: dict(r) for r in rows})
    for chunk in chunks(list(report_ids)):
        rows = conn.execute(sa.select(e).where(e.c.subject.in_(chunk),
                                               e.c.business_day < cut_day)).mappings()
        found.update({r["event_id"]: dict(r) for r in rows})
    after = [r for r in found.values()
             if r["kafka_offset"] > positions.get((r["topic"], str(r["partition"])), -1)]
    for r in after:  # the sentences are rendered when read (docs/adr/0010)
        r["what_vi"], r["what_en"] = render(r["event_type"], r["payload"])
    return sorted(after, key=lambda r: (r["topic"], r["partition"], r["kafka_offset"]))
