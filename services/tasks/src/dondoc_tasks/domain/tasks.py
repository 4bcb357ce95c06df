"""A task: one directive item assigned to its one lead unit, tracked until the assigning
body's office (or the review team) confirms it done, or withdraws it.

Every event carries what its public counterpart needs (lead unit, deadlines), so the
translation to contract events needs no other state; `at` is the business time.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

TASKS = uuid5(NAMESPACE_URL, "https://dondoc.vn/tasks")


def task_id_for(directive_id: str, item_id: str) -> UUID:
    """The same directive item always gives the same task: a replay creates nothing twice."""
    return uuid5(TASKS, f"task:{directive_id}:{item_id}")


OPEN, COMPLETED, WITHDRAWN = "open", "completed", "withdrawn"


class Task(Aggregate):
    @staticmethod
    def create_id(directive_id: str, item_id: str) -> UUID:
        return task_id_for(directive_id, item_id)

    @event("Assigned")
    def __init__(self, directive_id: str, item_id: str, directive_number: str,
                 directive_kind: str, issuing_body: str, paragraph: str, content: str,
                 lead_unit_id: str, cooperating_unit_ids: list[str], assigned_on: date,
                 deadline_rule: dict[str, Any], due_on: date | None,
                 original_due_on: date | None, domain: str | None, review_group: str | None,
                 key_task: bool, secrecy: str, report_frequency: str | None,
                 product: str | None, actor: dict[str, Any], at: datetime) -> None:
        self.directive_id = directive_id
        self.item_id = item_id
        self.directive_number = directive_number
        self.directive_kind = directive_kind
        self.issuing_body = issuing_body
        self.paragraph = paragraph
        self.content = content
        self.lead_unit_id = lead_unit_id
        self.cooperating_unit_ids = list(cooperating_unit_ids)
        self.assigned_on = assigned_on
        self.deadline_rule = deadline_rule
        self.due_on = due_on
        self.original_due_on = original_due_on
        self.domain = domain
        self.review_group = review_group
        self.key_task = key_task
        self.secrecy = secrecy
        self.report_frequency = report_frequency
        self.product = product
        self.state = OPEN
        self.completed_on: date | None = None
        self.withdrawn_on: date | None = None
        self.overdue_for: list[date] = []
        self.last_progress_on: date | None = None

    @property
    def is_open(self) -> bool:
        return self.state == OPEN

    @event("ProgressRecorded")
    def record_progress(self, unit_id: str, status_claimed: str, progress: str,
                        evidence: str | None, delay_reason: str | None, report_id: str | None,
                        recorded_on: date, actor: dict[str, Any], at: datetime) -> None:
        # reports reach this service in any order (each report is its own aggregate, and an
        # import may send an older one late): the latest claim is the latest by its date
        if self.last_progress_on is None or recorded_on >= self.last_progress_on:
            self.last_progress_on = recorded_on

    @event("Completed")
    def complete(self, lead_unit_id: str, completed_on: date, due_on: date | None,
                 original_due_on: date | None, result: str | None, evidence: str | None,
                 report_id: str | None, actor: dict[str, Any], at: datetime) -> None:
        self.state = COMPLETED
        self.completed_on = completed_on

    @event("DeadlineAdjusted")
    def adjust_deadline(self, lead_unit_id: str, kind: str, previous_due_on: date | None,
                        due_on: date | None, original_due_on: date | None,
                        decision: dict[str, Any], request_id: str | None, reason: str | None,
                        actor: dict[str, Any], at: datetime) -> None:
        self.due_on = due_on

    @event("Reassigned")
    def reassign(self, previous_lead_unit_id: str, lead_unit_id: str,
                 cooperating_unit_ids: list[str], reassigned_on: date,
                 decision: dict[str, Any] | None, reason: str | None, actor: dict[str, Any],
                 at: datetime) -> None:
        self.lead_unit_id = lead_unit_id
        self.cooperating_unit_ids = list(cooperating_unit_ids)

    @event("Withdrawn")
    def withdraw(self, lead_unit_id: str, withdrawn_on: date, decision: dict[str, Any] | None,
                 reason: str | None, request_id: str | None, actor: dict[str, Any],
                 at: datetime) -> None:
        self.state = WITHDRAWN
        self.withdrawn_on = withdrawn_on

    @event("WentOverdue")
    def go_overdue(self, lead_unit_id: str, due_on: date, overdue_at: datetime,
                   actor: dict[str, Any], at: datetime) -> None:
        self.overdue_for.append(due_on)

    @event("ContentAmended")
    def amend_content(self, paragraph: str, content: str, domain: str | None,
                      review_group: str | None, key_task: bool, product: str | None,
                      deadline_rule: dict[str, Any], actor: dict[str, Any],
                      at: datetime) -> None:
        self.deadline_rule = deadline_rule
        self.paragraph = paragraph
        self.content = content
        self.domain = domain
        self.review_group = review_group
        self.key_task = key_task
        self.product = product

    def went_overdue_for(self, due_on: date) -> bool:
        return due_on in self.overdue_for


class DirectiveLedger(Aggregate):
    """What the tasks service knows of a directive: which of its items became tasks."""

    @staticmethod
    def create_id(directive_id: str) -> UUID:
        return uuid5(TASKS, f"directive:{directive_id}")

    @event("Noted")
    def __init__(self, directive_id: str, number: str, kind: str, issuing_body: str,
                 issued_on: date, secrecy: str, item_ids: list[str]) -> None:
        self.directive_id = directive_id
        self.number = number
        self.kind = kind
        self.issuing_body = issuing_body
        self.issued_on = issued_on
        self.secrecy = secrecy
        self.item_ids = list(item_ids)
        self.revoked = False

    @event("ItemsNoted")
    def note_items(self, item_ids: list[str]) -> None:
        self.item_ids += [i for i in item_ids if i not in self.item_ids]

    @event("RevocationNoted")
    def note_revocation(self) -> None:
        self.revoked = True


class KnownUnit(Aggregate):
    """A unit of the directory, as the directives service announced it."""

    @staticmethod
    def create_id(unit_id: str) -> UUID:
        return uuid5(TASKS, f"unit:{unit_id}")

    @event("Noted")
    def __init__(self, unit_id: str, name: str, review_group: str | None, active: bool) -> None:
        self.unit_id = unit_id
        self.name = name
        self.review_group = review_group
        self.active = active

    @event("ChangeNoted")
    def note_change(self, name: str, review_group: str | None, active: bool) -> None:
        self.name = name
        self.review_group = review_group
        self.active = active
