"""The reports HTTP API: translates requests into use cases and view queries, nothing more."""


from collections.abc import Collection, Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request, Response

from dondoc_contracts import Role
from dondoc_platform.auth import SECRECY_ORDER, Principal, TokenVerifier
from dondoc_platform.calendar import overdue_moment
from dondoc_platform.clock import Clock
from dondoc_platform.errors import forbidden, not_found
from dondoc_platform.http import (
    ErrorBody,
    IdempotencyMiddleware,
    Page,
    ReadyCheck,
    authenticator,
    command,
    create_app,
    encode_cursor,
    expected_version,
    offset_of,
    require_roles,
)
from dondoc_platform.longpoll import Changes, reads
from dondoc_platform.names import match_key
from dondoc_platform.timecontrol import clock_router
from dondoc_reports.adapters.directory import READS as DIRECTORY_READS, Directory, unit_key
from dondoc_reports.application import access
from dondoc_reports.application.service import ReportsService
from dondoc_reports.entrypoints.schemas import (
    AdjustmentOut,
    CycleDetail,
    CycleOut,
    DecideAdjustment,
    ObligationOut,
    OpenCycle,
    ReportDetail,
    RequestAdjustment,
    ReviewReport,
    SubmitReport,
    UnitTaskOut,
    plain,
)
from dondoc_reports.projections.views import ReportsView, answered_rows

SERVICE = "reports"
ALL = (Role.OFFICE, Role.UNIT, Role.REVIEWER, Role.LEADER, Role.AUDITOR, Role.ADMIN)

IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=40, pattern=r"^[ -~]*$",
                                       description='The version you saw, e.g. "3"')]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=200, pattern=r"^[!-~]+$",
    description="Send a command again with the same key: the first answer comes back, once")]
Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


def _page(items: list[Any], total: int, offset: int, limit: int) -> Page:
    more = len(items) > limit
    return Page(items=items[:limit], total=total,
                next_cursor=encode_cursor(offset + limit) if more else None)


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


def _obligation(row: Mapping[str, Any], hidden: Collection[str] = ()) -> ObligationOut:
    """`hidden`: tasks above the reader's clearance, left out of `task_ids`."""
    first, due = row["first_submitted_on"], row["due_on"]
    return ObligationOut.model_validate({**row, "task_ids": [t for t in row["task_ids"] if t not in hidden],
                                         "on_time": None if first is None else first <= due})


def cleared_levels(principal: Principal) -> list[str]:
    return [s.value for s in SECRECY_ORDER if principal.cleared_for(s)]


class Scope:
    """What part of the reports a principal sees: everything, one unit, or one review group."""

    def __init__(self, principal: Principal) -> None:
        self.everything = access.reads_everything(principal)
        self.group_key = None if self.everything or not principal.has(Role.REVIEWER) \
            else match_key(principal.review_group)
        self.unit_id = None if self.everything or self.group_key else principal.unit_id

    def narrow_unit(self, unit_id: str | None) -> str | None:
        if self.unit_id is not None:
            if unit_id not in (None, self.unit_id):
                raise forbidden(f"Bạn chỉ xem được dữ liệu của đơn vị {self.unit_id}",
                                f"You may only see unit {self.unit_id}'s data")
            return self.unit_id
        return unit_id


