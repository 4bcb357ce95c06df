"""What people ask the read models: scorecards (as of any moment, frozen or restated), a
unit's years side by side, a task's history, the task board. The API and the command line
both call these; they hold no SQL of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from dondoc_platform.clock import Clock, SystemClock, VN_TZ

from dondoc_analytics.domain.names import match_key
from dondoc_analytics.domain.timeliness import (
    CARRY_FIGURES,
    CATEGORY_FIGURES,
    REPORT_FIGURES,
    REVIEW_FIGURES,
    TASK_FIGURES,
    AsOf,
    ReportScorecard,
    TaskScorecard,
    check_as_of,
)
from dondoc_analytics.domain.wording import (
    STATUS_LABELS,
    figure_definition,
    figure_label,
    kind_label,
    render,
)
from dondoc_analytics.projections import frozen, queries
from dondoc_analytics.projections.queries import Grouping, YearAsOf
from dondoc_analytics.projections.schema import VIEWS

SECRECY_ORDER = ["thuong", "mat", "toi_mat", "tuyet_mat"]


def figures_of(task: TaskScorecard, report: ReportScorecard | None) -> dict[str, Any]:
    out: dict[str, Any] = dict(task.figures())
    out.update((report or ReportScorecard()).figures())
    return out


@dataclass
class Row:
    key: str
    name: str
    figures: dict[str, Any]
    restated: dict[str, Any] | None = None


@dataclass
class Scorecard:
    year: int
    as_of: datetime
    grouping: Grouping
    rows: list[Row]
    total: Row
    with_reports: bool
    period: dict[str, Any] | None = None
    restatement: dict[str, Any] | None = None

    @property
    def figure_names(self) -> tuple[str, ...]:
        extra = REPORT_FIGURES + REVIEW_FIGURES if self.with_reports else ()
        return TASK_FIGURES + extra


@dataclass
class History:
    task: dict[str, Any]
    state_now: dict[str, Any] | None
    periods: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)


class NotFound(LookupError):
    pass


class NotCleared(PermissionError):
    pass


class NameBook:
    """Unit names as they were written at each moment (a renamed unit keeps its old name
    in the figures and histories of the years before)."""

    def __init__(self, versions: dict[str, list[dict[str, Any]]]) -> None:
        self.versions = versions

    @classmethod
    def load(cls, conn: sa.Connection, unit_ids: Sequence[str]) -> NameBook:
        u = VIEWS.unit_versions
        found: dict[str, list[dict[str, Any]]] = {}
        ids = sorted(set(i for i in unit_ids if i))
        for start in range(0, len(ids), 500):
            rows = conn.execute(sa.select(u).where(u.c.unit_id.in_(ids[start:start + 500])).order_by(
                u.c.unit_id, u.c.day, u.c.topic, u.c.partition, u.c.kafka_offset)).mappings()
            for row in rows:
                found.setdefault(row["unit_id"], []).append(dict(row))
        return cls(found)

    def entry(self, unit_id: str, cut_day: date | None = None) -> dict[str, Any] | None:
        versions = self.versions.get(unit_id)
        if not versions:
            return None
        chosen = versions[0]
        for version in versions:
            day = version["day"] if isinstance(version["day"], date) else date.fromisoformat(version["day"])
            if cut_day is None or day < cut_day:
                chosen = version
        return chosen

    def name(self, unit_id: str, cut_day: date | None = None) -> str:
        entry = self.entry(unit_id, cut_day)
        return entry["name"] if entry else unit_id

    def names_at(self, cut_day: date | None) -> dict[str, str]:
        return {unit_id: self.name(unit_id, cut_day) for unit_id in self.versions}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Reading:
    def __init__(self, engine: sa.Engine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()

    def as_of(self, year: int, moment: datetime | None) -> AsOf:
        as_of = AsOf(moment) if moment is not None else AsOf.for_year(year, self.clock.now())
        check_as_of(year, as_of)
        return as_of

    # -- scorecards -----------------------------------------------------------------------

    def scorecard(self, year: int, *, as_of: datetime | None = None,
                  by: Grouping = Grouping.UNIT, units: Sequence[str] | None = None,
                  review_group: str | None = None) -> Scorecard:
        moment = self.as_of(year, as_of)
        column = YearAsOf(year, moment)
        with_reports = by in (Grouping.UNIT, Grouping.REVIEW_GROUP)
        key_filter = match_key(review_group) if review_group and by is Grouping.REVIEW_GROUP else None
        with self.engine.connect() as conn:
            groups = queries.task_scorecards(conn, [column], by, units=units, group_key=key_filter)
            reports = queries.report_scorecards(conn, [column], units=units) if with_reports else {}
            unit_ids = {g.group_key for g in groups} if by is Grouping.UNIT else set()
            unit_ids |= {unit for (_, unit) in reports}
            names = NameBook.load(conn, sorted(unit_ids))
            rows = self._rows(by, groups, reports, names, moment, key_filter)
            period = frozen.closed_period(conn, year)
            card = Scorecard(year, moment.local(), by, rows, _total(rows), with_reports)
            if period is not None and _utc(period["as_of"]) == moment.moment:
                self._beside_frozen(conn, card, period, units)
        return card

    def _rows(self, by: Grouping, groups, reports, names: NameBook, moment: AsOf,
              key_filter: str | None) -> list[Row]:
        cards: dict[str, tuple[str, TaskScorecard, ReportScorecard | None]] = {}
        for g in groups:
            name = names.name(g.group_key, moment.cut_day) if by is Grouping.UNIT else g.group_name
            cards[g.group_key] = (name, g.task, None)
        if by is Grouping.UNIT:
            for (_, unit_id), report in reports.items():
                name, task, _ = cards.get(unit_id, (names.name(unit_id, moment.cut_day),
                                                    TaskScorecard(), None))
                cards[unit_id] = (name, task, report)
        elif by is Grouping.REVIEW_GROUP:
            for (_, unit_id), report in reports.items():
                entry = names.entry(unit_id, moment.cut_day)
                group = entry.get("review_group") if entry else None
                key = match_key(group) if group else ""
                if key_filter is not None and key != key_filter:
                    continue
                name, task, sofar = cards.get(key, (group or queries.UNCLASSIFIED, TaskScorecard(), None))
                total = sofar or ReportScorecard()
                total.add(report)
                cards[key] = (name, task, total)
        with_reports = by in (Grouping.UNIT, Grouping.REVIEW_GROUP)
        rows = []
        for key, (name, task, report) in cards.items():
            figures = figures_of(task, report) if with_reports else dict(task.figures())
            rows.append(Row(key, name, figures))
        return sorted(rows, key=lambda r: (r.name.casefold(), r.key))

    def _beside_frozen(self, conn: sa.Connection, card: Scorecard, period: dict[str, Any],
                       units: Sequence[str] | None) -> None:
        """A closed year at its close moment: the frozen figures, the current ones beside."""
        frozen_rows = {f.group_key: f for f in frozen.frozen_figures(conn, card.year, card.grouping)}
        live = {r.key: r for r in card.rows}
        rows = []
        for key in sorted(set(frozen_rows) | set(live)):
            if units is not None and card.grouping is Grouping.UNIT and key not in units:
                continue
            kept = frozen_rows.get(key)
            now = live.get(key)
            empty = figures_of(TaskScorecard(), ReportScorecard())  # a group unknown then or now
            figures = {n: (kept.figures if kept else empty).get(n) for n in card.figure_names}
            current = {n: (now.figures if now else empty).get(n) for n in card.figure_names}
            restated = current if any(figures.get(n) != current.get(n) for n in card.figure_names) \
                else None
            name = now.name if now else (kept.group_name if kept else key)
            rows.append(Row(key, name, figures, restated))
        card.rows = sorted(rows, key=lambda r: (r.name.casefold(), r.key))
        card.total = _total(card.rows)
        current_total = _total([Row(r.key, r.name, r.restated or r.figures) for r in card.rows])
        if current_total.figures != card.total.figures:  # the total is restated beside it too
            card.total.restated = current_total.figures
        card.period = {k: period[k] for k in ("period_id", "closed_by", "digest", "key_id",
                                              "signature")}
        card.period["closed_at"] = _utc(period["closed_at"])
        card.period["as_of"] = _utc(period["as_of"])
        restatement = frozen.restatement(conn, card.year)
        if restatement is not None and restatement.restated:
            names = NameBook.load(conn, [e["unit_id"] for e in restatement.events if e["unit_id"]])
            card.restatement = {
                "changed_tasks": restatement.changed_tasks,
                "changed_reports": restatement.changed_reports,
                "events": [self._event_view(e, names) for e in restatement.events],
            }

    def unit_years(self, unit_id: str, first: int, last: int) -> list[dict[str, Any]]:
        """One unit's scorecards year by year (each year as of its end, or now)."""
        now = self.clock.now()
        columns = [YearAsOf(y, AsOf.for_year(y, now)) for y in range(first, last + 1)]
        with self.engine.connect() as conn:
            tasks = {g.year: g.task for g in
                     queries.task_scorecards(conn, columns, Grouping.UNIT, units=[unit_id])}
            reports = queries.report_scorecards(conn, columns, units=[unit_id])
            names = NameBook.load(conn, [unit_id])
        out = []
        for column in columns:
            figures = figures_of(tasks.get(column.year, TaskScorecard()),
                                 reports.get((column.year, unit_id)))
            out.append({"year": column.year, "as_of": column.as_of.local(),
                        "name": names.name(unit_id, column.as_of.cut_day), "figures": figures})
        return out

    # -- a task's history -----------------------------------------------------------------

    def history(self, task_id: str, *, clearance: str = "tuyet_mat",
                unit_id: str | None = None) -> History:
        v = VIEWS
        with self.engine.connect() as conn:
            task = conn.execute(sa.select(v.tasks).where(v.tasks.c.task_id == task_id)).mappings().first()
            e, links = v.events, v.event_tasks
            events = [dict(r) for r in conn.execute(history_events(
                e, links, task_id, task["directive_id"] if task is not None else None)).mappings()]
            if task is None and not events:
                raise NotFound(task_id)
            if task is not None and SECRECY_ORDER.index(task["secrecy"]) > SECRECY_ORDER.index(clearance):
                raise NotCleared(task_id)
            periods = [dict(r) for r in conn.execute(sa.select(v.task_periods).where(
                v.task_periods.c.task_id == task_id).order_by(v.task_periods.c.valid_from)).mappings()]
            if unit_id is not None and not _concerns_unit(task, periods, unit_id):
                raise NotCleared(task_id)
            unit_ids = [r["unit_id"] for r in events] + [p["lead_unit_id"] for p in periods]
            names = NameBook.load(conn, [u for u in unit_ids if u])
        events.sort(key=lambda r: (str(r["business_day"]), str(r["occurred_at"]), r["service"],
                                   r["position"] or 0))
        now = AsOf(self.clock.now())
        state = self._state(periods, now, names)
        return History(dict(task) if task else {"task_id": task_id}, state,
                       [self._period_view(p, names) for p in periods],
                       [self._event_view(r, names) for r in events])

    def _state(self, periods: list[dict[str, Any]], as_of: AsOf, names: NameBook) -> dict[str, Any] | None:
        from dondoc_analytics.domain.timeliness import Terminal, TaskState, category, days_past
        from dondoc_analytics.projections.rows import _as_date

        for p in periods:
            start, end = _as_date(p["valid_from"]), _as_date(p["valid_until"])
            if start <= as_of.cut_day and (end is None or as_of.cut_day < end):
                state = TaskState(p["lead_unit_id"], _as_date(p["assigned_on"]), _as_date(p["due_on"]),
                                  _as_date(p["original_due_on"]),
                                  Terminal(p["terminal"]) if p["terminal"] else None,
                                  _as_date(p["terminal_on"]))
                status = category(state, as_of).value
                original = category(state, as_of, original=True).value
                return {"as_of": as_of.local(), "status": status,
                        "status_vi": STATUS_LABELS[status][0], "status_en": STATUS_LABELS[status][1],
                        "status_original": original, "lead_unit_id": state.lead_unit_id,
                        "lead_unit": names.name(state.lead_unit_id, as_of.cut_day),
                        "due_on": state.due_on, "original_due_on": state.original_due_on,
                        "days_overdue": days_past(state, as_of),
                        "terminal_on": state.terminal_on}
        return None

    def _period_view(self, p: dict[str, Any], names: NameBook) -> dict[str, Any]:
        out = dict(p)
        out["lead_unit"] = names.name(p["lead_unit_id"])
        return out

    def _event_view(self, row: dict[str, Any], names: NameBook) -> dict[str, Any]:
        day = row["business_day"] if isinstance(row["business_day"], date) \
            else date.fromisoformat(str(row["business_day"]))
        what_vi, what_en = render(row["event_type"], row["payload"],
                                  names.names_at(day + timedelta(days=1)))
        occurred = _utc(row["occurred_at"]) if isinstance(row["occurred_at"], datetime) \
            else _utc(datetime.fromisoformat(str(row["occurred_at"])))
        return {
            "event_id": row["event_id"], "type": row["event_type"], "service": row["service"],
            "position": row["position"], "business_day": day,
            "occurred_at": occurred.astimezone(VN_TZ),
            "who": row["actor_name"] or row["actor_id"], "role": row["actor_role"],
            "actor_unit_id": row["actor_unit_id"], "what_vi": what_vi, "what_en": what_en,
            "topic": row["topic"], "partition": row["partition"], "offset": row["kafka_offset"],
            "audit_hash": row["audit_hash"],
        }

    # -- the board ------------------------------------------------------------------------

    def board(self, *, as_of: datetime | None = None, units: Sequence[str] | None = None,
              status: str | Sequence[str] | None = None, review_group: str | None = None,
              domain: str | None = None, key_task: bool | None = None,
              year: int | None = None, membership: str | None = None,
              clearance: str = "thuong", offset: int = 0, limit: int = 100,
              cooperating: Sequence[str] | None = None) -> tuple[list[dict], AsOf]:
        """The task board at T: each task's status, and how often its lead unit asked for an
        adjustment and its deadline was adjusted by then. With `year`: only year Y's workload
        (assigned ∪ carried_over, metrics.md), each task with its `membership`; T defaults to
        the year's as-of moment then. `cooperating`: the cooperating view of metrics.md, the
        tasks these units were assigned to cooperate on (never counted in their own task
        scorecard), each with its lead unit's status."""
        moment = self.as_of(year, as_of) if year is not None else AsOf(as_of or self.clock.now())
        p, t = VIEWS.task_periods, VIEWS.tasks
        o = moment.overdue_day
        status_expr = queries.status_case(p, o)
        allowed = SECRECY_ORDER[: SECRECY_ORDER.index(clearance) + 1]
        counted = queries.adjustment_counts(p.c.task_id, moment.cut_day)
        columns = [t, p.c.lead_unit_id, p.c.due_on, p.c.original_due_on, p.c.terminal_on,
                   status_expr.label("status"),
                   queries.status_case(p, o, original=True).label("status_original"), *counted]
        if year is not None:
            membership_expr = sa.case((p.c.assigned_on >= date(year, 1, 1), "assigned"),
                                      else_="carried_over")
            columns.append(membership_expr.label("membership"))
        statement = (
            sa.select(*columns)
            .select_from(p.join(t, t.c.task_id == p.c.task_id))
            .where(p.c.valid_from <= moment.cut_day,
                   sa.or_(p.c.valid_until.is_(None), p.c.valid_until > moment.cut_day),
                   p.c.secrecy.in_(allowed))
            .order_by(p.c.due_on.is_(None), p.c.due_on, t.c.task_id)
            .offset(offset).limit(limit + 1))
        if year is not None:
            statement = statement.where(queries.in_workload(p, year))
            if membership:
                statement = statement.where(membership_expr == membership)
        if units is not None:
            statement = statement.where(p.c.lead_unit_id.in_(list(units)))
        if cooperating is not None:
            listed = sa.literal(",") + t.c.cooperating_unit_ids + sa.literal(",")
            statement = statement.where(sa.or_(sa.false(), *[
                listed.contains(f",{unit_id},", autoescape=True) for unit_id in cooperating]))
        if isinstance(status, str):
            statement = statement.where(status_expr == status)
        elif status:
            statement = statement.where(status_expr.in_(list(status)))
        if review_group:
            statement = statement.where(p.c.review_group_key == match_key(review_group))
        if domain:
            statement = statement.where(p.c.domain == domain)
        if key_task is not None:
            statement = statement.where(p.c.key_task == key_task)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(statement).mappings()]
            names = NameBook.load(conn, [r["lead_unit_id"] for r in rows])
        for row in rows:
            due = row["due_on"] if isinstance(row["due_on"], date) or row["due_on"] is None \
                else date.fromisoformat(row["due_on"])
            row["lead_unit"] = names.name(row["lead_unit_id"], moment.cut_day)
            row["status_vi"], row["status_en"] = STATUS_LABELS[row["status"]]
            row["days_overdue"] = (o - due).days if row["status"] == "open_overdue" else None
        return rows, moment

    # -- the annual review ----------------------------------------------------------------

    def documents(self, year: int, *, as_of: datetime | None = None) -> tuple[list[dict[str, Any]], AsOf]:
        """Documents issued in Y and not revoked at T, counted by review group and kind. A
        document's review group is its own, else the one of its tasks."""
        moment = self.as_of(year, as_of)
        d, t = VIEWS.directives, VIEWS.tasks
        task_group = (sa.select(sa.func.min(t.c.review_group))
                      .where(t.c.directive_id == d.c.directive_id).scalar_subquery())
        statement = (
            sa.select(d.c.kind, sa.func.coalesce(d.c.review_group, task_group).label("review_group"))
            .where(d.c.issued_on >= date(year, 1, 1), d.c.issued_on <= date(year, 12, 31),
                   d.c.issued_on < moment.cut_day,
                   sa.or_(d.c.revoked_on.is_(None), d.c.revoked_on >= moment.cut_day)))
        counts: dict[tuple[str, str], dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(statement).mappings():
                group = row["review_group"] or queries.UNCLASSIFIED
                key = (match_key(group), row["kind"] or "")
                entry = counts.setdefault(key, {"review_group_key": key[0], "review_group": group,
                                                "kind": row["kind"], "documents": 0})
                entry["documents"] += 1
        rows = sorted(counts.values(), key=lambda r: (r["review_group_key"], r["kind"] or ""))
        for row in rows:
            row["kind_vi"], row["kind_en"] = kind_label(row["kind"])
        return rows, moment

    def carry_over(self, year: int, *, as_of: datetime | None = None) -> tuple[list[dict[str, Any]], AsOf]:
        """Year Y's carried-over tasks by the year they were assigned: their standing at T,
        and of those still open, how many were ever asked to be adjusted or adjusted."""
        moment = self.as_of(year, as_of)
        p = VIEWS.task_periods
        o = moment.overdue_day
        requests, adjustments = queries.adjustment_counts(p.c.task_id, moment.cut_day)
        open_ = p.c.terminal.is_(None)
        origin = sa.extract("year", p.c.assigned_on) if self.engine.dialect.name == "postgresql" \
            else sa.cast(sa.func.strftime("%Y", p.c.assigned_on), sa.Integer)

        def count(condition: sa.ColumnElement[bool], name: str) -> sa.Label:
            return sa.func.sum(sa.case((condition, 1), else_=0)).label(name)

        status = queries.status_case(p, o)
        statement = (
            sa.select(origin.label("origin_year"), sa.func.count().label("carried_over"),
                      *[count(status == name, name) for name in CATEGORY_FIGURES],
                      count(open_, "carried_open"),
                      count(open_ & (requests.element > 0), "adjustment_requested"),
                      count(open_ & (adjustments.element > 0), "deadline_adjusted"),
                      count(open_ & (requests.element == 0) & (adjustments.element == 0), "never_adjusted"))
            .where(p.c.valid_from <= moment.cut_day,
                   sa.or_(p.c.valid_until.is_(None), p.c.valid_until > moment.cut_day),
                   queries.in_workload(p, year), p.c.assigned_on < date(year, 1, 1))
            .group_by(origin).order_by(origin))
        with self.engine.connect() as conn:
            rows = [{k: int(v or 0) for k, v in r.items()} for r in conn.execute(statement).mappings()]
        return rows, moment

    def annual_review(self, year: int, *, as_of: datetime | None = None,
                      clearance: str = "tuyet_mat") -> dict[str, Any]:
        """Every figure of the annual review of year Y as of T, each section with its own
        figures by name (their definitions in `definitions`): documents and tasks by review
        group, results by status, the units' reports, overdue and late tasks by domain with
        the key tasks, the tasks carried over from earlier years."""
        moment = self.as_of(year, as_of)
        at = moment.moment
        by_unit = self.scorecard(year, as_of=at, by=Grouping.UNIT)
        by_group = self.scorecard(year, as_of=at, by=Grouping.REVIEW_GROUP)
        by_domain = self.scorecard(year, as_of=at, by=Grouping.DOMAIN)
        documents, _ = self.documents(year, as_of=at)
        carried, _ = self.carry_over(year, as_of=at)
        key_tasks = self._all(as_of=at, year=year, key_task=True, clearance=clearance,
                              status=("open_overdue", "completed_late"))
        carried_open = self._all(as_of=at, year=year, membership="carried_over", clearance=clearance,
                                 status=("open_in_time", "open_overdue", "open_no_deadline"))

        def rows(card: Scorecard) -> list[dict[str, Any]]:
            return [{"key": r.key, "name": r.name, "figures": r.figures, "restated": r.restated}
                    for r in card.rows]

        units = rows(by_unit)
        well = [u for u in units if u["figures"].get("reports_due")
                and u["figures"]["reports_on_time"] == u["figures"]["reports_specific"]
                == u["figures"]["reports_due"]]
        late = [u for u in units if (u["figures"].get("reports_late") or 0)
                + (u["figures"].get("reports_missing") or 0) > 0]
        carried_total = {name: sum(r[name] for r in carried) for name in
                         ("carried_over", *CATEGORY_FIGURES, *CARRY_FIGURES)}
        names = [*TASK_FIGURES, *REPORT_FIGURES, *REVIEW_FIGURES, "documents", "reported_well",
                 "reported_late_or_missing", "key_tasks", *CARRY_FIGURES]
        return {
            "year": year, "as_of": moment.local(), "generated_at": self.clock.now().astimezone(VN_TZ),
            "frozen": by_unit.period, "restatement": by_unit.restatement,
            "documents": {"rows": documents, "total": sum(r["documents"] for r in documents)},
            "by_review_group": {"rows": rows(by_group), "total": by_group.total.figures},
            "by_unit": {"rows": units, "total": by_unit.total.figures},
            "by_domain": {"rows": rows(by_domain), "total": by_domain.total.figures},
            "reported_well": well, "reported_late_or_missing": late,
            "key_tasks": key_tasks,
            "carry_over": {"by_origin_year": carried, "total": carried_total, "open_tasks": carried_open},
            "definitions": {n: dict(zip(("vi", "en"), figure_definition(n), strict=True)) for n in names},
            "labels": {n: dict(zip(("vi", "en"), figure_label(n), strict=True)) for n in names},
        }

    def _all(self, **filters: Any) -> list[dict[str, Any]]:
        """Every row of a board query (paged through)."""
        out: list[dict[str, Any]] = []
        while True:
            rows, _ = self.board(offset=len(out), limit=1000, **filters)
            out += rows[:1000]
            if len(rows) <= 1000:
                return out


def _concerns_unit(task: Any, periods: list[dict[str, Any]], unit_id: str) -> bool:
    if any(p["lead_unit_id"] == unit_id for p in periods):
        return True
    return bool(task) and unit_id in (task["cooperating_unit_ids"] or "").split(",")


def _total(rows: list[Row]) -> Row:
    task = TaskScorecard()
    report = ReportScorecard()
    for row in rows:
        task.add(TaskScorecard.from_figures(row.figures))
        report.add(ReportScorecard(**{k: int(row.figures.get(k) or 0)
                                      for k in ReportScorecard.__dataclass_fields__}))
    figures = figures_of(task, report)
    if rows and "reports_due" not in rows[0].figures:
        figures = dict(task.figures())
    return Row("", "Tổng cộng", figures)


def history_events(events: sa.Table, links: sa.Table, task_id: str, directive_id: str | None):
    """A task's events: its own, those linked to it (reports), and its directive's own.

    Three lookups, each by its own index, united: one `OR` of them (a sub-plan in an `OR`)
    made PostgreSQL scan the whole events table for every history."""
    e = events
    lookups = [sa.select(e).where(e.c.task_id == task_id),
               sa.select(e).join(links, links.c.event_id == e.c.event_id)
               .where(links.c.task_id == task_id)]
    if directive_id is not None:
        lookups.append(sa.select(e).where(e.c.directive_id == directive_id, e.c.task_id.is_(None)))
    return sa.union(*lookups)
