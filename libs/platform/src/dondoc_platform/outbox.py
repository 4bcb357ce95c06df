"""The outbox relay: a service's notification log, in order, to Kafka.

Reads the log after the last published position, translates each private domain event to
its contract event (the service's translate module), publishes the batch with an idempotent
producer (acks=all), waits for every acknowledgement, then records the last position in the
service's own store. A crash between publishing and recording republishes the batch with
the same `ce_id`s: consumers deduplicate, nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from dondoc_contracts import ContractEvent, encode, envelope_for, event_topic
from dondoc_platform import metrics
from dondoc_platform.eventstore import recorder_of

log = logging.getLogger(__name__)

#: A service's translate function: private domain event → public event, or None if private.
Translate = Callable[[Any], ContractEvent | None]


@dataclass(frozen=True)
class RelayStatus:
    position: int
    head: int

    @property
    def lag_events(self) -> int:
        return max(0, self.head - self.position)


class OutboxRelay:
    def __init__(
        self,
        app: Application,
        *,
        service: str,
        translate: Translate,
        bootstrap: str,
        name: str = "kafka",
        batch_size: int = 1000,
        idle_interval: float = 0.05,
        producer_options: dict[str, Any] | None = None,
        route: Callable[[ContractEvent], str] = event_topic,
    ) -> None:
        self.app = app
        self.recorder = recorder_of(app)
        self.service = service
        self.translate = translate
        self.bootstrap = bootstrap
        self.name = name
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.producer_options = producer_options or {}
        self.route = route
        self._wake = asyncio.Event()
        self._producer: Any = None

    def wake(self) -> None:
        """Ask the relay to look at the log now (called after a local save)."""
        self._wake.set()

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        options = {"acks": "all", "enable_idempotence": True, "linger_ms": 2,
                   "max_batch_size": 256 * 1024, "client_id": f"dondoc-{self.service}-relay"}
        options.update(self.producer_options)
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **options)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> OutboxRelay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def status(self) -> RelayStatus:
        return RelayStatus(self.recorder.outbox_position(self.name),
                           self.recorder.max_notification_id() or 0)

    async def run(self, stop: asyncio.Event, *, backoff: float = 1.0) -> None:
        """Relay until `stop` is set; a failing batch is retried with backoff, never skipped."""
        while not stop.is_set():
            try:
                published = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.OUTBOX_ERRORS.labels(self.service).inc()
                log.exception("outbox relay of %s failed; retrying in %.1f s", self.service, backoff)
                await _sleep_or_stop(stop, backoff)
                continue
            if published < self.batch_size:
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, timeout=self.idle_interval,
                                   return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()

    async def relay_once(self) -> int:
        """Publish the next batch; returns how many log entries it covered."""
        position = await asyncio.to_thread(self.recorder.outbox_position, self.name)
        notifications = await asyncio.to_thread(
            self.recorder.select_notifications, position + 1, self.batch_size)
        if not notifications:
            self._observe(position, position, None)
            return 0
        links = await asyncio.to_thread(self.recorder.select_links, position, len(notifications) * 2)
        hashes = {link.position: link.hash.hex() for link in links}
        futures = []
        for notification in notifications:
            record = self._record(notification, hashes.get(notification.id))
            if record is not None:
                topic, key, value, headers = record
                futures.append(await self._producer.send(topic, value=value, key=key, headers=headers))
        if futures:
            await asyncio.gather(*futures)
        last = notifications[-1].id
        await asyncio.to_thread(self.recorder.set_outbox_position, self.name, last)
        metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(futures))
        head = await asyncio.to_thread(self.recorder.max_notification_id) or last
        oldest = None
        if head > last:
            upcoming = await asyncio.to_thread(self.recorder.select_notifications, last + 1, 1)
            oldest = upcoming[0] if upcoming else None
        self._observe(last, head, oldest)
        return len(notifications)

    def _record(self, notification: Notification, audit_hash: str | None):
        domain_event = self.app.mapper.to_domain_event(notification)
        contract = self.translate(domain_event)
        if contract is None:
            return None
        envelope = envelope_for(
            contract, position=notification.id, audit_hash=audit_hash,
            correlation_id=getattr(domain_event, "correlation_id", None),
            causation_id=getattr(domain_event, "causation_id", None),
        )
        key, value, headers = encode(contract, envelope)
        return self.route(contract), key, value, headers

    def _observe(self, position: int, head: int, oldest: Notification | None) -> None:
        metrics.OUTBOX_POSITION.labels(self.service).set(position)
        metrics.OUTBOX_LAG_EVENTS.labels(self.service).set(max(0, head - position))
        seconds = 0.0
        if oldest is not None:
            recorded = getattr(self.app.mapper.to_domain_event(oldest), "timestamp", None)
            if isinstance(recorded, datetime):
                seconds = max(0.0, (datetime.now(timezone.utc) - recorded).total_seconds())
        metrics.OUTBOX_LAG_SECONDS.labels(self.service).set(seconds)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except (TimeoutError, asyncio.TimeoutError):
        pass

