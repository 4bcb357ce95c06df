"""A unit's self-review report for one cycle: requested, submitted item by item (one line per
task), reviewed line by line, returned and resubmitted until accepted; overdue when not in
by the end of its due day."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from dondoc_platform.errors import DomainError, conflict
from dondoc_reports.domain.obligations import TaskFacts

REQUESTED, SUBMITTED, RETURNED, ACCEPTED = "requested", "submitted", "returned", "accepted"


def _line_error(index: int, name: str, code: str, vi: str, en: str) -> DomainError:
    return DomainError(code, vi, en, field=f"lines[{index}].{name}")


def check_lines(lines: list[dict[str, Any]], *, unit_id: str, tasks: Mapping[str, TaskFacts],
                required: Collection[str], submitted_on: date) -> None:
    """A report answers item by item, only on the unit's own tasks, every required one. A
    report that owes no task (nothing open at the cut-off) may say so with no line."""
    if not lines and required:
        raise DomainError("empty_report", "Báo cáo trống: cần một dòng cho mỗi nhiệm vụ",
                          "The report is empty: one line per task is required", field="lines")
    seen: set[str] = set()
    for i, line in enumerate(lines):
        task_id = line["task_id"]
        task = tasks.get(task_id)
        if task is None or task.lead_unit_id != unit_id:
            raise _line_error(i, "task_id", "not_own_task",
                              f"Nhiệm vụ {task_id} không do đơn vị {unit_id} chủ trì",
                              f"Task {task_id} is not led by unit {unit_id}")
        if task_id in seen:
            raise _line_error(i, "task_id", "duplicate_line",
                              f"Nhiệm vụ {task_id} được báo cáo hai lần",
                              f"Task {task_id} is reported twice")
        seen.add(task_id)
        status = line["status_claimed"]
        completed_on = line.get("completed_on")
        if status == "completed":
            if completed_on is None:
                raise _line_error(i, "completed_on", "completion_day_required",
                                  "Nhiệm vụ báo cáo đã hoàn thành cần ngày hoàn thành",
                                  "A task reported completed needs its completion day")
            if completed_on > submitted_on:
                raise _line_error(i, "completed_on", "completion_in_future",
                                  "Ngày hoàn thành sau ngày nộp báo cáo",
                                  "The completion day is after the submission day")
        elif completed_on is not None:
            raise _line_error(i, "completed_on", "completion_day_not_allowed",
                              "Chỉ nhiệm vụ đã hoàn thành mới có ngày hoàn thành",
                              "Only a completed task has a completion day")
        elif task.due_on is not None and task.due_on < submitted_on and not line.get("delay_reason"):
            raise _line_error(i, "delay_reason", "delay_reason_required",
                              f"Nhiệm vụ quá hạn (hạn {task.due_on:%d/%m/%Y}) cần nêu lý do chậm",
                              f"An overdue task (due {task.due_on.isoformat()}) needs the reason "
                              "for its delay")
        proposal, proposed = line.get("proposal", "none"), line.get("proposed_due_on")
        if proposal in ("extend", "adjust") and proposed is None:
            raise _line_error(i, "proposed_due_on", "proposed_date_required",
                              "Đề xuất gia hạn/điều chỉnh cần thời hạn đề nghị",
                              "A proposal to extend or adjust needs a proposed deadline")
        if proposal in ("none", "withdraw") and proposed is not None:
            raise _line_error(i, "proposed_due_on", "proposed_date_not_allowed",
                              "Chỉ đề xuất gia hạn/điều chỉnh mới kèm thời hạn đề nghị",
                              "Only a proposal to extend or adjust takes a proposed deadline")
        if proposed is not None and proposed <= max(d for d in (task.due_on, submitted_on) if d):
            raise _line_error(i, "proposed_due_on", "proposed_date_too_early",
                              "Thời hạn đề nghị phải sau thời hạn hiện tại và ngày nộp",
                              "The proposed deadline must be after the current deadline and today")
    missing = [t for t in required if t not in seen]
    if missing:
        raise DomainError("missing_lines",
                          f"Thiếu báo cáo cho {len(missing)} nhiệm vụ: {', '.join(missing[:10])}",
                          f"{len(missing)} task(s) are not answered: {', '.join(missing[:10])}",
                          field="lines", details=[{"task_id": t} for t in missing])


def check_assessments(assessments: list[dict[str, Any]], lines: list[dict[str, Any]],
                      reviewed_on: date) -> list[dict[str, Any]]:
    """One assessment per submitted line; the completion day filled from the line."""
    by_task = {line["task_id"]: line for line in lines}
    seen: set[str] = set()
    out = []
    for i, assessment in enumerate(assessments):
        task_id = assessment["task_id"]
        line = by_task.get(task_id)
        if line is None:
            raise _line_error(i, "task_id", "not_in_report",
                              f"Báo cáo không có dòng cho nhiệm vụ {task_id}",
                              f"The report has no line for task {task_id}")
        if task_id in seen:
            raise _line_error(i, "task_id", "duplicate_assessment",
                              f"Nhiệm vụ {task_id} được đánh giá hai lần",
                              f"Task {task_id} is assessed twice")
        seen.add(task_id)
        assessment = dict(assessment)
        if assessment.get("completion_confirmed"):
            if assessment["verdict"] != "accepted" or line["status_claimed"] != "completed":
                raise _line_error(i, "completion_confirmed", "cannot_confirm_completion",
                                  "Chỉ xác nhận hoàn thành khi đơn vị báo hoàn thành và dòng được chấp nhận",
                                  "Completion is confirmed only on an accepted line claiming completion")
            assessment["completed_on"] = assessment.get("completed_on") or line.get("completed_on")
            if assessment["completed_on"] > reviewed_on:
                raise _line_error(i, "completed_on", "completion_in_future",
                                  "Ngày hoàn thành sau ngày đánh giá",
                                  "The completion day is after the review day")
        elif assessment.get("completed_on") is not None:
            raise _line_error(i, "completed_on", "completion_day_not_allowed",
                              "Chỉ ghi ngày hoàn thành khi xác nhận hoàn thành",
                              "A completion day is given only with a confirmed completion")
        out.append(assessment)
    missing = [t for t in by_task if t not in seen]
    if missing:
        raise DomainError("missing_assessments",
                          f"Chưa đánh giá {len(missing)} dòng: {', '.join(missing[:10])}",
                          f"{len(missing)} line(s) are not assessed: {', '.join(missing[:10])}",
                          field="lines", details=[{"task_id": t} for t in missing])
    return out


class Report(Aggregate):
    """One unit's report for one cycle (its id follows from the pair)."""

    @staticmethod
    def create_id(*, cycle_id: UUID, unit_id: str, **_: Any) -> UUID:
        return uuid.uuid5(cycle_id, f"report:{unit_id}")

    @event("Requested")
    def __init__(self, *, cycle_id: UUID, unit_id: str, unit_name: str | None,
                 review_group: str | None, period: dict[str, Any], data_cutoff_on: date,
                 due_on: date, task_ids: list[str], actor: dict[str, Any], at: datetime) -> None:
        self.cycle_id = cycle_id
        self.unit_id = unit_id
        self.unit_name = unit_name
        self.review_group = review_group
        self.period = period
        self.data_cutoff_on = data_cutoff_on
        self.due_on = due_on
        self.task_ids = list(task_ids)
        self.requested_by = actor
        self.requested_at = at
        self.status = REQUESTED
        self.revision = 0
        self.first_submitted_on: date | None = None
        self.overdue_at: datetime | None = None
        self.submissions: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []

    @property
    def current_lines(self) -> list[dict[str, Any]]:
        return self.submissions[-1]["lines"] if self.submissions else []

    def submit(self, *, lines: list[dict[str, Any]], summary: str | None,
               tasks: Mapping[str, TaskFacts], required: Collection[str],
               actor: dict[str, Any], at: datetime, submitted_on: date) -> None:
        if self.status == ACCEPTED:
            raise conflict("report_accepted", "Báo cáo đã được chấp nhận, không nộp lại",
                           "The report was accepted; it is not resubmitted", field="report_id")
        if self.status == SUBMITTED:
            raise conflict("report_awaiting_review", "Báo cáo đang chờ tổ rà soát đánh giá",
                           "The report is awaiting its review", field="report_id")
        check_lines(lines, unit_id=self.unit_id, tasks=tasks, required=required,
                    submitted_on=submitted_on)
        self._submitted(**self._keys, revision=self.revision + 1, lines=lines, summary=summary,
                        actor=actor, at=at, submitted_on=submitted_on)

    @property
    def _keys(self) -> dict[str, Any]:
        """What every event of a report carries, so each can be published on its own."""
        return {"cycle_id": self.cycle_id, "unit_id": self.unit_id, "due_on": self.due_on}

    @event("Submitted")
    def _submitted(self, *, cycle_id: UUID, unit_id: str, due_on: date, revision: int,
                   lines: list[dict[str, Any]], summary: str | None,
                   actor: dict[str, Any], at: datetime, submitted_on: date) -> None:
        self.revision = revision
        self.status = SUBMITTED
        if self.first_submitted_on is None:
            self.first_submitted_on = submitted_on
        self.submissions.append({"revision": revision, "lines": lines, "summary": summary,
                                 "submitted_by": actor, "submitted_at": at,
                                 "submitted_on": submitted_on})

    def review(self, *, revision: int, assessments: list[dict[str, Any]], comment: str | None,
               actor: dict[str, Any], at: datetime, reviewed_on: date) -> str:
        if self.status != SUBMITTED:
            raise conflict("report_not_awaiting_review", "Báo cáo không ở trạng thái chờ đánh giá",
                           "The report is not awaiting a review", field="report_id")
        if revision != self.revision:
            raise conflict("revision_mismatch",
                           f"Đánh giá phải cho lần nộp {self.revision}, không phải {revision}",
                           f"The review must be of revision {self.revision}, not {revision}",
                           field="revision")
        checked = check_assessments(assessments, self.current_lines, reviewed_on)
        outcome = ACCEPTED if all(a["verdict"] == "accepted" for a in checked) else RETURNED
        self._reviewed(**self._keys, revision=revision, outcome=outcome, assessments=checked, comment=comment,
                       actor=actor, at=at, reviewed_on=reviewed_on)
        return outcome

    @event("Reviewed")
    def _reviewed(self, *, cycle_id: UUID, unit_id: str, due_on: date, revision: int,
                  outcome: str, assessments: list[dict[str, Any]],
                  comment: str | None, actor: dict[str, Any], at: datetime, reviewed_on: date) -> None:
        self.status = outcome
        self.reviews.append({"revision": revision, "outcome": outcome, "lines": assessments,
                             "comment": comment, "reviewed_by": actor, "reviewed_at": at,
                             "reviewed_on": reviewed_on})

    @property
    def overdue_pending(self) -> bool:
        """Neither submitted nor marked overdue yet."""
        return self.first_submitted_on is None and self.overdue_at is None

    def mark_overdue(self, overdue_at: datetime) -> bool:
        """Record that the due day passed without the report (once); False if nothing to do."""
        if not self.overdue_pending:
            return False
        self._marked_overdue(**self._keys, overdue_at=overdue_at)
        return True

    @event("MarkedOverdue")
    def _marked_overdue(self, *, cycle_id: UUID, unit_id: str, due_on: date,
                        overdue_at: datetime) -> None:
        self.overdue_at = overdue_at
