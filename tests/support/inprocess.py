"""The directives, tasks and reports services running together in one test process: each
bootstrapped on its own PostgreSQL database and on topics private to the test, all three on
one ManualClock, their HTTP APIs reached through async clients, every event they publish read
back from Kafka."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from dondoc_platform.clock import ManualClock
from dondoc_platform.runtime import Service
from dondoc_platform.settings import KafkaSettings
from tests.support.services import Tokens, TopicReader, create_database, drop_database, prefix, running


@dataclass
class Suite:
    clock: ManualClock
    tokens: Tokens
    directives: Service
    tasks: Service
    reports: Service
    d: httpx.AsyncClient
    t: httpx.AsyncClient
    r: httpx.AsyncClient
    events: TopicReader

    def of(self, kind: type, **fields: Any) -> list[Any]:
        return self.events.of(kind, **fields)

    async def seen(self, kind: type, count: int, what: str, **fields: Any) -> list[Any]:
        """Wait until `count` events of `kind` (matching `fields`) were read from Kafka."""
        return await self.events.wait_for(
            lambda _: len(found := self.of(kind, **fields)) >= count and found,
            what=f"{count} × {kind.__name__} ({what})")


@contextlib.asynccontextmanager
async def suite(kafka_bootstrap: str, admin_url: str, tmp: Path,
                start: datetime) -> AsyncIterator[Suite]:
    from dondoc_directives import bootstrap as directives_bootstrap
    from dondoc_reports import bootstrap as reports_bootstrap
    from dondoc_tasks import bootstrap as tasks_bootstrap

    tokens = Tokens.create(tmp)
    clock = ManualClock(start)
    topics = prefix()
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    databases = [create_database(admin_url) for _ in range(3)]
    services: list[Service] = []
    try:
        services.append(directives_bootstrap.bootstrap(
            directives_bootstrap.Settings(store_url=databases[0], topic_prefix=topics),
            clock=clock, kafka=kafka, auth=tokens.auth()))
        services.append(tasks_bootstrap.bootstrap(
            tasks_bootstrap.Settings(store_url=databases[1], topic_prefix=topics,
                                     watcher_poll_seconds=1),
            clock=clock, kafka=kafka, auth=tokens.auth()))
        services.append(reports_bootstrap.bootstrap(
            reports_bootstrap.Settings(store_url=databases[2], topic_prefix=topics,
                                       watch_interval_seconds=1),
            clock=clock, kafka=kafka, auth=tokens.auth()))
        directives, tasks, reports = services
        names = [directives.parts["topic"], tasks.parts["topic"],
                 reports.parts["topics"]["reports"]]
        clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=s.api),
                                     base_url=f"http://{s.name}") for s in services]
        async with running(directives), running(tasks), running(reports), \
                TopicReader(kafka_bootstrap, *names) as events:
            try:
                yield Suite(clock, tokens, directives, tasks, reports, *clients, events)
            finally:
                for client in clients:
                    await client.aclose()
    finally:
        for url in databases:
            drop_database(admin_url, url)
