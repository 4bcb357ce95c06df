"""The one place the notifications service is wired from its settings."""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, time, timedelta, timezone
from typing import Any, ClassVar

import sqlalchemy as sa
from pydantic import AwareDatetime, Field, SecretStr

from dondoc_contracts import dlq_topic, topic_for
from dondoc_platform.calendar import WorkingCalendar
from dondoc_platform.clock import Clock, ManualClock, SystemClock
from dondoc_platform.eventstore import store_env
from dondoc_platform.inbox import DeadLetters, SqlInbox, aiokafka_publisher, subscribe
from dondoc_platform.consumer_lag import ConsumerLagMonitor
from dondoc_platform.kafka import TopicSpec, ensure_topics, event_topic, make_broker
from dondoc_platform.outbox import OutboxRelay
from dondoc_platform.runtime import Service
from dondoc_platform.settings import KafkaSettings, ServiceSettings
from dondoc_platform.stores import StoreURL

from dondoc_notifications.adapters import channels
from dondoc_notifications.adapters.handovers import HandOverMarks
from dondoc_notifications.adapters.render import Templates
from dondoc_notifications.adapters.tables import metadata
from dondoc_notifications.adapters.translate import Translator
from dondoc_notifications.application.app import ClockKeeper, NotificationsApp, Queries
from dondoc_notifications.application.delivery import Deliverer, DeliverySettings
from dondoc_notifications.application.facts import FactsKeeper
from dondoc_notifications.application.planning import Office, Planner, PlanningSettings
from dondoc_notifications.domain.rules import RuleSettings
from dondoc_notifications.entrypoints.workers import Wakeup, delivery_worker, planner_worker
from dondoc_notifications.projections.notifications import NotificationsProjection

log = logging.getLogger(__name__)

SOURCES = ("directives", "tasks", "reports")


class Settings(ServiceSettings):
    service: ClassVar[str] = "notifications"

    topic_prefix: str = Field("", description="prefix of every topic and consumer group (tests, tenants)")
    # e-mail
    smtp_host: str = Field("127.0.0.1", description="SMTP server (the office's mail relay)")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_starttls: bool = Field(False, description="upgrade the connection with STARTTLS")
    smtp_tls: bool = Field(False, description="implicit TLS (SMTPS, usually port 465)")
    smtp_verify_tls: bool = Field(True, description="verify the server's certificate")
    smtp_username: str | None = Field(None, description="SMTP AUTH user (none: no AUTH)")
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    mail_from: str = Field("dondoc@localhost", description="envelope sender and From address")
    mail_from_name: str = Field("Văn phòng Tỉnh ủy", description="display name of the From header")
    # webhooks
    webhook_secret: SecretStr = Field(
        SecretStr("dondoc-dev-webhook-secret"),
        description="HMAC-SHA256 key of webhook signatures ('whsec_<base64>' or plain text)")
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    # recipients
    office_unit_id: str = Field("VPTU")
    office_name: str = Field("Văn phòng Tỉnh ủy")
    office_emails: list[str] = Field(default_factory=list, description="who receives escalations (JSON list)")
    language: str = Field("vi", pattern="^(vi|en)$", description="language of messages (a unit may differ)")
    digest_by_default: bool = Field(False, description="units that did not say get a daily digest")
    # rules
    deadline_reminder_days: list[int] = Field([7, 3, 1], description="working days before a task's deadline")
    report_reminder_days: list[int] = Field([5, 1], description="working days before a report's due day")
    overdue_repeat_days: int = Field(7, ge=0, description="repeat the overdue notice every N days (0: never)")
    escalate_after_days: int = Field(30, ge=0, description="days overdue before escalation (0: never)")
    send_time: time = Field(time(8, 0), description="local time reminders go out")
    digest_time: time = Field(time(16, 30), description="local time of the daily digest")
    stale_after_hours: float = Field(72, gt=0, description="an occasion found later than this expires")
    rules_disabled: list[str] = Field(default_factory=list, description="rule families switched off")
    # delivery
    max_attempts: int = Field(8, ge=1, le=100)
    retry_base_seconds: float = Field(2.0, gt=0)
    retry_max_seconds: float = Field(1800.0, gt=0)
    channel_retry_max_seconds: float = Field(60.0, gt=0)
    lease_seconds: float = Field(60.0, gt=0)
    delivery_batch: int = Field(50, ge=1, le=1000)
    planner_poll_seconds: float = Field(30.0, gt=0)
    delivery_poll_seconds: float = Field(1.0, gt=0)
    clock_start: AwareDatetime | None = Field(None, description="start of a manual clock (demos, tests)")

    def rule_settings(self) -> RuleSettings:
        return RuleSettings(
            deadline_reminder_days=tuple(d for d in self.deadline_reminder_days if d > 0),
            report_reminder_days=tuple(d for d in self.report_reminder_days if d > 0),
            overdue_repeat_days=self.overdue_repeat_days, escalate_after_days=self.escalate_after_days,
            send_time=self.send_time, digest_time=self.digest_time,
            stale_after=timedelta(hours=self.stale_after_hours),
            disabled=frozenset(self.rules_disabled))

    def topic(self, service: str) -> str:
        return f"{self.topic_prefix}{topic_for(service)}"


