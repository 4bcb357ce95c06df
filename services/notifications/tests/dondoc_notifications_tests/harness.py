"""Running the notifications service in the test process (bootstrap with test parts)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa

from dondoc_platform.clock import ManualClock

from dondoc_notifications.adapters.tables import inbox, notifications, schedule
from dondoc_notifications.bootstrap import Settings, bootstrap


def settings_for(store_url: str, smtp_port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        store_url=store_url, topic_prefix=f"t{uuid.uuid4().hex[:8]}.", smtp_host="127.0.0.1",
        smtp_port=smtp_port, mail_from="dondoc@tinhuy.example.vn",
        office_emails=["vanphong@tinhuy.example.vn"], public_base_url="https://dondoc.tinhuy.example.vn",
        webhook_secret="whsec_ZG9uZG9jLXRlc3Qtc2VjcmV0LWtleS0zMmJ5dGVzISE=", retry_base_seconds=0.05,
        retry_max_seconds=0.5, channel_retry_max_seconds=0.5, delivery_poll_seconds=0.2,
        planner_poll_seconds=1.0, lease_seconds=5.0)
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: ManualClock | None = None) -> AsyncIterator[Any]:
    service = bootstrap(settings, clock=clock)
    stop = asyncio.Event()
    tasks = await service.start_workers(stop)
    try:
        yield service
    finally:
        stop.set()
        await service.stop_all(tasks)


def consumed(service: Any) -> int:
    with service.parts["engine"].connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(inbox)).scalar() or 0


def caught_up(service: Any) -> bool:
    """Nothing due is left on the schedule or in the queue. Read in this order: the schedule,
    then the log's head, then the projection (it must hold the whole log), then the queue."""
    engine, clock, app = service.parts["engine"], service.parts["clock"], service.parts["app"]
    now = clock.now()
    with engine.connect() as conn:
        due = conn.execute(sa.select(sa.func.count()).select_from(schedule).where(
            schedule.c.state == "pending", schedule.c.fire_at <= now)).scalar()
    if due:
        return False
    head = app.recorder.max_notification_id() or 0
    if service.parts["projection"].position() < head:
        return False
    with engine.connect() as conn:
        queued = conn.execute(sa.select(sa.func.count()).select_from(notifications).where(
            notifications.c.state.in_(("pending", "dispatched")), notifications.c.due_at <= now)).scalar()
    return queued == 0


def rows(service: Any, **where: Any) -> list[dict[str, Any]]:
    query = sa.select(notifications).order_by(notifications.c.due_at, notifications.c.address)
    for name, value in where.items():
        query = query.where(notifications.c[name] == value)
    with service.parts["engine"].connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
