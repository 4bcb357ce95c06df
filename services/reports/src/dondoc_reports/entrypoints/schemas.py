"""The HTTP API's bodies. Input text is NFC-normalised and bounded; unknown fields are refused."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from dondoc_contracts import nfc
from dondoc_contracts.base import Identifier
from dondoc_contracts.values import (
    AdjustmentKind,
    ClaimedStatus,
    Effectiveness,
    PeriodKind,
    Proposal,
    Quality,
    Verdict,
)
from dondoc_platform.names import Filled

Name = Annotated[str, AfterValidator(nfc), Field(min_length=1, max_length=500), Filled]
Note = Annotated[str, AfterValidator(nfc), Field(max_length=5_000), Filled]
Body = Annotated[str, AfterValidator(nfc), Field(max_length=20_000)]
Reason = Annotated[str, AfterValidator(nfc), Field(min_length=1, max_length=20_000), Filled]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class PeriodIn(Command):
    kind: PeriodKind
    label: Name = Field(description="e.g. '2018', 'Quý I/2019'")
    starts_on: date
    ends_on: date


class OpenCycle(Command):
    period: PeriodIn
    data_cutoff_on: date = Field(description="Ngày chốt số liệu: tasks open on this day are owed")
    due_on: date = Field(description="Hạn nộp báo cáo: overdue from the next day 00:00 (ICT)")
    title: Name | None = None
    unit_ids: list[Identifier] | None = Field(
        None, min_length=1, max_length=2_000,
        description="Only these units (each must owe a report); default: every unit that owes one")
    review_group: Name | None = Field(None, description="Only the units of this review group")
    include_units_without_open_tasks: bool = Field(
        False, description="With unit_ids: a named unit with no task open at the cut-off still "
                           "owes a report, listing no task (the office's records of past "
                           "obligations)")


class LineIn(Command):
    task_id: Identifier
    status_claimed: ClaimedStatus
    progress: Body = ""
    evidence: Note | None = None
    delay_reason: Note | None = None
    proposal: Proposal = Proposal.NONE
    proposed_due_on: date | None = None
    recommendation: Note | None = None
    completed_on: date | None = None


class SubmitReport(Command):
    lines: list[LineIn] = Field(max_length=2_000, description=(
        "One line per task (item by item); none only when the report owes no task"))
    summary: Body | None = None
    submitted_on: date | None = Field(None, description=(
        "The office only: the day it received the report (on paper, or from its own tracking "
        "book); not in the future, not before the period. Default and for units: today"))


class AssessmentIn(Command):
    task_id: Identifier
    verdict: Verdict
    quality: Quality
    effectiveness: Effectiveness = Effectiveness.NOT_ASSESSED
    comment: Note | None = None
    completion_confirmed: bool = False
    completed_on: date | None = Field(None, description="Default: the day the unit claimed")


class ReviewReport(Command):
    revision: int = Field(ge=1, le=10_000, description="The submission being assessed")
    lines: list[AssessmentIn] = Field(min_length=1, max_length=2_000)
    comment: Body | None = None
    reviewed_on: date | None = Field(
        None, description="Only the office: the day the review team assessed the report, from its "
                          "records (default: today)")


class RequestAdjustment(Command):
    task_id: Identifier
    kind: AdjustmentKind
    proposed_due_on: date | None = None
    reason: Reason
    report_id: Identifier | None = None


class DecisionIn(Command):
    number: Name = Field(description="e.g. '1520-CV/TU'")
    decided_on: date
    decider: Name = Field(description="e.g. 'Thường trực Tỉnh ủy'")


class DecideAdjustment(Command):
    approved: bool
    due_on: date | None = Field(None, description="The new deadline (approved extend/stretch); "
                                                  "default: the proposed one")
    decision: DecisionIn
    comment: Note | None = None


# --------------------------------------------------------------------------- responses


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ActorOut(Out):
    id: str
    role: str
    name: str | None = None
    unit_id: str | None = None
    review_group: str | None = None


class PeriodOut(Out):
    kind: str
    label: str
    starts_on: date
    ends_on: date


class ObligationOut(Out):
    """A unit's report in a cycle, without its lines."""

    report_id: str
    cycle_id: str
    unit_id: str
    unit_name: str | None
    review_group: str | None
    period: PeriodOut
    data_cutoff_on: date
    due_on: date
    task_ids: list[str] = Field(description="The tasks the report answers on; a task above the "
                                            "reader's clearance is left out")
    status: str = Field(description="requested, submitted, returned, accepted")
    revision: int
    first_submitted_on: date | None
    last_submitted_on: date | None
    last_reviewed_on: date | None
    on_time: bool | None = Field(description="First submission on or before the due day "
                                             "(null while not submitted)")
    overdue_at: AwareDatetime | None
    version: int


