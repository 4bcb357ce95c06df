"""A tiny event-sourced service used to exercise the backbone end to end.

Its aggregate records progress on a task; its translate module maps each private event to
the public TaskProgressRecorded, carrying the aggregate version in `progress` so consumers
can check per-key order.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from dondoc_contracts import Actor, ClaimedStatus, Role, TaskProgressRecorded
from dondoc_platform.eventstore import InboxEntry, save_with_inbox, store_env
from dondoc_platform.inbox import Delivery, ensure_inbox_tables

ACTOR = Actor(id="btg.officer", role=Role.UNIT, unit_id="BTG")


class Tracked(Aggregate):
    @event("Opened")
    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.notes: list[str] = []

    @event("Noted")
    def note(self, text: str) -> None:
        self.notes.append(text)


class Tracker(Application[UUID]):
    name = "Tracker"


def open_app(url: str) -> Tracker:
    return Tracker(env=store_env(url))


def translate(domain_event: object) -> TaskProgressRecorded | None:
    if not isinstance(domain_event, Tracked.Opened | Tracked.Noted):
        return None
    version = domain_event.originator_version
    return TaskProgressRecorded(
        occurred_at=domain_event.timestamp.astimezone(timezone.utc),
        actor=ACTOR, task_id=str(domain_event.originator_id), unit_id="BTG",
        status_claimed=ClaimedStatus.IN_PROGRESS, progress=str(version),
        recorded_on=date(2018, 1, 1),
    )


def write_events(app: Tracker, aggregates: int, notes_each: int) -> list[UUID]:
    ids = []
    for i in range(aggregates):
        tracked = Tracked(unit=f"U{i}")
        for n in range(notes_each):
            tracked.note(f"note {n} — tiến độ")
        app.save(tracked)
        ids.append(tracked.id)
    return ids


# -- a consumer's effect: deliberately NOT idempotent, so a double application shows --------

metadata = sa.MetaData()
applied = sa.Table(
    "applied_effects", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("task_id", sa.String(64), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)
counters = sa.Table(
    "effect_counters", metadata,
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)


def create_effect_tables(engine: sa.Engine) -> None:
    """The effect tables and the consumer's inbox tables, in one database."""
    ensure_inbox_tables(metadata)
    metadata.create_all(engine)


def apply_progress(conn: sa.Connection, deliveries: list[Delivery]) -> None:
    now = datetime.now(timezone.utc)
    conn.execute(applied.insert(), [
        {"task_id": d.event.task_id, "version": int(d.event.progress), "applied_at": now}
        for d in deliveries
    ])
    per_task = Counter(d.event.task_id for d in deliveries)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    add = dialect.insert(counters)
    conn.execute(add.on_conflict_do_update(index_elements=["task_id"],
                                           set_={"n": counters.c.n + add.excluded.n}),
                 [{"task_id": task, "n": n} for task, n in per_task.items()])


# -- an event-sourced consumer's effect: a receipt aggregate per consumed event -------------


class Receipt(Aggregate):
    @event("Received")
    def __init__(self, task_id: str, version: int) -> None:
        self.task_id = task_id
        self.version = version


class Receipts(Application[UUID]):
    name = "Receipts"


def open_receipts(url: str) -> Receipts:
    return Receipts(env=store_env(url))


def record_receipt(app: Receipts, consumer: str, delivery: Delivery) -> bool:
    """The reaction: a new Receipt, saved with the consumed event's inbox entry."""
    entry = InboxEntry(consumer, delivery.event_id, delivery.topic, delivery.partition,
                       delivery.offset)
    receipt = Receipt(task_id=delivery.event.task_id, version=int(delivery.event.progress))
    return save_with_inbox(app, entry, receipt)
