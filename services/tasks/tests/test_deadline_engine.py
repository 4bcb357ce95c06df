"""Table tests of the deadline engine as the tasks service uses it: the seeded Vietnamese
calendar (holidays library), the administrator's corrections, working-day and calendar-day
rules, decisions that move a deadline, and the midnight boundary in Asia/Ho_Chi_Minh.

Note on 31/12/2018: the seed marks it an official day off (exchanged for Saturday
05/01/2019), so a deadline of 31/12/2018 moves to 02/01/2019; domain.md's example
("due 2018-12-31, overdue at 2019-01-01 00:00") assumes 31/12 was a working day.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from dondoc_contracts import Actor, Role
from dondoc_contracts.values import AdjustmentKind, DeadlineRule, Decision
from dondoc_platform.calendar import DayKind, local_day
from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_platform.eventstore import store_env
from dondoc_tasks.application.commands import AdjustDeadline, ConfirmCompletion, CorrectDay
from dondoc_tasks.application.tasks_app import TasksApp
from dondoc_tasks.domain.status import TaskStatus, status_of
from dondoc_tasks.domain.tasks import task_id_for

from .support import OFFICE, by_date, delivery, issued, item

pytestmark = pytest.mark.unit

ADMIN = Actor(id="admin.a", role=Role.ADMIN)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2019, 6, 1, 9, tzinfo=VN_TZ))


@pytest.fixture
def app(clock: ManualClock):
    application = TasksApp(env=store_env("sqlite:///:memory:"), clock=clock)
    yield application
    application.close()


def assign(app: TasksApp, rule: DeadlineRule, assigned_on: date, lead: str = "BTG"):
    event = issued([item("1", lead, rule)], issued_on=assigned_on)
    d = delivery(event)
    assert app.react(d, _entry(d))
    return app.task(task_id_for(event.directive_id, "1"))


def _entry(d):
    from dondoc_platform.eventstore import InboxEntry

    return InboxEntry("test", d.event_id, d.topic, d.partition, d.offset)


DATE_RULES = [
    # (deadline written in the directive, effective deadline, why)
    (date(2018, 6, 29), date(2018, 6, 29), "an ordinary Friday stays"),
    (date(2018, 6, 30), date(2018, 7, 2), "Saturday → Monday"),
    (date(2018, 7, 1), date(2018, 7, 2), "Sunday → Monday"),
    (date(2018, 2, 14), date(2018, 2, 21), "Tết Mậu Tuất 2018: 14–20/2 off"),
    (date(2018, 2, 16), date(2018, 2, 21), "Mùng một Tết 2018"),
    (date(2019, 2, 4), date(2019, 2, 11), "Tết Kỷ Hợi 2019: 4–8/2 off, then a weekend"),
    (date(2018, 4, 25), date(2018, 4, 26), "Giỗ Tổ Hùng Vương 2018"),
    (date(2018, 4, 28), date(2018, 5, 2), "Saturday before 30/4 and 1/5"),
    (date(2018, 4, 30), date(2018, 5, 2), "30/4 Ngày Chiến thắng"),
    (date(2018, 5, 1), date(2018, 5, 2), "1/5 Quốc tế Lao động"),
    (date(2019, 4, 29), date(2019, 5, 2), "29/4/2019 off in exchange for Saturday 4/5"),
    (date(2019, 5, 4), date(2019, 5, 4), "Saturday 4/5/2019 is a working day (made up)"),
    (date(2018, 9, 2), date(2018, 9, 4), "2/9 on a Sunday, observed Monday 3/9"),
    (date(2020, 9, 2), date(2020, 9, 3), "2/9/2020, a Wednesday, → Thursday"),
    (date(2018, 12, 31), date(2019, 1, 2), "31/12/2018 off (for 5/1/2019), 1/1 New Year"),
    (date(2019, 1, 5), date(2019, 1, 5), "Saturday 5/1/2019 worked in exchange"),
]


@pytest.mark.parametrize(("written", "effective", "why"), DATE_RULES,
                         ids=[r[2] for r in DATE_RULES])
def test_a_date_deadline_on_a_day_off_moves_to_the_next_working_day(
        app: TasksApp, written: date, effective: date, why: str) -> None:
    task = assign(app, by_date(written), date(written.year, 1, 2))
    assert (task.due_on, task.original_due_on) == (effective, effective), why


COUNTED_RULES = [
    # (rule, assignment day, effective deadline, why)
    (DeadlineRule(kind="working_days", days=5), date(2018, 4, 27), date(2018, 5, 8),
     "5 working days across 30/4–1/5 and a weekend"),
    (DeadlineRule(kind="working_days", days=5), date(2018, 2, 12), date(2018, 2, 26),
     "5 working days across Tết 2018"),
    (DeadlineRule(kind="working_days", days=1), date(2019, 1, 4), date(2019, 1, 5),
     "the next working day is the made-up Saturday 5/1/2019"),
    (DeadlineRule(kind="working_days", days=3), date(2018, 8, 30), date(2018, 9, 5),
     "3 working days across 2/9 (Sunday) and its observed Monday"),
    (DeadlineRule(kind="calendar_days", days=10), date(2018, 8, 23), date(2018, 9, 4),
     "10 calendar days land on 2/9, moved past the observed 3/9"),
    (DeadlineRule(kind="calendar_days", days=7), date(2018, 4, 23), date(2018, 5, 2),
     "7 calendar days land on 30/4"),
    (DeadlineRule(kind="calendar_days", days=30), date(2018, 6, 1), date(2018, 7, 2),
     "30 calendar days land on Sunday 1/7"),
    (DeadlineRule(kind="none"), date(2018, 3, 5), None, "a standing task has no deadline"),
    (DeadlineRule(kind="recurring", frequency="quarterly"), date(2018, 3, 5), None,
     "a recurring task has a report frequency, no deadline"),
]


@pytest.mark.parametrize(("rule", "assigned_on", "effective", "why"), COUNTED_RULES,
                         ids=[r[3] for r in COUNTED_RULES])
def test_working_day_and_calendar_day_rules(app: TasksApp, rule: DeadlineRule, assigned_on: date,
                                            effective: date | None, why: str) -> None:
    task = assign(app, rule, assigned_on)
    assert task.due_on == effective, why
    if rule.kind == "recurring":
        assert task.report_frequency == "quarterly"


def test_a_decision_moves_the_deadline_and_the_original_stays(app: TasksApp) -> None:
    task = assign(app, by_date(date(2018, 6, 30)), date(2018, 3, 5))
    decision = Decision(number="1520-CV/TU", decided_on=date(2018, 6, 20),
                        decider="Thường trực Tỉnh ủy")
    moved = app.adjust_deadline(str(task.id), AdjustDeadline(
        kind=AdjustmentKind.EXTEND, due_on=date(2018, 9, 29), decision=decision), OFFICE)
    assert (moved.due_on, moved.original_due_on) == (date(2018, 10, 1), date(2018, 7, 2))
    done = app.confirm_completion(str(task.id), ConfirmCompletion(completed_on=date(2018, 9, 20)),
                                  OFFICE)
    today = date(2019, 6, 1)
    assert status_of(done.state, done.due_on, done.completed_on, today) is TaskStatus.COMPLETED_ON_TIME
    assert status_of(done.state, done.original_due_on, done.completed_on,
                     today) is TaskStatus.COMPLETED_LATE


def test_a_deadline_moves_only_with_a_decision_before_the_assignment_is_refused(app: TasksApp) -> None:
    from dondoc_platform.errors import DomainError

    task = assign(app, by_date(date(2018, 6, 30)), date(2018, 3, 5))
    with pytest.raises(DomainError) as refused:
        app.adjust_deadline(str(task.id), AdjustDeadline(
            kind=AdjustmentKind.EXTEND, due_on=date(2018, 2, 1),
            decision=Decision(number="1", decided_on=date(2018, 6, 1), decider="TT")), OFFICE)
    assert refused.value.field == "due_on"
    assert app.task(task.id).due_on == date(2018, 7, 2)


def test_corrections_apply_to_deadlines_computed_after_them(app: TasksApp) -> None:
    before = assign(app, by_date(date(2018, 6, 29)), date(2018, 3, 5))
    app.correct_day(date(2018, 6, 29), CorrectDay(kind=DayKind.DAY_OFF, name="Nghỉ theo quyết định"),
                    ADMIN)
    after = assign(app, by_date(date(2018, 6, 29)), date(2018, 3, 5))
    assert before.due_on == date(2018, 6, 29)       # computed before the correction: kept
    assert after.due_on == date(2018, 7, 2)         # computed after it
    app.correct_day(date(2018, 6, 30), CorrectDay(kind=DayKind.WORKING_DAY, name="Làm bù"), ADMIN)
    assert assign(app, by_date(date(2018, 6, 29)), date(2018, 3, 5)).due_on == date(2018, 6, 30)
    app.remove_correction(date(2018, 6, 30), ADMIN)
    assert assign(app, by_date(date(2018, 6, 29)), date(2018, 3, 5)).due_on == date(2018, 7, 2)


@pytest.mark.parametrize(("moment", "overdue"), [
    (datetime(2018, 7, 2, 16, 59, 59, tzinfo=timezone.utc), False),  # 23:59:59 on 2/7, local
    (datetime(2018, 7, 2, 17, 0, 0, tzinfo=timezone.utc), True),     # 00:00 on 3/7, local
    (datetime(2018, 7, 2, 23, 59, 59, tzinfo=VN_TZ), False),
    (datetime(2018, 7, 3, 0, 0, 0, tzinfo=VN_TZ), True),
])
def test_the_deadline_day_counts_in_full_in_vietnam_time(clock: ManualClock, moment: datetime,
                                                         overdue: bool) -> None:
    application = TasksApp(env=store_env("sqlite:///:memory:"),
                           clock=ManualClock(datetime(2018, 3, 5, tzinfo=VN_TZ)))
    try:
        task = assign(application, by_date(date(2018, 6, 30)), date(2018, 3, 5))
        assert task.due_on == date(2018, 7, 2)
        application.clock.set(moment)  # type: ignore[attr-defined]
        assert application.mark_overdue(str(task.id), task.due_on) is overdue
        status = status_of("open", task.due_on, None, local_day(moment))
        assert status is (TaskStatus.OPEN_OVERDUE if overdue else TaskStatus.OPEN_IN_TIME)
        if overdue:
            assert application.mark_overdue(str(task.id), task.due_on) is False  # once only
    finally:
        application.close()
