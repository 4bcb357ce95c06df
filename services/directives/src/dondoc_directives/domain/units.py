"""The unit directory: the bodies that lead or cooperate on tasks (đơn vị).

A unit keeps its identity (`unit_id`) through renames and reorganisations; its name is
stored NFC-normalised and compared case- and space-insensitively.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

UNITS = uuid5(NAMESPACE_URL, "https://dondoc.vn/directives/units")


def unit_aggregate_id(unit_id: str) -> UUID:
    return uuid5(UNITS, unit_id)


class Unit(Aggregate):
    @staticmethod
    def create_id(unit_id: str) -> UUID:
        return unit_aggregate_id(unit_id)

    @event("Registered")
    def __init__(self, unit_id: str, code: str, name: str, review_group: str | None,
                 parent_unit_id: str | None, emails: list[str], leadership_emails: list[str],
                 webhook_url: str | None, actor: dict[str, Any], at: datetime) -> None:
        self.unit_id = unit_id
        self.code = code
        self.name = name
        self.review_group = review_group
        self.parent_unit_id = parent_unit_id
        self.emails = list(emails)
        self.leadership_emails = list(leadership_emails)
        self.webhook_url = webhook_url
        self.active = True
        self.previous_names: list[str] = []

    @event("Changed")
    def change(self, unit_id: str, code: str, name: str, previous_name: str | None, review_group: str | None,
               parent_unit_id: str | None, emails: list[str], leadership_emails: list[str],
               webhook_url: str | None, active: bool, actor: dict[str, Any],
               at: datetime) -> None:
        if previous_name:
            self.previous_names.append(previous_name)
        self.code = code
        self.name = name
        self.review_group = review_group
        self.parent_unit_id = parent_unit_id
        self.emails = list(emails)
        self.leadership_emails = list(leadership_emails)
        self.webhook_url = webhook_url
        self.active = active