class CycleOut(Out):
    cycle_id: str
    title: str | None
    period: PeriodOut
    data_cutoff_on: date
    due_on: date
    status: str = Field(description="open or closed")
    unit_ids: list[str]
    opened_at: AwareDatetime
    opened_by: ActorOut
    closed_at: AwareDatetime | None
    overdue_decided_at_close: bool = Field(description=(
        "Opened after its due day (an office's past records): no report is marked overdue "
        "until the cycle is closed, which marks the missing ones at their business moment"))
    version: int


class CycleDetail(CycleOut):
    obligations: list[ObligationOut]


class LineOut(Out):
    task_id: str
    status_claimed: str
    progress: str = ""
    evidence: str | None = None
    delay_reason: str | None = None
    proposal: str = "none"
    proposed_due_on: date | None = None
    recommendation: str | None = None
    completed_on: date | None = None


class SubmissionOut(Out):
    revision: int
    submitted_at: AwareDatetime
    submitted_on: date
    submitted_by: ActorOut
    summary: str | None
    lines: list[LineOut] = Field(description="Lines on tasks above the reader's clearance are left out")


class AssessmentOut(Out):
    task_id: str
    verdict: str
    quality: str
    effectiveness: str
    comment: str | None = None
    completion_confirmed: bool = False
    completed_on: date | None = None


class ReviewOut(Out):
    revision: int
    reviewed_at: AwareDatetime
    reviewed_on: date
    reviewed_by: ActorOut
    outcome: str
    comment: str | None
    lines: list[AssessmentOut] = Field(
        description="Assessments of tasks above the reader's clearance are left out")


class ReportDetail(ObligationOut):
    submissions: list[SubmissionOut] = Field(description="Every submission, first to latest")
    reviews: list[ReviewOut] = Field(description="The review history, one per assessed revision")
    unanswered_task_ids: list[str] = Field(
        default_factory=list,
        description="Open tasks of the report that the latest submission has no line on (a line "
                    "on a secret task is not asked of a submitter not cleared for it): the review "
                    "returns the report for them. Empty before the first submission")


class DecisionOut(Out):
    number: str
    decided_on: date
    decider: str


class AdjustmentOut(Out):
    request_id: str
    task_id: str
    unit_id: str
    kind: str
    proposed_due_on: date | None
    current_due_on: date | None
    reason: str
    requested_on: date
    requested_by: ActorOut
    report_id: str | None
    status: str = Field(description="pending, approved, rejected")
    due_on: date | None
    decision: DecisionOut | None
    comment: str | None
    decided_at: AwareDatetime | None
    version: int


class UnitTaskOut(Out):
    task_id: str
    directive_number: str
    paragraph: str
    content: str
    assigned_on: date
    deadline_kind: str
    frequency: str | None
    due_on: date | None
    original_due_on: date | None
    completed_on: date | None
    withdrawn_on: date | None
    review_group: str | None
    key_task: bool
    secrecy: str


def plain(model: BaseModel) -> dict[str, Any]:
    return model.model_dump()
