"""The one place that wires the analytics service from its settings."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from pydantic import Field

from dondoc_contracts import SERVICES
from dondoc_platform.clock import Clock, ManualClock, SystemClock
from dondoc_platform.runtime import Service
from dondoc_platform.settings import AuthSettings, KafkaSettings, ServiceSettings
from dondoc_platform.stores import StoreURL


class Settings(ServiceSettings):
    """Environment variables of the analytics service (prefix DONDOC_)."""

    service = "analytics"

    topic_prefix: str = Field("", description="prefix of every topic name (keeps test runs apart)")
    wait_timeout_seconds: float = Field(120.0, gt=0,
                                        description="how long `--wait` waits for the read models")
    audit_signing_key_file: str | None = Field(
        None, description="Ed25519 private key (PEM or raw 32 bytes base64) signing checkpoints")
    audit_signing_key: str | None = Field(
        None, description="the same key as a secret in the environment (base64 or PEM)")
    audit_public_keys_file: str | None = Field(
        None, description="trusted checkpoint keys (JSON {key_id: base64}); default: the "
                          "public half of the signing key")
    audit_directives_store_url: str | None = Field(None, description="read-only URL of the directives store")
    audit_tasks_store_url: str | None = Field(None, description="read-only URL of the tasks store")
    audit_reports_store_url: str | None = Field(None, description="read-only URL of the reports store")
    audit_notifications_store_url: str | None = Field(None, description="read-only URL of the notifications store")
    checkpoint_interval_seconds: float = Field(300.0, gt=0,
                                               description="how often signed checkpoints are made")
    origin: str = Field("dondoc", description="the name of this installation in checkpoints")
    audit_verify_interval_seconds: float = Field(
        86400.0, ge=0, description="how often the worker runs `audit verify` and reports the "
                                   "result on /metrics (0: never)")

    def audit_store_urls(self) -> dict[str, str]:
        urls = {s: getattr(self, f"audit_{s}_store_url") for s in SERVICES}
        return {s: u for s, u in urls.items() if u}


def engine_for(url: str) -> sa.Engine:
    """The read models' database: PostgreSQL in production, SQLite embedded (WAL, so the
    dashboards read while the consumer writes)."""
    parsed = StoreURL.parse(url)
    if parsed.kind == "sqlite":
        engine = sa.create_engine(parsed.sqlalchemy_url(), connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return sa.create_engine(parsed.sqlalchemy_url(), pool_pre_ping=True, pool_size=10,
                            max_overflow=10)


def clock_for(settings: Settings) -> Clock:
    if settings.clock == "manual":
        from datetime import datetime, timezone

        return ManualClock(datetime.now(timezone.utc))
    return SystemClock()


class Parts:
    """What a running analytics service is made of (the API, the CLI and tests use it)."""

    def __init__(self, settings: Settings, *, engine: sa.Engine | None = None,
                 clock: Clock | None = None, kafka_bootstrap: str | None = None) -> None:
        from dondoc_analytics.adapters.kafka import service_topics
        from dondoc_analytics.application.projection import Projection
        from dondoc_analytics.application.reading import Reading

        self.settings = settings
        self.engine = engine or engine_for(settings.resolved_store_url())
        self.clock = clock or clock_for(settings)
        self.bootstrap = kafka_bootstrap or KafkaSettings().bootstrap
        self.topics = list(service_topics(settings.topic_prefix).values())
        self.projection = Projection(self.engine, self.bootstrap, self.topics,
                                     max_records=settings.consumer_max_records)
        self.reading = Reading(self.engine, self.clock)

    def ensure_schema(self) -> int:
        from dondoc_analytics.projections.generations import ensure_schema

        return ensure_schema(self.engine)

    def signer(self):
        from dondoc_analytics.adapters.signing import load_signer

        return load_signer(self.settings)

    def trusted_keys(self):
        from dondoc_analytics.adapters.signing import trusted_keys

        return trusted_keys(self.settings)


def bootstrap(settings: Settings | None = None, *, engine: sa.Engine | None = None,
              clock: Clock | None = None, kafka_bootstrap: str | None = None,
              auth: AuthSettings | None = None) -> Service:
    from aiokafka import AIOKafkaProducer

    from dondoc_analytics.adapters.kafka import topic_specs
    from dondoc_analytics.application import monitoring
    from dondoc_analytics.application.checkpoints import Checkpointer
    from dondoc_analytics.entrypoints.api import create_api
    from dondoc_platform.inbox import aiokafka_publisher
    from dondoc_platform.kafka import ensure_topics

    settings = settings or Settings()
    parts = Parts(settings, engine=engine, clock=clock, kafka_bootstrap=kafka_bootstrap)
    service = Service(name="analytics", settings=settings,
                      api=create_api(parts, auth or AuthSettings()))
    producer: dict[str, AIOKafkaProducer] = {}

    async def start() -> None:
        await ensure_topics(parts.bootstrap, topic_specs(settings.topic_prefix))
        await asyncio.to_thread(parts.ensure_schema)
        producer["dlq"] = AIOKafkaProducer(bootstrap_servers=parts.bootstrap, acks="all",
                                           enable_idempotence=True)
        await producer["dlq"].start()
        parts.projection.publish = aiokafka_publisher(producer["dlq"])

    async def stop() -> None:
        if "dlq" in producer:
            await producer.pop("dlq").stop()

    service.on_start.append(start)
    service.on_stop.append(stop)
    service.workers.append(parts.projection.follow)
    service.workers.append(monitoring.lag_monitor(parts).run)
    signer = parts.signer()
    if signer is not None and settings.audit_store_urls():
        checkpointer = Checkpointer(parts, signer)
        service.workers.append(checkpointer.run)
    if settings.audit_verify_interval_seconds and settings.audit_store_urls():
        service.workers.append(monitoring.Verifier(parts).run)
    return service


def openapi() -> dict[str, Any]:
    """The API's OpenAPI document, built without I/O (for `make generate`)."""
    from dondoc_analytics.entrypoints.api import create_api

    settings = Settings(store_url="sqlite:///:memory:")
    parts = Parts(settings, engine=sa.create_engine("sqlite://"), kafka_bootstrap="127.0.0.1:9")
    return create_api(parts, AuthSettings()).openapi()
