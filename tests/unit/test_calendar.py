"""The working calendar seeded from the `holidays` library, with corrections."""

from datetime import date, datetime, timezone

import pytest

from dondoc_contracts.values import DeadlineKind, DeadlineRule
from dondoc_platform.calendar import (
    DayCorrection,
    DayKind,
    WorkingCalendar,
    days_overdue,
    is_overdue,
    local_day,
    overdue_moment,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("due", "effective"), [
    (date(2018, 2, 17), date(2018, 2, 21)),   # Tết 2018: 14–20/2 off
    (date(2018, 4, 28), date(2018, 5, 2)),    # Saturday before 30/4 and 1/5
    (date(2018, 9, 2), date(2018, 9, 4)),     # National Day on a Sunday, observed Monday
    (date(2018, 6, 29), date(2018, 6, 29)),   # an ordinary Friday stays
    (date(2019, 1, 5), date(2019, 1, 5)),     # a Saturday worked in exchange for 31/12/2018
])
def test_deadlines_on_days_off_move_to_the_next_working_day(due: date, effective: date) -> None:
    assert WorkingCalendar().effective_due(due) == effective


def test_an_administrator_corrects_the_seeded_calendar() -> None:
    calendar = WorkingCalendar()
    assert calendar.is_working_day(date(2018, 6, 29))
    calendar.correct(DayCorrection(date(2018, 6, 29), DayKind.DAY_OFF, "Nghỉ theo quyết định"))
    assert calendar.effective_due(date(2018, 6, 29)) == date(2018, 7, 2)
    calendar.correct(DayCorrection(date(2018, 6, 30), DayKind.WORKING_DAY, "Làm bù"))
    assert calendar.effective_due(date(2018, 6, 29)) == date(2018, 6, 30)


def test_working_and_calendar_day_rules() -> None:
    calendar = WorkingCalendar()
    five_working = DeadlineRule(kind=DeadlineKind.WORKING_DAYS, days=5)
    assert calendar.due_date(five_working, date(2018, 2, 12)) == date(2018, 2, 26)  # across Tết
    ten_days = DeadlineRule(kind=DeadlineKind.CALENDAR_DAYS, days=10)
    assert calendar.due_date(ten_days, date(2018, 4, 20)) == date(2018, 5, 2)  # 30/4 → 2/5
    assert calendar.due_date(DeadlineRule(kind=DeadlineKind.NONE), date(2018, 1, 1)) is None


def test_the_deadline_day_counts_in_full_in_vietnam_time() -> None:
    moment = overdue_moment(date(2018, 7, 2))
    assert moment.isoformat() == "2018-07-03T00:00:00+07:00"
    just_before = datetime(2018, 7, 2, 16, 59, 59, tzinfo=timezone.utc)  # 23:59:59 local
    assert not is_overdue(date(2018, 7, 2), just_before)
    at_midnight = datetime(2018, 7, 2, 17, 0, tzinfo=timezone.utc)      # 00:00 local, 3/7
    assert is_overdue(date(2018, 7, 2), at_midnight)
    assert local_day(at_midnight) == date(2018, 7, 3)
    assert days_overdue(date(2018, 7, 2), datetime(2018, 8, 1, 3, tzinfo=timezone.utc)) == 30
