"""Every public event of dondoc, version 1.

Naming: the class is the event in the office's words, past tense (`TaskAssigned`); its
CloudEvents type is `vn.dondoc.<aggregate>.<action>.v<version>`; it travels on the topic of
the service that produces it (`dondoc.<service>.v1`), keyed by `subject_field`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import ClassVar

from pydantic import AwareDatetime, Field

from dondoc_contracts.base import Actor, ContractEvent, Identifier, LongText, Role, ShortText, Text
from dondoc_contracts.values import (
    AdjustmentKind,
    Channel,
    ClaimedStatus,
    DeadlineKind,
    DeadlineRule,
    Decision,
    DirectiveItem,
    DirectiveKind,
    Effectiveness,
    Frequency,
    LineAssessment,
    Notice,
    Period,
    PeriodKind,
    Proposal,
    Quality,
    Recipient,
    ReportLine,
    Secrecy,
    Subject,
    Urgency,
    Verdict,
)

ICT = timezone(timedelta(hours=7), "ICT")  # Asia/Ho_Chi_Minh has kept +07:00 since 1975

_OFFICE = Actor(id="vptu.nguyenvana", role=Role.OFFICE, name="Nguyễn Văn A", unit_id="VPTU")
_UNIT = Actor(id="btg.tranthib", role=Role.UNIT, name="Trần Thị B", unit_id="BTG")
_REVIEWER = Actor(id="trs.lec", role=Role.REVIEWER, name="Lê C",
                  review_group="Xây dựng Đảng, hệ thống chính trị, nội chính")
_DIRECTIVE = "7f1c2a4e-0b1d-4e57-9a3c-2d1f0e6b8a01"
_TASK = "3b9d6f10-5c2e-4a8b-b1d7-0e4f6a2c9d11"
_REPORT = "c4e8a2b6-1d3f-4c5e-8a7b-9f0e1d2c3b41"
_CYCLE = "a1b2c3d4-e5f6-4a5b-8c7d-0e1f2a3b4c51"
_REQUEST = "d2c4e6f8-0a1b-4c3d-9e5f-7a8b9c0d1e61"


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ICT)


_ITEM = DirectiveItem(
    item_id="1",
    paragraph="2.a",
    text="Tuyên truyền sâu rộng kết quả thực hiện Nghị quyết Đại hội Đảng bộ tỉnh",
    lead_unit_id="BTG",
    cooperating_unit_ids=("BDV", "MTTQ"),
    deadline=DeadlineRule(kind=DeadlineKind.DATE, due_on=date(2018, 6, 30)),
    domain="Tuyên giáo",
    review_group="Xây dựng Đảng, hệ thống chính trị, nội chính",
    key_task=False,
    product="Báo cáo kết quả gửi Thường trực Tỉnh ủy",
)


# --------------------------------------------------------------------------- directory


class UnitRegistered(ContractEvent):
    event_type: ClassVar[str] = "UnitRegistered"
    service: ClassVar[str] = "directives"
    ce_type: ClassVar[str] = "vn.dondoc.unit.registered.v1"
    subject_field: ClassVar[str] = "unit_id"
    description: ClassVar[str] = "A unit joined the directory (đơn vị)."

    unit_id: Identifier
    code: ShortText
    name: ShortText
    review_group: ShortText | None = None
    parent_unit_id: Identifier | None = None
    emails: tuple[ShortText, ...] = ()
    leadership_emails: tuple[ShortText, ...] = ()
    webhook_url: ShortText | None = None
    daily_digest: bool | None = Field(
        None, description="The unit prefers one daily digest e-mail to single notices "
                          "(None: not stated, the notifications service's default applies)")

    @classmethod
    def example(cls) -> UnitRegistered:
        return cls(occurred_at=_at(date(2016, 1, 4)), actor=_OFFICE, unit_id="BTG", code="BTG",
                   name="Ban Tuyên giáo Tỉnh ủy",
                   review_group="Xây dựng Đảng, hệ thống chính trị, nội chính",
                   emails=("bantuyengiao@example.vn",))


class UnitChanged(ContractEvent):
    event_type: ClassVar[str] = "UnitChanged"
    service: ClassVar[str] = "directives"
    ce_type: ClassVar[str] = "vn.dondoc.unit.changed.v1"
    subject_field: ClassVar[str] = "unit_id"
    description: ClassVar[str] = "A unit was renamed or its details changed; its identity stays."

    unit_id: Identifier
    code: ShortText
    name: ShortText
    previous_name: ShortText | None = None
    review_group: ShortText | None = None
    parent_unit_id: Identifier | None = None
    emails: tuple[ShortText, ...] = ()
    leadership_emails: tuple[ShortText, ...] = ()
    webhook_url: ShortText | None = None
    active: bool = True
    daily_digest: bool | None = Field(
        None, description="The unit prefers one daily digest e-mail to single notices "
                          "(None: unchanged)")

    @classmethod
    def example(cls) -> UnitChanged:
        return cls(occurred_at=_at(date(2020, 7, 1)), actor=_OFFICE, unit_id="BTG", code="BTG",
                   name="Ban Tuyên giáo và Dân vận Tỉnh ủy", previous_name="Ban Tuyên giáo Tỉnh ủy",
                   review_group="Xây dựng Đảng, hệ thống chính trị, nội chính",
                   emails=("bantuyengiao@example.vn",))


# --------------------------------------------------------------------------- directives


class DirectiveIssued(ContractEvent):
    event_type: ClassVar[str] = "DirectiveIssued"
    service: ClassVar[str] = "directives"
    ce_type: ClassVar[str] = "vn.dondoc.directive.issued.v1"
    subject_field: ClassVar[str] = "directive_id"
    description: ClassVar[str] = "A Kết luận / Thông báo kết luận was registered with its items."

    directive_id: Identifier
    number: ShortText = Field(description="e.g. '125-TB/TU'")
    kind: DirectiveKind
    issuing_body: ShortText = Field(description="e.g. 'BTV' (Ban Thường vụ), 'TT' (Thường trực)")
    issued_on: date
    summary: LongText = Field(description="Trích yếu")
    signer: ShortText | None = None
    secrecy: Secrecy = Secrecy.THUONG
    urgency: Urgency = Urgency.THUONG
    review_group: ShortText | None = None
    items: tuple[DirectiveItem, ...] = Field(min_length=1)

    @classmethod
    def example(cls) -> DirectiveIssued:
        return cls(occurred_at=_at(date(2018, 3, 5)), actor=_OFFICE, directive_id=_DIRECTIVE,
                   number="125-TB/TU", kind=DirectiveKind.THONG_BAO_KET_LUAN, issuing_body="BTV",
                   issued_on=date(2018, 3, 5),
                   summary="Kết luận của Ban Thường vụ Tỉnh ủy về công tác tuyên truyền năm 2018",
                   signer="Phó Bí thư Thường trực", items=(_ITEM,),
                   review_group="Xây dựng Đảng, hệ thống chính trị, nội chính")


class DirectiveAmended(ContractEvent):
    event_type: ClassVar[str] = "DirectiveAmended"
    service: ClassVar[str] = "directives"
    ce_type: ClassVar[str] = "vn.dondoc.directive.amended.v1"
    subject_field: ClassVar[str] = "directive_id"
    description: ClassVar[str] = "A directive's text or items changed; items carry their new state."

    directive_id: Identifier
    number: ShortText
    summary: LongText | None = None
    items_added: tuple[DirectiveItem, ...] = ()
    items_changed: tuple[DirectiveItem, ...] = ()
    items_removed: tuple[Identifier, ...] = ()
    reason: Text | None = None
    decision: Decision | None = None

    @classmethod
    def example(cls) -> DirectiveAmended:
        added = _ITEM.model_copy(update={"item_id": "2", "paragraph": "2.b",
                                         "text": "Tổng kết 10 năm thực hiện Chỉ thị 05"})
        return cls(occurred_at=_at(date(2018, 4, 2)), actor=_OFFICE, directive_id=_DIRECTIVE,
                   number="125-TB/TU", items_added=(added,), reason="Bổ sung nhiệm vụ")


class DirectiveRevoked(ContractEvent):
    event_type: ClassVar[str] = "DirectiveRevoked"
    service: ClassVar[str] = "directives"
    ce_type: ClassVar[str] = "vn.dondoc.directive.revoked.v1"
    subject_field: ClassVar[str] = "directive_id"
    description: ClassVar[str] = "A directive was revoked; its open tasks are withdrawn."

    directive_id: Identifier
    number: ShortText
    reason: Text
    decision: Decision

    @classmethod
    def example(cls) -> DirectiveRevoked:
        return cls(occurred_at=_at(date(2018, 9, 3)), actor=_OFFICE, directive_id=_DIRECTIVE,
                   number="125-TB/TU", reason="Thay thế bằng Thông báo 160-TB/TU",
                   decision=Decision(number="160-TB/TU", decided_on=date(2018, 9, 3),
                                     decider="Ban Thường vụ Tỉnh ủy"))


# --------------------------------------------------------------------------- tasks


class TaskAssigned(ContractEvent):
    event_type: ClassVar[str] = "TaskAssigned"
    service: ClassVar[str] = "tasks"
    ce_type: ClassVar[str] = "vn.dondoc.task.assigned.v1"
    subject_field: ClassVar[str] = "task_id"
    description: ClassVar[str] = "A task (one directive item) was assigned to its lead unit."

    task_id: Identifier
    directive_id: Identifier
    directive_number: ShortText
    directive_kind: DirectiveKind
    issuing_body: ShortText
    item_id: Identifier
    paragraph: ShortText
    content: LongText
    lead_unit_id: Identifier
    cooperating_unit_ids: tuple[Identifier, ...] = ()
    assigned_on: date
    deadline_rule: DeadlineRule
    due_on: date | None = Field(None, description="Effective deadline day (moved off days off)")
    original_due_on: date | None = Field(None, description="The deadline as first assigned")
    domain: ShortText | None = None
    review_group: ShortText | None = None
    key_task: bool = False
    secrecy: Secrecy = Secrecy.THUONG
    report_frequency: Frequency | None = None
    product: Text | None = None

    @classmethod
    def example(cls) -> TaskAssigned:
        return cls(occurred_at=_at(date(2018, 3, 5)), actor=_OFFICE, task_id=_TASK,
                   directive_id=_DIRECTIVE, directive_number="125-TB/TU",
                   directive_kind=DirectiveKind.THONG_BAO_KET_LUAN, issuing_body="BTV",
                   item_id="1", paragraph="2.a", content=_ITEM.text, lead_unit_id="BTG",
                   cooperating_unit_ids=("BDV", "MTTQ"), assigned_on=date(2018, 3, 5),
                   deadline_rule=_ITEM.deadline, due_on=date(2018, 7, 2),
                   original_due_on=date(2018, 7, 2), domain="Tuyên giáo",
                   review_group="Xây dựng Đảng, hệ thống chính trị, nội chính")


class TaskProgressRecorded(ContractEvent):
    event_type: ClassVar[str] = "TaskProgressRecorded"
    service: ClassVar[str] = "tasks"
    ce_type: ClassVar[str] = "vn.dondoc.task.progress_recorded.v1"
    subject_field: ClassVar[str] = "task_id"
    description: ClassVar[str] = "The lead unit reported progress (a claim, not a completion)."

    task_id: Identifier
    unit_id: Identifier
    status_claimed: ClaimedStatus
    progress: LongText = ""
    evidence: Text | None = None
    delay_reason: Text | None = None
    report_id: Identifier | None = None
    recorded_on: date

    @classmethod
    def example(cls) -> TaskProgressRecorded:
        return cls(occurred_at=_at(date(2018, 6, 15)), actor=_UNIT, task_id=_TASK, unit_id="BTG",
                   status_claimed=ClaimedStatus.IN_PROGRESS,
                   progress="Đã tổ chức 12 hội nghị quán triệt", report_id=_REPORT,
                   recorded_on=date(2018, 6, 15))


class TaskCompleted(ContractEvent):
    event_type: ClassVar[str] = "TaskCompleted"
    service: ClassVar[str] = "tasks"
    ce_type: ClassVar[str] = "vn.dondoc.task.completed.v1"
    subject_field: ClassVar[str] = "task_id"
    description: ClassVar[str] = "Completion confirmed by the office or a reviewer."

    task_id: Identifier
    lead_unit_id: Identifier
    completed_on: date
    due_on: date | None = None
    original_due_on: date | None = None
    result: Text | None = None
    evidence: Text | None = None
    report_id: Identifier | None = None

    @classmethod
    def example(cls) -> TaskCompleted:
        return cls(occurred_at=_at(date(2018, 7, 10)), actor=_REVIEWER, task_id=_TASK,
                   lead_unit_id="BTG", completed_on=date(2018, 6, 28), due_on=date(2018, 7, 2),
                   original_due_on=date(2018, 7, 2), result="Hoàn thành, có báo cáo kết quả",
                   report_id=_REPORT)


class TaskDeadlineAdjusted(ContractEvent):
    event_type: ClassVar[str] = "TaskDeadlineAdjusted"
    service: ClassVar[str] = "tasks"
    ce_type: ClassVar[str] = "vn.dondoc.task.deadline_adjusted.v1"
    subject_field: ClassVar[str] = "task_id"
    description: ClassVar[str] = "A recorded decision moved the deadline; the original stays."

    task_id: Identifier
    lead_unit_id: Identifier
    kind: AdjustmentKind
    previous_due_on: date | None = None
    due_on: date | None = Field(None, description="New effective deadline day (None: no deadline)")
    original_due_on: date | None = None
    decision: Decision
    request_id: Identifier | None = None

    @classmethod
    def example(cls) -> TaskDeadlineAdjusted:
        return cls(occurred_at=_at(date(2018, 6, 20)), actor=_OFFICE, task_id=_TASK,
                   lead_unit_id="BTG", kind=AdjustmentKind.EXTEND, previous_due_on=date(2018, 7, 2),
                   due_on=date(2018, 9, 28), original_due_on=date(2018, 7, 2),
                   decision=Decision(number="1520-CV/TU", decided_on=date(2018, 6, 20),
                                     decider="Thường trực Tỉnh ủy"), request_id=_REQUEST)


class TaskReassigned(ContractEvent):
    event_type: ClassVar[str] = "TaskReassigned"
    service: ClassVar[str] = "tasks"
    ce_type: ClassVar[str] = "vn.dondoc.task.reassigned.v1"
    subject_field: ClassVar[str] = "task_id"
    description: ClassVar[str] = "The lead unit (or the cooperating units) changed."

    task_id: Identifier
    previous_lead_unit_id: Identifier
    lead_unit_id: Identifier
    cooperating_unit_ids: tuple[Identifier, ...] = ()
    reassigned_on: date
    decision: Decision | None = None
    reason: Text | None = None

    @classmethod
    def example(cls) -> TaskReassigned:
        return cls(occurred_at=_at(date(2018, 5, 2)), actor=_OFFICE, task_id=_TASK,
                   previous_lead_unit_id="BTG", lead_unit_id="BDV", cooperating_unit_ids=("BTG",),
                   reassigned_on=date(2018, 5, 2), reason="Điều chỉnh chức năng nhiệm vụ")


class TaskWithdrawn(ContractEvent):
    event_type: ClassVar[str] = "TaskWithdrawn"
    service: ClassVar[str] = "tasks"
    ce_type: ClassVar[str] = "vn.dondoc.task.withdrawn.v1"
    subject_field: ClassVar[str] = "task_id"
    description: ClassVar[str] = "The assigning body withdrew the task (rút)."

    task_id: Identifier
    lead_unit_id: Identifier
    withdrawn_on: date
    decision: Decision | None = None
    reason: Text | None = None
    request_id: Identifier | None = None

    @classmethod
    def example(cls) -> TaskWithdrawn:
        return cls(occurred_at=_at(date(2018, 10, 1)), actor=_OFFICE, task_id=_TASK,
                   lead_unit_id="BTG", withdrawn_on=date(2018, 10, 1),
                   decision=Decision(number="1801-CV/TU", decided_on=date(2018, 10, 1),
                                     decider="Thường trực Tỉnh ủy"),
                   reason="Nhiệm vụ không còn phù hợp")


class TaskOverdue(ContractEvent):
    event_type: ClassVar[str] = "TaskOverdue"
    service: ClassVar[str] = "tasks"
    ce_type: ClassVar[str] = "vn.dondoc.task.overdue.v1"
    subject_field: ClassVar[str] = "task_id"
    description: ClassVar[str] = ("The effective deadline passed with the task open; "
                                  "occurred_at = overdue_at = the deadline moment.")

    task_id: Identifier
    lead_unit_id: Identifier
    due_on: date
    overdue_at: AwareDatetime = Field(description="Start of the day after the deadline, local time")

    @classmethod
    def example(cls) -> TaskOverdue:
        moment = datetime(2018, 7, 3, 0, 0, tzinfo=ICT)
        return cls(occurred_at=moment, actor=Actor(id="system", role=Role.SYSTEM, name="dondoc"),
                   task_id=_TASK, lead_unit_id="BTG", due_on=date(2018, 7, 2), overdue_at=moment)


# --------------------------------------------------------------------------- reports


class ReportRequested(ContractEvent):
    event_type: ClassVar[str] = "ReportRequested"
    service: ClassVar[str] = "reports"
    ce_type: ClassVar[str] = "vn.dondoc.report.requested.v1"
    subject_field: ClassVar[str] = "report_id"
    description: ClassVar[str] = "A unit owes a self-review report for a period (an obligation)."

    report_id: Identifier
    cycle_id: Identifier
    unit_id: Identifier
    period: Period
    data_cutoff_on: date
    due_on: date
    task_ids: tuple[Identifier, ...] = ()

    @classmethod
    def example(cls) -> ReportRequested:
        return cls(occurred_at=_at(date(2018, 11, 1)), actor=_OFFICE, report_id=_REPORT,
                   cycle_id=_CYCLE, unit_id="BTG",
                   period=Period(kind=PeriodKind.YEAR, label="2018", starts_on=date(2018, 1, 1),
                                 ends_on=date(2018, 12, 31)),
                   data_cutoff_on=date(2018, 11, 15), due_on=date(2018, 11, 30),
                   task_ids=(_TASK,))


class ReportSubmitted(ContractEvent):
    event_type: ClassVar[str] = "ReportSubmitted"
    service: ClassVar[str] = "reports"
    ce_type: ClassVar[str] = "vn.dondoc.report.submitted.v1"
    subject_field: ClassVar[str] = "report_id"
    description: ClassVar[str] = "A unit submitted (or resubmitted) its report, item by item."

    report_id: Identifier
    cycle_id: Identifier
    unit_id: Identifier
    submitted_on: date
    revision: int = Field(1, ge=1)
    lines: tuple[ReportLine, ...] = ()
    summary: LongText | None = None

    @classmethod
    def example(cls) -> ReportSubmitted:
        return cls(occurred_at=_at(date(2018, 11, 28), 15), actor=_UNIT, report_id=_REPORT,
                   cycle_id=_CYCLE, unit_id="BTG", submitted_on=date(2018, 11, 28),
                   lines=(ReportLine(task_id=_TASK, status_claimed=ClaimedStatus.COMPLETED,
                                     progress="Đã hoàn thành, báo cáo số 45-BC/BTGTU",
                                     evidence="45-BC/BTGTU", completed_on=date(2018, 6, 28),
                                     proposal=Proposal.NONE),))


class ReportReviewed(ContractEvent):
    event_type: ClassVar[str] = "ReportReviewed"
    service: ClassVar[str] = "reports"
    ce_type: ClassVar[str] = "vn.dondoc.report.reviewed.v1"
    subject_field: ClassVar[str] = "report_id"
    description: ClassVar[str] = "The review team assessed each line (accepted or returned)."

    report_id: Identifier
    cycle_id: Identifier
    unit_id: Identifier
    revision: int = Field(1, ge=1)
    outcome: Verdict
    reviewed_on: date
    lines: tuple[LineAssessment, ...] = ()
    comment: Text | None = None

    @classmethod
    def example(cls) -> ReportReviewed:
        return cls(occurred_at=_at(date(2018, 12, 10)), actor=_REVIEWER, report_id=_REPORT,
                   cycle_id=_CYCLE, unit_id="BTG", outcome=Verdict.ACCEPTED,
                   reviewed_on=date(2018, 12, 10),
                   lines=(LineAssessment(task_id=_TASK, verdict=Verdict.ACCEPTED,
                                         quality=Quality.SPECIFIC, effectiveness=Effectiveness.HIGH,
                                         completion_confirmed=True, completed_on=date(2018, 6, 28)),))


class ReportOverdue(ContractEvent):
    event_type: ClassVar[str] = "ReportOverdue"
    service: ClassVar[str] = "reports"
    ce_type: ClassVar[str] = "vn.dondoc.report.overdue.v1"
    subject_field: ClassVar[str] = "report_id"
    description: ClassVar[str] = "A report was not in by the end of its due day."

    report_id: Identifier
    cycle_id: Identifier
    unit_id: Identifier
    due_on: date
    overdue_at: AwareDatetime

    @classmethod
    def example(cls) -> ReportOverdue:
        moment = datetime(2018, 12, 1, 0, 0, tzinfo=ICT)
        return cls(occurred_at=moment, actor=Actor(id="system", role=Role.SYSTEM, name="dondoc"),
                   report_id=_REPORT, cycle_id=_CYCLE, unit_id="BTG", due_on=date(2018, 11, 30),
                   overdue_at=moment)


class AdjustmentRequested(ContractEvent):
    event_type: ClassVar[str] = "AdjustmentRequested"
    service: ClassVar[str] = "reports"
    ce_type: ClassVar[str] = "vn.dondoc.adjustment.requested.v1"
    subject_field: ClassVar[str] = "request_id"
    description: ClassVar[str] = "A lead unit asked to extend, stretch or withdraw a task."

    request_id: Identifier
    task_id: Identifier
    unit_id: Identifier
    kind: AdjustmentKind
    proposed_due_on: date | None = None
    reason: LongText
    requested_on: date
    report_id: Identifier | None = None

    @classmethod
    def example(cls) -> AdjustmentRequested:
        return cls(occurred_at=_at(date(2018, 6, 12)), actor=_UNIT, request_id=_REQUEST,
                   task_id=_TASK, unit_id="BTG", kind=AdjustmentKind.EXTEND,
                   proposed_due_on=date(2018, 9, 28),
                   reason="Chờ kết quả khảo sát của Trung ương", requested_on=date(2018, 6, 12))


class AdjustmentDecided(ContractEvent):
    event_type: ClassVar[str] = "AdjustmentDecided"
    service: ClassVar[str] = "reports"
    ce_type: ClassVar[str] = "vn.dondoc.adjustment.decided.v1"
    subject_field: ClassVar[str] = "request_id"
    description: ClassVar[str] = "The assigning body approved or rejected an adjustment request."

    request_id: Identifier
    task_id: Identifier
    unit_id: Identifier
    kind: AdjustmentKind
    approved: bool
    due_on: date | None = Field(None, description="The new deadline day when approved")
    decision: Decision
    comment: Text | None = None

    @classmethod
    def example(cls) -> AdjustmentDecided:
        return cls(occurred_at=_at(date(2018, 6, 20)), actor=_OFFICE, request_id=_REQUEST,
                   task_id=_TASK, unit_id="BTG", kind=AdjustmentKind.EXTEND, approved=True,
                   due_on=date(2018, 9, 28),
                   decision=Decision(number="1520-CV/TU", decided_on=date(2018, 6, 20),
                                     decider="Thường trực Tỉnh ủy"))


# --------------------------------------------------------------------------- notifications


class NotificationSent(ContractEvent):
    event_type: ClassVar[str] = "NotificationSent"
    service: ClassVar[str] = "notifications"
    ce_type: ClassVar[str] = "vn.dondoc.notification.sent.v1"
    subject_field: ClassVar[str] = "notification_id"
    description: ClassVar[str] = "A reminder, alert or escalation was delivered."

    notification_id: Identifier
    rule: ShortText
    recipient: Recipient
    channel: Channel
    about: Subject
    message_id: ShortText
    sent_at: AwareDatetime
    language: ShortText = "vi"
    resend_of: Identifier | None = Field(
        None, description="The notification this one deliberately repeats (a resend)")
    covers: tuple[Notice, ...] = Field(
        (), description="For a daily digest: each notice the one message carried")
    reconciled: bool = Field(
        False, description="Recorded after a restart: the message had been handed to the "
                           "mail server when the process stopped")

    @classmethod
    def example(cls) -> NotificationSent:
        moment = datetime(2018, 6, 25, 7, 0, tzinfo=ICT)
        return cls(occurred_at=moment, actor=Actor(id="system", role=Role.SYSTEM, name="dondoc"),
                   notification_id="e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a81",
                   rule="deadline_approaching_5",
                   recipient=Recipient(unit_id="BTG", kind="lead_unit",
                                       address="bantuyengiao@example.vn"),
                   channel=Channel.EMAIL,
                   about=Subject(task_id=_TASK, directive_number="125-TB/TU",
                                 due_on=date(2018, 7, 2)),
                   message_id="<e5f6a7b8@dondoc.example.vn>", sent_at=moment)


class NotificationFailed(ContractEvent):
    event_type: ClassVar[str] = "NotificationFailed"
    service: ClassVar[str] = "notifications"
    ce_type: ClassVar[str] = "vn.dondoc.notification.failed.v1"
    subject_field: ClassVar[str] = "notification_id"
    description: ClassVar[str] = "Delivery failed for good after bounded retries."

    notification_id: Identifier
    rule: ShortText
    recipient: Recipient
    channel: Channel
    about: Subject
    attempts: int = Field(ge=1)
    last_error: Text
    failed_at: AwareDatetime
    resend_of: Identifier | None = None
    covers: tuple[Notice, ...] = ()

    @classmethod
    def example(cls) -> NotificationFailed:
        moment = datetime(2018, 7, 3, 8, 0, tzinfo=ICT)
        return cls(occurred_at=moment, actor=Actor(id="system", role=Role.SYSTEM, name="dondoc"),
                   notification_id="f6a7b8c9-d0e1-4f2a-9b3c-4d5e6f7a8b91", rule="task_overdue",
                   recipient=Recipient(unit_id="BTG", kind="lead_unit",
                                       address="https://btg.example.vn/hooks/dondoc"),
                   channel=Channel.WEBHOOK,
                   about=Subject(task_id=_TASK, directive_number="125-TB/TU",
                                 due_on=date(2018, 7, 2)),
                   attempts=8, last_error="HTTP 500 Internal Server Error", failed_at=moment)


CATALOGUE: tuple[type[ContractEvent], ...] = (
    UnitRegistered, UnitChanged,
    DirectiveIssued, DirectiveAmended, DirectiveRevoked,
    TaskAssigned, TaskProgressRecorded, TaskCompleted, TaskDeadlineAdjusted, TaskReassigned,
    TaskWithdrawn, TaskOverdue,
    ReportRequested, ReportSubmitted, ReportReviewed, ReportOverdue,
    AdjustmentRequested, AdjustmentDecided,
    NotificationSent, NotificationFailed,
)

__all__ = [c.__name__ for c in CATALOGUE] + [
    "CATALOGUE", "ICT", "AdjustmentKind", "Channel", "ClaimedStatus", "DeadlineKind",
    "DeadlineRule", "Decision", "DirectiveItem", "DirectiveKind", "Effectiveness", "Frequency",
    "LineAssessment", "Notice", "Period", "PeriodKind", "Proposal", "Quality", "Recipient", "ReportLine",
    "Secrecy", "Subject", "Text", "Urgency", "Verdict",
]
