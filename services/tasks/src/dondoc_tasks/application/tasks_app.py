"""The tasks service's application: tasks from directive items, their lifecycle, the
deadline engine with the administrator's calendar, and the reactions to other services'
events (each saved with its inbox entry in one transaction)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from dondoc_contracts import (
    SYSTEM_ACTOR,
    Actor,
    AdjustmentDecided,
    ContractEvent,
    DirectiveAmended,
    DirectiveIssued,
    DirectiveRevoked,
    ReportReviewed,
    ReportSubmitted,
    UnitChanged,
    UnitRegistered,
)
from dondoc_contracts.values import (
    AdjustmentKind,
    DeadlineRule,
    Decision,
    DirectiveItem,
    Verdict,
)
from dondoc_platform.calendar import DayCorrection, DayKind, WorkingCalendar, local_day, overdue_moment
from dondoc_platform.application import ServiceApplication
from dondoc_platform.errors import DomainError, conflict, forbidden, lead_also_cooperating, not_found
from dondoc_platform.eventstore import InboxEntry, load, save_with_inbox
from dondoc_platform.http import check_version
from dondoc_platform.inbox import Delivery
from dondoc_tasks.application.commands import (
    AdjustDeadline,
    ConfirmCompletion,
    CorrectDay,
    Reassign,
    RecordProgress,
)
from dondoc_tasks.domain.calendar import CALENDAR_ID, HolidayCalendar
from dondoc_tasks.domain.tasks import DirectiveLedger, KnownUnit, Task, task_id_for

log = logging.getLogger(__name__)


def _actor(actor: Actor) -> dict[str, Any]:
    return actor.model_dump(mode="json")


def _decision(decision: Decision | None) -> dict[str, Any] | None:
    return decision.model_dump(mode="json") if decision else None


class TasksApp(ServiceApplication):
    name = "Tasks"

    def today(self) -> date:
        return local_day(self.clock.now())

    # ------------------------------------------------------------------ the calendar

    def holiday_calendar(self) -> HolidayCalendar | None:
        try:
            return load(self, CALENDAR_ID)
        except AggregateNotFoundError:
            return None

    def working_calendar(self) -> WorkingCalendar:
        """The seeded calendar with the administrator's corrections as they stand now."""
        calendar = self.holiday_calendar()
        corrections = [] if calendar is None else [
            DayCorrection(c["day"], DayKind(c["kind"]), c["name"])
            for c in calendar.corrections.values()]
        return WorkingCalendar(corrections)

    def correct_day(self, day: date, command: CorrectDay, actor: Actor) -> HolidayCalendar:
        calendar = self.holiday_calendar() or HolidayCalendar()
        calendar.correct_day(day=day, kind=command.kind.value, name=command.name,
                             actor=_actor(actor), at=self.clock.now())
        self.save_command(calendar)
        return calendar

    def remove_correction(self, day: date, actor: Actor) -> HolidayCalendar:
        calendar = self.holiday_calendar()
        if calendar is None or day.isoformat() not in calendar.corrections:
            raise not_found("điều chỉnh lịch cho ngày", "calendar correction for", day.isoformat(),
                            field="day")
        calendar.remove_correction(day=day, actor=_actor(actor), at=self.clock.now())
        self.save_command(calendar)
        return calendar

    # ------------------------------------------------------------------ reading

    def task(self, task_id: str | UUID) -> Task:
        try:
            return load(self, UUID(str(task_id)))
        except (AggregateNotFoundError, ValueError):
            raise not_found("nhiệm vụ", "task", str(task_id), field="task_id") from None

    def known_unit(self, unit_id: str) -> KnownUnit | None:
        try:
            return load(self, KnownUnit.create_id(unit_id))
        except AggregateNotFoundError:
            return None

    def history(self, task_id: str | UUID) -> list[Any]:
        task = self.task(task_id)
        return list(self.repository.event_store.get(task.id))

    # ------------------------------------------------------------------ commands

    def record_progress(self, task_id: str, command: RecordProgress, actor: Actor,
                        expected: int | None = None) -> Task:
        task = self._open_task(task_id, expected)
        if actor.unit_id != task.lead_unit_id:
            raise _not_lead(task)
        recorded_on = command.recorded_on or self.today()
        self._not_in_future(recorded_on, "recorded_on")
        if recorded_on < task.assigned_on:
            raise DomainError("recorded_before_assigned",
                              "Ngày báo cáo tiến độ trước ngày giao nhiệm vụ",
                              "The progress is dated before the task was assigned",
                              field="recorded_on")
        task.record_progress(unit_id=task.lead_unit_id, status_claimed=command.status_claimed.value,
                             progress=command.progress, evidence=command.evidence,
                             delay_reason=command.delay_reason, report_id=None,
                             recorded_on=recorded_on, actor=_actor(actor), at=self.clock.now())
        self.save_command(task)
        return task

    def confirm_completion(self, task_id: str, command: ConfirmCompletion, actor: Actor,
                           expected: int | None = None) -> Task:
        task = self._open_task(task_id, expected)
        self._not_in_future(command.completed_on, "completed_on")
        if command.completed_on < task.assigned_on:
            raise DomainError("completed_before_assigned",
                              "Ngày hoàn thành trước ngày giao nhiệm vụ",
                              "The completion day is before the task was assigned",
                              field="completed_on")
        task.complete(lead_unit_id=task.lead_unit_id, completed_on=command.completed_on,
                      due_on=task.due_on, original_due_on=task.original_due_on,
                      result=command.result, evidence=command.evidence, report_id=None,
                      actor=_actor(actor), at=self.clock.now())
        self.save_command(task)
        return task

    def adjust_deadline(self, task_id: str, command: AdjustDeadline, actor: Actor,
                        expected: int | None = None) -> Task:
        task = self._open_task(task_id, expected)
        self._not_in_future(command.decision.decided_on, "decision.decided_on")
        if command.decision.decided_on < task.assigned_on:
            raise DomainError("decision_before_assigned", "Quyết định có ngày trước ngày giao",
                              "The decision is dated before the task was assigned",
                              field="decision.decided_on")
        self._apply_adjustment(task, command.kind, command.due_on, command.decision,
                               command.request_id, command.reason, actor, self.clock.now())
        self.save_command(task)
        return task

    def _apply_adjustment(self, task: Task, kind: AdjustmentKind, due_on: date | None,
                          decision: Decision, request_id: str | None, reason: str | None,
                          actor: Actor, at: datetime) -> None:
        if kind is AdjustmentKind.WITHDRAW:
            task.withdraw(lead_unit_id=task.lead_unit_id, withdrawn_on=decision.decided_on,
                          decision=_decision(decision), reason=reason, request_id=request_id,
                          actor=_actor(actor), at=at)
            return
        if due_on is None and kind is AdjustmentKind.EXTEND:
            raise DomainError("due_on_required", "Gia hạn cần ngày thời hạn mới",
                              "An extension needs the new deadline day", field="due_on")
        if due_on is not None and due_on < task.assigned_on:
            raise DomainError("deadline_before_assigned",
                              f"Thời hạn mới {due_on:%d/%m/%Y} trước ngày giao nhiệm vụ",
                              f"The new deadline {due_on} is before the task was assigned",
                              field="due_on")
        effective = self.working_calendar().effective_due(due_on) if due_on else None
        if effective == task.due_on:
            raise conflict("deadline_unchanged", "Thời hạn mới trùng thời hạn hiện tại",
                           "The new deadline is the current one", field="due_on")
        task.adjust_deadline(lead_unit_id=task.lead_unit_id, kind=kind.value,
                             previous_due_on=task.due_on, due_on=effective,
                             original_due_on=task.original_due_on, decision=_decision(decision),
                             request_id=request_id, reason=reason, actor=_actor(actor), at=at)

    def reassign(self, task_id: str, command: Reassign, actor: Actor,
                 expected: int | None = None) -> Task:
        task = self._open_task(task_id, expected)
        self._require_unit(command.lead_unit_id, "lead_unit_id")
        for i, unit_id in enumerate(command.cooperating_unit_ids):
            self._require_unit(unit_id, f"cooperating_unit_ids[{i}]")
            if unit_id == command.lead_unit_id:
                raise lead_also_cooperating(unit_id, f"cooperating_unit_ids[{i}]")
        cooperating = list(dict.fromkeys(command.cooperating_unit_ids))
        if command.lead_unit_id == task.lead_unit_id and cooperating == task.cooperating_unit_ids:
            raise conflict("assignment_unchanged", "Phân công không thay đổi",
                           "The assignment is the current one", field="lead_unit_id")
        task.reassign(previous_lead_unit_id=task.lead_unit_id, lead_unit_id=command.lead_unit_id,
                      cooperating_unit_ids=cooperating, reassigned_on=self.today(),
                      decision=_decision(command.decision), reason=command.reason,
                      actor=_actor(actor), at=self.clock.now())
        self.save_command(task)
        return task

    def mark_overdue(self, task_id: str, due_on: date) -> bool:
        """The deadline watcher's command: TaskOverdue once per (task, effective deadline)."""
        try:
            task: Task = load(self, UUID(task_id))
        except AggregateNotFoundError:
            return False
        moment = overdue_moment(due_on)
        if (not task.is_open or task.due_on != due_on or task.went_overdue_for(due_on)
                or self.clock.now() < moment):
            return False
        task.go_overdue(lead_unit_id=task.lead_unit_id, due_on=due_on, overdue_at=moment,
                        actor=_actor(SYSTEM_ACTOR), at=moment)
        try:
            self.save(task)
        except IntegrityError:
            return False  # changed meanwhile (or another watcher did it): looked at again
        return True

    def _open_task(self, task_id: str, expected: int | None) -> Task:
        task = self.task(task_id)
        check_version(task.version, expected, "Nhiệm vụ", "The task")
        if not task.is_open:
            state_vi = "đã hoàn thành" if task.state == "completed" else "đã rút"
            raise conflict("task_closed", f"Nhiệm vụ {state_vi}, không thay đổi được",
                           f"The task is {task.state} and cannot change")
        return task

    def _require_unit(self, unit_id: str, field: str) -> None:
        unit = self.known_unit(unit_id)
        if unit is None:
            raise DomainError("unknown_unit", f"Không có đơn vị {unit_id} trong danh mục",
                              f"Unknown unit {unit_id}", field=field)
        if not unit.active:
            raise DomainError("inactive_unit", f"Đơn vị {unit_id} đã ngừng hoạt động",
                              f"Unit {unit_id} is no longer active", field=field)

    def _not_in_future(self, day: date, field: str) -> None:
        if day > self.today():
            raise DomainError("date_in_future", f"Ngày {day:%d/%m/%Y} ở tương lai",
                              f"The day {day} is in the future", field=field)

    # ------------------------------------------------------------------ reactions

    def react(self, delivery: Delivery, entry: InboxEntry) -> bool:
        """Apply another service's event; True if something was recorded."""
        handler = self._reactions().get(type(delivery.event))
        if handler is None:
            return False
        return handler(delivery.event, entry)

    def _reactions(self) -> dict[type[ContractEvent], Callable[[Any, InboxEntry], bool]]:
        return {
            DirectiveIssued: self.when_directive_issued_assign_tasks,
            DirectiveAmended: self.when_directive_amended_follow_its_items,
            DirectiveRevoked: self.when_directive_revoked_withdraw_open_tasks,
            UnitRegistered: self.when_unit_registered_remember_it,
            UnitChanged: self.when_unit_changed_remember_it,
            ReportSubmitted: self.when_report_submitted_record_the_claims,
            ReportReviewed: self.when_report_reviewed_complete_confirmed_tasks,
            AdjustmentDecided: self.when_adjustment_decided_apply_it,
        }

    def when_directive_issued_assign_tasks(self, event: DirectiveIssued, entry: InboxEntry) -> bool:
        try:
            load(self, DirectiveLedger.create_id(event.directive_id))
            return save_with_inbox(self, entry)  # known already (a replay): nothing new
        except AggregateNotFoundError:
            pass
        calendar = self.working_calendar()
        # No ledger, no task of it yet: tasks are saved with their directive's ledger (here
        # and on an amendment, which needs the ledger), so none is looked up one by one (a
        # task there all the same would refuse the save rather than be assigned twice).
        tasks = [self._assign(event.directive_id, event.number, event.kind.value,
                              event.issuing_body, event.secrecy.value, item, event.issued_on,
                              calendar, event.actor, event.occurred_at, known_new=True)
                 for item in event.items if item.lead_unit_id]
        ledger = DirectiveLedger(directive_id=event.directive_id, number=event.number,
                                 kind=event.kind.value, issuing_body=event.issuing_body,
                                 issued_on=event.issued_on, secrecy=event.secrecy.value,
                                 item_ids=[item.item_id for item in event.items])
        return save_with_inbox(self, entry, ledger, *[t for t in tasks if t is not None])

    def _assign(self, directive_id: str, number: str, kind: str, issuing_body: str, secrecy: str,
                item: DirectiveItem, assigned_on: date, calendar: WorkingCalendar, actor: Actor,
                at: datetime, known_new: bool = False) -> Task | None:
        if not known_new:
            try:
                load(self, task_id_for(directive_id, item.item_id))
                return None
            except AggregateNotFoundError:
                pass
        rule: DeadlineRule = item.deadline
        due_on = calendar.due_date(rule, assigned_on)
        return Task(directive_id=directive_id, item_id=item.item_id, directive_number=number,
                    directive_kind=kind, issuing_body=issuing_body, paragraph=item.paragraph,
                    content=item.text, lead_unit_id=item.lead_unit_id or "",
                    cooperating_unit_ids=list(item.cooperating_unit_ids), assigned_on=assigned_on,
                    deadline_rule=rule.model_dump(mode="json"), due_on=due_on,
                    original_due_on=due_on, domain=item.domain, review_group=item.review_group,
                    key_task=item.key_task, secrecy=secrecy,
                    report_frequency=rule.frequency.value if rule.frequency else None,
                    product=item.product, actor=_actor(actor), at=at)

    def when_directive_amended_follow_its_items(self, event: DirectiveAmended,
                                                entry: InboxEntry) -> bool:
        try:
            ledger: DirectiveLedger = load(self, DirectiveLedger.create_id(event.directive_id))
        except AggregateNotFoundError:
            log.warning("amendment of unknown directive %s ignored", event.directive_id)
            return save_with_inbox(self, entry)
        at = event.occurred_at
        amended_on = event.decision.decided_on if event.decision else local_day(at)
        decision = event.decision or Decision(number=event.number, decided_on=amended_on,
                                              decider=ledger.issuing_body)
        calendar = self.working_calendar()
        changed: list[Any] = []
        for item in event.items_added:
            if item.lead_unit_id:
                task = self._assign(ledger.directive_id, ledger.number, ledger.kind,
                                    ledger.issuing_body, ledger.secrecy, item, amended_on,
                                    calendar, event.actor, at)
                changed.append(task)
        for item in event.items_changed:
            task = self._existing(ledger.directive_id, item.item_id)
            if task is None:
                if item.lead_unit_id:
                    changed.append(self._assign(ledger.directive_id, ledger.number, ledger.kind,
                                                ledger.issuing_body, ledger.secrecy, item,
                                                amended_on, calendar, event.actor, at))
                continue
            if not task.is_open:
                continue
            self._follow_item(task, item, decision, calendar, event.actor, at, amended_on)
            changed.append(task)
        for item_id in event.items_removed:
            task = self._existing(ledger.directive_id, item_id)
            if task is not None and task.is_open:
                task.withdraw(lead_unit_id=task.lead_unit_id, withdrawn_on=amended_on,
                              decision=_decision(decision),
                              reason=event.reason or "Mục bị bỏ khỏi văn bản khi sửa đổi",
                              request_id=None, actor=_actor(event.actor), at=at)
                changed.append(task)
        ledger.note_items([i.item_id for i in (*event.items_added, *event.items_changed)])
        return save_with_inbox(self, entry, ledger, *[c for c in changed if c is not None])

    def _follow_item(self, task: Task, item: DirectiveItem, decision: Decision,
                     calendar: WorkingCalendar, actor: Actor, at: datetime,
                     amended_on: date) -> None:
        rule = item.deadline.model_dump(mode="json")
        rule_changed = rule != task.deadline_rule
        if (item.text, item.paragraph, item.domain, item.review_group, item.key_task,
                item.product, rule) != (task.content, task.paragraph, task.domain,
                                        task.review_group, task.key_task, task.product,
                                        task.deadline_rule):
            task.amend_content(paragraph=item.paragraph, content=item.text, domain=item.domain,
                               review_group=item.review_group, key_task=item.key_task,
                               product=item.product, deadline_rule=rule, actor=_actor(actor),
                               at=at)
        if item.lead_unit_id and (item.lead_unit_id != task.lead_unit_id or
                                  list(item.cooperating_unit_ids) != task.cooperating_unit_ids):
            task.reassign(previous_lead_unit_id=task.lead_unit_id, lead_unit_id=item.lead_unit_id,
                          cooperating_unit_ids=list(item.cooperating_unit_ids),
                          reassigned_on=amended_on, decision=_decision(decision),
                          reason="Sửa đổi văn bản", actor=_actor(actor), at=at)
        if rule_changed:
            due_on = calendar.due_date(item.deadline, task.assigned_on)
            if due_on != task.due_on:
                task.adjust_deadline(lead_unit_id=task.lead_unit_id,
                                     kind=AdjustmentKind.EXTEND.value if due_on else
                                     AdjustmentKind.STRETCH.value,
                                     previous_due_on=task.due_on, due_on=due_on,
                                     original_due_on=task.original_due_on,
                                     decision=_decision(decision), request_id=None,
                                     reason="Sửa đổi văn bản", actor=_actor(actor), at=at)

    def _existing(self, directive_id: str, item_id: str) -> Task | None:
        try:
            return load(self, task_id_for(directive_id, item_id))
        except AggregateNotFoundError:
            return None

    def when_directive_revoked_withdraw_open_tasks(self, event: DirectiveRevoked,
                                                   entry: InboxEntry) -> bool:
        try:
            ledger: DirectiveLedger = load(self, DirectiveLedger.create_id(event.directive_id))
        except AggregateNotFoundError:
            return save_with_inbox(self, entry)
        if ledger.revoked:
            return save_with_inbox(self, entry)
        withdrawn = []
        for item_id in ledger.item_ids:
            task = self._existing(ledger.directive_id, item_id)
            if task is not None and task.is_open:
                task.withdraw(lead_unit_id=task.lead_unit_id,
                              withdrawn_on=event.decision.decided_on,
                              decision=_decision(event.decision), reason=event.reason,
                              request_id=None, actor=_actor(event.actor), at=event.occurred_at)
                withdrawn.append(task)
        ledger.note_revocation()
        return save_with_inbox(self, entry, ledger, *withdrawn)

    def when_unit_registered_remember_it(self, event: UnitRegistered, entry: InboxEntry) -> bool:
        if self.known_unit(event.unit_id) is not None:
            return save_with_inbox(self, entry)
        unit = KnownUnit(unit_id=event.unit_id, name=event.name, review_group=event.review_group,
                         active=True)
        return save_with_inbox(self, entry, unit)

    def when_unit_changed_remember_it(self, event: UnitChanged, entry: InboxEntry) -> bool:
        unit = self.known_unit(event.unit_id)
        if unit is None:
            unit = KnownUnit(unit_id=event.unit_id, name=event.name,
                             review_group=event.review_group, active=event.active)
        else:
            unit.note_change(name=event.name, review_group=event.review_group, active=event.active)
        return save_with_inbox(self, entry, unit)

    def when_report_submitted_record_the_claims(self, event: ReportSubmitted,
                                                entry: InboxEntry) -> bool:
        claimed = []
        for line in event.lines:
            task = self._task_of(line.task_id)
            if task is None or task.lead_unit_id != event.unit_id:
                continue  # not this unit's task: the claim changes nothing here
            closed_on = task.completed_on or task.withdrawn_on
            if not task.is_open and (closed_on is None or event.submitted_on > closed_on):
                continue  # made after the task closed: nothing to record
            # A claim made while the task was open stays in its history even when the report
            # reaches this service after the office closed the task (services run apart).
            task.record_progress(unit_id=event.unit_id, status_claimed=line.status_claimed.value,
                                 progress=line.progress, evidence=line.evidence,
                                 delay_reason=line.delay_reason, report_id=event.report_id,
                                 recorded_on=event.submitted_on, actor=_actor(event.actor),
                                 at=event.occurred_at)
            claimed.append(task)
        return save_with_inbox(self, entry, *claimed)

    def when_report_reviewed_complete_confirmed_tasks(self, event: ReportReviewed,
                                                      entry: InboxEntry) -> bool:
        completed = []
        for line in event.lines:
            if not line.completion_confirmed or line.verdict is not Verdict.ACCEPTED:
                continue
            task = self._task_of(line.task_id)
            if task is None or not task.is_open or task.lead_unit_id != event.unit_id:
                continue
            completed_on = max(line.completed_on or event.reviewed_on, task.assigned_on)
            task.complete(lead_unit_id=task.lead_unit_id, completed_on=completed_on,
                          due_on=task.due_on, original_due_on=task.original_due_on,
                          result=line.comment, evidence=None, report_id=event.report_id,
                          actor=_actor(event.actor), at=event.occurred_at)
            completed.append(task)
        return save_with_inbox(self, entry, *completed)

    def when_adjustment_decided_apply_it(self, event: AdjustmentDecided, entry: InboxEntry) -> bool:
        task = self._task_of(event.task_id)
        if not event.approved or task is None or not task.is_open:
            return save_with_inbox(self, entry)
        try:
            self._apply_adjustment(task, event.kind, event.due_on, event.decision,
                                   event.request_id, event.comment, event.actor, event.occurred_at)
        except DomainError as e:
            log.warning("adjustment %s for task %s not applied: %s", event.request_id,
                        event.task_id, e.message_en)
            return save_with_inbox(self, entry)
        return save_with_inbox(self, entry, task)

    def _task_of(self, task_id: str) -> Task | None:
        try:
            return load(self, UUID(task_id))
        except (AggregateNotFoundError, ValueError):
            return None


def _not_lead(task: Task) -> DomainError:
    return forbidden(f"Chỉ đơn vị chủ trì ({task.lead_unit_id}) được báo cáo nhiệm vụ này",
                     f"Only the lead unit ({task.lead_unit_id}) may report on this task")

