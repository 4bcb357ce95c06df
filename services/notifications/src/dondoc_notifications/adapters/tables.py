"""The service's SQL tables (in its own database, beside the event store).

- facts it keeps from other services' events: units, tasks, reports;
- the durable schedule of occasions (indexed by state and moment: the planner reads only
  what is due, never scans everything);
- digest items waiting for their unit's daily digest;
- `ntf_notifications`: the projection of the Notification aggregates (the query model and
  the delivery queue), with its position in the event log;
- the manual clock's moment, so a demo's time survives a restart.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from dondoc_platform.inbox import inbox_tables

metadata = sa.MetaData()
inbox, consumer_positions = inbox_tables(metadata)


class UtcDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on PostgreSQL and SQLite alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("aware datetimes only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


units = sa.Table(
    "ntf_units", metadata,
    sa.Column("unit_id", sa.String(128), primary_key=True),
    sa.Column("code", sa.String(500), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("emails", sa.JSON, nullable=False),
    sa.Column("leadership_emails", sa.JSON, nullable=False),
    sa.Column("webhook_url", sa.String(500)),
    sa.Column("daily_digest", sa.Boolean),          # as the directory says (None: not stated)
    sa.Column("digest_override", sa.Boolean),       # an administrator's choice, wins
    sa.Column("language", sa.String(8)),            # an administrator's choice (vi / en)
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
)

tasks = sa.Table(
    "ntf_tasks", metadata,
    sa.Column("task_id", sa.String(128), primary_key=True),
    sa.Column("directive_id", sa.String(128)),
    sa.Column("directive_number", sa.String(500)),
    sa.Column("paragraph", sa.String(500)),
    sa.Column("content", sa.Text),
    sa.Column("lead_unit_id", sa.String(128), nullable=False),
    sa.Column("cooperating_unit_ids", sa.JSON, nullable=False),
    sa.Column("due_on", sa.Date),
    sa.Column("original_due_on", sa.Date),
    sa.Column("secrecy", sa.String(20), nullable=False, server_default="thuong"),
    sa.Column("key_task", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("status", sa.String(20), nullable=False),  # open | completed | withdrawn
)

reports = sa.Table(
    "ntf_reports", metadata,
    sa.Column("report_id", sa.String(128), primary_key=True),
    sa.Column("cycle_id", sa.String(128)),
    sa.Column("unit_id", sa.String(128), nullable=False),
    sa.Column("period_label", sa.String(500)),
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # requested | submitted | returned | accepted
)

schedule = sa.Table(
    "ntf_schedule", metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("subject_kind", sa.String(20), nullable=False),
    sa.Column("subject_id", sa.String(128), nullable=False),
    sa.Column("deadline", sa.Date),
    sa.Column("occurrence", sa.Integer, nullable=False),
    sa.Column("fire_at", UtcDateTime, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # pending | fired | cancelled | expired | skipped
    sa.Column("outcome", sa.String(500)),
    sa.Column("settled_at", UtcDateTime),
    sa.Index("ix_ntf_schedule_due", "state", "fire_at"),
    sa.Index("ix_ntf_schedule_subject", "subject_kind", "subject_id"),
)

digest_items = sa.Table(
    "ntf_digest_items", metadata,
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("unit_id", sa.String(128), nullable=False),
    sa.Column("digest_day", sa.Date, nullable=False),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("about", sa.JSON, nullable=False),
    sa.Column("line", sa.JSON, nullable=False),
    sa.Column("added_at", UtcDateTime, nullable=False),
    sa.Index("ix_ntf_digest_unit_day", "unit_id", "digest_day"),
)

notifications = sa.Table(
    "ntf_notifications", metadata,
    sa.Column("notification_id", sa.String(36), primary_key=True),
    sa.Column("key", sa.String(600), nullable=False),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("recipient_kind", sa.String(40), nullable=False),
    sa.Column("recipient_unit_id", sa.String(128)),
    sa.Column("address", sa.String(500), nullable=False),
    sa.Column("task_id", sa.String(128)),
    sa.Column("report_id", sa.String(128)),
    sa.Column("directive_number", sa.String(500)),
    sa.Column("due_on", sa.Date),
    sa.Column("message_id", sa.String(500), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("subject", sa.String(1000), nullable=False),
    sa.Column("covers", sa.Integer, nullable=False, server_default="0"),
    sa.Column("resend_of", sa.String(36)),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("retry_at", UtcDateTime),        # real time: backoff between attempts
    sa.Column("planned_at", UtcDateTime, nullable=False),
    sa.Column("sent_at", UtcDateTime),
    sa.Column("failed_at", UtcDateTime),
    sa.Column("reconciled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("leased_until", UtcDateTime),    # real time: a worker's claim on the row
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Index("ix_ntf_notifications_queue", "state", "due_at"),
    sa.Index("ix_ntf_notifications_task", "task_id"),
    sa.Index("ix_ntf_notifications_report", "report_id"),
    sa.Index("ix_ntf_notifications_unit", "recipient_unit_id"),
)

handovers = sa.Table(
    "ntf_handovers", metadata,
    sa.Column("notification_id", sa.String(36), primary_key=True),
    sa.Column("handed_over_at", UtcDateTime, nullable=False, server_default=sa.func.current_timestamp()),
)

positions = sa.Table(
    "ntf_positions", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
)

clock_state = sa.Table(
    "ntf_clock", metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("now", UtcDateTime, nullable=False),
)


def upsert(conn: sa.Connection, table: sa.Table, values: dict, keys: list[str],
           update: bool = True) -> None:
    """Insert, or (update=True) overwrite, or (update=False) leave the existing row."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    changes = {k: v for k, v in values.items() if k not in keys}
    if update and changes:
        statement = statement.on_conflict_do_update(index_elements=keys, set_=changes)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    conn.execute(statement)
