"""`ntf_notifications`: every notice, its state and its history in one row, projected from
the service's own event log with the position in the same transaction. It answers "what
was sent for this task / unit" and is the delivery queue (state + due moment, indexed)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from eventsourcing.application import Application

from dondoc_notifications.adapters.tables import notifications, positions, upsert
from dondoc_notifications.domain.notification import DISPATCHED, FAILED, PENDING, SENT, Notification

NAME = "ntf_notifications"


class NotificationsProjection:
    def __init__(self, app: Application, engine: sa.Engine, batch: int = 1000) -> None:
        self.app = app
        self.engine = engine
        self.batch = batch

    def position(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(positions.c.position).where(positions.c.name == NAME)).scalar() or 0

    def catch_up(self) -> int:
        """Apply what the log holds beyond the recorded position; returns how many entries."""
        total = 0
        while True:
            with self.engine.begin() as conn:
                start = conn.execute(sa.select(positions.c.position).where(
                    positions.c.name == NAME)).scalar() or 0
                batch = self.app.recorder.select_notifications(start + 1, self.batch)
                if not batch:
                    return total
                for item in batch:
                    self._apply(conn, self.app.mapper.to_domain_event(item), item.id)
                upsert(conn, positions, {"name": NAME, "position": batch[-1].id}, ["name"])
                total += len(batch)

    def _apply(self, conn: sa.Connection, event: Any, position: int) -> None:
        ident = str(event.originator_id)
        row = notifications.c.notification_id == ident
        if isinstance(event, Notification.Planned):
            recipient, about = event.recipient, event.about
            upsert(conn, notifications, {
                "notification_id": ident, "key": event.key, "rule": event.rule,
                "channel": event.channel, "recipient_kind": recipient["kind"],
                "recipient_unit_id": recipient.get("unit_id"), "address": recipient["address"],
                "task_id": about.get("task_id"), "report_id": about.get("report_id"),
                "directive_number": about.get("directive_number"),
                "due_on": _date(about.get("due_on")), "message_id": event.message_id,
                "language": event.language, "subject": event.content.get("subject", "")[:1000],
                "covers": len(event.covers or []), "resend_of": event.resend_of, "state": PENDING,
                "attempts": 0, "due_at": event.due_at, "planned_at": event.planned_at,
                "position": position,
            }, ["notification_id"], update=False)
        elif isinstance(event, Notification.Dispatched):
            conn.execute(notifications.update().where(row).values(
                state=DISPATCHED, attempts=event.attempt, position=position))
        elif isinstance(event, Notification.Sent):
            conn.execute(notifications.update().where(row).values(
                state=SENT, sent_at=event.sent_at, reconciled=event.reconciled,
                leased_until=None, position=position))
        elif isinstance(event, Notification.AttemptFailed):
            conn.execute(notifications.update().where(row).values(
                state=PENDING, attempts=event.attempt, last_error=event.error,
                retry_at=event.retry_at, leased_until=None, position=position))
        elif isinstance(event, Notification.Failed):
            conn.execute(notifications.update().where(row).values(
                state=FAILED, attempts=event.attempts, last_error=event.last_error,
                failed_at=event.failed_at, leased_until=None, position=position))


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))

