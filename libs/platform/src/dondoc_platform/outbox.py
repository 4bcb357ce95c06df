"""The outbox relay: a service's notification log, in order, to Kafka.

Reads the log after the last published position, translates each private domain event to
its contract event (the service's translate module), publishes the batch with an idempotent
producer (acks=all), waits for every acknowledgement, then records the last position in the
service's own store. A crash between publishing and recording republishes the batch with
the same `ce_id`s: consumers deduplicate, nothing is lost.

`run()` keeps the producer busy: while a batch waits for its acknowledgements the next one
is read, translated and sent (at most `max_in_flight` batches unacknowledged), and positions
are recorded in log order, each only after its whole batch was acknowledged. The idempotent
producer keeps each partition in the order of sending, so per-key order holds.

Every worker replica runs a relay, but `run()` publishes only while it holds the store's
relay lease (`dondoc_platform.leadership`); the others stand by, keep the lag gauges true
from the store, and take the lease over when its holder stops or dies. `relay_once()` is a
single explicit step and takes no lease.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from dondoc_contracts import ContractEvent, encode, envelope_for, event_topic
from dondoc_platform import metrics
from dondoc_platform.eventstore import OutboxEntry, recorder_of
from dondoc_platform.kafka import send_batched
from dondoc_platform.leadership import Lease, try_lead

log = logging.getLogger(__name__)

#: A service's translate function: private domain event → public event, or None if private.
Translate = Callable[[Any], ContractEvent | None]


@dataclass(frozen=True)
class _Sent:
    """A published batch waiting for its acknowledgements."""

    last: int  # the log position of the batch's last entry
    published: int  # how many records it sent (private events are not published)
    acks: asyncio.Future[Any]


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
        observe_interval: float = 1.0,
        max_in_flight: int = 4,
        standby_interval: float = 2.0,
        lease_check_interval: float = 5.0,
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
        self.observe_interval = observe_interval
        self.max_in_flight = max(1, max_in_flight)
        self.standby_interval = standby_interval
        self.lease_check_interval = lease_check_interval
        self._lease: Lease | None = None
        self._lease_checked_at = float("-inf")
        self._wake = asyncio.Event()
        self._producer: Any = None
        self._position: int | None = None  # the last recorded position, once read
        self._prefetch: tuple[int, asyncio.Future[list[OutboxEntry]]] | None = None
        self._observed_at = float("-inf")

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
        await self._drop_prefetch()
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

    @property
    def recorded_position(self) -> int:
        """The last position this relay recorded (0 before it read or recorded one)."""
        return self._position or 0

    async def run(self, stop: asyncio.Event, *, backoff: float = 1.0) -> None:
        """Relay until `stop` is set, while this relay holds the lease; a failing batch is
        retried with backoff, never skipped."""
        try:
            await self._run(stop, backoff)
        finally:
            await self._give_up_lease()

    @property
    def leading(self) -> bool:
        return self._lease is not None

    async def _run(self, stop: asyncio.Event, backoff: float) -> None:
        while not stop.is_set():
            # cleared before the log is read: a save during the pump wakes the next round
            # instead of being lost (the idle poll may be long: `logwake`)
            self._wake.clear()
            try:
                if not await self._hold_lease():
                    await self._observe(await asyncio.to_thread(self.recorder.outbox_position,
                                                                self.name), force=True)
                    await _sleep_or_stop(stop, self.standby_interval)
                    continue
                await self._pump(stop)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._position = None  # read it again from the store before the retry
                await self._drop_prefetch()
                metrics.OUTBOX_ERRORS.labels(self.service).inc()
                log.exception("outbox relay of %s failed; retrying in %.1f s", self.service, backoff)
                await _sleep_or_stop(stop, backoff)
                continue
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=self.idle_interval,
                               return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()

    async def _hold_lease(self) -> bool:
        """Take the lease if free; check a held one at most every `lease_check_interval`."""
        now = time.monotonic()
        if self._lease is not None:
            if now - self._lease_checked_at < self.lease_check_interval:
                return True
            self._lease_checked_at = now
            if await asyncio.to_thread(self._lease.alive):
                return True
            self._lease = None
            log.warning("outbox relay of %s lost its lease; standing by", self.service)
        lease = await asyncio.to_thread(try_lead, self.recorder, self.name)
        metrics.OUTBOX_LEADING.labels(self.service).set(1 if lease is not None else 0)
        if lease is None:
            return False
        self._lease, self._lease_checked_at = lease, now
        self._position = None  # another relay may have moved it while this one stood by
        log.info("outbox relay of %s holds the lease: publishing", self.service)
        return True

    async def _give_up_lease(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            await asyncio.to_thread(lease.release)
            metrics.OUTBOX_LEADING.labels(self.service).set(0)

    async def relay_once(self) -> int:
        """Publish the next batch and record its position; returns how many log entries it
        covered."""
        batch = await self._next_batch(await self._recorded())
        if batch:
            await self._record_sent(await self._publish(batch))
        if 0 < len(batch) < self.batch_size:
            self._caught_up(self.recorded_position)
        else:
            await self._observe(self.recorded_position, force=False)
        return len(batch)

    async def _pump(self, stop: asyncio.Event) -> None:
        """Publish batch after batch until the log is caught up (or `stop` is set)."""
        in_flight: deque[_Sent] = deque()
        try:
            position = await self._recorded()
            first, published = True, False
            while True:
                batch = await self._next_batch(position)
                if first and len(batch) == self.batch_size:
                    # a backlog of several batches: the gauges show it now, not only once
                    # it is published (they would read 'caught up' for the whole pump)
                    await self._observe(position, force=True)
                first = False
                if batch:
                    in_flight.append(await self._publish(batch))
                    position = batch[-1].notification.id
                    published = True
                more = len(batch) == self.batch_size and not stop.is_set()
                while in_flight and (not more or len(in_flight) >= self.max_in_flight
                                     or in_flight[0].acks.done()):
                    await self._record_sent(in_flight.popleft())
                if not more:
                    if published and len(batch) < self.batch_size:
                        # the last read found the log's end: caught up as of that read,
                        # known without asking the head again (a statement per round)
                        self._caught_up(self.recorded_position)
                    else:
                        await self._observe(self.recorded_position, force=published)
                    return
        finally:
            for sent in in_flight:  # a failure: these are published again after the retry
                sent.acks.cancel()

    async def _recorded(self) -> int:
        if self._position is None:
            self._position = await asyncio.to_thread(self.recorder.outbox_position, self.name)
        return self._position

    async def _next_batch(self, position: int) -> list[OutboxEntry]:
        """The entries after `position`. While they are published, the next batch is already
        read from the store (the log is append-only: reading ahead changes nothing)."""
        prefetch, self._prefetch = self._prefetch, None
        batch: list[OutboxEntry] | None = None
        if prefetch is not None:
            after, future = prefetch
            if after == position:
                batch = await future
            else:
                await asyncio.gather(future, return_exceptions=True)
        if batch is None:
            batch = await asyncio.to_thread(self.recorder.select_outbox_batch, position,
                                            self.batch_size)
        if len(batch) == self.batch_size:
            last = batch[-1].notification.id
            self._prefetch = (last, asyncio.ensure_future(asyncio.to_thread(
                self.recorder.select_outbox_batch, last, self.batch_size)))
        return batch

    async def _publish(self, batch: list[OutboxEntry]) -> _Sent:
        records = (record for entry in batch
                   if (record := self._record(entry.notification, entry.audit_hash)) is not None)
        published, acks = await send_batched(self._producer, records)
        return _Sent(batch[-1].notification.id, published, acks)

    async def _record_sent(self, sent: _Sent) -> None:
        await sent.acks
        await asyncio.to_thread(self.recorder.set_outbox_position, self.name, sent.last)
        self._position = sent.last
        metrics.OUTBOX_PUBLISHED.labels(self.service).inc(sent.published)

    async def _drop_prefetch(self) -> None:
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            await asyncio.gather(prefetch[1], return_exceptions=True)

    def _record(self, notification: Notification, audit_hash: bytes | None):
        domain_event = self.app.mapper.to_domain_event(notification)
        contract = self.translate(domain_event)
        if contract is None:
            return None
        envelope = envelope_for(
            contract, position=notification.id, audit_hash=audit_hash.hex() if audit_hash else None,
            correlation_id=getattr(domain_event, "correlation_id", None),
            causation_id=getattr(domain_event, "causation_id", None),
        )
        key, value, headers = encode(contract, envelope)
        return self.route(contract), key, value, headers

    def _caught_up(self, position: int) -> None:
        """Set the lag metrics of a relay whose last read found the end of the log."""
        self._observed_at = time.monotonic()
        metrics.OUTBOX_POSITION.labels(self.service).set(position)
        metrics.OUTBOX_LAG_EVENTS.labels(self.service).set(0)
        metrics.OUTBOX_LAG_SECONDS.labels(self.service).set(0.0)

    async def _observe(self, position: int, *, force: bool) -> None:
        """Set the lag metrics: when the relay caught up, else at most once per
        `observe_interval` (the queries would slow a busy relay down for a gauge)."""
        now = time.monotonic()
        if not force and now - self._observed_at < self.observe_interval:
            return
        self._observed_at = now
        head = await asyncio.to_thread(self.recorder.max_notification_id) or position
        metrics.OUTBOX_POSITION.labels(self.service).set(position)
        metrics.OUTBOX_LAG_EVENTS.labels(self.service).set(max(0, head - position))
        seconds = 0.0
        if head > position:
            upcoming = await asyncio.to_thread(self.recorder.select_notifications, position + 1, 1)
            recorded = (getattr(self.app.mapper.to_domain_event(upcoming[0]), "timestamp", None)
                        if upcoming else None)
            if isinstance(recorded, datetime):
                seconds = max(0.0, (datetime.now(timezone.utc) - recorded).total_seconds())
        metrics.OUTBOX_LAG_SECONDS.labels(self.service).set(seconds)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except (TimeoutError, asyncio.TimeoutError):
        pass

