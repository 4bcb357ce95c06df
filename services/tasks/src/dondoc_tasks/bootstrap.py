"""The one place the tasks service is wired from its settings."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from dondoc_contracts import dlq_topic, topic_for
from dondoc_platform.auth import TokenVerifier
from dondoc_platform.clock import Clock
from dondoc_platform.consumer_lag import ConsumerLagMonitor
from dondoc_platform.eventstore import store_env
from dondoc_platform.inbox import DeadLetters, EventSourcedInbox, aiokafka_publisher, subscribe
from dondoc_platform.kafka import TopicSpec, ensure_topics, event_topic, make_broker
from dondoc_platform.logwake import wake_on_commit
from dondoc_platform.longpoll import COMMIT, MIN_GAP, Changes
from dondoc_platform.metrics import SnapshotCollector
from dondoc_platform.outbox import OutboxRelay
from dondoc_platform.projection import StoreProjection, sql_engine
from dondoc_platform.runtime import Service
from dondoc_platform.settings import AuthSettings, KafkaSettings
from dondoc_platform.stores import StoreURL
from dondoc_platform.wiring import EventServiceSettings, clock_for, http_app, prefixed
from dondoc_tasks.adapters.translate import translate
from dondoc_tasks.adapters.watcher import DeadlineWatcher
from dondoc_tasks.application.tasks_app import TasksApp
from dondoc_tasks.entrypoints.api import routers
from dondoc_tasks.projections import board
from dondoc_tasks.projections.picture import office_picture

CONSUMER = "dondoc-tasks"

DESCRIPTION = """Nhiệm vụ / tasks: one task per assigned directive item.

Tasks are created from the directives service's events; each has one lead unit, a deadline
computed by the working calendar (Asia/Ho_Chi_Minh; a deadline on a weekend or day off
moves to the next working day; the deadline day counts in full), and a status in the
official taxonomy. A unit's progress report is a claim; completion is confirmed by the
office or the review team; a deadline changes only by a recorded decision, the original
deadline kept. The deadline watcher publishes TaskOverdue once per (task, deadline).

