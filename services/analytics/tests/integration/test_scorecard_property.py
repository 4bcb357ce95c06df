"""Property: for random histories (assignments, reassignments, adjustments, completions,
withdrawals, reports with returns, events arriving in any order as back-dated imports do,
as-of moments anywhere, midnight or not, and the clock moved to them: "now"), the scorecards the read models give equal a
straightforward recomputation from the raw events, and the invariant of metrics.md holds.

The events go through the real broker into PostgreSQL. The recomputation below shares no
code with the service (nor with the platform's calendar): it walks each task's events with
datetimes, exactly as metrics.md words it.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dondoc_contracts import events as ev
from dondoc_contracts.values import Verdict
from dondoc_platform.clock import VN_TZ, ManualClock

from dondoc_analytics.application.reading import Reading
from dondoc_analytics.bootstrap import Parts, Settings
from dondoc_analytics.projections.queries import Grouping
from services.analytics.tests import support as s

pytestmark = pytest.mark.integration

FIRST = date(2016, 1, 1)
SPAN = 4 * 365
NOW = datetime(2020, 3, 1, 10, tzinfo=VN_TZ)


REVIEW_GROUPS = ("Kinh tế - xã hội", "Mặt trận, đoàn thể")


def day(offset: int) -> date:
    return FIRST + timedelta(days=offset)


# --------------------------------------------------------------------------- histories


@st.composite
def task_history(draw, task_id: str, units: list[str]) -> list[ev.ContractEvent]:
    lead = draw(st.sampled_from(units))
    start = draw(st.integers(0, SPAN - 200))
    due = draw(st.one_of(st.none(), st.integers(start, start + 400).map(day)))
    out: list[ev.ContractEvent] = [s.assigned(task_id, lead, day(start), due,
                                              review_group=draw(st.sampled_from(REVIEW_GROUPS)))]
    for _ in range(draw(st.integers(0, 3))):
        when = day(draw(st.integers(start, start + 500)))
        kind = draw(st.sampled_from(["reassign", "adjust", "complete", "withdraw"]))
        if kind == "reassign":
            new = draw(st.sampled_from(units))
            out.append(s.reassigned(task_id, lead, new, when))
            lead = new
        elif kind == "adjust":
            out.append(s.adjusted(task_id, lead, when,
                                  draw(st.one_of(st.none(), st.integers(start, start + 600).map(day)))))
        elif kind == "complete":
            out.append(s.completed(task_id, lead, when))
        else:
            out.append(s.withdrawn(task_id, lead, when))
    return out


@st.composite
def report_history(draw, report_id: str, units: list[str]) -> list[ev.ContractEvent]:
    unit = draw(st.sampled_from(units))
    due = draw(st.integers(30, SPAN))
    asked = day(due - draw(st.integers(-400, 60)))  # after the due day: the office's past records
    out: list[ev.ContractEvent] = [s.requested(report_id, unit, day(due), on=asked)]
    submitted = due + draw(st.integers(-20, 60))
    for revision in range(1, draw(st.integers(0, 3)) + 1):
        out.append(s.submitted(report_id, unit, day(submitted), revision, year=day(due).year))
        out.append(s.reviewed(report_id, unit, day(submitted + 5),
                              draw(st.sampled_from([Verdict.RETURNED, Verdict.ACCEPTED])),
                              revision, year=day(due).year,
                              qualities=draw(st.lists(st.sampled_from(["specific", "generic"]),
                                                      min_size=1, max_size=3))))
        submitted += draw(st.integers(1, 30))
    return out


@dataclass
class Example:
    units: list[str]
    events: list[ev.ContractEvent]
    moments: list[datetime]


counter = itertools.count()


@st.composite
def examples(draw) -> Example:
    n = next(counter)
    units = [f"x{n}-u{i}" for i in range(draw(st.integers(1, 3)))]
    events: list[ev.ContractEvent] = []
    for t in range(draw(st.integers(1, 8))):
        events += draw(task_history(f"x{n}-t{t}", units))
    for r in range(draw(st.integers(0, 4))):
        events += draw(report_history(f"x{n}-r{r}", units))
    # back-dated imports: the order events reach the broker is any order…
    order = draw(st.permutations(range(len(events))))
    # …except that a service's relay keeps each aggregate's own events in its log order,
    # which is also their order on the aggregate's partition: the fold's tie-break.
    arrival = [events[i] for i in order]
    moments = draw(st.lists(st.one_of(
        st.integers(1, SPAN + 60).map(lambda d: datetime.combine(day(d), time(0), tzinfo=VN_TZ)),
        st.tuples(st.integers(1, SPAN + 60), st.integers(1, 23)).map(
            lambda p: datetime.combine(day(p[0]), time(p[1]), tzinfo=VN_TZ))),
        min_size=1, max_size=3))
    return Example(units, arrival, moments)


# --------------------------------------------------------------------------- the recomputation


def is_overdue(deadline: date, moment: datetime) -> bool:
    """metrics.md: due at the end of D, overdue from D+1 00:00 local time."""
    return moment >= datetime.combine(deadline + timedelta(days=1), time(0), tzinfo=VN_TZ)


def starts_before(day_: date, moment: datetime) -> bool:
    """A fact dated `day_` is in effect at `moment` once that day has begun before it."""
    return datetime.combine(day_, time(0), tzinfo=VN_TZ) < moment


def expected(example: Example, year: int, moment: datetime, *, by_review_group: bool = False
             ) -> dict[str, dict[str, int | float | None]]:
    """Figures by lead unit (task and report figures), or by the task's own review group
    (task figures)."""
    tasks: dict[str, list[tuple[date, int, ev.ContractEvent]]] = {}
    for arrival, e in enumerate(example.events):
        if hasattr(e, "task_id") and e.event_type.startswith("Task"):
            tasks.setdefault(e.task_id, []).append((_day_of(e), arrival, e))
    out: dict[str, dict[str, int | float | None]] = {}
    year_start, year_end = date(year, 1, 1), date(year, 12, 31)
    for items in tasks.values():
        lead = assigned_on = due = original = group = None
        ended: tuple[str, date] | None = None
        for when, _, e in sorted((i for i in items if starts_before(i[0], moment)),
                                 key=lambda i: (i[0], i[1])):
            if isinstance(e, ev.TaskAssigned) and assigned_on is None:
                lead, assigned_on, due, original = e.lead_unit_id, e.assigned_on, e.due_on, e.due_on
                group = e.review_group
            elif isinstance(e, ev.TaskReassigned):
                lead = e.lead_unit_id
            elif isinstance(e, ev.TaskDeadlineAdjusted):
                due = e.due_on
            elif isinstance(e, ev.TaskCompleted | ev.TaskWithdrawn) and ended is None:
                ended = ("completed" if isinstance(e, ev.TaskCompleted) else "withdrawn", when)
        if assigned_on is None:
            continue
        if year_start <= assigned_on <= year_end:
            member = "assigned"
        elif assigned_on < year_start and (ended is None or ended[1] >= year_start):
            member = "carried_over"
        else:
            continue
        figures = out.setdefault(group if by_review_group else lead, _zero())
        figures[member] += 1
        for deadline, suffix in ((due, ""), (original, "_original")):
            if ended and ended[0] == "withdrawn":
                figures["withdrawn"] += 1 if suffix == "" else 0
                continue
            if ended:
                on_time = deadline is None or ended[1] <= deadline
                figures[("completed_on_time" if on_time else "completed_late") + suffix] += 1
            elif deadline is None:
                figures["open_no_deadline" + suffix] += 1
            elif is_overdue(deadline, moment):
                figures["open_overdue" + suffix] += 1
                days = (moment.astimezone(VN_TZ).date() - deadline).days
                bucket = ("overdue_1_30" if days <= 30 else "overdue_31_90" if days <= 90
                          else "overdue_91_120" if days <= 120 else "overdue_over_120")
                figures[bucket + suffix] += 1
            else:
                figures["open_in_time" + suffix] += 1
    for figures in out.values():
        for suffix in ("", "_original"):
            cot = figures["completed_on_time" + suffix]
            due_ = cot + figures["completed_late" + suffix] + figures["open_overdue" + suffix]
            all_ = figures["assigned"] + figures["carried_over"] - figures["withdrawn"]
            figures["on_time_rate_of_due" + suffix] = cot / due_ if due_ else None
            figures["on_time_rate_of_all" + suffix] = cot / all_ if all_ else None
    if not by_review_group:
        _reports(example, year, moment, out)
    return out


def _reports(example: Example, year: int, moment: datetime, out: dict) -> None:
    obligations: dict[str, dict] = {}
    for e in example.events:
        if isinstance(e, ev.ReportRequested) and starts_before(
                min(e.occurred_at.astimezone(VN_TZ).date(), e.due_on), moment):
            obligations.setdefault(e.report_id, {})["request"] = e
        elif isinstance(e, ev.ReportSubmitted):
            obligations.setdefault(e.report_id, {}).setdefault("submitted", []).append(e.submitted_on)
        elif isinstance(e, ev.ReportReviewed) and starts_before(e.reviewed_on, moment):
            obligations.setdefault(e.report_id, {}).setdefault("reviews", []).append(e)
    for item in obligations.values():
        request = item.get("request")
        if request is None or request.due_on.year != year:
            continue
        figures = out.setdefault(request.unit_id, _zero())
        figures["reports_due"] += 1
        first = min(item.get("submitted", []), default=None)
        if first is not None and starts_before(first, moment):
            figures["reports_on_time" if first <= request.due_on else "reports_late"] += 1
        elif is_overdue(request.due_on, moment):
            figures["reports_missing"] += 1
        else:
            figures["reports_pending"] += 1
        reviews = sorted(item.get("reviews", []), key=lambda r: r.reviewed_on)
        if reviews:  # the latest verdict (same-day reviews: the later revision, sent later)
            latest = max(reviews, key=lambda r: (r.reviewed_on, r.revision))
            figures["reports_accepted" if latest.outcome is Verdict.ACCEPTED else "reports_returned"] += 1
            generic = any(line.quality.value == "generic" for line in latest.lines)
            figures["reports_generic" if generic else "reports_specific"] += 1


def _day_of(e: ev.ContractEvent) -> date:
    for name in ("assigned_on", "reassigned_on", "completed_on", "withdrawn_on"):
        if hasattr(e, name):
            return getattr(e, name)
    return e.decision.decided_on


def _zero() -> dict[str, int | float | None]:
    names = ["assigned", "carried_over", "withdrawn"]
    for suffix in ("", "_original"):
        names += [n + suffix for n in ("completed_on_time", "completed_late", "open_in_time",
                                       "open_overdue", "open_no_deadline", "overdue_1_30",
                                       "overdue_31_90", "overdue_91_120", "overdue_over_120")]
    names += ["reports_due", "reports_on_time", "reports_late", "reports_missing",
              "reports_pending", "reports_accepted", "reports_returned", "reports_specific",
              "reports_generic"]
    return dict.fromkeys(names, 0)


# --------------------------------------------------------------------------- the test


@pytest.fixture
def running(postgres_database: str, kafka_bootstrap: str):
    """One database and set of topics for every example; the projection runs in a thread."""
    prefix = s.new_prefix()
    asyncio.run(s.create_topics(kafka_bootstrap, prefix))
    parts = Parts(Settings(store_url=postgres_database, topic_prefix=prefix),
                  clock=ManualClock(NOW), kafka_bootstrap=kafka_bootstrap)
    parts.ensure_schema()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(parts.projection.follow(stop),), daemon=True)
    thread.start()
    yield parts, prefix, {}
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    parts.engine.dispose()


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(example=examples())
def test_scorecards_equal_a_recomputation_from_the_raw_events(running, example: Example) -> None:
    parts, prefix, positions = running

    async def publish_and_wait() -> bool:
        async with s.Publisher(parts.bootstrap, prefix, positions) as publisher:
            await publisher.publish(example.events)
        return await parts.projection.wait_caught_up(60)

    assert asyncio.run(publish_and_wait())
    for moment in example.moments:
        for year in range(2016, moment.astimezone(VN_TZ).year + 1):
            if moment <= datetime(year, 1, 1, tzinfo=VN_TZ):
                continue
            card = parts.reading.scorecard(year, as_of=moment, units=example.units)
            check(card, expected(example, year, moment))
        # the clock at that moment: a year not over is counted as of "now", the year before
        # as of its end
        now = Reading(parts.engine, ManualClock(moment))
        year = moment.astimezone(VN_TZ).year
        if moment > datetime(year, 1, 1, tzinfo=VN_TZ):
            check(now.scorecard(year, units=example.units), expected(example, year, moment))
        check(now.scorecard(year - 1, units=example.units),
              expected(example, year - 1, datetime(year, 1, 1, tzinfo=VN_TZ)))
        # grouped by the task's own review group (the example's units' tasks)
        year = moment.astimezone(VN_TZ).year - 1
        groups = parts.reading.scorecard(year, as_of=moment, by=Grouping.REVIEW_GROUP,
                                         units=example.units)
        got = {row.name: row.figures for row in groups.rows if row.name in REVIEW_GROUPS}
        want = expected(example, year, moment, by_review_group=True)
        for name in REVIEW_GROUPS:
            mine, theirs = got.get(name), want.get(name)
            if theirs is None or not theirs["assigned"] + theirs["carried_over"]:
                assert mine is None or not mine["assigned"] + mine["carried_over"], (name, mine)
                continue
            assert mine is not None, (year, moment, name, theirs)
            assert {n: mine[n] for n in theirs} == pytest.approx(theirs), (year, moment, name)


def check(card, want: dict[str, dict[str, int | float | None]]) -> None:
    """The read models' card equals the recomputation, and the invariant holds."""
    got = {row.key: row.figures for row in card.rows}
    for unit_id in set(got) | set(want):
        mine = got.get(unit_id)
        theirs = want.get(unit_id)
        if theirs is None:  # a unit with nothing in year Y shows only zeros
            assert mine is not None and not any(v for v in mine.values() if v), (unit_id, mine)
            continue
        assert mine is not None, (card.year, card.as_of, unit_id, theirs)
        for name, value in theirs.items():
            assert mine[name] == pytest.approx(value) if isinstance(value, float) \
                else mine[name] == value, (card.year, card.as_of.isoformat(), unit_id, name,
                                           mine[name], value)
        workload = mine["assigned"] + mine["carried_over"]
        for suffix in ("", "_original"):
            six = sum(mine[n + suffix] for n in ("completed_on_time", "completed_late",
                                                 "open_in_time", "open_overdue",
                                                 "open_no_deadline")) + mine["withdrawn"]
            assert six == workload  # the invariant of metrics.md
        assert mine["reports_due"] == sum(mine[n] for n in (
            "reports_on_time", "reports_late", "reports_missing", "reports_pending"))
