"""Private domain events of the tasks service → public contract events."""

from __future__ import annotations

from typing import Any

from dondoc_contracts import (
    Actor,
    ContractEvent,
    TaskAssigned,
    TaskCompleted,
    TaskDeadlineAdjusted,
    TaskOverdue,
    TaskProgressRecorded,
    TaskReassigned,
    TaskWithdrawn,
)
from dondoc_contracts.values import DeadlineRule, Decision
from dondoc_platform.clock import VN_TZ
from dondoc_tasks.domain.tasks import Task


def _common(event: Any) -> dict[str, Any]:
    return {"occurred_at": event.at.astimezone(VN_TZ), "actor": Actor.model_validate(event.actor),
            "task_id": str(event.originator_id)}


def _decision(value: dict[str, Any] | None) -> Decision | None:
    return Decision.model_validate(value) if value else None


def translate(event: Any) -> ContractEvent | None:
    if isinstance(event, Task.Assigned):
        return TaskAssigned(
            **_common(event), directive_id=event.directive_id,
            directive_number=event.directive_number, directive_kind=event.directive_kind,
            issuing_body=event.issuing_body, item_id=event.item_id, paragraph=event.paragraph,
            content=event.content, lead_unit_id=event.lead_unit_id,
            cooperating_unit_ids=tuple(event.cooperating_unit_ids), assigned_on=event.assigned_on,
            deadline_rule=DeadlineRule.model_validate(event.deadline_rule), due_on=event.due_on,
            original_due_on=event.original_due_on, domain=event.domain,
            review_group=event.review_group, key_task=event.key_task, secrecy=event.secrecy,
            report_frequency=event.report_frequency, product=event.product)
    if isinstance(event, Task.ProgressRecorded):
        return TaskProgressRecorded(
            **_common(event), unit_id=event.unit_id, status_claimed=event.status_claimed,
            progress=event.progress, evidence=event.evidence, delay_reason=event.delay_reason,
            report_id=event.report_id, recorded_on=event.recorded_on)
    if isinstance(event, Task.Completed):
        return TaskCompleted(
            **_common(event), lead_unit_id=event.lead_unit_id, completed_on=event.completed_on,
            due_on=event.due_on, original_due_on=event.original_due_on, result=event.result,
            evidence=event.evidence, report_id=event.report_id)
    if isinstance(event, Task.DeadlineAdjusted):
        return TaskDeadlineAdjusted(
            **_common(event), lead_unit_id=event.lead_unit_id, kind=event.kind,
            previous_due_on=event.previous_due_on, due_on=event.due_on,
            original_due_on=event.original_due_on, decision=_decision(event.decision),
            request_id=event.request_id)
    if isinstance(event, Task.Reassigned):
        return TaskReassigned(
            **_common(event), previous_lead_unit_id=event.previous_lead_unit_id,
            lead_unit_id=event.lead_unit_id, cooperating_unit_ids=tuple(event.cooperating_unit_ids),
            reassigned_on=event.reassigned_on, decision=_decision(event.decision),
            reason=event.reason)
    if isinstance(event, Task.Withdrawn):
        return TaskWithdrawn(
            **_common(event), lead_unit_id=event.lead_unit_id, withdrawn_on=event.withdrawn_on,
            decision=_decision(event.decision), reason=event.reason, request_id=event.request_id)
    if isinstance(event, Task.WentOverdue):
        return TaskOverdue(
            **{**_common(event), "occurred_at": event.overdue_at.astimezone(VN_TZ)},
            lead_unit_id=event.lead_unit_id, due_on=event.due_on,
            overdue_at=event.overdue_at.astimezone(VN_TZ))
    return None
