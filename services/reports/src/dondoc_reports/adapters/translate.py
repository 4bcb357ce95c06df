"""Private domain events → public contract events (dondoc.reports.v1). Cycle events stay
private: the public fact of a cycle is each unit's ReportRequested."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dondoc_contracts import (
    Actor,
    AdjustmentDecided,
    AdjustmentRequested,
    ContractEvent,
    Decision,
    LineAssessment,
    Period,
    ReportLine,
    ReportOverdue,
    ReportRequested,
    ReportReviewed,
    ReportSubmitted,
    SYSTEM_ACTOR,
)
from dondoc_platform.clock import VN_TZ
from dondoc_reports.domain.adjustment import AdjustmentRequest
from dondoc_reports.domain.report import Report


def _local(moment: datetime) -> datetime:
    return moment.astimezone(VN_TZ)


def _actor(data: dict[str, Any]) -> Actor:
    return Actor.model_validate(data)


def translate(event: Any) -> ContractEvent | None:
    ident = str(event.originator_id)
    if isinstance(event, Report.Requested):
        return ReportRequested(
            occurred_at=_local(event.at), actor=_actor(event.actor), report_id=ident,
            cycle_id=str(event.cycle_id), unit_id=event.unit_id,
            period=Period.model_validate(event.period), data_cutoff_on=event.data_cutoff_on,
            due_on=event.due_on, task_ids=tuple(event.task_ids))
    if isinstance(event, Report.Submitted):
        report = _report_keys(event)
        return ReportSubmitted(
            occurred_at=_local(event.at), actor=_actor(event.actor), **report,
            submitted_on=event.submitted_on, revision=event.revision,
            lines=tuple(ReportLine.model_validate(line) for line in event.lines),
            summary=event.summary)
    if isinstance(event, Report.Reviewed):
        return ReportReviewed(
            occurred_at=_local(event.at), actor=_actor(event.actor), **_report_keys(event),
            revision=event.revision, outcome=event.outcome, reviewed_on=event.reviewed_on,
            lines=tuple(LineAssessment.model_validate(a) for a in event.assessments),
            comment=event.comment)
    if isinstance(event, Report.MarkedOverdue):
        moment = _local(event.overdue_at)
        return ReportOverdue(occurred_at=moment, actor=SYSTEM_ACTOR, **_report_keys(event),
                             due_on=event.due_on, overdue_at=moment)
    if isinstance(event, AdjustmentRequest.Requested):
        return AdjustmentRequested(
            occurred_at=_local(event.at), actor=_actor(event.actor), request_id=ident,
            task_id=event.task_id, unit_id=event.unit_id, kind=event.kind,
            proposed_due_on=event.proposed_due_on, reason=event.reason,
            requested_on=event.requested_on, report_id=event.report_id)
    if isinstance(event, AdjustmentRequest.Decided):
        return AdjustmentDecided(
            occurred_at=_local(event.at), actor=_actor(event.actor), request_id=ident,
            task_id=event.task_id, unit_id=event.unit_id, kind=event.kind,
            approved=event.approved, due_on=event.due_on,
            decision=Decision.model_validate(event.decision), comment=event.comment)
    return None


def _report_keys(event: Any) -> dict[str, str]:
    return {"report_id": str(event.originator_id), "cycle_id": str(event.cycle_id),
            "unit_id": event.unit_id}
