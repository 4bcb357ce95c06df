"""HTTP API of the tasks service: translates requests into use-case calls."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import BaseModel, Field

from dondoc_contracts import Role
from dondoc_contracts.values import DeadlineKind, DeadlineRule, Frequency, Secrecy
from dondoc_platform.auth import SECRECY_ORDER, Principal
from dondoc_platform.calendar import DayKind, days_overdue, local_day, overdue_moment
from dondoc_platform.errors import DomainError, not_found
from dondoc_platform.http import (
    ErrorBody,
    Page,
    command,
    expected_version,
    offset_of,
    page_of,
    require_roles,
)
from dondoc_platform.longpoll import reads, weak_etag
from dondoc_platform.names import canonical_review_group, clean
from dondoc_platform.projection import StoreProjection, reading
from dondoc_tasks.adapters.translate import translate
from dondoc_tasks.application.commands import (
    AdjustDeadline,
    ConfirmCompletion,
    CorrectDay,
    Reassign,
    RecordProgress,
)
from dondoc_tasks.application.tasks_app import TasksApp
from dondoc_tasks.domain.status import LABELS_EN, LABELS_VI, TaskStatus, status_of
from dondoc_tasks.projections import board

SERVICE = "tasks"
READERS = (Role.OFFICE, Role.LEADER, Role.AUDITOR)


class TaskView(BaseModel):
    task_id: str
    directive_id: str
    directive_number: str
    directive_kind: str
    issuing_body: str
    item_id: str
    paragraph: str
    content: str
    lead_unit_id: str
    cooperating_unit_ids: list[str]
    assigned_on: date
    year_of_origin: int
    deadline_rule: DeadlineRule
    due_on: date | None = Field(description="Effective deadline day")
    original_due_on: date | None = Field(description="The deadline as first assigned")
    domain: str | None
    review_group: str | None
    key_task: bool
    secrecy: Secrecy
    report_frequency: Frequency | None
    product: str | None
    state: str = Field(description="open | completed | withdrawn")
    status: TaskStatus = Field(description="Official taxonomy, against the effective deadline")
    status_label_vi: str
    status_label_en: str
    status_against_original: TaskStatus
    as_of: datetime = Field(description="The moment the status was computed for")
    days_overdue: int | None = Field(description="Days past the effective deadline (open tasks)")
    ageing_bucket: str | None = Field(description="1-30, 31-90, 91-120, >120 (open overdue)")
    carried_over: bool | None = Field(None, description="With ?year=: assigned in an earlier "
                                                        "year and still open at its start")
    completed_on: date | None
    completion: dict[str, Any] | None
    withdrawn_on: date | None
    withdrawal: dict[str, Any] | None
    last_progress: dict[str, Any] | None
    adjustments: list[dict[str, Any]]
    overdue_for: list[date] = Field(description="Deadlines for which TaskOverdue was published")
    version: int


class HistoryEntry(BaseModel):
    version: int
    type: str
    occurred_at: datetime
    data: dict[str, Any]


class CalendarDay(BaseModel):
    day: date
    kind: DayKind
    name: str
    source: str = Field(description="seed (holidays library) or correction (administrator)")


class DueDate(BaseModel):
    assigned_on: date
    rule: DeadlineRule
    due_on: date | None
    overdue_at: datetime | None


def _bucket(days: int) -> str | None:
    if days <= 0:
        return None
    if days <= 30:
        return "1-30"
    if days <= 90:
        return "31-90"
    if days <= 120:
        return "91-120"
    return ">120"


def task_view(row: Any, now: datetime, year: int | None = None) -> TaskView:
    data = dict(row._mapping)
    today = local_day(now)
    status = status_of(row.state, row.due_on, row.completed_on, today)
    overdue = days_overdue(row.due_on, now) if status is TaskStatus.OPEN_OVERDUE else None
    data.update(
        status=status, status_label_vi=LABELS_VI[status], status_label_en=LABELS_EN[status],
        status_against_original=status_of(row.state, row.original_due_on, row.completed_on, today),
        as_of=now, days_overdue=overdue, ageing_bucket=_bucket(overdue or 0),
        carried_over=(row.year_of_origin < year) if year is not None else None)
    return TaskView.model_validate(data)


def status_condition(status: TaskStatus, today: date) -> Any:
    t = board.tasks.c
    return {
        TaskStatus.COMPLETED_ON_TIME: sa.and_(t.state == "completed", sa.or_(
            t.due_on.is_(None), t.completed_on <= t.due_on)),
        TaskStatus.COMPLETED_LATE: sa.and_(t.state == "completed", t.due_on.is_not(None),
                                           t.completed_on > t.due_on),
        TaskStatus.OPEN_IN_TIME: sa.and_(t.state == "open", t.due_on >= today),
        TaskStatus.OPEN_OVERDUE: sa.and_(t.state == "open", t.due_on < today),
        TaskStatus.OPEN_NO_DEADLINE: sa.and_(t.state == "open", t.due_on.is_(None)),
        TaskStatus.WITHDRAWN: t.state == "withdrawn",
    }[status]


def workload_of_year(year: int) -> Any:
    """Assigned during the year, or carried over: assigned before and still open at its start."""
    t = board.tasks.c
    start = date(year, 1, 1)
    return sa.or_(t.year_of_origin == year, sa.and_(
        t.year_of_origin < year,
        sa.or_(t.state == "open",
               sa.and_(t.state == "completed", t.completed_on >= start),
               sa.and_(t.state == "withdrawn", t.withdrawn_on >= start))))


Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=200, description="From `next_cursor`")]
IfMatch = Annotated[str | None, Header(max_length=50, description='The version last seen: "3"')]
TaskId = Annotated[str, Path(max_length=64)]
COMMAND_ERRORS = {404: {"model": ErrorBody}, 409: {"model": ErrorBody}}


def routers(app: TasksApp, engine: sa.Engine, projection: StoreProjection,
            authenticated: Any) -> list[APIRouter]:
    tasks_router = APIRouter(prefix="/tasks", tags=["tasks"])
    reader = reading(engine)  # the queries below only read
    calendar_router = APIRouter(prefix="/calendar", tags=["calendar"])
    task_readers = require_roles(authenticated, Role.OFFICE, Role.LEADER, Role.AUDITOR,
                                 Role.REVIEWER, Role.UNIT)
    unit_only = require_roles(authenticated, Role.UNIT)
    confirmers = require_roles(authenticated, Role.OFFICE, Role.REVIEWER)
    office = require_roles(authenticated, Role.OFFICE)
    anyone = require_roles(authenticated, *[r for r in Role if r is not Role.SYSTEM])
    admin = require_roles(authenticated, Role.ADMIN)

    def visible(principal: Principal) -> Any:
        t = board.tasks.c
        levels = [s.value for s in SECRECY_ORDER if principal.cleared_for(s)]
        condition = t.secrecy.in_(levels)
        if principal.has(*READERS):
            return condition
        scopes = []
        if principal.has(Role.UNIT) and principal.unit_id:
            scopes.append(t.task_id.in_(sa.select(board.parties.c.task_id).where(
                board.parties.c.unit_id == principal.unit_id)))
        group = canonical_review_group(principal.review_group)
        if principal.has(Role.REVIEWER) and group:
            scopes.append(t.review_group == group)
        return sa.and_(condition, sa.or_(*scopes)) if scopes else sa.false()

    def task_row(task_id: str, principal: Principal) -> Any:
        projection.catch_up()
        with reader.connect() as conn:
            row = conn.execute(sa.select(board.tasks).where(
                board.tasks.c.task_id == task_id, visible(principal))).first()
        if row is None:
            raise not_found("nhiệm vụ", "task", task_id, field="task_id")
        return row

    def answer(task_id: str, principal: Principal, response: Response) -> TaskView:
        view = task_view(task_row(task_id, principal), app.clock.now())
        response.headers["ETag"] = f'"{view.version}"'
        return view

    # ------------------------------------------------------------------ queries

    @tasks_router.get("", response_model=Page[TaskView],
                      summary="Tasks the caller may see, by deadline")
    def list_tasks(request: Request, response: Response, principal: Principal = task_readers,
                   directive_id: Annotated[str | None, Query(max_length=64)] = None,
                   lead_unit_id: Annotated[str | None, Query(max_length=128)] = None,
                   unit_id: Annotated[str | None, Query(
                       max_length=128, description="Lead or cooperating unit")] = None,
                   status: TaskStatus | None = None,
                   year: Annotated[int | None, Query(ge=1945, le=2200, description=(
                       "The year's workload: assigned in it or carried over into it"))] = None,
                   review_group: Annotated[str | None, Query(max_length=200)] = None,
                   domain: Annotated[str | None, Query(max_length=500)] = None,
                   key_task: bool | None = None,
                   cursor: Cursor = None, limit: Limit = 50) -> Page[TaskView]:
        if directive_id is not None:  # the answer is some of this directive's tasks (and the day)
            reads(request, board.directive_key(directive_id))
        projection.catch_up()
        now = app.clock.now()
        t = board.tasks.c
        query = sa.select(board.tasks).where(visible(principal))
        if directive_id is not None:
            query = query.where(t.directive_id == directive_id)
        if lead_unit_id is not None:
            query = query.where(t.lead_unit_id == lead_unit_id)
        if unit_id is not None:
            query = query.where(t.task_id.in_(sa.select(board.parties.c.task_id).where(
                board.parties.c.unit_id == unit_id)))
        if status is not None:
            query = query.where(status_condition(status, local_day(now)))
        if year is not None:
            query = query.where(workload_of_year(year))
        if review_group is not None:
            query = query.where(t.review_group == (canonical_review_group(review_group)
                                                   or review_group))
        if domain is not None:
            query = query.where(t.domain == clean(domain))  # stored NFC, single spaces
        if key_task is not None:
            query = query.where(t.key_task == key_task)
        offset = offset_of(cursor)
        order = (t.due_on.is_(None), t.due_on, t.directive_number, t.paragraph, t.task_id)
        with reader.connect() as conn:
            rows = conn.execute(query.order_by(*order).offset(offset).limit(limit + 1)).all()
        # the same tasks at the same versions on the same day: the same answer but for its
        # `as_of` (a query waiting for a change compares these: `longpoll`)
        response.headers["ETag"] = weak_etag(str(local_day(now)), year,
                                             [(r.task_id, r.version) for r in rows])
        return page_of([task_view(r, now, year) for r in rows], offset, limit)

    @tasks_router.get("/{task_id}", response_model=TaskView, responses={404: {"model": ErrorBody}})
    def get_task(task_id: TaskId, request: Request, response: Response,
                 principal: Principal = task_readers) -> TaskView:
        reads(request, board.task_key(task_id))
        return answer(task_id, principal, response)

    @tasks_router.get("/{task_id}/history", response_model=list[HistoryEntry],
                      responses={404: {"model": ErrorBody}},
                      summary="Every event of the task, in order, across the years")
    def task_history(task_id: TaskId, request: Request,
                     principal: Principal = task_readers) -> list[HistoryEntry]:
        reads(request, board.task_key(task_id))  # the task's events, shown once on the board
        task_row(task_id, principal)
        entries = []
        for event in app.history(task_id):
            contract = translate(event)
            if contract is not None:
                entries.append(HistoryEntry(version=event.originator_version,
                                            type=contract.event_type,
                                            occurred_at=contract.occurred_at,
                                            data=contract.model_dump(mode="json")))
            else:
                data = {k: v for k, v in event.__dict__.items()
                        if k not in ("originator_id", "originator_version", "timestamp")}
                entries.append(HistoryEntry(version=event.originator_version,
                                            type=f"Task{type(event).__name__}",
                                            occurred_at=event.at,
                                            data=_jsonable(data)))
        return entries

    # ------------------------------------------------------------------ commands

    @tasks_router.post("/{task_id}/progress", response_model=TaskView, responses=COMMAND_ERRORS,
                       summary="The lead unit reports progress (a claim, not a completion)")
    def record_progress(task_id: TaskId, body: RecordProgress, response: Response,
                        if_match: IfMatch = None, principal: Principal = unit_only) -> TaskView:
        task_row(task_id, principal)
        with command(SERVICE, "record_progress"):
            app.record_progress(task_id, body, principal.actor(), expected_version(if_match))
        return answer(task_id, principal, response)

    @tasks_router.post("/{task_id}/completion", response_model=TaskView, responses=COMMAND_ERRORS,
                       summary="Confirm the task completed (the office or the review team)")
    def confirm_completion(task_id: TaskId, body: ConfirmCompletion, response: Response,
                           if_match: IfMatch = None,
                           principal: Principal = confirmers) -> TaskView:
        task_row(task_id, principal)
        with command(SERVICE, "confirm_completion"):
            app.confirm_completion(task_id, body, principal.actor(), expected_version(if_match))
        return answer(task_id, principal, response)

    @tasks_router.post("/{task_id}/deadline-adjustments", response_model=TaskView,
                       responses=COMMAND_ERRORS,
                       summary="Extend, stretch or withdraw by a recorded decision")
    def adjust_deadline(task_id: TaskId, body: AdjustDeadline, response: Response,
                        if_match: IfMatch = None, principal: Principal = office) -> TaskView:
        task_row(task_id, principal)
        with command(SERVICE, "adjust_deadline"):
            app.adjust_deadline(task_id, body, principal.actor(), expected_version(if_match))
        return answer(task_id, principal, response)

    @tasks_router.post("/{task_id}/reassignment", response_model=TaskView,
                       responses=COMMAND_ERRORS, summary="Change the lead or cooperating units")
    def reassign(task_id: TaskId, body: Reassign, response: Response, if_match: IfMatch = None,
                 principal: Principal = office) -> TaskView:
        task_row(task_id, principal)
        with command(SERVICE, "reassign"):
            app.reassign(task_id, body, principal.actor(), expected_version(if_match))
        return answer(task_id, principal, response)

    # ------------------------------------------------------------------ calendar

    @calendar_router.get("/days", response_model=list[CalendarDay],
                         summary="Days off and made-up working days of a year")
    def calendar_days(year: Annotated[int, Query(ge=1990, le=2100)],
                      principal: Principal = anyone) -> list[CalendarDay]:
        calendar = app.working_calendar()
        corrections = calendar.corrections
        days = []
        current, end = date(year, 1, 1), date(year, 12, 31)
        while current <= end:
            correction = corrections.get(current)
            name = calendar.day_off_name(current)
            weekend = current.weekday() >= 5
            if correction is not None:
                days.append(CalendarDay(day=current, kind=correction.kind,
                                        name=correction.name or "", source="correction"))
            elif name is not None and name not in ("Thứ Bảy", "Chủ nhật"):
                days.append(CalendarDay(day=current, kind=DayKind.DAY_OFF, name=name, source="seed"))
            elif name is None and weekend:
                days.append(CalendarDay(day=current, kind=DayKind.WORKING_DAY,
                                        name="Ngày làm việc bù", source="seed"))
            current += timedelta(days=1)
        return days

    @calendar_router.put("/corrections/{day}", response_model=list[CalendarDay],
                         summary="Correct one day (admin): a decided day off or a made-up working day")
    def correct_day(day: date, body: CorrectDay,
                    principal: Principal = admin) -> list[CalendarDay]:
        _calendar_range(day)
        with command(SERVICE, "correct_calendar_day"):
            app.correct_day(day, body, principal.actor())
        return calendar_days(day.year, principal)

    @calendar_router.delete("/corrections/{day}", response_model=list[CalendarDay],
                            responses={404: {"model": ErrorBody}},
                            summary="Remove a correction (the seeded calendar applies again)")
    def remove_correction(day: date, principal: Principal = admin) -> list[CalendarDay]:
        _calendar_range(day)
        with command(SERVICE, "remove_calendar_correction"):
            app.remove_correction(day, principal.actor())
        return calendar_days(day.year, principal)

    @calendar_router.get("/due-date", response_model=DueDate,
                         summary="The deadline a rule gives for an assignment day")
    def due_date(assigned_on: date, kind: DeadlineKind, principal: Principal = anyone,
                 due_on: date | None = None,
                 days: Annotated[int | None, Query(ge=1, le=3650)] = None,
                 frequency: Frequency | None = None) -> DueDate:
        _calendar_range(assigned_on, "assigned_on")
        if due_on is not None:
            _calendar_range(due_on, "due_on")
        try:
            rule = DeadlineRule(kind=kind, due_on=due_on, days=days, frequency=frequency)
        except ValueError as e:
            raise DomainError("invalid_rule", "Quy tắc thời hạn không hợp lệ",
                              f"Invalid deadline rule: {e.errors()[0]['msg']}",  # type: ignore[attr-defined]
                              field="kind") from None
        try:
            effective = app.working_calendar().due_date(rule, assigned_on)
        except ValueError as e:
            raise DomainError("invalid_rule", "Không tính được thời hạn",
                              f"No deadline can be computed: {e}", field="days") from None
        return DueDate(assigned_on=assigned_on, rule=rule, due_on=effective,
                       overdue_at=overdue_moment(effective) if effective else None)

    return [tasks_router, calendar_router]


def _calendar_range(day: date, field: str = "day") -> None:
    if not 1990 <= day.year <= 2100:
        raise DomainError("day_out_of_range", "Ngày phải trong khoảng 1990–2100",
                          "The day must lie between 1990 and 2100", field=field)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value

