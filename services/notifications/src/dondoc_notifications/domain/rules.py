"""What gets sent, and when: the rules as plain functions of the facts and the calendar.

An *occasion* is one moment a rule fires for one subject (a task, a report, an adjustment
request, a unit's digest). Occasions are computed when the facts arrive and kept in a
durable schedule; when one comes due, the rule is checked against the facts as they are
then (a completed task gets no reminder) and turned into notices, one per recipient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from dondoc_platform.calendar import WorkingCalendar, overdue_moment
from dondoc_platform.clock import VN_TZ

DEADLINE_APPROACHING = "deadline_approaching"  # + _<working days before>
TASK_OVERDUE = "task_overdue"
TASK_OVERDUE_WEEKLY = "task_overdue_weekly"
TASK_OVERDUE_ESCALATION = "task_overdue_escalation"
REPORT_DUE_SOON = "report_due_soon"  # + _<working days before>
REPORT_MISSING = "report_missing"
REPORT_RETURNED = "report_returned"
ADJUSTMENT_DECIDED = "adjustment_decided"
DAILY_DIGEST = "daily_digest"

#: The rule families an administrator can switch off one by one.
FAMILIES = (DEADLINE_APPROACHING, TASK_OVERDUE, TASK_OVERDUE_WEEKLY, TASK_OVERDUE_ESCALATION,
            REPORT_DUE_SOON, REPORT_MISSING, REPORT_RETURNED, ADJUSTMENT_DECIDED)

# Who hears of each rule (Recipient.kind on the wire).
LEAD_UNIT, COOPERATING_UNIT, UNIT, OFFICE, LEADERSHIP = (
    "lead_unit", "cooperating_unit", "unit", "office", "leadership")


def family(rule: str) -> str:
    for name in (DEADLINE_APPROACHING, REPORT_DUE_SOON):
        if rule.startswith(name + "_"):
            return name
    return rule


def audience(rule: str) -> tuple[str, ...]:
    """The kinds of recipient a rule addresses."""
    kind = family(rule)
    if kind == DEADLINE_APPROACHING:
        return (LEAD_UNIT, COOPERATING_UNIT)
    if kind in (TASK_OVERDUE, TASK_OVERDUE_WEEKLY):
        return (LEAD_UNIT,)
    if kind == TASK_OVERDUE_ESCALATION:
        return (OFFICE, LEADERSHIP)
    if kind == ADJUSTMENT_DECIDED:
        return (LEAD_UNIT,)
    return (UNIT,)


@dataclass(frozen=True)
class RuleSettings:
    deadline_reminder_days: tuple[int, ...] = (7, 3, 1)
    report_reminder_days: tuple[int, ...] = (5, 1)
    overdue_repeat_days: int = 7
    escalate_after_days: int = 30
    send_time: time = time(8, 0)
    digest_time: time = time(16, 30)
    stale_after: timedelta = timedelta(hours=72)
    disabled: frozenset[str] = frozenset()

    def enabled(self, rule: str) -> bool:
        return family(rule) not in self.disabled

    def at_send_time(self, day: date) -> datetime:
        return datetime.combine(day, self.send_time, tzinfo=VN_TZ)

    def digest_moment(self, day: date) -> datetime:
        return datetime.combine(day, self.digest_time, tzinfo=VN_TZ)

    def digest_day_for(self, moment: datetime) -> date:
        """The day of the first digest at or after `moment`."""
        local = moment.astimezone(VN_TZ)
        day = local.date()
        return day if local <= self.digest_moment(day) else day + timedelta(days=1)


@dataclass(frozen=True)
class Occasion:
    rule: str
    subject_kind: str  # task | report | request | digest
    subject_id: str
    deadline: date | None
    fire_at: datetime
    occurrence: int = 0
    payload: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        deadline = self.deadline.isoformat() if self.deadline else "-"
        return f"{self.rule}|{self.subject_kind}:{self.subject_id}|{deadline}|{self.occurrence}"


def task_occasions(task_id: str, due: date, known_at: datetime, calendar: WorkingCalendar,
                   rules: RuleSettings) -> list[Occasion]:
    """Reminders before the deadline, the first overdue notice and the escalation.

    Reminders whose moment had passed when the task became known are not planned: a task
    assigned two days before its deadline gets the 1-day reminder, not the 7-day one.
    """
    found: list[Occasion] = []
    for days in sorted(set(rules.deadline_reminder_days), reverse=True):
        moment = rules.at_send_time(calendar.subtract_working_days(due, days))
        if moment >= known_at and moment < overdue_moment(due):
            found.append(Occasion(f"{DEADLINE_APPROACHING}_{days}", "task", task_id, due, moment))
    found.append(Occasion(TASK_OVERDUE, "task", task_id, due, first_overdue_notice(due, calendar, rules)))
    if rules.escalate_after_days > 0:
        day = calendar.next_working_day(due + timedelta(days=rules.escalate_after_days))
        found.append(Occasion(TASK_OVERDUE_ESCALATION, "task", task_id, due, rules.at_send_time(day)))
    return found


def first_overdue_notice(due: date, calendar: WorkingCalendar, rules: RuleSettings) -> datetime:
    """The first working day after the deadline, at the sending hour."""
    return rules.at_send_time(calendar.next_working_day(due + timedelta(days=1)))


def weekly_overdue(task_id: str, due: date, week: int, calendar: WorkingCalendar,
                   rules: RuleSettings) -> Occasion | None:
    """The `week`-th repeat of the overdue notice (week ≥ 1), or None if repeats are off."""
    if rules.overdue_repeat_days <= 0:
        return None
    first = calendar.next_working_day(due + timedelta(days=1))
    day = calendar.next_working_day(first + timedelta(days=rules.overdue_repeat_days * week))
    return Occasion(TASK_OVERDUE_WEEKLY, "task", task_id, due, rules.at_send_time(day), week)


def report_occasions(report_id: str, due: date, known_at: datetime, calendar: WorkingCalendar,
                     rules: RuleSettings) -> list[Occasion]:
    found: list[Occasion] = []
    for days in sorted(set(rules.report_reminder_days), reverse=True):
        moment = rules.at_send_time(calendar.subtract_working_days(due, days))
        if moment >= known_at and moment < overdue_moment(due):
            found.append(Occasion(f"{REPORT_DUE_SOON}_{days}", "report", report_id, due, moment))
    found.append(Occasion(REPORT_MISSING, "report", report_id, due,
                          first_overdue_notice(due, calendar, rules)))
    return found


def digest_occasion(unit_id: str, day: date, rules: RuleSettings) -> Occasion:
    return Occasion(DAILY_DIGEST, "digest", unit_id, day, rules.digest_moment(day))


def is_stale(occasion_fire_at: datetime, now: datetime, rules: RuleSettings) -> bool:
    """An occasion found long after its moment (a replay of old history, a service that was
    down for days) is recorded as expired, never sent late as if it were news."""
    return now - occasion_fire_at > rules.stale_after
