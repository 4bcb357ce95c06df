"""Contract events and deliveries for the tasks service's tests."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from dondoc_contracts import Actor, ContractEvent, DirectiveIssued, Role, envelope_for
from dondoc_contracts.values import DeadlineRule, DirectiveItem, DirectiveKind, Secrecy
from dondoc_platform.clock import VN_TZ
from dondoc_platform.inbox import Delivery

OFFICE = Actor(id="vptu.a", role=Role.OFFICE, name="Nguyễn Văn A", unit_id="VPTU")
_positions = iter(range(1, 10**9))


def delivery(event: ContractEvent) -> Delivery:
    position = next(_positions)
    envelope = envelope_for(event, position=position)
    envelope = type(envelope)(**{**envelope.__dict__, "id": str(uuid.uuid4())})
    return Delivery(envelope, event, f"dondoc.{event.service}.v1", 0, position)


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=VN_TZ)


def item(item_id: str, lead: str | None, rule: DeadlineRule, **extra: Any) -> DirectiveItem:
    return DirectiveItem(item_id=item_id, paragraph=item_id, text=f"Nhiệm vụ {item_id}",
                         lead_unit_id=lead, deadline=rule, **extra)


def issued(items: list[DirectiveItem], *, issued_on: date = date(2018, 3, 5),
           directive_id: str | None = None, number: str = "125-TB/TU",
           secrecy: Secrecy = Secrecy.THUONG, recorded_at: datetime | None = None) -> DirectiveIssued:
    """`recorded_at`: when the office registered it (the directives service's clock); the
    issue day by default."""
    return DirectiveIssued(occurred_at=recorded_at or at(issued_on), actor=OFFICE,
                           directive_id=directive_id or str(uuid.uuid4()), number=number,
                           kind=DirectiveKind.THONG_BAO_KET_LUAN, issuing_body="BTV",
                           issued_on=issued_on, summary="Kết luận", items=tuple(items),
                           secrecy=secrecy)


def by_date(day: date) -> DeadlineRule:
    return DeadlineRule(kind="date", due_on=day)
