"""A directive (Kết luận, Thông báo kết luận, Chỉ thị …) with its items and assignments.

Items are kept as the contract's `DirectiveItem` in JSON form, so what the office registered
is exactly what the other services receive.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event


class Directive(Aggregate):
    @event("Issued")
    def __init__(self, number: str, kind: str, issuing_body: str, issued_on: date, summary: str,
                 signer: str | None, secrecy: str, urgency: str, review_group: str | None,
                 items: list[dict[str, Any]], actor: dict[str, Any], at: datetime) -> None:
        self.number = number
        self.kind = kind
        self.issuing_body = issuing_body
        self.issued_on = issued_on
        self.summary = summary
        self.signer = signer
        self.secrecy = secrecy
        self.urgency = urgency
        self.review_group = review_group
        self.items: dict[str, dict[str, Any]] = {i["item_id"]: i for i in items}
        self.removed_items: dict[str, dict[str, Any]] = {}
        self.revoked = False
        self.revocation: dict[str, Any] | None = None
        self.registered_at = at

    @event("Amended")
    def amend(self, number: str, summary: str | None, items_added: list[dict[str, Any]],
              items_changed: list[dict[str, Any]], items_removed: list[str], reason: str | None,
              decision: dict[str, Any] | None, actor: dict[str, Any], at: datetime) -> None:
        if summary is not None:
            self.summary = summary
        for item in [*items_added, *items_changed]:
            self.items[item["item_id"]] = item
        for item_id in items_removed:
            self.removed_items[item_id] = self.items.pop(item_id)

    @event("Revoked")
    def revoke(self, number: str, reason: str, decision: dict[str, Any], actor: dict[str, Any],
               at: datetime) -> None:
        self.revoked = True
        self.revocation = {"reason": reason, "decision": decision, "at": at}

    def unit_ids(self) -> set[str]:
        found: set[str] = set()
        for item in self.items.values():
            if item.get("lead_unit_id"):
                found.add(item["lead_unit_id"])
            found.update(item.get("cooperating_unit_ids") or ())
        return found
