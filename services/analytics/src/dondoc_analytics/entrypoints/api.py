"""The analytics HTTP API: scorecards, the task board, histories, frozen periods, audit
proofs. Read access: leader, office, auditor and admin read everything; a unit reads its
own figures and tasks; a reviewer reads its review group. Closing a period: office, admin.
"""

# No `from __future__ import annotations` here: the routes' dependencies are local to
# `create_api`, and FastAPI must see them evaluated, not as strings.
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from dondoc_contracts import Role
from dondoc_platform.auth import Principal, TokenVerifier
from dondoc_platform.errors import DomainError, conflict, forbidden, not_found
from dondoc_platform.http import Page, authenticator, create_app, encode_cursor, offset_of, require_roles
from dondoc_platform.settings import AuthSettings

from dondoc_analytics.application import periods
from dondoc_analytics.application.reading import NotCleared, NotFound, Scorecard
from dondoc_analytics.domain.names import match_key
from dondoc_analytics.domain.timeliness import AsOfBeforeYear
from dondoc_analytics.projections import frozen
from dondoc_analytics.projections.queries import Grouping

READERS = (Role.LEADER, Role.OFFICE, Role.AUDITOR, Role.ADMIN, Role.UNIT, Role.REVIEWER)
ALL_READERS = (Role.LEADER, Role.OFFICE, Role.AUDITOR, Role.ADMIN)

Figure = int | float | None


class FiguresRow(BaseModel):
    key: str = Field(description="unit id, review group key, domain or issuing body")
    name: str = Field(description="the unit's name as written at the as-of moment, or the group's")
    figures: dict[str, Figure] = Field(description="metrics.md figures by name; rates 0..1, "
                                                   "null where the denominator is 0")
    restated: dict[str, Figure] | None = Field(
        None, description="for a frozen year: the figures the read models give now, when they differ")


class ScorecardOut(BaseModel):
    year: int
    as_of: datetime
    grouping: str
    figure_names: list[str]
    rows: list[FiguresRow]
    total: FiguresRow
    period: dict[str, Any] | None = Field(None, description="the frozen period, if the year is closed")
    restatement: dict[str, Any] | None = Field(
        None, description="what changed since the close, and the events that caused it")


class YearFigures(BaseModel):
    year: int
    as_of: datetime
    name: str
    figures: dict[str, Figure]


class HistoryEvent(BaseModel):
    event_id: str
    type: str
    service: str
    position: int | None
    business_day: date
    occurred_at: datetime
    who: str
    role: str
    actor_unit_id: str | None
    what_vi: str
    what_en: str
    topic: str
    partition: int
    offset: int
    audit_hash: str | None


class HistoryOut(BaseModel):
    task: dict[str, Any]
    state_now: dict[str, Any] | None
    periods: list[dict[str, Any]]
    events: list[HistoryEvent]


class CloseRequest(BaseModel):
    as_of: datetime | None = Field(None, description="default: the end of the year (24:00 of 31/12)")


class StatusOut(BaseModel):
    generation: int
    lag_events: int


def _scorecard_out(card: Scorecard) -> ScorecardOut:
    def row(r) -> FiguresRow:
        return FiguresRow(key=r.key, name=r.name, figures=r.figures, restated=r.restated)

    return ScorecardOut(year=card.year, as_of=card.as_of, grouping=card.grouping.value,
                        figure_names=list(card.figure_names), rows=[row(r) for r in card.rows],
                        total=row(card.total), period=card.period, restatement=card.restatement)