def create_api(*, service: ReportsService, view: ReportsView, directory: Directory,
               verifier: TokenVerifier, engine: Any, clock: Clock,
               ready_checks: Sequence[ReadyCheck] = (), changes: Changes | None = None) -> FastAPI:
    app = create_app(
        service=SERVICE, title="dondoc reports",
        description=("Report cycles, units' self-review reports answered item by item, the review "
                     "team's assessments, overdue reports, and deadline adjustment requests and "
                     "decisions. Errors name the field and the reason in Vietnamese and English."),
        ready_checks=ready_checks, changes=changes)
    app.add_middleware(IdempotencyMiddleware, engine=engine)
    authenticated = authenticator(verifier)
    app.include_router(clock_router(clock, authenticated))
    anyone = require_roles(authenticated, *ALL)
    office = require_roles(authenticated, Role.OFFICE)
    unit = require_roles(authenticated, Role.UNIT)
    submitter = require_roles(authenticated, Role.UNIT, Role.OFFICE)
    reviewer = require_roles(authenticated, Role.OFFICE, Role.REVIEWER)
    router = APIRouter()

    def ensure_may_read(principal: Principal, unit_id: str, fallback: str | None = None) -> None:
        """`access.ensure_may_read_unit`, reading the unit's review group only when the
        answer depends on it (a reviewer's): the office's and the unit's own do not."""
        if not access.may_read_unit(principal, unit_id, None):
            access.ensure_may_read_unit(principal, unit_id,
                                        directory.review_group_of(unit_id, fallback))

    def visible_adjustment(request_id: str, principal: Principal) -> Any:
        """The request, unless its task is above the principal's clearance (then, as for the
        task itself, it does not exist for them)."""
        row = view.adjustment(request_id)
        task = directory.task_rows([row.task_id]).get(row.task_id) if row is not None else None
        if row is None or (task is not None and not principal.cleared_for(task.secrecy)):
            raise not_found("đề nghị điều chỉnh", "Adjustment request", request_id, field="request_id")
        return row

    def fresh() -> None:
        """What a caller wrote shows in its next query, whichever process answered the
        command (a report submitted is answered before the view has caught up)."""
        view.catch_up()

    def detail(row: Mapping[str, Any], submissions: Sequence[Mapping[str, Any]],
               reviews: Sequence[Mapping[str, Any]], principal: Principal,
               response: Response | None, known: Mapping[str, Any] | None = None) -> ReportDetail:
        """A report as `principal` may see it: lines on tasks above their clearance hidden.
        `known`: the directory's rows (or facts) of tasks already read in this request; only
        the others are read."""
        ensure_may_read(principal, row["unit_id"], row["review_group"])
        task_ids = {*row["task_ids"], *(line["task_id"] for s in submissions for line in s["lines"])}
        tasks = {t: known[t] for t in task_ids if t in known} if known else {}
        tasks.update(directory.task_rows(task_ids - tasks.keys()))
        hidden = {t for t, task in tasks.items() if not principal.cleared_for(task.secrecy)}

        def visible(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
            # left out without a trace: a count would tell the reader a secret task exists
            return [line for line in lines if line["task_id"] not in hidden]

        subs = [{**s, "lines": visible(s["lines"])} for s in submissions]
        revs = [{**r, "lines": visible(r["lines"])} for r in reviews]
        answered = {line["task_id"] for line in submissions[-1]["lines"]} if submissions else None
        unanswered = [] if answered is None else [
            t for t in row["task_ids"] if t not in answered and t not in hidden and t in tasks
            and tasks[t].lead_unit_id == row["unit_id"] and tasks[t].withdrawn_on is None]
        if response is not None:
            _etag(response, row["version"])
        return ReportDetail.model_validate({**_obligation(row, hidden).model_dump(), "submissions": subs,
                                            "reviews": revs, "unanswered_task_ids": unanswered})

    def obligations(rows: Sequence[Any], principal: Principal) -> list[ObligationOut]:
        """Obligations as `principal` may see them: tasks above their clearance left out of
        `task_ids` (the tasks' secrecy read once for the whole page)."""
        tasks = directory.task_rows(t for r in rows for t in r.task_ids)
        hidden = {t for t, task in tasks.items() if not principal.cleared_for(task.secrecy)}
        return [_obligation(r._mapping, hidden) for r in rows]

    def report_detail(report_id: str, principal: Principal, response: Response | None = None) -> ReportDetail:
        fresh()
        row = view.report(report_id)
        if row is None:
            raise not_found("báo cáo", "Report", report_id, field="report_id")
        return detail(row._mapping, [s._mapping for s in view.submissions(report_id)],
                      [r._mapping for r in view.reviews(report_id)], principal, response)

    def cycle_detail(cycle_id: str, principal: Principal) -> CycleDetail:
        row = view.cycle(cycle_id)
        if row is None:
            raise not_found("kỳ báo cáo", "Report cycle", cycle_id, field="cycle_id")
        scope = Scope(principal)
        fresh()
        rows, _ = view.reports(cycle_id=cycle_id, unit_id=scope.unit_id, group_key=scope.group_key,
                               offset=0, limit=10_000)
        return CycleDetail.model_validate({**_cycle(row).model_dump(),
                                           "obligations": obligations(rows, principal)})

    # -- cycles ---------------------------------------------------------------------------

    @router.post("/cycles", status_code=201, response_model=CycleDetail, tags=["cycles"],
                 summary="Open a report cycle (the office)", responses=_errors(403, 409, 422))
    def open_cycle(body: OpenCycle, principal: Annotated[Principal, office],
                   idempotency_key: IdempotencyKey = None) -> CycleDetail:
        with command(SERVICE, "open_cycle"):
            cycle = service.open_cycle(
                period=plain(body.period), data_cutoff_on=body.data_cutoff_on, due_on=body.due_on,
                title=body.title, unit_ids=body.unit_ids, review_group=body.review_group,
                principal=principal,
                include_units_without_open_tasks=body.include_units_without_open_tasks)
        return cycle_detail(str(cycle.id), principal)

    @router.post("/cycles/{cycle_id}/close", response_model=CycleOut, tags=["cycles"],
                 summary="Close a report cycle: it takes no more reports",
                 responses=_errors(400, 403, 404, 409, 422))
    def close_cycle(cycle_id: str, principal: Annotated[Principal, office], response: Response,
                    if_match: IfMatch = None, idempotency_key: IdempotencyKey = None) -> CycleOut:
        with command(SERVICE, "close_cycle"):
            service.close_cycle(cycle_id, expected_version=expected_version(if_match),
                                principal=principal)
        row = view.cycle(cycle_id)
        _etag(response, row.version)
        return _cycle(row)

    @router.get("/cycles", response_model=Page[CycleOut], tags=["cycles"],
                summary="Report cycles, newest first (a unit sees those it owes a report in)",
                responses=_errors(403, 422))
    def list_cycles(principal: Annotated[Principal, anyone],
                    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
                    year: Annotated[int | None, Query(ge=1990, le=2200, description="due in")] = None,
                    limit: Limit = 50, cursor: Cursor = None) -> Page:
        scope, offset = Scope(principal), offset_of(cursor)
        rows, total = view.cycles(status=status, year=year, unit_id=scope.unit_id,
                                  group_key=scope.group_key, offset=offset, limit=limit)
        return _page([_cycle(r) for r in rows], total, offset, limit)

    @router.get("/cycles/{cycle_id}", response_model=CycleDetail, tags=["cycles"],
                summary="A cycle with the obligations the reader may see",
                responses=_errors(403, 404))
    def get_cycle(cycle_id: str, principal: Annotated[Principal, anyone],
                  response: Response) -> CycleDetail:
        detail = cycle_detail(cycle_id, principal)
        _etag(response, detail.version)
        return detail

    # -- reports --------------------------------------------------------------------------

    @router.get("/reports", response_model=Page[ObligationOut], tags=["reports"],
                summary="Reports (obligations), by due day; filtered to what the reader may see",
                responses=_errors(403, 422))
    def list_reports(principal: Annotated[Principal, anyone],
                     cycle_id: Annotated[str | None, Query(max_length=64)] = None,
                     unit_id: Annotated[str | None, Query(max_length=128)] = None,
                     status: Annotated[str | None, Query(
                         pattern="^(requested|submitted|returned|accepted)$")] = None,
                     overdue: bool | None = None, limit: Limit = 50, cursor: Cursor = None) -> Page:
        scope, offset = Scope(principal), offset_of(cursor)
        fresh()
        rows, total = view.reports(cycle_id=cycle_id, unit_id=scope.narrow_unit(unit_id),
                                   group_key=scope.group_key, status=status, overdue=overdue,
                                   offset=offset, limit=limit)
        return _page(obligations(rows, principal), total, offset, limit)

    @router.get("/reports/{report_id}", response_model=ReportDetail, tags=["reports"],
                summary="A report with every submission's lines and the review history",
                responses=_errors(403, 404))
    def get_report(report_id: str, principal: Annotated[Principal, anyone],
                   response: Response) -> ReportDetail:
        return report_detail(report_id, principal, response)

    @router.post("/reports/{report_id}/submissions", status_code=201, response_model=ReportDetail,
                 tags=["reports"],
                 summary="Submit (or resubmit) the unit's report, item by item; or the office "
                         "records a report it received, on the day it came in",
                 responses=_errors(400, 403, 404, 409, 422))
    def submit_report(report_id: str, body: SubmitReport, principal: Annotated[Principal, submitter],
                      response: Response, if_match: IfMatch = None,
                      idempotency_key: IdempotencyKey = None) -> ReportDetail:
        with command(SERVICE, "submit_report"):
            submitted = service.submit_report(
                report_id, lines=[plain(line) for line in body.lines], summary=body.summary,
                expected_version=expected_version(if_match), principal=principal,
                submitted_on=body.submitted_on)
        # answered from the report just saved, as the view will show it: the view follows
        # without holding up the caller (its next query catches it up); its tasks as the
        # submission was checked against them
        return detail(*answered_rows(submitted.report), principal, response, submitted.tasks)

    @router.post("/reports/{report_id}/reviews", status_code=201, response_model=ReportDetail,
                 tags=["reports"],
                 summary="Assess every line of the latest submission (review team or office)",
                 responses=_errors(400, 403, 404, 409, 422))
    def review_report(report_id: str, body: ReviewReport, principal: Annotated[Principal, reviewer],
                      response: Response, if_match: IfMatch = None,
                      idempotency_key: IdempotencyKey = None) -> ReportDetail:
        with command(SERVICE, "review_report"):
            service.review_report(report_id, revision=body.revision,
                                  assessments=[plain(a) for a in body.lines], comment=body.comment,
                                  expected_version=expected_version(if_match), principal=principal,
                                  reviewed_on=body.reviewed_on)
        return report_detail(report_id, principal, response)

    # -- units ----------------------------------------------------------------------------

    @router.get("/units/{unit_id}/obligations", response_model=Page[ObligationOut], tags=["units"],
                summary="A unit's reports, by due day", responses=_errors(403, 422))
    def unit_obligations(unit_id: str, principal: Annotated[Principal, anyone],
                         limit: Limit = 50, cursor: Cursor = None) -> Page:
        ensure_may_read(principal, unit_id)
        offset = offset_of(cursor)
        fresh()
        rows, total = view.reports(unit_id=unit_id, offset=offset, limit=limit)
        return _page(obligations(rows, principal), total, offset, limit)

    @router.get("/units/{unit_id}/tasks", response_model=Page[UnitTaskOut], tags=["units"],
                summary="The tasks a unit leads, as this service knows them (what it reports on)",
                responses=_errors(403, 422))
    def unit_tasks(unit_id: str, request: Request, principal: Annotated[Principal, anyone],
                   include_closed: bool = False, limit: Limit = 50, cursor: Cursor = None) -> Page:
        # the unit, its review group, its tasks: the directory only, and this unit's part of it
        reads(request, DIRECTORY_READS, unit_key(unit_id))
        ensure_may_read(principal, unit_id)
        offset = offset_of(cursor)
        rows = directory.unit_tasks(unit_id, include_closed=include_closed, offset=offset,
                                    limit=limit + 1)
        more = len(rows) > limit
        shown = [UnitTaskOut.model_validate(r) for r in rows[:limit]
                 if principal.cleared_for(r.secrecy)]
        return Page(items=shown, next_cursor=encode_cursor(offset + limit) if more else None)

    # -- adjustments ----------------------------------------------------------------------

    @router.post("/adjustments", status_code=201, response_model=AdjustmentOut, tags=["adjustments"],
                 summary="Request to extend, stretch or withdraw a task (its lead unit)",
                 responses=_errors(403, 404, 409, 422))
    def request_adjustment(body: RequestAdjustment, principal: Annotated[Principal, unit],
                           idempotency_key: IdempotencyKey = None) -> AdjustmentOut:
        with command(SERVICE, "request_adjustment"):
            request = service.request_adjustment(
                task_id=body.task_id, kind=body.kind, proposed_due_on=body.proposed_due_on,
                reason=body.reason, report_id=body.report_id, principal=principal)
        return AdjustmentOut.model_validate(view.adjustment(str(request.id)))

    @router.post("/adjustments/{request_id}/decision", response_model=AdjustmentOut,
                 tags=["adjustments"], summary="Record the decision on a request (the office)",
                 responses=_errors(400, 403, 404, 409, 422))
    def decide_adjustment(request_id: str, body: DecideAdjustment,
                          principal: Annotated[Principal, office], response: Response,
                          if_match: IfMatch = None,
                          idempotency_key: IdempotencyKey = None) -> AdjustmentOut:
        visible_adjustment(request_id, principal)
        with command(SERVICE, "decide_adjustment"):
            service.decide_adjustment(
                request_id, approved=body.approved, due_on=body.due_on,
                decision=plain(body.decision), comment=body.comment,
                expected_version=expected_version(if_match), principal=principal)
        row = view.adjustment(request_id)
        _etag(response, row.version)
        return AdjustmentOut.model_validate(row)

    @router.get("/adjustments", response_model=Page[AdjustmentOut], tags=["adjustments"],
                summary="Adjustment requests, newest first", responses=_errors(403, 422))
    def list_adjustments(principal: Annotated[Principal, anyone],
                         task_id: Annotated[str | None, Query(max_length=128)] = None,
                         unit_id: Annotated[str | None, Query(max_length=128)] = None,
                         status: Annotated[str | None, Query(
                             pattern="^(pending|approved|rejected)$")] = None,
                         limit: Limit = 50, cursor: Cursor = None) -> Page:
        scope, offset = Scope(principal), offset_of(cursor)
        rows, total = view.adjustments(task_id=task_id, unit_id=scope.narrow_unit(unit_id),
                                       group_key=scope.group_key, status=status, offset=offset,
                                       limit=limit, cleared=cleared_levels(principal))
        return _page([AdjustmentOut.model_validate(r) for r in rows], total, offset, limit)

    @router.get("/adjustments/{request_id}", response_model=AdjustmentOut, tags=["adjustments"],
                summary="One adjustment request with its decision", responses=_errors(403, 404))
    def get_adjustment(request_id: str, principal: Annotated[Principal, anyone],
                       response: Response) -> AdjustmentOut:
        row = visible_adjustment(request_id, principal)
        ensure_may_read(principal, row.unit_id)
        _etag(response, row.version)
        return AdjustmentOut.model_validate(row)

    app.include_router(router)
    return app


def _cycle(row: Any) -> CycleOut:
    data = dict(row._mapping)
    data["period"] = {"kind": row.period_kind, "label": row.period_label,
                      "starts_on": row.starts_on, "ends_on": row.ends_on}
    data["overdue_decided_at_close"] = row.opened_at >= overdue_moment(row.due_on)
    return CycleOut.model_validate(data)
