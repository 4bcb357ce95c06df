"""Upstream events of the test scenarios (Vietnamese text arrives decomposed, NFD, on purpose)."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, time

from dondoc_contracts import (
    Actor, AdjustmentDecided, ReportRequested, ReportReviewed, Role, TaskAssigned, TaskCompleted,
    UnitRegistered,
)
from dondoc_contracts.values import (
    AdjustmentKind, DeadlineKind, DeadlineRule, Decision, DirectiveKind, Period, PeriodKind, Verdict,
)
from dondoc_platform.clock import VN_TZ

OFFICE = Actor(id="vptu.nguyenvana", role=Role.OFFICE, name="Nguyễn Văn A", unit_id="VPTU")
CONTENT = "Tuyên truyền sâu rộng kết quả thực hiện Nghị quyết Đại hội Đảng bộ tỉnh"


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=VN_TZ)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def unit(unit_id: str, name: str, *, emails: tuple[str, ...] = (), leadership: tuple[str, ...] = (),
         webhook: str | None = None, digest: bool | None = None) -> UnitRegistered:
    return UnitRegistered(occurred_at=at(date(2018, 1, 2)), actor=OFFICE, unit_id=unit_id, code=unit_id,
                          name=nfd(name), emails=emails, leadership_emails=leadership,
                          webhook_url=webhook, daily_digest=digest)


def task(task_id: str, due: date, *, lead: str = "BTG", cooperating: tuple[str, ...] = (),
         assigned: date = date(2018, 6, 1), number: str = "125-TB/TU", secrecy: str = "thuong") -> TaskAssigned:
    return TaskAssigned(
        occurred_at=at(assigned), actor=OFFICE, task_id=task_id, directive_id="d-125",
        directive_number=number, directive_kind=DirectiveKind.THONG_BAO_KET_LUAN, issuing_body="BTV",
        item_id="1", paragraph="2.a", content=nfd(CONTENT), lead_unit_id=lead,
        cooperating_unit_ids=cooperating, assigned_on=assigned,
        deadline_rule=DeadlineRule(kind=DeadlineKind.DATE, due_on=due), due_on=due, original_due_on=due,
        secrecy=secrecy)


def completed(task_id: str, on: date, lead: str = "BTG") -> TaskCompleted:
    return TaskCompleted(occurred_at=at(on, 10), actor=OFFICE, task_id=task_id, lead_unit_id=lead,
                         completed_on=on)


def report(report_id: str, unit_id: str, due: date, requested: date = date(2018, 6, 1)) -> ReportRequested:
    return ReportRequested(
        occurred_at=at(requested), actor=OFFICE, report_id=report_id, cycle_id="c-2018h1", unit_id=unit_id,
        period=Period(kind=PeriodKind.HALF_YEAR, label="6 tháng đầu năm 2018", starts_on=date(2018, 1, 1),
                      ends_on=date(2018, 6, 30)), data_cutoff_on=due, due_on=due)


def returned(report_id: str, unit_id: str, on: date, comment: str) -> ReportReviewed:
    reviewer = Actor(id="trs.lec", role=Role.REVIEWER, name="Lê C", review_group="Kinh tế - xã hội")
    return ReportReviewed(occurred_at=at(on, 14), actor=reviewer, report_id=report_id, cycle_id="c-2018h1",
                          unit_id=unit_id, outcome=Verdict.RETURNED, reviewed_on=on, comment=nfd(comment))


def decided(request_id: str, task_id: str, unit_id: str, on: date, *, approved: bool,
            due: date | None) -> AdjustmentDecided:
    return AdjustmentDecided(
        occurred_at=at(on, 15), actor=OFFICE, request_id=request_id, task_id=task_id, unit_id=unit_id,
        kind=AdjustmentKind.EXTEND, approved=approved, due_on=due,
        decision=Decision(number="1520-CV/TU", decided_on=on, decider="Thường trực Tỉnh ủy"))
