"""The one place the directives service is wired from its settings."""

from __future__ import annotations

from typing import Any, ClassVar

from dondoc_contracts import dlq_topic, topic_for
from dondoc_directives.adapters.translate import translate
from dondoc_directives.application.directory import DirectivesApp
from dondoc_directives.entrypoints.api import BatchBodyLimit, routers
from dondoc_directives.projections import views
from dondoc_platform.auth import TokenVerifier
from dondoc_platform.clock import Clock
from dondoc_platform.eventstore import store_env
from dondoc_platform.kafka import TopicSpec, ensure_topics, event_topic
from dondoc_platform.logwake import wake_on_commit
from dondoc_platform.outbox import OutboxRelay
from dondoc_platform.projection import StoreProjection, sql_engine
from dondoc_platform.runtime import Service
from dondoc_platform.settings import AuthSettings, KafkaSettings
from dondoc_platform.stores import StoreURL
from dondoc_platform.wiring import EventServiceSettings, clock_for, http_app, prefixed

DESCRIPTION = """Văn bản chỉ đạo và danh mục đơn vị / directives and the unit directory.

Registers Kết luận and Thông báo kết luận with their items (each with one lead unit,
cooperating units and a deadline rule), amends and revokes them, and keeps the directory of
units. Publishes UnitRegistered, UnitChanged, DirectiveIssued, DirectiveAmended and
DirectiveRevoked on `dondoc.directives.v1`.

Commands take an `Idempotency-Key` header (a repeat returns the first answer) and an
`If-Match` version (409 when the record changed meanwhile). Errors name the field and the
reason in Vietnamese and English."""


class Settings(EventServiceSettings):
    service: ClassVar[str] = "directives"


def bootstrap(settings: Settings | None = None, *, clock: Clock | None = None,
              kafka: KafkaSettings | None = None, auth: AuthSettings | None = None,
              verifier: TokenVerifier | None = None) -> Service:
    settings = settings or Settings()
    kafka = kafka or KafkaSettings()
    clock = clock_for(settings, clock)
    url = settings.resolved_store_url()
    app = DirectivesApp(env=store_env(url), clock=clock)
    engine = sql_engine(StoreURL.parse(url).sqlalchemy_url())
    projection = StoreProjection(app, engine, views.metadata, name="directives-views",
                                 apply=views.apply)
    projection.create_tables()
    topic = prefixed(settings.topic_prefix, topic_for("directives"))
    relay = OutboxRelay(app, service="directives", translate=translate, bootstrap=kafka.bootstrap,
                        batch_size=settings.relay_batch_size, route=lambda _: topic)
    projection.listeners.append(relay.wake)
    commits = wake_on_commit(app, url, poll_seconds=settings.log_poll_seconds, relay=relay,
                             projections=(projection,))
    api, _ = http_app(service="directives", title="dondoc directives", description=DESCRIPTION,
                      engine=engine, clock=clock, auth=auth, verifier=verifier,
                      routers=[lambda authenticated: routers(app, engine, projection, authenticated)])
    api.add_middleware(BatchBodyLimit)
    api.state.application = app
    api.state.projection = projection
    api.state.clock = clock

    async def declare_topics() -> None:
        await ensure_topics(kafka.bootstrap, [event_topic(topic, settings.topic_partitions),
                                              TopicSpec(dlq_topic(topic), 1)])

    def close() -> None:
        app.close()
        engine.dispose()

    service = Service(name="directives", settings=settings, api=api,
                      workers=[relay.run, projection.follow, commits.run],
                      on_start=[declare_topics, relay.start], on_stop=[relay.stop, close])
    service.parts.update(app=app, relay=relay, projection=projection, commits=commits, topic=topic, clock=clock,
                         engine=engine)
    return service


def openapi() -> dict[str, Any]:
    service = bootstrap(Settings(store_url="sqlite:///:memory:"))
    try:
        return service.api.openapi()
    finally:
        service.parts["app"].close()
