"""The use cases of the reports service, one method per command, named as the office says
them. Each loads its aggregates, checks the rules against the local view of units and tasks,
and saves every new event in one transaction; nothing is recorded when a rule refuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from dondoc_contracts import Role
from dondoc_platform.auth import Principal
from dondoc_platform.calendar import local_day, overdue_moment
from dondoc_platform.clock import Clock
from dondoc_platform.errors import DomainError, conflict, forbidden, not_found
from dondoc_platform.http import check_version
from dondoc_reports.adapters.directory import Directory
from dondoc_reports.adapters.store import ReportsLog
from dondoc_reports.application import access
from dondoc_reports.domain.adjustment import AdjustmentRequest, check_request
from dondoc_reports.domain.cycle import ReportCycle, check_cycle_dates
from dondoc_reports.domain.obligations import TaskFacts, obligations
from dondoc_reports.domain.report import Report


def actor_of(principal: Principal) -> dict[str, Any]:
    return principal.actor().model_dump(mode="json")


def _uuid(value: str | UUID, field: str, what_vi: str, what_en: str) -> UUID:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise not_found(what_vi, what_en, str(value), field=field) from None


def _concurrent_change() -> DomainError:
    return conflict("concurrent_change", "Dữ liệu vừa được người khác thay đổi, hãy tải lại",
                    "Someone changed this meanwhile; reload and try again", field="If-Match")


@dataclass(frozen=True)
class Submitted:
    """A report just submitted, with the directory's facts of the tasks the submission was
    checked against (its answer shows their lines: read once, not again for the answer)."""

    report: Report
    tasks: dict[str, TaskFacts]


class ReportsService:
    def __init__(self, log: ReportsLog, directory: Directory, clock: Clock,
                 pending_adjustment: Callable[[str], str | None],
                 saved: Callable[[], None] = lambda: None,
                 recorded: Callable[[], None] | None = None) -> None:
        self.log = log
        self.directory = directory
        self.clock = clock
        self.pending_adjustment = pending_adjustment
        self.saved = saved  # after a command whose answer is read from the view
        self.recorded = recorded or saved  # after one answered from its aggregates

    # -- loading --------------------------------------------------------------------------

    def _get(self, cls: type, ident: str | UUID, field: str, what_vi: str, what_en: str) -> Any:
        key = _uuid(ident, field, what_vi, what_en)
        try:
            aggregate = self.log.repository.get(key)
        except AggregateNotFoundError:
            raise not_found(what_vi, what_en, str(ident), field=field) from None
        if not isinstance(aggregate, cls):
            raise not_found(what_vi, what_en, str(ident), field=field)
        return aggregate

    def cycle(self, cycle_id: str | UUID) -> ReportCycle:
        return self._get(ReportCycle, cycle_id, "cycle_id", "kỳ báo cáo", "Report cycle")

    def report(self, report_id: str | UUID) -> Report:
        return self._get(Report, report_id, "report_id", "báo cáo", "Report")

    def adjustment(self, request_id: str | UUID) -> AdjustmentRequest:
        return self._get(AdjustmentRequest, request_id, "request_id", "đề nghị điều chỉnh",
                         "Adjustment request")

    def _save(self, *aggregates: Any, answered_from_aggregates: bool = False) -> None:
        try:
            self.log.save(*aggregates)
        except IntegrityError as e:
            raise _concurrent_change() from e
        (self.recorded if answered_from_aggregates else self.saved)()

    def _now(self) -> tuple[datetime, date]:
        now = self.clock.now()
        return now, local_day(now)

    # -- report cycles --------------------------------------------------------------------

    def open_cycle(self, *, period: dict[str, Any], data_cutoff_on: date, due_on: date,
                   title: str | None, unit_ids: list[str] | None, review_group: str | None,
                   principal: Principal, include_units_without_open_tasks: bool = False,
                   ) -> ReportCycle:
        """Open a cycle: every unit with open tasks at the cut-off (or recurring tasks due a
        report in the period) owes one report listing those tasks. With
        `include_units_without_open_tasks`, a named unit that has none still owes a report
        (the office's records of past obligations say so); it lists no task."""
        check_cycle_dates(starts_on=period["starts_on"], ends_on=period["ends_on"],
                          data_cutoff_on=data_cutoff_on, due_on=due_on)
        if include_units_without_open_tasks and unit_ids is None:
            raise DomainError("unit_ids_required",
                              "Cần danh sách đơn vị khi tính cả đơn vị không còn nhiệm vụ mở",
                              "Name the units (unit_ids) to include units without open tasks",
                              field="unit_ids")
        owed = obligations(self.directory.open_tasks_at(data_cutoff_on), starts_on=period["starts_on"],
                           ends_on=period["ends_on"], cutoff=data_cutoff_on)
        if unit_ids is not None:
            known = self.directory.units(unit_ids)
            for i, unit_id in enumerate(unit_ids):
                if unit_id not in known:
                    raise DomainError("unknown_unit", f"Không có đơn vị {unit_id} trong danh mục",
                                      f"Unit {unit_id} is not in the directory", field=f"unit_ids[{i}]")
                if unit_id not in owed and include_units_without_open_tasks:
                    owed[unit_id] = []
                elif unit_id not in owed:
                    raise DomainError("nothing_to_report",
                                      f"Đơn vị {unit_id} không có nhiệm vụ phải báo cáo trong kỳ này",
                                      f"Unit {unit_id} has no task to report on in this cycle",
                                      field=f"unit_ids[{i}]")
            owed = {u: owed[u] for u in dict.fromkeys(unit_ids)}
        if review_group is not None:
            members = self.directory.units_in_group(review_group)
            if not members:
                raise DomainError("unknown_review_group",
                                  f"Không có đơn vị nào thuộc nhóm rà soát '{review_group}'",
                                  f"No unit belongs to review group '{review_group}'",
                                  field="review_group")
            owed = {u: ids for u, ids in owed.items() if u in members}
        if not owed:
            raise DomainError("no_obligations",
                              "Không đơn vị nào có nhiệm vụ phải báo cáo tính đến ngày chốt số liệu",
                              "No unit has a task to report on as of the data cut-off date",
                              field="data_cutoff_on")
        now, _ = self._now()
        actor = actor_of(principal)
        cycle = ReportCycle(period=period, data_cutoff_on=data_cutoff_on, due_on=due_on, title=title,
                            unit_ids=list(owed), actor=actor, at=now)
        units = self.directory.units(owed)
        reports = [
            Report(cycle_id=cycle.id, unit_id=unit_id,
                   unit_name=units[unit_id].name if unit_id in units else None,
                   review_group=units[unit_id].review_group if unit_id in units else None,
                   period=period, data_cutoff_on=data_cutoff_on, due_on=due_on, task_ids=task_ids,
                   actor=actor, at=now)
            for unit_id, task_ids in owed.items()
        ]
        self._save(cycle, *reports)
        return cycle

    def close_cycle(self, cycle_id: str, *, expected_version: int | None,
                    principal: Principal) -> ReportCycle:
        """Close a cycle: it takes no more reports. Every report of it still neither submitted
        nor marked overdue whose due day has passed is marked overdue now, once, at its
        business moment: this is where a cycle opened after its due day (an office's past
        records) decides which reports were missing."""
        cycle = self.cycle(cycle_id)
        check_version(cycle.version, expected_version, "Kỳ báo cáo", "The report cycle")
        now, _ = self._now()
        cycle.close(actor=actor_of(principal), at=now)
        missing = []
        for unit_id in cycle.unit_ids:
            report = self.report(Report.create_id(cycle_id=cycle.id, unit_id=unit_id))
            moment = overdue_moment(report.due_on)
            if now >= moment and report.mark_overdue(moment):
                missing.append(report)
        self._save(cycle, *missing)
        return cycle

    # -- reports --------------------------------------------------------------------------

    def submit_report(self, report_id: str, *, lines: list[dict[str, Any]], summary: str | None,
                      expected_version: int | None, principal: Principal,
                      submitted_on: date | None = None) -> Submitted:
        """A unit answers its report item by item (first submission or a revision); or the
        office records a report it received (on paper, or in its own tracking book), on the
        day it was received. Only the office gives that day; a unit's report is dated today."""
        report = self.report(report_id)
        if not principal.has(Role.OFFICE):
            access.ensure_own_unit(principal, report.unit_id)
            if submitted_on is not None:
                raise DomainError("backdating_forbidden",
                                  "Chỉ Văn phòng được ghi ngày nộp khác ngày hôm nay",
                                  "Only the office records a submission on another day than today",
                                  field="submitted_on", status=403)
        if self.cycle(report.cycle_id).closed:
            raise conflict("cycle_closed", "Kỳ báo cáo đã đóng, không nhận báo cáo",
                           "The report cycle is closed; it takes no report", field="cycle_id")
        check_version(report.version, expected_version, "Báo cáo", "The report")
        tasks = self.directory.task_facts([*report.task_ids, *(line["task_id"] for line in lines)])
        # a task above the submitter's clearance does not exist for them: they are not asked
        # for its line (the refusal would name it); a cleared reader still sees it owed
        # (docs/services/reports.md, "Secret tasks")
        required = [t for t in report.task_ids if t in tasks
                    and tasks[t].lead_unit_id == report.unit_id and tasks[t].withdrawn_on is None
                    and principal.cleared_for(tasks[t].secrecy)]
        now, today = self._now()
        day = today if submitted_on is None else self._received_on(report, submitted_on, today)
        if day > report.due_on:
            report.mark_overdue(overdue_moment(report.due_on))  # late: that fact first, once
        report.submit(lines=lines, summary=summary, tasks=tasks, required=required,
                      actor=actor_of(principal), at=now, submitted_on=day)
        self._save(report, answered_from_aggregates=True)
        return Submitted(report, tasks)

    @staticmethod
    def _received_on(report: Report, day: date, today: date) -> date:
        """The day the office says a report came in: not in the future, not before its period
        began, not before the previous submission."""
        if day > today:
            raise DomainError("submitted_in_future", f"Ngày nộp {day:%d/%m/%Y} ở tương lai",
                              f"The submission day {day.isoformat()} is in the future",
                              field="submitted_on")
        starts_on = report.period["starts_on"]
        if day < starts_on:
            raise DomainError("submitted_before_period",
                              f"Ngày nộp trước ngày bắt đầu kỳ báo cáo ({starts_on:%d/%m/%Y})",
                              f"The submission day is before the period starts ({starts_on.isoformat()})",
                              field="submitted_on")
        previous = report.submissions[-1]["submitted_on"] if report.submissions else None
        if previous is not None and day < previous:
            raise DomainError("submitted_before_previous",
                              f"Ngày nộp trước lần nộp trước ({previous:%d/%m/%Y})",
                              f"The submission day is before the previous one ({previous.isoformat()})",
                              field="submitted_on")
        return day

    @staticmethod
    def _reviewed_on(report: Report, day: date, today: date) -> date:
        """The day the office says a review was made: not in the future, not before the
        submission it assesses."""
        if day > today:
            raise DomainError("reviewed_in_future", f"Ngày đánh giá {day:%d/%m/%Y} ở tương lai",
                              f"The review day {day.isoformat()} is in the future",
                              field="reviewed_on")
        submitted = report.submissions[-1]["submitted_on"] if report.submissions else None
        if submitted is not None and day < submitted:
            raise DomainError("reviewed_before_submission",
                              f"Ngày đánh giá trước ngày nộp báo cáo ({submitted:%d/%m/%Y})",
                              f"The review day is before the submission ({submitted.isoformat()})",
                              field="reviewed_on")
        return day

    def review_report(self, report_id: str, *, revision: int, assessments: list[dict[str, Any]],
                      comment: str | None, expected_version: int | None,
                      principal: Principal, reviewed_on: date | None = None) -> Report:
        """The review team (or the office) assesses every line of the latest submission; the
        office may record a past review from its records with the day it was made."""
        report = self.report(report_id)
        if reviewed_on is not None and not principal.has(Role.OFFICE):
            raise DomainError("backdating_forbidden",
                              "Chỉ Văn phòng được ghi ngày đánh giá khác ngày hôm nay",
                              "Only the office records a review on another day than today",
                              field="reviewed_on", status=403)
        group = self.directory.review_group_of(report.unit_id, report.review_group)
        access.ensure_may_review(principal, report.unit_id, group)
        secret = [t for t, row in self.directory.task_rows(
            line["task_id"] for line in report.current_lines).items()
            if not principal.cleared_for(row.secrecy)]
        if secret:
            raise forbidden("Báo cáo có nhiệm vụ mật vượt quá mức được phép xem của bạn",
                            "The report covers secret tasks above your clearance")
        check_version(report.version, expected_version, "Báo cáo", "The report")
        now, today = self._now()
        day = today if reviewed_on is None else self._reviewed_on(report, reviewed_on, today)
        report.review(revision=revision, assessments=assessments, comment=comment,
                      actor=actor_of(principal), at=now, reviewed_on=day)
        self._save(report)
        return report

    def mark_overdue(self, report_id: str, overdue_at: datetime) -> bool:
        """The due day passed without the report: record it once (the watcher calls this)."""
        report = self.report(report_id)
        if not report.mark_overdue(overdue_at):
            return False
        try:
            self.log.save(report)
        except IntegrityError:
            return False  # submitted or marked meanwhile by another process
        self.saved()
        return True

    # -- adjustments ----------------------------------------------------------------------

    def request_adjustment(self, *, task_id: str, kind: str, proposed_due_on: date | None,
                           reason: str, report_id: str | None,
                           principal: Principal) -> AdjustmentRequest:
        """A lead unit asks to extend, stretch or withdraw one of its tasks."""
        if not principal.has(Role.UNIT) or not principal.unit_id:
            raise forbidden("Chỉ đơn vị chủ trì được đề nghị điều chỉnh",
                            "Only the lead unit may request an adjustment")
        unit_id = principal.unit_id
        task = self.directory.task_rows([task_id]).get(task_id)
        # a task above the unit's clearance is answered as one it does not lead: not revealed
        if task is None or task.lead_unit_id != unit_id or not principal.cleared_for(task.secrecy):
            raise DomainError("not_own_task", f"Nhiệm vụ {task_id} không do đơn vị {unit_id} chủ trì",
                              f"Task {task_id} is not led by unit {unit_id}", field="task_id")
        if task.completed_on is not None or task.withdrawn_on is not None:
            raise conflict("task_closed", f"Nhiệm vụ {task_id} đã hoàn thành hoặc đã rút",
                           f"Task {task_id} is completed or withdrawn", field="task_id")
        if (pending := self.pending_adjustment(task_id)) is not None:
            raise conflict("adjustment_pending",
                           f"Nhiệm vụ {task_id} đang có đề nghị điều chỉnh {pending} chờ quyết định",
                           f"Task {task_id} has adjustment request {pending} awaiting its decision",
                           field="task_id")
        if report_id is not None:
            report = self._get(Report, report_id, "report_id", "báo cáo", "Report")
            if report.unit_id != unit_id:
                raise DomainError("not_own_report", f"Báo cáo {report_id} không phải của đơn vị {unit_id}",
                                  f"Report {report_id} is not unit {unit_id}'s", field="report_id")
        now, today = self._now()
        check_request(kind=kind, proposed_due_on=proposed_due_on, current_due_on=task.due_on,
                      requested_on=today)
        request = AdjustmentRequest(
            task_id=task_id, unit_id=unit_id, kind=kind, proposed_due_on=proposed_due_on,
            reason=reason, requested_on=today, report_id=report_id, current_due_on=task.due_on,
            review_group=self.directory.review_group_of(unit_id, task.review_group),
            actor=actor_of(principal), at=now)
        self._save(request)
        return request

    def decide_adjustment(self, request_id: str, *, approved: bool, due_on: date | None,
                          decision: dict[str, Any], comment: str | None,
                          expected_version: int | None, principal: Principal) -> AdjustmentRequest:
        """The office records the assigning body's decision on a request."""
        request = self.adjustment(request_id)
        check_version(request.version, expected_version, "Đề nghị điều chỉnh", "The adjustment request")
        now, today = self._now()
        if decision["decided_on"] > today:
            raise DomainError("decision_in_future",
                              f"Ngày quyết định {decision['decided_on']:%d/%m/%Y} ở tương lai",
                              f"The decision day {decision['decided_on'].isoformat()} is in the future",
                              field="decision.decided_on")
        request.decide(approved=approved, due_on=due_on, decision=decision, comment=comment,
                       actor=actor_of(principal), at=now)
        self._save(request)
        return request