def make_clock(settings: Settings, keeper: ClockKeeper) -> Clock:
    if settings.clock != "manual":
        return SystemClock()
    candidates = [m for m in (keeper.load(), settings.clock_start) if m is not None]
    return ManualClock(max(candidates) if candidates else datetime.now(timezone.utc))


def postgres_dsn(store_url: str) -> str | None:
    parsed = StoreURL.parse(store_url)
    if parsed.kind != "postgres":
        return None
    return parsed.sqlalchemy_url().replace("postgresql+psycopg://", "postgresql://", 1)


def bootstrap(settings: Settings | None = None, *, clock: Clock | None = None,
              calendar: WorkingCalendar | None = None) -> Service:
    settings = settings or Settings()
    kafka = KafkaSettings()
    store_url = settings.resolved_store_url()
    app = NotificationsApp(env=store_env(store_url))
    engine = sa.create_engine(StoreURL.parse(store_url).sqlalchemy_url(), pool_pre_ping=True)
    metadata.create_all(engine)
    keeper = ClockKeeper(engine)
    clock = clock or make_clock(settings, keeper)
    keeper.attach(clock)
    calendar = calendar or WorkingCalendar()
    rules = settings.rule_settings()
    mail_domain = settings.mail_from.rpartition("@")[2] or "localhost"

    projection = NotificationsProjection(app, engine)
    planner = Planner(app, engine, clock, calendar, lambda: rules, Templates(),
                      Office(settings.office_unit_id, settings.office_name, tuple(settings.office_emails),
                             settings.language),
                      PlanningSettings(public_base_url=settings.public_base_url.rstrip("/"),
                                       mail_domain=mail_domain, default_language=settings.language,
                                       digest_by_default=settings.digest_by_default))
    relay = OutboxRelay(app, service="notifications", translate=Translator(app.repository),
                        bootstrap=kafka.bootstrap, batch_size=settings.relay_batch_size,
                        route=lambda event: f"{settings.topic_prefix}{topic_for(event.service, event.version)}")
    planner_wake, delivery_wake = Wakeup(), Wakeup()
    webhooks = channels.WebhookSender(channels.WebhookConfig(
        secret=settings.webhook_secret.get_secret_value(), timeout=settings.webhook_timeout_seconds))

    def recorded() -> None:
        relay_wake()
        delivery_wake.set()

    relay_wake = Wakeup.for_callable(relay.wake)
    deliverer = Deliverer(
        app, engine, projection, clock,
        DeliverySettings(batch=settings.delivery_batch, lease=timedelta(seconds=settings.lease_seconds),
                         max_attempts=settings.max_attempts,
                         retry_base=timedelta(seconds=settings.retry_base_seconds),
                         retry_max=timedelta(seconds=settings.retry_max_seconds),
                         channel_retry_max=timedelta(seconds=settings.channel_retry_max_seconds)),
        channels.SmtpConfig(
            host=settings.smtp_host, port=settings.smtp_port, starttls=settings.smtp_starttls,
            implicit_tls=settings.smtp_tls, username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.smtp_timeout_seconds, verify_tls=settings.smtp_verify_tls,
            mail_from=settings.mail_from, from_name=settings.mail_from_name),
        webhooks, HandOverMarks(engine, postgres_dsn(store_url)), on_recorded=recorded)
    if isinstance(clock, ManualClock):
        clock.on_change(lambda _moment: (planner_wake.set(), delivery_wake.set()))

    # consuming the other services' events: facts + schedule, with the inbox, in one transaction
    consumer = f"{settings.topic_prefix}dondoc-notifications"
    producer_box: dict[str, Any] = {}

    async def publish_dead_letter(topic: str, key: bytes | None, value: bytes | None,
                                  headers: list[tuple[str, bytes]]) -> None:
        await aiokafka_publisher(producer_box["producer"])(topic, key, value, headers)

    inbox = SqlInbox(engine, metadata, consumer=consumer,
                     apply=FactsKeeper(calendar, lambda: rules).apply,
                     dead_letters=DeadLetters(publish_dead_letter, consumer))
    broker = make_broker(kafka, service="notifications")
    subscribe(broker, [settings.topic(s) for s in SOURCES], group_id=consumer,
              inbox=_WakingInbox(inbox, planner_wake), max_records=settings.consumer_max_records)
    lag = ConsumerLagMonitor(kafka.bootstrap, {consumer: [settings.topic(s) for s in SOURCES]})

    async def start() -> None:
        from aiokafka import AIOKafkaProducer

        await ensure_topics(kafka.bootstrap, [event_topic(settings.topic(s)) for s in (*SOURCES, "notifications")]
                            + [TopicSpec(dlq_topic(settings.topic(s)), 1) for s in SOURCES])
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True,
                                    client_id=f"{consumer}-dlq")
        await producer.start()
        producer_box["producer"] = producer
        await relay.start()
        planner_wake.bind()
        delivery_wake.bind()
        relay_wake.bind()

    async def stop() -> None:
        await relay.stop()
        if "producer" in producer_box:
            await producer_box.pop("producer").stop()
        webhooks.close()
        deliverer.marks.close()
        app.close()
        engine.dispose()

    queries = Queries(app, engine)
    from dondoc_notifications.entrypoints.api import build_api

    api = build_api(settings=settings, engine=engine, queries=queries, planner=planner, clock=clock,
                    rules=rules, on_recorded=recorded)
    service = Service(
        name="notifications", settings=settings, api=api,
        workers=[relay.run,
                 lambda stop: planner_worker(planner, stop, planner_wake, delivery_wake, clock,
                                             settings.planner_poll_seconds),
                 lambda stop: delivery_worker(deliverer, stop, delivery_wake, settings.delivery_poll_seconds),
                 lag.run],
        brokers=[broker], on_start=[start], on_stop=[stop])
    service.parts = {"app": app, "engine": engine, "clock": clock, "planner": planner,  # type: ignore[attr-defined]
                     "deliverer": deliverer, "projection": projection, "queries": queries, "relay": relay,
                     "facts": inbox}
    return service


class _WakingInbox:
    def __init__(self, inner: SqlInbox, wake: Wakeup) -> None:
        self.inner = inner
        self.wake = wake

    async def handle(self, records: Any) -> None:
        await self.inner.handle(records)
        self.wake.set()


def openapi() -> dict[str, Any]:
    """The OpenAPI document, from a scratch embedded store (for `make generate`)."""
    with tempfile.TemporaryDirectory() as scratch:
        service = bootstrap(Settings(store_url=f"sqlite:///{scratch}/openapi.sqlite"))
        try:
            return service.api.openapi()
        finally:
            service.parts["app"].close()  # type: ignore[attr-defined]
            service.parts["engine"].dispose()  # type: ignore[attr-defined]


__all__ = ["Settings", "bootstrap", "openapi"]