Commands take an `Idempotency-Key` header and an `If-Match` version (409 when the task
changed meanwhile). Errors name the field and the reason in Vietnamese and English."""


class Settings(EventServiceSettings):
    service: ClassVar[str] = "tasks"
    watcher_poll_seconds: float = Field(
        2.0, gt=0, le=300, description="longest sleep of the deadline watcher between looks")
    history_hold_seconds: float = Field(
        600.0, ge=0, le=86_400, description="how long the deadline watcher leaves a task alone "
        "after a change recorded when its deadline had already passed (history being entered)")


def bootstrap(settings: Settings | None = None, *, clock: Clock | None = None,
              kafka: KafkaSettings | None = None, auth: AuthSettings | None = None,
              verifier: TokenVerifier | None = None) -> Service:
    settings = settings or Settings()
    kafka = kafka or KafkaSettings()
    clock = clock_for(settings, clock)
    url = settings.resolved_store_url()
    app = TasksApp(env=store_env(url), clock=clock)
    engine = sql_engine(StoreURL.parse(url).sqlalchemy_url())
    projection = StoreProjection(app, engine, board.metadata, name="tasks-board", apply=board.applier(settings.history_hold_seconds))
    projection.create_tables()
    topic = prefixed(settings.topic_prefix, topic_for("tasks"))
    consumed = [prefixed(settings.topic_prefix, topic_for(s)) for s in ("directives", "reports")]
    relay = OutboxRelay(app, service="tasks", translate=translate, bootstrap=kafka.bootstrap,
                        batch_size=settings.relay_batch_size, route=lambda _: topic)
    projection.listeners.append(relay.wake)
    watcher = DeadlineWatcher(app, projection, engine, clock, poll=settings.watcher_poll_seconds)
    commits = wake_on_commit(app, url, poll_seconds=settings.log_poll_seconds, relay=relay,
                             projections=(projection,))
    # the queries waiting for their answer to change (`Prefer: wait`) declare what they read
    # (a task, a directive's tasks: `longpoll.reads`) and look again when it changes:
    # - this process's own saves (the consumer's reactions, the commands, the watcher) name
    #   the tasks and directives they changed as they commit (`board.saved_keys`): a waiting
    #   query concerned looks again, its look catching the board up; the others do not;
    # - another process's commit (an API replica's command) is heard by the log listener,
    #   unnamed: while queries wait, the board's follower catches up within MIN_GAP, one
    #   catch-up for all of them, and the keys it applied wake the concerned ones;
    # - unwoken, a waiting query looks again every `log_poll_seconds` while the listener
    #   listens (the net for a lost wake), every `longpoll.FALLBACK` when it does not.
    changes = Changes()
    projection.touched.append(lambda keys: changes.notify(*keys))

    def tell_saved(processing: Any) -> None:
        keys = board.saved_keys(processing.events, processing.aggregates)
        if keys is None:
            changes.notify()  # a task whose directive is not known here: anything may change
        elif keys:
            changes.notify(*keys)
        else:
            changes.notify(COMMIT)  # nothing on the board: the undeclared queries only

    app.saved.append(tell_saved)
    commits.on_commit(lambda: changes.notify(COMMIT), foreign_only=True)

    def catch_up_for_the_waiting() -> None:
        if changes.waiting:
            projection.wake()

    commits.on_commit(catch_up_for_the_waiting, at_most_every=MIN_GAP, foreign_only=True)
    changes.told_of_commits(commits.listening.is_set, settings.log_poll_seconds)

    producer: dict[str, Any] = {}

    async def publish_dead_letter(*args: Any) -> None:
        await aiokafka_publisher(producer["dlq"])(*args)

    inbox = EventSourcedInbox(
        consumer=CONSUMER, react=lambda delivery: app.react(delivery, inbox.entry_for(delivery)),
        dead_letters=DeadLetters(publish_dead_letter, CONSUMER), app=app)
    broker = make_broker(kafka, service="tasks")
    group = f"{settings.topic_prefix}{CONSUMER}"
    subscribe(broker, consumed, group_id=group, inbox=inbox,
              max_records=settings.consumer_max_records)
    lag = ConsumerLagMonitor(kafka.bootstrap, {group: consumed})
    # the process that runs the workers shows the office's picture (API replicas do not)
    picture = SnapshotCollector("tasks-office", lambda: office_picture(engine, clock))
    unregister: list[Any] = []

    api, _ = http_app(service="tasks", title="dondoc tasks", description=DESCRIPTION,
                      engine=engine, clock=clock, auth=auth, verifier=verifier,
                      routers=[lambda authenticated: routers(app, engine, projection, authenticated)],
                      changes=changes)
    api.state.application = app
    api.state.projection = projection
    api.state.clock = clock

    async def start() -> None:
        from aiokafka import AIOKafkaProducer

        names = [topic, *consumed]
        await ensure_topics(kafka.bootstrap, [
            *[event_topic(n, settings.topic_partitions) for n in names],
            *[TopicSpec(dlq_topic(n), 1) for n in names]])
        producer["dlq"] = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all",
                                           enable_idempotence=True)
        await producer["dlq"].start()
        await relay.start()
        unregister.append(picture.register())

    async def stop() -> None:
        while unregister:
            unregister.pop()()
        await relay.stop()
        if "dlq" in producer:
            await producer.pop("dlq").stop()

    def close() -> None:
        app.close()
        engine.dispose()

    service = Service(name="tasks", settings=settings, api=api, brokers=[broker],
                      workers=[relay.run, projection.follow, watcher.run, lag.run, commits.run],
                      on_start=[start], on_stop=[stop, close])
    service.parts.update(app=app, relay=relay, projection=projection, watcher=watcher,
                         topic=topic, consumed=consumed, clock=clock, engine=engine, inbox=inbox,
                         lag=lag, picture=picture, commits=commits, changes=changes)
    return service


def openapi() -> dict[str, Any]:
    service = bootstrap(Settings(store_url="sqlite:///:memory:"))
    try:
        return service.api.openapi()
    finally:
        service.parts["app"].close()
