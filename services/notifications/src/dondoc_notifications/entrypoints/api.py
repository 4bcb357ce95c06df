"""HTTP API: what was sent (for a task, a report, a unit), one notice's full record, a
deliberate resend, unit preferences, and the manual clock for demos."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Query
from pydantic import AwareDatetime, BaseModel, Field

from dondoc_contracts import Role
from dondoc_platform.auth import Principal, TokenVerifier
from dondoc_platform.clock import Clock, ManualClock
from dondoc_platform.errors import DomainError, forbidden, not_found
from dondoc_platform.http import (
    IdempotencyMiddleware, Page, authenticator, command, create_app, offset_of, page_of,
    require_roles,
)
from dondoc_platform.settings import AuthSettings

from dondoc_notifications.application.app import Queries, set_unit_preferences
from dondoc_notifications.application.planning import Planner
from dondoc_notifications.domain.rules import FAMILIES, RuleSettings

READERS = (Role.OFFICE, Role.ADMIN, Role.AUDITOR, Role.LEADER, Role.UNIT)
SEE_ALL = (Role.OFFICE, Role.ADMIN, Role.AUDITOR, Role.LEADER)
SEE_WEBHOOK_URLS = (Role.OFFICE, Role.ADMIN)  # the directory's keepers, as in the directives service
Limit = Annotated[int, Query(ge=1, le=500)]


class NotificationView(BaseModel):
    notification_id: str
    rule: str
    channel: Literal["email", "webhook"]
    recipient_kind: str = Field(description="lead_unit, cooperating_unit, unit, office, leadership")
    recipient_unit_id: str | None
    address: str | None = Field(
        None, description="The e-mail address, or the webhook URL. A webhook URL may carry the receiver's "
                          "token: it is shown only to the office and admin, and absent for other roles.")
    task_id: str | None
    report_id: str | None
    directive_number: str | None
    due_on: date | None
    subject: str
    message_id: str = Field(description="SMTP Message-ID or webhook delivery id, decided before sending")
    language: str
    state: Literal["pending", "dispatched", "sent", "failed"]
    attempts: int
    last_error: str | None
    due_at: datetime = Field(description="when the rule called for it")
    planned_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    reconciled: bool
    covers: int = Field(description="for a daily digest: how many notices it carried")
    resend_of: str | None


class Step(BaseModel):
    event: str
    version: int
    recorded_at: datetime
    detail: dict[str, Any]


class NotificationDetail(NotificationView):
    text: str
    link: str | None
    covered: list[dict[str, Any]]
    history: list[Step]


class Preferences(BaseModel):
    daily_digest: bool | None = Field(None, description="True: one digest a day; None: as the directory says")
    language: Literal["vi", "en"] | None = None


class ClockView(BaseModel):
    now: datetime
    manual: bool


class ClockMove(BaseModel):
    set_to: AwareDatetime | None = Field(None, description="move the clock to this moment")
    advance_seconds: float | None = Field(None, gt=0, description="or move it forward by this much")


class RulesView(BaseModel):
    deadline_reminder_days: list[int]
    report_reminder_days: list[int]
    overdue_repeat_days: int
    escalate_after_days: int
    send_time: str
    digest_time: str
    stale_after_hours: float
    enabled: dict[str, bool]


def build_api(*, settings: Any, engine: sa.Engine, queries: Queries, planner: Planner, clock: Clock,
              rules: RuleSettings, on_recorded: Callable[[], None]) -> FastAPI:
    app = create_app(service="notifications", title="dondoc notifications",
                     description="Nhắc hạn, cảnh báo quá hạn, báo cáo lãnh đạo: đã gửi gì, cho ai, khi nào / "
                                 "Reminders, overdue alerts and escalations: what was sent, to whom, when.")
    app.add_middleware(IdempotencyMiddleware, engine=engine)
    authenticated = authenticator(TokenVerifier(AuthSettings()))
    reader = require_roles(authenticated, *READERS)
    router = APIRouter(tags=["notifications"])

    def scoped_unit(principal: Principal, unit_id: str | None) -> str | None:
        if principal.has(*SEE_ALL):
            return unit_id
        if unit_id is not None and unit_id != principal.unit_id:
            raise forbidden("Đơn vị chỉ xem được thông báo gửi cho mình",
                            "A unit sees only the notices sent to it")
        return principal.unit_id

    def listing(principal: Principal, cursor: str | None, limit: int, **filters: Any) -> Page[NotificationView]:
        offset = offset_of(cursor)
        filters["unit_id"] = scoped_unit(principal, filters.get("unit_id"))
        rows = queries.find(offset=offset, limit=limit + 1, **filters)
        return page_of([NotificationView(**_view(r, principal)) for r in rows], offset, limit)

    @router.get("/notifications", response_model=Page[NotificationView], response_model_exclude_unset=True,
                summary="Notices, filtered (đã gửi gì, cho ai, khi nào)")
    def list_notifications(principal: Principal = reader, task_id: str | None = None,
                           report_id: str | None = None, unit_id: str | None = None,
                           rule: str | None = None,
                           state: Literal["pending", "dispatched", "sent", "failed"] | None = None,
                           since: AwareDatetime | None = None, cursor: str | None = None,
                           limit: Limit = 50) -> Page[NotificationView]:
        return listing(principal, cursor, limit, task_id=task_id, report_id=report_id, unit_id=unit_id,
                       rule=rule, state=state, since=since)

    @router.get("/tasks/{task_id}/notifications", response_model=Page[NotificationView], response_model_exclude_unset=True,
                summary="What was sent about a task")
    def task_notifications(task_id: str, principal: Principal = reader, cursor: str | None = None,
                           limit: Limit = 50) -> Page[NotificationView]:
        return listing(principal, cursor, limit, task_id=task_id)

    @router.get("/reports/{report_id}/notifications", response_model=Page[NotificationView], response_model_exclude_unset=True,
                summary="What was sent about a report")
    def report_notifications(report_id: str, principal: Principal = reader, cursor: str | None = None,
                             limit: Limit = 50) -> Page[NotificationView]:
        return listing(principal, cursor, limit, report_id=report_id)

    @router.get("/units/{unit_id}/notifications", response_model=Page[NotificationView], response_model_exclude_unset=True,
                summary="What was sent to a unit (was the unit warned, and when?)")
    def unit_notifications(unit_id: str, principal: Principal = reader, cursor: str | None = None,
                           limit: Limit = 50) -> Page[NotificationView]:
        return listing(principal, cursor, limit, unit_id=unit_id)

    @router.get("/notifications/{notification_id}", response_model=NotificationDetail, response_model_exclude_unset=True,
                summary="One notice: its text and every recorded step")
    def get_notification(notification_id: str, principal: Principal = reader) -> NotificationDetail:
        row = queries.row(notification_id)
        if row is None:
            raise not_found("thông báo", "notification", notification_id, field="notification_id")
        scoped_unit(principal, row["recipient_unit_id"] or "")
        notice = queries.aggregate(notification_id)
        return NotificationDetail(**_view(row, principal), text=notice.content.get("text", ""),
                                  link=notice.content.get("link"), covered=list(notice.covers),
                                  history=[Step(**s) for s in queries.history(notification_id)])

    @router.post("/notifications/{notification_id}/resend", response_model=NotificationView, status_code=202,
                 summary="Send a notice again: a new, recorded message (same text, new message id)")
    def resend(notification_id: str,
               principal: Principal = require_roles(authenticated, Role.OFFICE, Role.ADMIN)) -> NotificationView:
        with command("notifications", "resend_notification"):
            original = queries.aggregate(notification_id)
            notice = planner.resend(original, clock.now())
        on_recorded()
        return NotificationView(
            notification_id=str(notice.id), rule=notice.rule, channel=notice.channel,
            recipient_kind=notice.recipient["kind"], recipient_unit_id=notice.recipient.get("unit_id"),
            address=notice.recipient["address"], task_id=notice.about.get("task_id"),
            report_id=notice.about.get("report_id"), directive_number=notice.about.get("directive_number"),
            due_on=notice.about.get("due_on"), subject=notice.content["subject"],
            message_id=notice.message_id, language=notice.language, state="pending", attempts=0,
            last_error=None, due_at=notice.due_at, planned_at=notice.planned_at, sent_at=None,
            failed_at=None, reconciled=False, covers=len(notice.covers), resend_of=notice.resend_of)

    @router.put("/units/{unit_id}/preferences", response_model=Preferences, tags=["units"],
                summary="A unit's choice: daily digest or single notices, and language")
    def set_preferences(unit_id: str, body: Preferences,
                        principal: Principal = require_roles(authenticated, Role.OFFICE, Role.ADMIN, Role.UNIT)
                        ) -> Preferences:
        scoped_unit(principal, unit_id)
        with command("notifications", "set_unit_preferences"):
            if not set_unit_preferences(engine, unit_id, daily_digest=body.daily_digest, language=body.language):
                raise not_found("đơn vị", "unit", unit_id, field="unit_id")
        return body

    admin = APIRouter(prefix="/admin", tags=["administration"])

    @admin.get("/clock", response_model=ClockView, summary="The service's business clock")
    def get_clock(principal: Principal = reader) -> ClockView:
        return ClockView(now=clock.now(), manual=isinstance(clock, ManualClock))

    @admin.post("/clock", response_model=ClockView, summary="Move the manual clock (DONDOC_CLOCK=manual)")
    def move_clock(body: ClockMove, principal: Principal = require_roles(authenticated, Role.ADMIN)) -> ClockView:
        if not isinstance(clock, ManualClock):
            raise DomainError("clock_not_manual", "Đồng hồ hệ thống không thể chỉnh (cần DONDOC_CLOCK=manual)",
                              "The system clock cannot be moved (needs DONDOC_CLOCK=manual)", status=409)
        if (body.set_to is None) == (body.advance_seconds is None):
            raise DomainError("invalid_clock_move", "Cần đúng một trong set_to hoặc advance_seconds",
                              "Give exactly one of set_to or advance_seconds", field="set_to")
        target = body.set_to or clock.now() + timedelta(seconds=body.advance_seconds or 0)
        if target < clock.now():
            raise DomainError("clock_backwards", "Đồng hồ không lùi lại được", "The clock does not go backwards",
                              field="set_to", status=409)
        clock.set(target)
        return ClockView(now=clock.now(), manual=True)

    @admin.get("/rules", response_model=RulesView, summary="The rules in force (from the settings)")
    def get_rules(principal: Principal = reader) -> RulesView:
        return RulesView(deadline_reminder_days=list(rules.deadline_reminder_days),
                         report_reminder_days=list(rules.report_reminder_days),
                         overdue_repeat_days=rules.overdue_repeat_days,
                         escalate_after_days=rules.escalate_after_days,
                         send_time=rules.send_time.isoformat("minutes"),
                         digest_time=rules.digest_time.isoformat("minutes"),
                         stale_after_hours=rules.stale_after.total_seconds() / 3600,
                         enabled={family: rules.enabled(family) for family in FAMILIES})

    app.include_router(router)
    app.include_router(admin)
    return app


def _view(row: dict[str, Any], principal: Principal) -> dict[str, Any]:
    view = {name: row[name] for name in NotificationView.model_fields}
    if view["channel"] == "webhook" and not principal.has(*SEE_WEBHOOK_URLS):
        del view["address"]  # left unset, so the answer omits it (response_model_exclude_unset)
    return view
