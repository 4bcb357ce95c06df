"""The timeliness figures of metrics.md, as pure functions over a task's facts.

Business time. The office records days: an assignment day, a completion day, a decision
day. A fact dated day d is *in effect* at a moment T when d began before T (the start of d
is earlier than T). So "as of 2018-06-30" (the end of that day) sees every fact dated on or
before the 30th, and "now" sees today's facts. Everything below works with two days
derived from T (`AsOf`):

- the cut day K: facts dated before K are in effect at T;
- the overdue day O = the local day of T: a deadline D is past at T when D < O, i.e. when
  T ≥ D+1 00:00 local time (metrics.md: due at the end of D).

At a midnight (the end of a year) K = O; during a day K = O + 1.

A task's history is folded into *periods*: the state after all its facts dated before K
holds for every cut day K with `valid_from <= K < valid_until`. Facts are applied in
business order (day, then log order), never in arrival order, so a back-dated import
changes the periods of the days it belongs to and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from operator import attrgetter
from typing import NamedTuple

from dondoc_platform.calendar import local_day
from dondoc_platform.clock import VN_TZ


# --------------------------------------------------------------------------- as-of moments


@dataclass(frozen=True)
class AsOf:
    """The moment T a figure is computed at, with the two days the queries use."""

    moment: datetime

    def __post_init__(self) -> None:
        if self.moment.tzinfo is None:
            raise ValueError("an as-of moment must carry its time zone")

    @property
    def overdue_day(self) -> date:
        """O: a deadline day D is past at T when D < O."""
        return local_day(self.moment)

    @property
    def cut_day(self) -> date:
        """K: a fact dated d is in effect at T when d < K."""
        local = self.moment.astimezone(VN_TZ)
        return local.date() if local.time() == time(0) else local.date() + timedelta(days=1)

    @classmethod
    def end_of_day(cls, day: date) -> AsOf:
        """The end of `day` (24:00 local time): what "as of 2018-06-30" means."""
        return cls(datetime.combine(day + timedelta(days=1), time(0), tzinfo=VN_TZ))

    @classmethod
    def for_year(cls, year: int, now: datetime) -> AsOf:
        """metrics.md: the end of the year, or now if the year is not over."""
        end = end_of_year(year)
        return cls(min(end, now.astimezone(VN_TZ)))

    def local(self) -> datetime:
        return self.moment.astimezone(VN_TZ)


def start_of_year(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=VN_TZ)


def end_of_year(year: int) -> datetime:
    """Y-12-31 24:00 local time."""
    return datetime(year + 1, 1, 1, tzinfo=VN_TZ)


class AsOfBeforeYear(ValueError):
    """An as-of moment before the start of the year: the year has no workload yet."""


def check_as_of(year: int, as_of: AsOf) -> None:
    if as_of.moment <= start_of_year(year):
        raise AsOfBeforeYear(f"as-of {as_of.local().isoformat()} is not after the start of {year}")


# --------------------------------------------------------------------------- facts and periods


class FactKind(StrEnum):
    ASSIGNED = "assigned"
    REASSIGNED = "reassigned"
    DEADLINE_ADJUSTED = "deadline_adjusted"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


class Terminal(StrEnum):
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


class TaskFact(NamedTuple):
    """What one task event means for the figures, dated by its business day.

    `order` is the event's place in its log (topic, partition, offset): it orders facts of
    the same day. `lead_unit_id` is set by ASSIGNED and REASSIGNED; `due_on` by ASSIGNED
    and DEADLINE_ADJUSTED (None: no deadline); `original_due_on` by ASSIGNED.

    A named tuple, as `TaskState` and `TaskPeriod` are: immutable, read by attribute, and
    made in a fraction of a frozen dataclass's time (a rebuild makes one per task event).
    """

    kind: FactKind
    day: date
    order: tuple[str, int, int]
    lead_unit_id: str | None = None
    due_on: date | None = None
    original_due_on: date | None = None


class TaskState(NamedTuple):
    lead_unit_id: str
    assigned_on: date
    due_on: date | None
    original_due_on: date | None
    terminal: Terminal | None
    terminal_on: date | None


class TaskPeriod(NamedTuple):
    """`state` holds for every cut day K with valid_from <= K < valid_until (None: for ever)."""

    valid_from: date
    valid_until: date | None
    state: TaskState

    def holds_at(self, cut_day: date) -> bool:
        return self.valid_from <= cut_day and (self.valid_until is None or cut_day < self.valid_until)


def fold(facts: Iterable[TaskFact]) -> list[TaskPeriod]:
    """The periods of one task: its state after each business day that changed it
    (`fold_changes`, each holding until the next)."""
    changes = fold_changes(facts)
    last = len(changes) - 1
    return [TaskPeriod(starts, changes[n + 1][0] if n < last else None, state)
            for n, (starts, state) in enumerate(changes)]


def fold_changes(facts: Iterable[TaskFact]) -> list[tuple[date, TaskState]]:
    """The states of one task, each with the cut day it holds from (until the next one's).

    Facts apply in business order: the first assignment sets the lead unit, the assignment
    day and both deadlines (a repeated assignment changes nothing); a reassignment sets the
    lead unit; a deadline adjustment the effective deadline; the first completion or
    withdrawal ends the task. The state after a day's last fact holds from the next day, if
    the task was assigned and the state differs from the one before."""
    lead_unit_id = assigned_on = due_on = original_due_on = terminal = terminal_on = None
    changes: list[tuple[date, TaskState]] = []  # (the day it holds from, the state)
    state = None
    ordered = sorted(facts, key=_BUSINESS_ORDER)
    last = len(ordered) - 1
    for n, fact in enumerate(ordered):
        kind = fact.kind
        if kind is _ASSIGNED:
            if assigned_on is None:  # a repeated assignment changes nothing
                assigned_on = fact.day
                lead_unit_id = fact.lead_unit_id
                due_on = fact.due_on
                original_due_on = (fact.original_due_on if fact.original_due_on is not None
                                   else fact.due_on)
        elif kind is _REASSIGNED:
            lead_unit_id = fact.lead_unit_id
        elif kind is _DEADLINE_ADJUSTED:
            due_on = fact.due_on
        elif terminal is None:  # the first completion or withdrawal ends the task
            terminal = _TERMINAL[kind]
            terminal_on = fact.day
        day = fact.day
        if n < last and ordered[n + 1].day == day:
            continue  # the state after the day's last fact is the one that holds
        if assigned_on is None or lead_unit_id is None:
            continue
        now = TaskState(lead_unit_id, assigned_on, due_on, original_due_on, terminal, terminal_on)
        if now != state:
            changes.append((day + _ONE_DAY, now))
            state = now
    return changes


_ASSIGNED, _REASSIGNED, _DEADLINE_ADJUSTED = (FactKind.ASSIGNED, FactKind.REASSIGNED,
                                              FactKind.DEADLINE_ADJUSTED)
_TERMINAL = {FactKind.COMPLETED: Terminal.COMPLETED, FactKind.WITHDRAWN: Terminal.WITHDRAWN}
_BUSINESS_ORDER = attrgetter("day", "order")
_ONE_DAY = timedelta(days=1)


def state_at(periods: Sequence[TaskPeriod], as_of: AsOf) -> TaskState | None:
    cut = as_of.cut_day
    for period in periods:
        if period.holds_at(cut):
            return period.state
    return None


# --------------------------------------------------------------------------- classification


class Membership(StrEnum):
    ASSIGNED = "assigned"
    CARRIED_OVER = "carried_over"


class Category(StrEnum):
    """The six figures every task of the workload falls in, as of T."""

    COMPLETED_ON_TIME = "completed_on_time"
    COMPLETED_LATE = "completed_late"
    OPEN_IN_TIME = "open_in_time"
    OPEN_OVERDUE = "open_overdue"
    OPEN_NO_DEADLINE = "open_no_deadline"
    WITHDRAWN = "withdrawn"


def membership(state: TaskState, year: int) -> Membership | None:
    """Whether the task is in year Y's workload W = assigned ∪ carried_over.

    `state` is the task's state as of T (T after the start of Y): its terminal day, if any,
    is the first completion or withdrawal in effect at T.
    """
    first, last = date(year, 1, 1), date(year, 12, 31)
    if first <= state.assigned_on <= last:
        return Membership.ASSIGNED
    if state.assigned_on < first and (state.terminal_on is None or state.terminal_on >= first):
        return Membership.CARRIED_OVER
    return None


def category(state: TaskState, as_of: AsOf, *, original: bool = False) -> Category:
    due = state.original_due_on if original else state.due_on
    if state.terminal is Terminal.WITHDRAWN:
        return Category.WITHDRAWN
    if state.terminal is Terminal.COMPLETED:
        assert state.terminal_on is not None
        on_time = due is None or state.terminal_on <= due
        return Category.COMPLETED_ON_TIME if on_time else Category.COMPLETED_LATE
    if due is None:
        return Category.OPEN_NO_DEADLINE
    return Category.OPEN_OVERDUE if due < as_of.overdue_day else Category.OPEN_IN_TIME


class Ageing(StrEnum):
    """Overdue ageing of open overdue tasks: days past the deadline at T."""

    DAYS_1_30 = "overdue_1_30"
    DAYS_31_90 = "overdue_31_90"
    DAYS_91_120 = "overdue_91_120"
    OVER_120 = "overdue_over_120"

    @classmethod
    def of(cls, days: int) -> Ageing:
        if days < 1:
            raise ValueError("an overdue task is at least one day past its deadline")
        if days <= 30:
            return cls.DAYS_1_30
        if days <= 90:
            return cls.DAYS_31_90
        if days <= 120:
            return cls.DAYS_91_120
        return cls.OVER_120


def days_past(state: TaskState, as_of: AsOf, *, original: bool = False) -> int | None:
    """Days past the (effective or original) deadline of an open overdue task, else None."""
    if category(state, as_of, original=original) is not Category.OPEN_OVERDUE:
        return None
    due = state.original_due_on if original else state.due_on
    assert due is not None
    return (as_of.overdue_day - due).days


# --------------------------------------------------------------------------- scorecards


def rate(numerator: int, denominator: int) -> float | None:
    """A rate with a zero denominator is empty: not 0, not 100%."""
    return None if denominator == 0 else numerator / denominator


@dataclass
class Outcomes:
    """The six figures (and the ageing) against one deadline: effective or original."""

    completed_on_time: int = 0
    completed_late: int = 0
    open_in_time: int = 0
    open_overdue: int = 0
    open_no_deadline: int = 0
    withdrawn: int = 0
    overdue_1_30: int = 0
    overdue_31_90: int = 0
    overdue_91_120: int = 0
    overdue_over_120: int = 0

    def add(self, other: Outcomes) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def total(self) -> int:
        return (self.completed_on_time + self.completed_late + self.open_in_time
                + self.open_overdue + self.open_no_deadline + self.withdrawn)


CATEGORY_FIGURES: tuple[str, ...] = tuple(c.value for c in Category)
AGEING_FIGURES: tuple[str, ...] = tuple(a.value for a in Ageing)
RATE_FIGURES: tuple[str, ...] = ("on_time_rate_of_due", "on_time_rate_of_all")
#: Figures that depend on the deadline: shown again against the original one, suffixed.
DEADLINE_FIGURES: tuple[str, ...] = (
    "completed_on_time", "completed_late", "open_in_time", "open_overdue", "open_no_deadline",
    *RATE_FIGURES, *AGEING_FIGURES,
)
ORIGINAL_SUFFIX = "_original"

#: The task scorecard's figures, in the order metrics.md lists them (csv columns).
TASK_FIGURES: tuple[str, ...] = (
    "assigned", "carried_over", *CATEGORY_FIGURES, *RATE_FIGURES, *AGEING_FIGURES,
    *(name + ORIGINAL_SUFFIX for name in DEADLINE_FIGURES),
)
REPORT_FIGURES: tuple[str, ...] = (
    "reports_due", "reports_on_time", "reports_late", "reports_missing", "reports_pending",
)
#: Shown beside the report timeliness, never mixed into it: the review team's latest verdict.
#: The annual review's figures about tasks carried over (see wording.FIGURE_DEFINITIONS).
CARRY_FIGURES: tuple[str, ...] = ("carried_open", "adjustment_requested", "deadline_adjusted",
                                  "never_adjusted")
REVIEW_FIGURES: tuple[str, ...] = ("reports_accepted", "reports_returned", "reports_specific",
                                   "reports_generic")


@dataclass
class TaskScorecard:
    """Year Y's task scorecard of one group (a lead unit, review group, domain…) as of T."""

    assigned: int = 0
    carried_over: int = 0
    effective: Outcomes = field(default_factory=Outcomes)
    original: Outcomes = field(default_factory=Outcomes)

    def count(self, state: TaskState, member: Membership, as_of: AsOf) -> None:
        if member is Membership.ASSIGNED:
            self.assigned += 1
        else:
            self.carried_over += 1
        for outcomes, original in ((self.effective, False), (self.original, True)):
            kind = category(state, as_of, original=original)
            setattr(outcomes, kind.value, getattr(outcomes, kind.value) + 1)
            days = days_past(state, as_of, original=original)
            if days is not None:
                bucket = Ageing.of(days).value
                setattr(outcomes, bucket, getattr(outcomes, bucket) + 1)

    def add(self, other: TaskScorecard) -> None:
        self.assigned += other.assigned
        self.carried_over += other.carried_over
        self.effective.add(other.effective)
        self.original.add(other.original)

    @property
    def workload(self) -> int:
        return self.assigned + self.carried_over

    def invariant_holds(self) -> bool:
        """metrics.md: the six figures add up to assigned + carried_over (for both deadlines)."""
        return self.effective.total() == self.workload == self.original.total()

    def _rates(self, o: Outcomes) -> dict[str, float | None]:
        return {
            "on_time_rate_of_due": rate(o.completed_on_time,
                                        o.completed_on_time + o.completed_late + o.open_overdue),
            "on_time_rate_of_all": rate(o.completed_on_time, self.workload - o.withdrawn),
        }

    def figures(self) -> dict[str, int | float | None]:
        """Every figure by its metrics.md name (rates as fractions 0..1, None if undefined)."""
        out: dict[str, int | float | None] = {"assigned": self.assigned,
                                              "carried_over": self.carried_over}
        for outcomes, suffix in ((self.effective, ""), (self.original, ORIGINAL_SUFFIX)):
            values: dict[str, int | float | None] = {f.name: getattr(outcomes, f.name)
                                                     for f in fields(outcomes)}
            values.update(self._rates(outcomes))
            if suffix:
                out.update({name + suffix: values[name] for name in DEADLINE_FIGURES})
            else:
                out.update(values)
        return {name: out[name] for name in TASK_FIGURES}

    @classmethod
    def from_figures(cls, figures: dict[str, int | float | None]) -> TaskScorecard:
        card = cls(assigned=int(figures.get("assigned") or 0),
                   carried_over=int(figures.get("carried_over") or 0))
        for outcomes, suffix in ((card.effective, ""), (card.original, ORIGINAL_SUFFIX)):
            for f in fields(outcomes):
                name = f.name + suffix if f.name in DEADLINE_FIGURES and suffix else f.name
                setattr(outcomes, f.name, int(figures.get(name) or 0))
        return card


@dataclass
class ReportScorecard:
    """Year Y's report timeliness of one unit as of T, with the review verdicts beside it."""

    reports_due: int = 0
    reports_on_time: int = 0
    reports_late: int = 0
    reports_missing: int = 0
    reports_pending: int = 0
    reports_accepted: int = 0
    reports_returned: int = 0
    reports_specific: int = 0
    reports_generic: int = 0

    def invariant_holds(self) -> bool:
        return self.reports_due == (self.reports_on_time + self.reports_late
                                    + self.reports_missing + self.reports_pending)

    def figures(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def add(self, other: ReportScorecard) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class ReportStanding(StrEnum):
    ON_TIME = "reports_on_time"
    LATE = "reports_late"
    MISSING = "reports_missing"
    PENDING = "reports_pending"


def report_standing(due_on: date, first_submitted_on: date | None, as_of: AsOf) -> ReportStanding:
    """A returned report counts on the day of its first submission (metrics.md)."""
    if first_submitted_on is not None and first_submitted_on < as_of.cut_day:
        return ReportStanding.ON_TIME if first_submitted_on <= due_on else ReportStanding.LATE
    return ReportStanding.MISSING if due_on < as_of.overdue_day else ReportStanding.PENDING
