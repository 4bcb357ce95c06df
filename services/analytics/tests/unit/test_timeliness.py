"""The figures of metrics.md on small, hand-checked histories."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dondoc_analytics.domain.timeliness import (
    Ageing,
    AsOf,
    Category,
    FactKind,
    Membership,
    TaskFact,
    TaskScorecard,
    Terminal,
    category,
    fold,
    membership,
    rate,
    report_standing,
    state_at,
)
from dondoc_analytics.projections.rows import task_rows
from dondoc_platform.clock import VN_TZ

pytestmark = pytest.mark.unit


def fact(kind: FactKind, day: date, offset: int, **kw) -> TaskFact:
    return TaskFact(kind, day, ("dondoc.tasks.v1", 0, offset), **kw)


ASSIGNED = fact(FactKind.ASSIGNED, date(2018, 3, 5), 1, lead_unit_id="BTG",
                due_on=date(2018, 7, 2), original_due_on=date(2018, 7, 2))


def test_as_of_the_end_of_a_day_sees_that_days_facts_and_not_the_next() -> None:
    end = AsOf.end_of_day(date(2018, 12, 31))
    assert end.moment == datetime(2019, 1, 1, tzinfo=VN_TZ)
    assert end.cut_day == date(2019, 1, 1) and end.overdue_day == date(2019, 1, 1)
    midday = AsOf(datetime(2018, 12, 31, 10, tzinfo=VN_TZ))
    assert midday.cut_day == date(2019, 1, 1) and midday.overdue_day == date(2018, 12, 31)
    assert AsOf.for_year(2018, datetime(2018, 6, 1, 8, tzinfo=VN_TZ)).moment.month == 6
    assert AsOf.for_year(2018, datetime(2020, 6, 1, tzinfo=VN_TZ)).moment == end.moment


def test_a_task_completed_on_its_deadline_day_is_on_time_and_the_next_day_late() -> None:
    on_day = fold([ASSIGNED, fact(FactKind.COMPLETED, date(2018, 7, 2), 2)])
    late = fold([ASSIGNED, fact(FactKind.COMPLETED, date(2018, 7, 3), 2)])
    end = AsOf.end_of_day(date(2018, 12, 31))
    assert category(state_at(on_day, end), end) is Category.COMPLETED_ON_TIME
    assert category(state_at(late, end), end) is Category.COMPLETED_LATE


def test_an_adjusted_deadline_changes_the_effective_figures_only() -> None:
    periods = fold([ASSIGNED,
                    fact(FactKind.DEADLINE_ADJUSTED, date(2018, 6, 20), 2, due_on=date(2018, 9, 28)),
                    fact(FactKind.COMPLETED, date(2018, 8, 15), 3)])
    end = AsOf.end_of_day(date(2018, 12, 31))
    state = state_at(periods, end)
    assert category(state, end) is Category.COMPLETED_ON_TIME
    assert category(state, end, original=True) is Category.COMPLETED_LATE
    july = AsOf.end_of_day(date(2018, 7, 10))
    assert category(state_at(periods, july), july) is Category.OPEN_IN_TIME
    assert category(state_at(periods, july), july, original=True) is Category.OPEN_OVERDUE


def test_the_deadline_day_counts_in_full() -> None:
    due_end_of_year = fact(FactKind.ASSIGNED, date(2018, 3, 1), 1, lead_unit_id="U",
                           due_on=date(2018, 12, 31))
    periods = fold([due_end_of_year])
    last_day = AsOf(datetime(2018, 12, 31, 23, 59, tzinfo=VN_TZ))
    end = AsOf.end_of_day(date(2018, 12, 31))
    assert category(state_at(periods, last_day), last_day) is Category.OPEN_IN_TIME
    assert category(state_at(periods, end), end) is Category.OPEN_OVERDUE
    card = TaskScorecard()
    card.count(state_at(periods, end), Membership.ASSIGNED, end)
    assert card.figures()["overdue_1_30"] == 1


def test_the_fold_does_not_depend_on_arrival_order() -> None:
    facts = [ASSIGNED,
             fact(FactKind.REASSIGNED, date(2018, 5, 2), 2, lead_unit_id="BDV"),
             fact(FactKind.DEADLINE_ADJUSTED, date(2018, 6, 20), 3, due_on=date(2018, 9, 28)),
             fact(FactKind.WITHDRAWN, date(2018, 10, 1), 4),
             fact(FactKind.COMPLETED, date(2018, 11, 1), 5)]
    expected = fold(facts)
    for permutation in itertools.permutations(facts):
        assert fold(permutation) == expected
    final = expected[-1].state
    assert final.lead_unit_id == "BDV" and final.terminal_on == date(2018, 10, 1)
    assert category(final, AsOf.end_of_day(date(2018, 12, 31))) is Category.WITHDRAWN


def test_a_back_dated_completion_changes_only_the_days_after_it() -> None:
    before = fold([ASSIGNED])
    after = fold([ASSIGNED, fact(FactKind.COMPLETED, date(2018, 6, 1), 9)])
    may = AsOf.end_of_day(date(2018, 5, 31))
    assert state_at(before, may) == state_at(after, may)
    june = AsOf.end_of_day(date(2018, 6, 1))
    assert category(state_at(after, june), june) is Category.COMPLETED_ON_TIME


def test_carried_over_means_assigned_before_the_year_and_still_open_at_its_start() -> None:
    open_2017 = fold([fact(FactKind.ASSIGNED, date(2017, 5, 1), 1, lead_unit_id="U",
                           due_on=date(2017, 12, 1))])
    done_31_12 = fold([fact(FactKind.ASSIGNED, date(2017, 5, 1), 1, lead_unit_id="U"),
                       fact(FactKind.COMPLETED, date(2017, 12, 31), 2)])
    done_1_1 = fold([fact(FactKind.ASSIGNED, date(2017, 5, 1), 1, lead_unit_id="U"),
                     fact(FactKind.COMPLETED, date(2018, 1, 1), 2)])
    end = AsOf.end_of_day(date(2018, 12, 31))
    assert membership(state_at(open_2017, end), 2018) is Membership.CARRIED_OVER
    assert membership(state_at(done_31_12, end), 2018) is None
    assert membership(state_at(done_1_1, end), 2018) is Membership.CARRIED_OVER
    assert membership(state_at(open_2017, end), 2017) is Membership.ASSIGNED


def test_rates_with_a_zero_denominator_are_empty_and_the_invariant_holds() -> None:
    card = TaskScorecard()
    end = AsOf.end_of_day(date(2018, 12, 31))
    standing = fold([fact(FactKind.ASSIGNED, date(2018, 2, 1), 1, lead_unit_id="U")])
    card.count(state_at(standing, end), Membership.ASSIGNED, end)
    figures = card.figures()
    assert figures["open_no_deadline"] == 1
    assert figures["on_time_rate_of_due"] is None
    assert figures["on_time_rate_of_all"] == 0.0
    assert card.invariant_holds()
    assert rate(0, 0) is None and rate(1, 4) == 0.25
    assert TaskScorecard.from_figures(figures).figures() == figures


@pytest.mark.parametrize(("days", "bucket"), [(1, Ageing.DAYS_1_30), (30, Ageing.DAYS_1_30),
                                              (31, Ageing.DAYS_31_90), (90, Ageing.DAYS_31_90),
                                              (91, Ageing.DAYS_91_120), (120, Ageing.DAYS_91_120),
                                              (121, Ageing.OVER_120)])
def test_ageing_buckets(days: int, bucket: Ageing) -> None:
    assert Ageing.of(days) is bucket


def test_a_report_counts_on_its_first_submission_day() -> None:
    end = AsOf.end_of_day(date(2018, 12, 31))
    assert report_standing(date(2018, 11, 30), date(2018, 11, 28), end).value == "reports_on_time"
    assert report_standing(date(2018, 11, 30), date(2018, 12, 2), end).value == "reports_late"
    assert report_standing(date(2018, 11, 30), None, end).value == "reports_missing"
    nov = AsOf.end_of_day(date(2018, 11, 29))
    assert report_standing(date(2018, 11, 30), date(2018, 12, 2), nov).value == "reports_pending"


# --------------------------------------------------------------------------- the fold's rules


def _reference_fold(facts: list[TaskFact]) -> list[tuple]:
    """The fold as first written (a mutable state object applying each fact, its state
    compared after each business day): the oracle for `fold`, which was rewritten for speed
    (a rebuild folds every task). Periods as plain tuples."""
    lead = assigned_on = due = original = terminal = terminal_on = None
    changes: list[tuple] = []
    ordered = sorted(facts, key=lambda f: (f.day, f.order))
    for n, f in enumerate(ordered):
        if f.kind is FactKind.ASSIGNED:
            if assigned_on is None:
                assigned_on, lead, due = f.day, f.lead_unit_id, f.due_on
                original = f.original_due_on if f.original_due_on is not None else f.due_on
        elif f.kind is FactKind.REASSIGNED:
            lead = f.lead_unit_id
        elif f.kind is FactKind.DEADLINE_ADJUSTED:
            due = f.due_on
        elif terminal is None:
            terminal, terminal_on = f.kind.value, f.day
        if n < len(ordered) - 1 and ordered[n + 1].day == f.day:
            continue
        state = None if assigned_on is None or lead is None else (
            lead, assigned_on, due, original, terminal, terminal_on)
        if state is None or (changes and changes[-1][1] == state):
            continue
        changes.append((f.day + timedelta(days=1), state))
    return [(starts, changes[n + 1][0] if n < len(changes) - 1 else None, state)
            for n, (starts, state) in enumerate(changes)]


_DAYS = st.dates(date(2018, 1, 1), date(2018, 1, 12))
_UNITS = st.none() | st.sampled_from(["BTG", "BDV", "UBND-1"])
_FACTS = st.lists(st.builds(
    lambda kind, day, lead, due, original: (kind, day, lead, due, original),
    st.sampled_from(list(FactKind)), _DAYS, _UNITS, st.none() | _DAYS, st.none() | _DAYS),
    max_size=8)


@settings(max_examples=500, deadline=None, database=None)
@given(_FACTS)
def test_the_fold_applies_the_rules_it_always_applied(drawn) -> None:
    facts = [TaskFact(kind, day, ("dondoc.tasks.v1", offset % 3, offset), lead, due, original)
             for offset, (kind, day, lead, due, original) in enumerate(drawn)]
    periods = fold(facts)
    assert [(p.valid_from, p.valid_until, (*p.state[:4], p.state.terminal and p.state.terminal.value,
                                            p.state.terminal_on)) for p in periods] \
        == _reference_fold(facts)
    assert all(type(p.state.terminal) is Terminal for p in periods if p.state.terminal)
    # what the tables hold: `task_rows`, the live consumer's and the loaders' rows
    task = ("t1", "d1", "1/NQ", "nghi_quyet", "BCH", "i1", "1", "x", "", None, "Nhóm 1",
            False, "thuong", "date", None, None, date(2018, 1, 1))
    rows = task_rows(task, facts)
    assert [(row[1], row[2], row[3:9]) for row in rows] == [
        (starts, until, state) for starts, until, state in _reference_fold(facts)]
    assert all(type(row[7]) is str for row in rows if row[7] is not None)  # the text, not the enum
