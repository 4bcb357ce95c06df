"""The notifications application: its event store (Notification aggregates, the outbox),
the planner, the deliverer, and the queries and commands the API and CLI offer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.application import AggregateNotFoundError, Application

from dondoc_platform.clock import Clock, ManualClock
from dondoc_platform.errors import not_found

from dondoc_notifications.adapters.tables import clock_state, notifications, units, upsert
from dondoc_notifications.domain.notification import Notification


class NotificationsApp(Application[UUID]):
    name = "Notifications"


class Queries:
    """What was sent, for a task, a report or a unit (reads the projection)."""

    def __init__(self, app: NotificationsApp, engine: sa.Engine) -> None:
        self.app = app
        self.engine = engine

    def find(self, *, task_id: str | None = None, report_id: str | None = None,
             unit_id: str | None = None, rule: str | None = None, state: str | None = None,
             since: datetime | None = None, offset: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        query = sa.select(notifications)
        for column, value in ((notifications.c.task_id, task_id), (notifications.c.report_id, report_id),
                              (notifications.c.recipient_unit_id, unit_id),
                              (notifications.c.rule, rule), (notifications.c.state, state)):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(notifications.c.due_at >= since)
        query = query.order_by(notifications.c.due_at, notifications.c.position,
                               notifications.c.notification_id).offset(offset).limit(limit)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def row(self, notification_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(notifications).where(
                notifications.c.notification_id == notification_id)).mappings().first()
        return dict(row) if row else None

    def aggregate(self, notification_id: str) -> Notification:
        try:
            return self.app.repository.get(UUID(notification_id))
        except (AggregateNotFoundError, ValueError) as e:
            raise not_found("thông báo", "notification", notification_id, field="notification_id") from e

    def history(self, notification_id: str) -> list[dict[str, Any]]:
        """Every recorded step of one notice, in order (the audit trail)."""
        notice = self.aggregate(notification_id)
        steps = []
        for event in self.app.repository.event_store.get(notice.id):
            name = type(event).__name__
            detail = {k: v for k, v in event.__dict__.items()
                      if k not in ("originator_id", "originator_version", "timestamp", "originator_topic",
                                   "content", "recipient", "about", "covers", "key")}
            steps.append({"event": name, "version": event.originator_version,
                          "recorded_at": event.timestamp, "detail": _plain(detail)})
        return steps

    def unit(self, unit_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(units).where(units.c.unit_id == unit_id)).mappings().first()
        return dict(row) if row else None


def set_unit_preferences(engine: sa.Engine, unit_id: str, *, daily_digest: bool | None,
                         language: str | None) -> bool:
    with engine.begin() as conn:
        return conn.execute(units.update().where(units.c.unit_id == unit_id).values(
            digest_override=daily_digest, language=language)).rowcount > 0


class ClockKeeper:
    """The manual clock's moment, kept in the database so demo time survives a restart."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def load(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(clock_state.c.now).where(clock_state.c.name == "manual")).scalar()

    def save(self, moment: datetime) -> None:
        with self.engine.begin() as conn:
            upsert(conn, clock_state, {"name": "manual", "now": moment}, ["name"])

    def attach(self, clock: Clock) -> None:
        if isinstance(clock, ManualClock):
            clock.on_change(self.save)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k.lstrip("_"): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value
