"""The one place that wires the reports service from its settings."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from dondoc_contracts import topic_for
from dondoc_platform.auth import TokenVerifier
from dondoc_platform.clock import Clock
from dondoc_platform.inbox import DeadLetters, SqlInbox, aiokafka_publisher, subscribe
from dondoc_platform.consumer_lag import ConsumerLagMonitor
from dondoc_platform.kafka import TopicSpec, ensure_topics, event_topic, make_broker
from dondoc_platform.logwake import wake_on_commit
from dondoc_platform.longpoll import COMMIT, Changes
from dondoc_platform.metrics import SnapshotCollector
from dondoc_platform.outbox import OutboxRelay
from dondoc_platform.runtime import Service
from dondoc_platform.settings import AuthSettings, KafkaSettings, ServiceSettings
from dondoc_platform.timecontrol import clock_from_settings
from dondoc_reports.adapters import directory as directory_view
from dondoc_reports.adapters.sql import make_engine
from dondoc_reports.adapters.store import open_log
from dondoc_reports.adapters.translate import translate
from dondoc_reports.application.overdue import OverdueWatcher
from dondoc_reports.application.service import ReportsService
from dondoc_reports.entrypoints.api import create_api
from dondoc_reports.projections.picture import awaited_reports
from dondoc_reports.projections.views import ReportsView


class Settings(ServiceSettings):
    service = "reports"

    topic_prefix: str = Field("", description="prefix of every topic and consumer group "
                                              "(several suites sharing one broker, tests)")
    watch_interval_seconds: float = Field(1.0, gt=0, le=60,
                                          description="the overdue watcher's longest pause")


def _topics(settings: Settings) -> dict[str, str]:
    prefix = settings.topic_prefix
    return {name: prefix + topic_for(name) for name in ("directives", "tasks", "reports")}


def bootstrap(settings: Settings | None = None, *, clock: Clock | None = None,
              kafka: KafkaSettings | None = None, auth: AuthSettings | None = None) -> Service:
    settings = settings or Settings()
    kafka = kafka or KafkaSettings()
    clock = clock or clock_from_settings(settings)
    topics = _topics(settings)
    store_url = settings.resolved_store_url()

    log = open_log(store_url)
    engine = make_engine(store_url)
    view = ReportsView(engine, log)
    view.create()
    directory_view.metadata.create_all(engine)
    directory = directory_view.Directory(engine)

    relay = OutboxRelay(log, service="reports", translate=translate, bootstrap=kafka.bootstrap,
                        batch_size=settings.relay_batch_size,
                        route=lambda event: settings.topic_prefix + topic_for(event.service))

    def saved() -> None:
        view.catch_up()
        recorded()

    def recorded() -> None:
        relay.wake()
        watcher.wake()  # the worker catches the view up too

    service = ReportsService(log, directory, clock, view.pending_adjustment, saved=saved,
                             recorded=recorded)
    watcher = OverdueWatcher(service, view, clock, interval=settings.watch_interval_seconds)
    # the watcher catches the view up when woken: an API replica's saves show at once
    commits = wake_on_commit(log, store_url, poll_seconds=settings.log_poll_seconds, relay=relay,
                             wake=(watcher.wake,))

    broker = make_broker(kafka, service="reports", logger=None)
    dead_letter_producer: dict[str, Any] = {}

    async def publish_dead_letter(topic: str, key: bytes | None, value: bytes | None,
                                  headers: list[tuple[str, bytes]]) -> None:
        await aiokafka_publisher(dead_letter_producer["producer"])(topic, key, value, headers)

    consumer = settings.topic_prefix + directory_view.CONSUMER
    inbox = SqlInbox(engine, directory_view.metadata, consumer=consumer,
                     apply=directory_view.apply_upstream,
                     dead_letters=DeadLetters(publish_dead_letter, consumer))
    directory_view.metadata.create_all(engine)
    # the queries waiting for their answer to change (`Prefer: wait`) look again when the
    # directory has applied a batch or the log has a new commit; those that read the
    # directory only (a unit's tasks: `directory_view.READS` and the unit's key) when the
    # directory has changed their unit, or something that may concern any unit
    changes = Changes()

    def directory_changed(keys: frozenset[str] | None) -> None:
        if keys is None:
            changes.notify(directory_view.READS)
        elif keys:
            changes.notify(*keys)

    inbox.applied.append(directory_changed)
    commits.on_commit(lambda: changes.notify(COMMIT))
    subscribe(broker, [topics["directives"], topics["tasks"]], group_id=consumer, inbox=inbox,
              max_records=settings.consumer_max_records)
    lag = ConsumerLagMonitor(kafka.bootstrap, {consumer: [topics["directives"], topics["tasks"]]})
    # the process that runs the workers shows the reports awaited (API replicas do not)
    picture = SnapshotCollector("reports-awaited", lambda: awaited_reports(engine, clock))
    unregister: list[Any] = []

    async def start() -> None:
        from aiokafka import AIOKafkaProducer

        await ensure_topics(kafka.bootstrap, [
            *(event_topic(t) for t in topics.values()),
            *(TopicSpec(t + ".dlq", partitions=1) for t in topics.values())])
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all",
                                    enable_idempotence=True, client_id="dondoc-reports-dlq")
        await producer.start()
        dead_letter_producer["producer"] = producer
        await relay.start()
        unregister.append(picture.register())

    async def stop() -> None:
        while unregister:
            unregister.pop()()
        await relay.stop()
        if producer := dead_letter_producer.pop("producer", None):
            await producer.stop()
        log.close()
        engine.dispose()

    async def relay_worker(stop_event: asyncio.Event) -> None:
        await relay.run(stop_event)

    api = create_api(service=service, view=view, directory=directory,
                     verifier=TokenVerifier(auth or AuthSettings()), engine=engine, clock=clock,
                     changes=changes)
    built = Service(name="reports", settings=settings, api=api,
                    workers=[relay_worker, watcher.run, lag.run, commits.run], brokers=[broker],
                    on_start=[start], on_stop=[stop])
    built.parts = {"log": log, "view": view, "service": service, "watcher": watcher,  # type: ignore[attr-defined]
                   "relay": relay, "directory": directory, "inbox": inbox, "engine": engine,
                   "clock": clock, "topics": topics, "lag": lag, "picture": picture,
                   "commits": commits, "changes": changes}
    return built


def openapi() -> dict[str, Any]:
    """The API's OpenAPI document (built on a scratch store, no network)."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        service = bootstrap(Settings(store_url=f"sqlite:///{scratch}/openapi.sqlite"))
        try:
            return service.api.openapi()
        finally:
            service.parts["log"].close()  # type: ignore[attr-defined]
            service.parts["engine"].dispose()  # type: ignore[attr-defined]
