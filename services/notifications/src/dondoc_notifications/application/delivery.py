"""Delivering recorded notices: claim due ones, send, record the outcome on the aggregate.

- A notice is claimed (a lease on its queue row) before any send, so two workers never send
  the same one; the aggregate, reloaded before sending, is the truth (a notice already sent
  is never sent again).
- The SMTP channel being down delays every e-mail and uses up none of their attempts; a
  notice's own failures (a refused recipient, a webhook answering 500) are retried with
  exponential backoff, at most `max_attempts` times, then recorded as failed for good.
- Backoff and leases run on real time; the business clock only decides when a notice is due.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.application import Application

from dondoc_platform.clock import Clock

from dondoc_notifications.adapters import channels
from dondoc_notifications.adapters.handovers import HandOverMarks
from dondoc_notifications.adapters.tables import notifications
from dondoc_notifications.application import metrics
from dondoc_notifications.domain.notification import DISPATCHED, PENDING, NotSendable, Notification
from dondoc_notifications.projections.notifications import NotificationsProjection

log = logging.getLogger(__name__)


def real_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class DeliverySettings:
    batch: int = 50
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 8
    retry_base: timedelta = timedelta(seconds=2)
    retry_max: timedelta = timedelta(minutes=30)
    channel_retry_max: timedelta = timedelta(seconds=60)


class Deliverer:
    def __init__(self, app: Application, engine: sa.Engine, projection: NotificationsProjection,
                 clock: Clock, settings: DeliverySettings, smtp: channels.SmtpConfig,
                 webhooks: channels.WebhookSender, marks: HandOverMarks,
                 on_recorded: Callable[[], None] = lambda: None) -> None:
        self.app = app
        self.engine = engine
        self.projection = projection
        self.clock = clock
        self.settings = settings
        self.smtp = smtp
        self.webhooks = webhooks
        self.marks = marks
        self.on_recorded = on_recorded
        self.worker = uuid.uuid4().hex[:12]
        self._smtp_paused_until: datetime | None = None
        self._smtp_failures = 0

    # -- the loop body ------------------------------------------------------------------------

    def run_once(self) -> int:
        """Deliver one batch of due notices; returns how many were handled."""
        self.projection.catch_up()
        claimed = self._claim()
        if not claimed:
            return 0
        by_channel: dict[str, list[dict[str, Any]]] = {}
        for row in claimed:
            by_channel.setdefault(row["channel"], []).append(row)
        handled = 0
        if "email" in by_channel:
            handled += self._deliver_emails(by_channel["email"])
        for row in by_channel.get("webhook", []):
            handled += self._deliver_webhook(row)
        self.projection.catch_up()
        return handled

    def next_retry(self) -> datetime | None:
        """When a notice waiting for a retry (or the SMTP channel) is next worth a look."""
        with self.engine.connect() as conn:
            moment = conn.execute(sa.select(sa.func.min(notifications.c.retry_at)).where(
                notifications.c.state == PENDING, notifications.c.retry_at > real_now())).scalar()
        if self._smtp_paused_until is not None:
            moment = min(filter(None, (moment, self._smtp_paused_until)))
        return moment

    def _claim(self) -> list[dict[str, Any]]:
        now, real = self.clock.now(), real_now()
        free = sa.or_(notifications.c.leased_until.is_(None), notifications.c.leased_until < real)
        ready = sa.or_(notifications.c.retry_at.is_(None), notifications.c.retry_at <= real)
        query = (sa.select(notifications).where(
            notifications.c.state.in_((PENDING, DISPATCHED)), notifications.c.due_at <= now, free, ready)
            .order_by(notifications.c.due_at, notifications.c.notification_id).limit(self.settings.batch))
        if self._smtp_paused_until is not None and self._smtp_paused_until > real:
            query = query.where(notifications.c.channel != "email")
        claimed = []
        with self.engine.begin() as conn:
            for row in conn.execute(query).mappings().all():
                taken = conn.execute(notifications.update().where(
                    notifications.c.notification_id == row["notification_id"], free,
                ).values(leased_until=real + self.settings.lease)).rowcount
                if taken:
                    claimed.append(dict(row))
        return claimed

    def _release(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(notifications.update().where(
                notifications.c.notification_id.in_([r["notification_id"] for r in rows])
            ).values(leased_until=None))

    def _load(self, row: dict[str, Any]) -> Notification | None:
        notice: Notification = self.app.repository.get(UUID(row["notification_id"]))
        return None if notice.settled else notice

    def _save(self, notice: Notification) -> None:
        self.app.save(notice)
        self.on_recorded()

    # -- e-mail -------------------------------------------------------------------------------

    def _deliver_emails(self, rows: list[dict[str, Any]]) -> int:
        pending: list[tuple[dict[str, Any], Notification]] = []
        for row in rows:
            notice = self._load(row)
            if notice is None:
                continue
            if self.marks.handed_over(str(notice.id)):
                # handed over by a process that stopped before it heard the server's answer
                notice.confirm_sent(self.clock.now(), reconciled=True,
                                    detail="handed over to the mail server before a restart")
                self._save(notice)
                self._count_sent(notice)
                metrics.RECONCILED.labels("email").inc()
                continue
            pending.append((row, notice))
        if not pending:
            return len(rows)
        try:
            session = channels.SmtpSession(self.smtp)
        except channels.ChannelDown as e:
            self._smtp_down(str(e), [row for row, _ in pending])
            return len(rows) - len(pending)
        try:
            for index, (row, notice) in enumerate(pending):
                try:
                    self._send_email(session, notice)
                except channels.ChannelDown as e:
                    self._smtp_down(str(e), [r for r, _ in pending[index:]])
                    return len(rows) - len(pending) + index
            self._smtp_up()
        finally:
            session.close()
        return len(rows)

    def _send_email(self, session: channels.SmtpSession, notice: Notification) -> None:
        started = time.perf_counter()
        sent_at = self.clock.now()
        message = channels.build_email(
            self.smtp, to=notice.recipient["address"], subject=notice.content["subject"],
            text=notice.content["text"], message_id=notice.message_id, date=sent_at,
            language=notice.language,
            headers={"X-Dondoc-Rule": notice.rule, "X-Dondoc-Notification-Id": str(notice.id)})

        notice.start_attempt(sent_at)  # the claim, on the record before the server hears of it
        self._save(notice)
        try:
            reply = session.send(message, [notice.recipient["address"]],
                                 lambda final_dot: self.marks.send_and_mark(str(notice.id), final_dot))
        except channels.HandedOver as e:
            notice.confirm_sent(sent_at, reconciled=True, detail=str(e))
            self._save(notice)
            self._count_sent(notice)
            raise channels.ChannelDown(str(e)) from e
        except channels.DeliveryError as e:
            if isinstance(e, channels.RefusedAfterData):
                self.marks.forget(str(notice.id))
            self._attempt_failed(notice, str(e), e.permanent)
            return
        notice.confirm_sent(sent_at, detail=reply)
        self._save(notice)
        self._count_sent(notice)
        metrics.DELIVERY_SECONDS.labels("email").observe(time.perf_counter() - started)

    def _smtp_down(self, error: str, rows: list[dict[str, Any]]) -> None:
        self._smtp_failures += 1
        pause = min(timedelta(seconds=0.5 * 2 ** (self._smtp_failures - 1)), self.settings.channel_retry_max)
        self._smtp_paused_until = real_now() + pause
        metrics.CHANNEL_UP.labels("email").set(0)
        log.warning("SMTP channel down (%s); %d notice(s) wait, next try in %.1f s",
                    error, len(rows), pause.total_seconds())
        self._release(rows)

    def _smtp_up(self) -> None:
        if self._smtp_failures:
            log.info("SMTP channel back up")
        self._smtp_failures = 0
        self._smtp_paused_until = None
        metrics.CHANNEL_UP.labels("email").set(1)

    # -- webhooks -----------------------------------------------------------------------------

    def _deliver_webhook(self, row: dict[str, Any]) -> int:
        notice = self._load(row)
        if notice is None:
            return 1
        started = time.perf_counter()
        sent_at = self.clock.now()
        notice.start_attempt(sent_at)  # the claim: from here the receiver may have it
        self._save(notice)
        try:
            reply = self.webhooks.post(notice.recipient["address"], notice.message_id, webhook_payload(notice))
        except channels.DeliveryError as e:
            self._attempt_failed(notice, str(e), e.permanent)
            return 1
        notice.confirm_sent(sent_at, detail=reply)
        self._save(notice)
        self._count_sent(notice)
        metrics.CHANNEL_UP.labels("webhook").set(1)
        metrics.DELIVERY_SECONDS.labels("webhook").observe(time.perf_counter() - started)
        return 1

    # -- outcomes -----------------------------------------------------------------------------

    def _attempt_failed(self, notice: Notification, error: str, permanent: bool) -> None:
        attempt = notice.attempts if notice.state == DISPATCHED else notice.attempts + 1
        backoff = min(self.settings.retry_base * (2 ** (attempt - 1)), self.settings.retry_max)
        backoff *= 1 + random.random() * 0.1  # spread retries of many notices apart
        try:
            final = notice.attempt_failed(error, at=self.clock.now(), retry_at=real_now() + backoff,
                                          max_attempts=self.settings.max_attempts, permanent=permanent)
        except NotSendable:
            return
        self._save(notice)
        if final:
            metrics.FAILED.labels(notice.channel, notice.rule).inc()
            log.error("notice %s (%s to %s) failed for good after %d attempt(s): %s", notice.id,
                      notice.rule, notice.recipient["address"], notice.attempts, error)
        else:
            metrics.ATTEMPT_FAILURES.labels(notice.channel).inc()
            log.warning("notice %s attempt %d failed (%s); retry in %.1f s", notice.id, attempt, error,
                        backoff.total_seconds())

    @staticmethod
    def _count_sent(notice: Notification) -> None:
        metrics.SENT.labels(notice.channel, notice.rule).inc()


def webhook_payload(notice: Notification) -> dict[str, Any]:
    """The JSON a unit's webhook receives (documented in docs/services/notifications.md)."""
    return {
        "id": notice.message_id,
        "type": f"vn.dondoc.notice.{notice.rule}",
        "rule": notice.rule,
        "due_at": notice.due_at.isoformat(),
        "recipient": notice.recipient,
        "about": notice.about,
        "language": notice.language,
        "subject": notice.content["subject"],
        "text": notice.content["text"],
        "link": notice.content.get("link"),
        "covers": notice.covers,
        "resend_of": notice.resend_of,
    }
