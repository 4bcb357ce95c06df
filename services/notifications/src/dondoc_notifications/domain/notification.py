"""The Notification aggregate: who was told what, when, by which channel.

One aggregate per (recipient, channel, rule, task or report, deadline, occurrence): its id
is derived from that key, so planning the same notice twice (a replay, a redelivery, a
restart) finds it already recorded and changes nothing. The message id (SMTP Message-ID or
webhook delivery id) is decided when the notice is planned, before any send, so a send
interrupted by a crash can be reconciled and a repeated delivery recognised by the receiver.

Life: Planned → (Dispatched → Sent | AttemptFailed → … ) → Sent | Failed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

NOTIFICATION_NAMESPACE = uuid.UUID("0d7b3c1e-4a52-4f0b-9c1d-6e2f8a9b7c31")

PENDING = "pending"
DISPATCHED = "dispatched"
SENT = "sent"
FAILED = "failed"


def notification_id(key: str) -> UUID:
    """The aggregate id of the notice with this deduplication key."""
    return uuid.uuid5(NOTIFICATION_NAMESPACE, key)


class NotSendable(Exception):
    """The notice is already sent or failed for good: nothing more to do."""


class Notification(Aggregate):
    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return notification_id(key)

    @event("Planned")
    def __init__(self, key: str, rule: str, channel: str, recipient: dict[str, Any],
                 about: dict[str, Any], message_id: str, due_at: datetime, language: str,
                 content: dict[str, Any], planned_at: datetime,
                 covers: list[dict[str, Any]] | None = None, resend_of: str | None = None) -> None:
        self.key = key
        self.rule = rule
        self.channel = channel
        self.recipient = recipient
        self.about = about
        self.message_id = message_id
        self.due_at = due_at
        self.language = language
        self.content = content
        self.planned_at = planned_at
        self.covers = covers or []
        self.resend_of = resend_of
        self.state = PENDING
        self.attempts = 0
        self.last_error: str | None = None
        self.sent_at: datetime | None = None

    @property
    def settled(self) -> bool:
        return self.state in (SENT, FAILED)

    def start_attempt(self, at: datetime) -> int:
        """Record that a send is under way (the claim); returns the attempt number."""
        if self.settled:
            raise NotSendable(self.state)
        self._dispatched(attempt=self.attempts + 1, at=at)
        return self.attempts

    @event("Dispatched")
    def _dispatched(self, attempt: int, at: datetime) -> None:
        self.state = DISPATCHED
        self.attempts = attempt

    def confirm_sent(self, sent_at: datetime, *, reconciled: bool = False, detail: str = "") -> None:
        if self.settled:
            raise NotSendable(self.state)
        self._sent(sent_at=sent_at, reconciled=reconciled, detail=detail[:500])

    @event("Sent")
    def _sent(self, sent_at: datetime, reconciled: bool, detail: str) -> None:
        self.state = SENT
        self.sent_at = sent_at
        self.reconciled = reconciled

    def attempt_failed(self, error: str, *, at: datetime, retry_at: datetime, max_attempts: int,
                       permanent: bool = False) -> bool:
        """Record a failed attempt; returns True when that was the last one (failed for good)."""
        if self.settled:
            raise NotSendable(self.state)
        # a refusal before the hand-over (RCPT refused) is an attempt too
        attempt = self.attempts if self.state == DISPATCHED else self.attempts + 1
        if permanent or attempt >= max_attempts:
            self._failed(attempts=attempt, last_error=error[:2000], failed_at=at)
            return True
        self._attempt_failed(attempt=attempt, error=error[:2000], at=at, retry_at=retry_at)
        return False

    @event("AttemptFailed")
    def _attempt_failed(self, attempt: int, error: str, at: datetime, retry_at: datetime) -> None:
        self.state = PENDING
        self.attempts = attempt
        self.last_error = error

    @event("Failed")
    def _failed(self, attempts: int, last_error: str, failed_at: datetime) -> None:
        self.state = FAILED
        self.attempts = attempts
        self.last_error = last_error
