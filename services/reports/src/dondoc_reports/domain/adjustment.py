"""A lead unit's request to extend, stretch or withdraw a task, and the office's decision."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from dondoc_platform.errors import DomainError, conflict

NEEDS_DATE = ("extend", "stretch")


def check_request(*, kind: str, proposed_due_on: date | None, current_due_on: date | None,
                  requested_on: date) -> None:
    if kind in NEEDS_DATE:
        if proposed_due_on is None:
            raise DomainError("proposed_date_required", "Cần nêu thời hạn đề nghị",
                              "A proposed deadline is required", field="proposed_due_on")
        floor = max(d for d in (current_due_on, requested_on) if d is not None)
        if proposed_due_on <= floor:
            raise DomainError("proposed_date_too_early",
                              f"Thời hạn đề nghị phải sau ngày {floor:%d/%m/%Y}",
                              f"The proposed deadline must be after {floor.isoformat()}",
                              field="proposed_due_on")
    elif proposed_due_on is not None:
        raise DomainError("proposed_date_not_allowed", "Đề nghị rút nhiệm vụ không kèm thời hạn mới",
                          "A withdrawal request takes no proposed deadline", field="proposed_due_on")


class AdjustmentRequest(Aggregate):
    @event("Requested")
    def __init__(self, *, task_id: str, unit_id: str, kind: str, proposed_due_on: date | None,
                 reason: str, requested_on: date, report_id: str | None,
                 current_due_on: date | None, review_group: str | None, actor: dict[str, Any],
                 at: datetime) -> None:
        self.task_id = task_id
        self.review_group = review_group
        self.unit_id = unit_id
        self.kind = kind
        self.proposed_due_on = proposed_due_on
        self.reason = reason
        self.requested_on = requested_on
        self.report_id = report_id
        self.current_due_on = current_due_on
        self.requested_by = actor
        self.requested_at = at
        self.decision: dict[str, Any] | None = None
        self.approved: bool | None = None
        self.due_on: date | None = None
        self.comment: str | None = None
        self.decided_by: dict[str, Any] | None = None
        self.decided_at: datetime | None = None

    @property
    def decided(self) -> bool:
        return self.approved is not None

    def decide(self, *, approved: bool, due_on: date | None, decision: dict[str, Any],
               comment: str | None, actor: dict[str, Any], at: datetime) -> None:
        if self.decided:
            raise conflict("adjustment_decided", "Đề nghị điều chỉnh đã có quyết định",
                           "The adjustment request has been decided already", field="request_id")
        if decision["decided_on"] < self.requested_on:
            raise DomainError("decision_before_request", "Ngày quyết định trước ngày đề nghị",
                              "The decision is dated before the request", field="decision.decided_on")
        if approved and self.kind in NEEDS_DATE:
            due_on = due_on or self.proposed_due_on
            if due_on is None or due_on <= decision["decided_on"]:
                raise DomainError("new_deadline_required", "Cần thời hạn mới sau ngày quyết định",
                                  "A new deadline after the decision day is required", field="due_on")
        elif due_on is not None:
            raise DomainError("deadline_not_allowed",
                              "Chỉ quyết định chấp thuận gia hạn/giãn mới kèm thời hạn mới",
                              "Only an approved extension or stretch sets a new deadline",
                              field="due_on")
        self._decided(task_id=self.task_id, unit_id=self.unit_id, kind=self.kind,
                      approved=approved, due_on=due_on, decision=decision, comment=comment,
                      actor=actor, at=at)

    @event("Decided")
    def _decided(self, *, task_id: str, unit_id: str, kind: str, approved: bool,
                 due_on: date | None, decision: dict[str, Any], comment: str | None, actor: dict[str, Any], at: datetime) -> None:
        self.approved = approved
        self.due_on = due_on
        self.decision = decision
        self.comment = comment
        self.decided_by = actor
        self.decided_at = at
