"""The directives service's read models: the unit directory and the register of directives.

Kept from the service's own log by a `StoreProjection` (rows and position in one
transaction); the HTTP queries read these tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dondoc_platform.projection import Moment

from dondoc_directives.domain.claims import Claim
from dondoc_directives.domain.directives import Directive
from dondoc_directives.domain.units import Unit
from dondoc_platform.names import name_key

metadata = sa.MetaData()

units = sa.Table(
    "directory_units", metadata,
    sa.Column("unit_id", sa.String(128), primary_key=True),
    sa.Column("code", sa.String(50), nullable=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("name_key", sa.String(300), nullable=False, index=True),
    sa.Column("previous_names", sa.JSON, nullable=False),
    sa.Column("review_group", sa.String(200)),
    sa.Column("parent_unit_id", sa.String(128)),
    sa.Column("emails", sa.JSON, nullable=False),
    sa.Column("leadership_emails", sa.JSON, nullable=False),
    sa.Column("webhook_url", sa.String(2000)),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("registered_at", Moment, nullable=False),
    sa.Column("changed_at", Moment, nullable=False),
)

directives = sa.Table(
    "register_directives", metadata,
    sa.Column("directive_id", sa.String(64), primary_key=True),
    sa.Column("number", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("issuing_body", sa.String(200), nullable=False),
    sa.Column("issued_on", sa.Date, nullable=False, index=True),
    sa.Column("year", sa.Integer, nullable=False, index=True),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("signer", sa.String(200)),
    sa.Column("secrecy", sa.String(20), nullable=False),
    sa.Column("urgency", sa.String(20), nullable=False),
    sa.Column("review_group", sa.String(200)),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("amendments", sa.Integer, nullable=False),
    sa.Column("revocation", sa.JSON),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("registered_at", Moment, nullable=False),
    sa.Column("changed_at", Moment, nullable=False),
)

#: Who a directive concerns: its units (lead or cooperating) and its items' review groups.
parties = sa.Table(
    "register_directive_parties", metadata,
    sa.Column("directive_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),  # unit | group
    sa.Column("value", sa.String(200), primary_key=True),
    sa.Index("ix_parties_kind_value", "kind", "value"),
)


def _unit_row(event: Any) -> dict[str, Any]:
    return {"code": event.code, "name": event.name, "name_key": name_key(event.name),
            "review_group": event.review_group, "parent_unit_id": event.parent_unit_id,
            "emails": list(event.emails), "leadership_emails": list(event.leadership_emails),
            "webhook_url": event.webhook_url, "version": event.originator_version,
            "changed_at": event.at}


def _party_rows(directive_id: str, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    found: set[tuple[str, str]] = set()
    for item in items:
        if item.get("lead_unit_id"):
            found.add(("unit", item["lead_unit_id"]))
        for unit_id in item.get("cooperating_unit_ids") or ():
            found.add(("unit", unit_id))
        if item.get("review_group"):
            found.add(("group", item["review_group"]))
    return [{"directive_id": directive_id, "kind": k, "value": v} for k, v in sorted(found)]


def issued_row(directive_id: str, issued: Any, items: Iterable[dict[str, Any]], version: int,
               at: datetime) -> dict[str, Any]:
    """The register's row of a directive just issued, from its Issued event or from the
    aggregate itself (a command answers with it before the read model has caught up)."""
    return {"directive_id": directive_id, "number": issued.number, "kind": issued.kind,
            "issuing_body": issued.issuing_body, "issued_on": issued.issued_on,
            "year": issued.issued_on.year, "summary": issued.summary, "signer": issued.signer,
            "secrecy": issued.secrecy, "urgency": issued.urgency,
            "review_group": issued.review_group, "items": list(items), "status": "issued",
            "amendments": 0, "revocation": None, "version": version, "registered_at": at,
            "changed_at": at}


def apply(conn: sa.Connection, events: Sequence[Any]) -> None:
    # The directives a page issues go in two statements (their rows, their parties) instead
    # of two each: at a steady rate a catch-up takes a page of notices every few tenths of
    # a second. They are written before any other event of the page is applied (an
    # amendment or a revocation reads or changes the row).
    issued: list[dict[str, Any]] = []
    issued_parties: list[dict[str, Any]] = []

    def write_issued() -> None:
        if issued:
            conn.execute(directives.insert(), issued)
            issued.clear()
        if issued_parties:  # a new directive has none yet
            conn.execute(parties.insert(), issued_parties)
            issued_parties.clear()

    for event in events:
        if isinstance(event, Directive.Issued):
            directive_id = str(event.originator_id)
            issued.append(issued_row(directive_id, event, event.items, event.originator_version,
                                     event.at))
            issued_parties.extend(_party_rows(directive_id, event.items))
            continue
        if isinstance(event, Claim.Event):
            continue
        write_issued()
        if isinstance(event, Unit.Registered):
            conn.execute(units.insert().values(
                unit_id=event.unit_id, previous_names=[], active=True, registered_at=event.at,
                **_unit_row(event)))
        elif isinstance(event, Unit.Changed):
            row = conn.execute(sa.select(units.c.previous_names).where(
                units.c.unit_id == event.unit_id)).first()
            previous = list(row.previous_names) if row else []
            if event.previous_name:
                previous.append(event.previous_name)
            conn.execute(units.update().where(units.c.unit_id == event.unit_id).values(
                previous_names=previous, active=event.active, **_unit_row(event)))
        elif isinstance(event, Directive.Amended):
            directive_id = str(event.originator_id)
            row = conn.execute(sa.select(directives.c["items"], directives.c.summary,
                                         directives.c.amendments).where(
                directives.c.directive_id == directive_id)).one()
            by_id = {i["item_id"]: i for i in row.items}
            for item in [*event.items_added, *event.items_changed]:
                by_id[item["item_id"]] = item
            for item_id in event.items_removed:
                by_id.pop(item_id, None)
            items = list(by_id.values())
            conn.execute(directives.update().where(directives.c.directive_id == directive_id).values(
                items=items, summary=event.summary if event.summary is not None else row.summary,
                amendments=row.amendments + 1, status="amended",
                version=event.originator_version, changed_at=event.at))
            _replace_parties(conn, directive_id, items)
        elif isinstance(event, Directive.Revoked):
            conn.execute(directives.update().where(
                directives.c.directive_id == str(event.originator_id)).values(
                status="revoked", version=event.originator_version, changed_at=event.at,
                revocation={"reason": event.reason, "decision": event.decision,
                            "at": event.at.isoformat()}))
    write_issued()


def _replace_parties(conn: sa.Connection, directive_id: str,
                     items: Sequence[dict[str, Any]]) -> None:
    conn.execute(parties.delete().where(parties.c.directive_id == directive_id))
    _insert_parties(conn, directive_id, items)


def _insert_parties(conn: sa.Connection, directive_id: str,
                    items: Sequence[dict[str, Any]]) -> None:
    rows = _party_rows(directive_id, items)
    if rows:
        conn.execute(parties.insert(), rows)