def create_api(parts: Any, auth: AuthSettings) -> Any:
    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        await asyncio.to_thread(parts.ensure_schema)  # an API-only process on a fresh database
        yield

    app = create_app(service="analytics", title="dondoc analytics", lifespan=lifespan,
                     description="Timeliness scorecards (metrics.md), task histories, frozen "
                                 "periods and audit proofs.")
    authenticated = authenticator(TokenVerifier(auth))
    readers = require_roles(authenticated, *READERS)
    all_readers = require_roles(authenticated, *ALL_READERS)
    closers = require_roles(authenticated, Role.OFFICE, Role.ADMIN)
    auditors = require_roles(authenticated, Role.AUDITOR, Role.ADMIN)
    router = APIRouter(prefix="/v1")

    async def maybe_wait(wait: bool) -> None:
        if wait and not await parts.projection.wait_caught_up(parts.settings.wait_timeout_seconds):
            raise DomainError("not_caught_up", "Dữ liệu tổng hợp chưa cập nhật kịp, hãy thử lại",
                              "The read models have not caught up yet; try again", status=503)

    def scope(principal: Principal) -> tuple[list[str] | None, str | None]:
        if principal.has(*ALL_READERS):
            return None, None
        if principal.has(Role.UNIT):
            return [principal.unit_id], None
        return None, principal.review_group

    @router.get("/scorecards/tasks", response_model=ScorecardOut, tags=["scorecards"])
    async def task_scorecard(
        principal: Annotated[Principal, readers],
        year: Annotated[int, Query(ge=1990, le=2100)],
        as_of: Annotated[datetime | None, Query(description="default: end of the year, or now")] = None,
        by: Annotated[Grouping, Query()] = Grouping.UNIT,
        unit: Annotated[list[str] | None, Query(description="only these units")] = None,
        review_group: Annotated[str | None, Query()] = None,
        wait: Annotated[bool, Query(description="first wait for every published event")] = False,
    ) -> ScorecardOut:
        """A year's task scorecards (and report scorecards for units), as of a moment."""
        await maybe_wait(wait)
        units, group = scope(principal)
        if group is not None:
            by, review_group = Grouping.REVIEW_GROUP, group
        if units is not None and unit and set(unit) - set(units):
            raise forbidden("Đơn vị chỉ xem được số liệu của mình", "A unit sees only its own figures")
        try:
            card = await asyncio.to_thread(parts.reading.scorecard, year, as_of=_aware(as_of),
                                           by=by, units=units or unit, review_group=review_group)
        except AsOfBeforeYear as e:
            raise DomainError("as_of_before_year", "Thời điểm tính phải sau ngày đầu năm",
                              str(e), field="as_of") from e
        return _scorecard_out(card)

    @router.get("/scorecards/units/{unit_id}/years", response_model=list[YearFigures],
                tags=["scorecards"])
    async def unit_years(
        principal: Annotated[Principal, readers], unit_id: str,
        first: Annotated[int, Query(ge=1990, le=2100)],
        last: Annotated[int, Query(ge=1990, le=2100)],
    ) -> list[YearFigures]:
        """One unit's scorecards year by year (each year as of its end, or now)."""
        units, group = scope(principal)
        if (units is not None and unit_id not in units) or group is not None:
            raise forbidden("Không được xem số liệu của đơn vị khác",
                            "You may not read another unit's figures")
        if last < first or last - first > 50:
            raise DomainError("invalid_range", "Khoảng năm không hợp lệ", "Invalid range of years",
                              field="last")
        rows = await asyncio.to_thread(parts.reading.unit_years, unit_id, first, last)
        return [YearFigures(**r) for r in rows]

    @router.get("/tasks", response_model=Page[dict[str, Any]], tags=["tasks"])
    async def board(
        principal: Annotated[Principal, readers],
        as_of: datetime | None = None, unit: Annotated[list[str] | None, Query()] = None,
        status: Literal["completed_on_time", "completed_late", "open_in_time", "open_overdue",
                        "open_no_deadline", "withdrawn"] | None = None,
        review_group: str | None = None, domain: str | None = None, key_task: bool | None = None,
        year: Annotated[int | None, Query(ge=1990, le=2100, description=(
            "only the year's workload (assigned ∪ carried over), each task with its membership; "
            "as_of defaults to the end of the year, or now"))] = None,
        membership: Literal["assigned", "carried_over"] | None = None,
        cooperating: Annotated[list[str] | None, Query(description=(
            "the cooperating view (metrics.md): tasks these units cooperate on, led by others; "
            "a unit reader sees its own"))] = None,
        cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        wait: bool = False,
    ) -> Page[dict[str, Any]]:
        """The task board: each task's status in the official taxonomy, at now or `as_of`,
        with how often an adjustment was requested and the deadline adjusted by then."""
        await maybe_wait(wait)
        units, group = scope(principal)
        if cooperating is not None:  # the unit's own cooperating view, whoever leads
            cooperating, units = units or cooperating, None
        offset = offset_of(cursor)
        if membership is not None and year is None:
            raise DomainError("membership_needs_year", "Cần chọn năm khi lọc theo nhiệm vụ giao "
                              "trong năm hay chuyển tiếp", "membership needs a year", field="year")
        try:
            rows, _ = await asyncio.to_thread(
                parts.reading.board, as_of=_aware(as_of), units=units or unit, status=status,
                review_group=group or review_group, domain=domain, key_task=key_task, year=year,
                membership=membership, clearance=principal.clearance.value, offset=offset,
                limit=limit, cooperating=cooperating)
        except AsOfBeforeYear as e:
            raise DomainError("as_of_before_year", "Thời điểm tính phải sau ngày đầu năm",
                              str(e), field="as_of") from e
        more = len(rows) > limit
        return Page(items=rows[:limit], next_cursor=encode_cursor(offset + limit) if more else None)

    @router.get("/reviews/{year}", tags=["scorecards"])
    async def annual_review(
        principal: Annotated[Principal, all_readers],
        year: Annotated[int, Path(ge=1990, le=2100)],
        as_of: Annotated[datetime | None, Query(description="default: end of the year, or now")] = None,
        wait: Annotated[bool, Query(description="first wait for every published event")] = False,
    ) -> dict[str, Any]:
        """Every figure of the annual review of a year (documents and tasks by review group,
        results by status, the units' reports, overdue and late tasks by domain with the key
        tasks, tasks carried over), with their definitions and the as-of moment."""
        await maybe_wait(wait)
        try:
            return await asyncio.to_thread(parts.reading.annual_review, year, as_of=_aware(as_of),
                                           clearance=principal.clearance.value)
        except AsOfBeforeYear as e:
            raise DomainError("as_of_before_year", "Thời điểm tính phải sau ngày đầu năm",
                              str(e), field="as_of") from e

    @router.get("/tasks/{task_id}/history", response_model=HistoryOut, tags=["tasks"])
    async def history(principal: Annotated[Principal, readers], task_id: str,
                      wait: bool = False) -> HistoryOut:
        """Every event of a task, in business order, in the office's words."""
        await maybe_wait(wait)
        units, group = scope(principal)
        try:
            found = await asyncio.to_thread(parts.reading.history, task_id,
                                            clearance=principal.clearance.value,
                                            unit_id=units[0] if units else None)
        except NotFound as e:
            raise not_found("nhiệm vụ", "task", task_id, field="task_id") from e
        except NotCleared as e:
            raise forbidden("Bạn không được xem nhiệm vụ này", "You may not read this task") from e
        if group is not None and found.task.get("review_group") and \
                match_key(found.task["review_group"]) != match_key(group):
            raise forbidden("Nhiệm vụ thuộc nhóm rà soát khác", "The task belongs to another review group")
        return HistoryOut(task=found.task, state_now=found.state_now, periods=found.periods,
                          events=[HistoryEvent(**e) for e in found.events])

    @router.get("/periods/{year}", tags=["periods"])
    async def period(principal: Annotated[Principal, readers], year: int) -> dict[str, Any]:
        """A closed year: when, by whom, its digest and signature, and any restatement."""
        with parts.engine.connect() as conn:
            found = frozen.closed_period(conn, year)
            if found is None:
                raise not_found("kỳ đã khóa", "closed period", str(year), field="year")
            restated = frozen.restatement(conn, year)
        return {"period": found, "restated": bool(restated and restated.restated),
                "changed_tasks": restated.changed_tasks if restated else [],
                "changed_reports": restated.changed_reports if restated else [],
                "events": [{k: e[k] for k in ("event_id", "event_type", "task_id", "business_day",
                                              "what_vi", "what_en", "topic", "partition",
                                              "kafka_offset")} for e in restated.events]
                if restated else []}

    @router.post("/periods/{year}/close", tags=["periods"], status_code=201)
    async def close(principal: Annotated[Principal, closers], year: int,
                    body: CloseRequest | None = None) -> dict[str, Any]:
        """Freeze a year's figures (as of its end): later events show as restatements."""
        try:
            return await periods.close_year(parts, year, closed_by=principal.subject,
                                            as_of=_aware(body.as_of) if body else None)
        except periods.YearNotOver as e:
            raise DomainError("year_not_over", f"Năm {year} chưa kết thúc", str(e), field="year") from e
        except frozen.PeriodClosed as e:
            raise conflict("period_closed", f"Năm {year} đã được khóa số liệu",
                           f"Year {year} is closed already", field="year") from e
        except periods.NotCaughtUp as e:
            raise DomainError("not_caught_up", "Dữ liệu tổng hợp chưa cập nhật kịp",
                              str(e), status=503) from e

    @router.get("/audit/checkpoints", tags=["audit"])
    async def checkpoints(principal: Annotated[Principal, auditors],
                          service: str | None = None) -> list[dict[str, Any]]:
        from dondoc_analytics.application.checkpoints import stored_checkpoints

        with parts.engine.connect() as conn:
            return [c.document() for c in stored_checkpoints(conn, service)]

    @router.get("/audit/tasks/{task_id}/proof", tags=["audit"])
    async def proof(principal: Annotated[Principal, auditors], task_id: str,
                    kept: Annotated[list[str] | None, Query(description=(
                        "the checkpoints the auditor kept, as service:size (repeatable), "
                        "e.g. tasks:120: for each, the consistency proof from that size to "
                        "the proof's checkpoint (the command line's --kept; step 4 of the "
                        "offline procedure checks it against the root kept)"))] = None,
                    ) -> dict[str, Any]:
        """The task's history with an inclusion proof for each event (checkable offline)."""
        from dondoc_analytics.application.audit import KeptSize, prove_history

        try:
            sizes = [KeptSize.parse(k) for k in kept or ()]
        except ValueError as e:
            raise DomainError("invalid_kept", f"Điểm kiểm tra đã lưu không hợp lệ: {e} "
                              "(viết dịch_vụ:kích_thước, ví dụ tasks:120)",
                              f"Invalid kept checkpoint: {e} (write service:size, e.g. tasks:120)",
                              field="kept") from e
        try:
            return await asyncio.to_thread(prove_history, parts, task_id, sizes)
        except NotFound as e:
            raise not_found("nhiệm vụ", "task", task_id, field="task_id") from e

    @router.get("/status", response_model=StatusOut, tags=["operations"])
    async def status(principal: Annotated[Principal, readers]) -> StatusOut:
        return StatusOut(generation=await asyncio.to_thread(parts.projection.active),
                         lag_events=await parts.projection.lag())

    app.include_router(router)
    app.state.parts = parts
    return app


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    from dondoc_platform.clock import VN_TZ

    return moment.replace(tzinfo=VN_TZ)  # a moment without offset is Vietnam time

