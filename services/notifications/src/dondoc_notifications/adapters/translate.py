"""Private Notification events → the public NotificationSent / NotificationFailed."""

from __future__ import annotations

from typing import Any

from dondoc_contracts import SYSTEM_ACTOR, ContractEvent, NotificationFailed, NotificationSent
from dondoc_contracts.values import Channel, Notice, Recipient, Subject

from dondoc_notifications.domain.notification import Notification


class Translator:
    """Needs the notice's planned facts (recipient, rule, …), read from the aggregate."""

    def __init__(self, repository: Any) -> None:
        self.repository = repository

    def __call__(self, domain_event: Any) -> ContractEvent | None:
        if not isinstance(domain_event, Notification.Sent | Notification.Failed):
            return None
        notice: Notification = self.repository.get(domain_event.originator_id,
                                                   version=domain_event.originator_version)
        common = dict(
            actor=SYSTEM_ACTOR, notification_id=str(notice.id), rule=notice.rule,
            recipient=Recipient(**notice.recipient), channel=Channel(notice.channel),
            about=Subject(**notice.about), resend_of=notice.resend_of,
            covers=tuple(Notice(rule=c["rule"], about=Subject(**c["about"])) for c in notice.covers),
        )
        if isinstance(domain_event, Notification.Sent):
            return NotificationSent(occurred_at=domain_event.sent_at, message_id=notice.message_id,
                                    sent_at=domain_event.sent_at, language=notice.language,
                                    reconciled=domain_event.reconciled, **common)
        return NotificationFailed(occurred_at=domain_event.failed_at, attempts=domain_event.attempts,
                                  last_error=domain_event.last_error,
                                  failed_at=domain_event.failed_at, **common)
