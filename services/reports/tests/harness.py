"""A running reports service for tests: real Kafka (topics private to the test), a real store,
a manual clock, signed tokens, and the upstream events produced with the real envelope."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dondoc_contracts import (
    ICT,
    Actor,
    ContractEvent,
    DeadlineKind,
    DeadlineRule,
    DirectiveKind,
    Frequency,
    Role,
    TaskAssigned,
    UnitRegistered,
    decode,
    encode,
    envelope_for,
    event_topic,
)
from dondoc_platform.auth import DevSigner
from dondoc_platform.clock import ManualClock
from dondoc_platform.settings import AuthSettings, KafkaSettings
from dondoc_reports.bootstrap import Settings, bootstrap

OFFICE_ACTOR = Actor(id="vptu.a", role=Role.OFFICE, unit_id="VPTU")
XD = "Xây dựng Đảng, hệ thống chính trị, nội chính"
KT = "Kinh tế - xã hội"
_positions = itertools.count(10_000 + uuid.uuid4().int % 1_000_000 * 1000)


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ICT)


async def until(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Wait for `condition()` (sync or async) to give a true value, or fail after `timeout`."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                value = condition()
                if asyncio.iscoroutine(value):
                    value = await value
                if value:
                    return value
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def unit_registered(unit_id: str, name: str, group: str | None) -> UnitRegistered:
    return UnitRegistered(occurred_at=at(date(2016, 1, 4)), actor=OFFICE_ACTOR, unit_id=unit_id,
                          code=unit_id, name=name, review_group=group)


def task_assigned(task_id: str, unit_id: str, *, assigned_on: date, due_on: date | None = None,
                  recurring: Frequency | None = None, group: str | None = XD,
                  secrecy: str = "thuong") -> TaskAssigned:
    if recurring is not None:
        rule = DeadlineRule(kind=DeadlineKind.RECURRING, frequency=recurring)
    elif due_on is not None:
        rule = DeadlineRule(kind=DeadlineKind.DATE, due_on=due_on)
    else:
        rule = DeadlineRule(kind=DeadlineKind.NONE)
    return TaskAssigned(
        occurred_at=at(assigned_on), actor=OFFICE_ACTOR, task_id=task_id,
        directive_id="dir-125", directive_number="125-TB/TU",
        directive_kind=DirectiveKind.THONG_BAO_KET_LUAN, issuing_body="BTV", item_id=task_id,
        paragraph="2.a", content=f"Nhiệm vụ {task_id}: tuyên truyền Nghị quyết",
        lead_unit_id=unit_id, assigned_on=assigned_on, deadline_rule=rule, due_on=due_on,
        original_due_on=due_on, review_group=group, report_frequency=recurring, secrecy=secrecy)


@dataclass
class Harness:
    kafka_bootstrap: str
    store_url: str
    tmp: Path
    start: datetime
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}.")
    service: Any = None
    clock: ManualClock | None = None
    client: httpx.AsyncClient | None = None
    signer: DevSigner | None = None
    published: list[tuple[Any, ContractEvent]] = field(default_factory=list)
    _stop: asyncio.Event | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _producer: AIOKafkaProducer | None = None
    _consumer: AIOKafkaConsumer | None = None
    _reader: asyncio.Task[None] | None = None

    def settings(self) -> Settings:
        return Settings(store_url=self.store_url, topic_prefix=self.prefix,
                        watch_interval_seconds=0.2, relay_batch_size=500)

    async def start_service(self, moment: datetime | None = None, *, workers: bool = True) -> None:
        self.signer = self.signer or DevSigner(self.tmp / "jwks.json")
        self.signer.ensure_key()
        self.clock = ManualClock(moment or self.start)
        self.service = bootstrap(self.settings(), clock=self.clock,
                                 kafka=KafkaSettings(bootstrap=self.kafka_bootstrap),
                                 auth=AuthSettings(jwks_file=str(self.signer.jwks_file)))
        self._stop = asyncio.Event()
        if workers:
            self._tasks = await self.service.start_workers(self._stop)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.service.api),
                                        base_url="http://reports")
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self.kafka_bootstrap, acks="all")
            await self._producer.start()
        if self._reader is None:
            self._consumer = AIOKafkaConsumer(
                self.prefix + "dondoc.reports.v1", bootstrap_servers=self.kafka_bootstrap,
                auto_offset_reset="earliest", group_id=None, enable_auto_commit=False)
            await self._consumer.start()
            self._reader = asyncio.create_task(self._read())

    async def stop_service(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self._stop is not None:
            self._stop.set()
            await self.service.stop_all(self._tasks)
        self.service, self._stop, self._tasks = None, None, []

    async def close(self) -> None:
        if self.service is not None:
            await self.stop_service()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            for records in (await self._consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    self.published.append(decode(record.headers, record.value))

    # -- upstream -------------------------------------------------------------------------

    async def produce(self, *events: ContractEvent) -> None:
        assert self._producer is not None
        for event in events:
            key, value, headers = encode(event, envelope_for(event, position=next(_positions)))
            await self._producer.send_and_wait(self.prefix + event_topic(event), value=value,
                                               key=key, headers=headers)

    async def produce_raw(self, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(self.prefix + topic, value=value, key=b"x",
                                           headers=headers)

    # -- HTTP -----------------------------------------------------------------------------

    def token(self, role: str, *, unit: str | None = None, group: str | None = None,
              clearance: str = "thuong", subject: str | None = None) -> dict[str, str]:
        assert self.signer is not None
        token = self.signer.token(subject=subject or f"{role}.{unit or 'x'}",
                                  roles=[role], unit_id=unit, review_group=group,
                                  clearance=clearance, name=f"Cán bộ {role}")
        return {"Authorization": f"Bearer {token}"}

    # -- what went out --------------------------------------------------------------------

    def events(self, kind: type[ContractEvent], **match: Any) -> list[ContractEvent]:
        return [e for _, e in self.published if isinstance(e, kind)
                and all(getattr(e, k) == v for k, v in match.items())]

    async def relayed(self) -> None:
        """Wait until everything recorded so far is on Kafka and read back."""
        relay = self.service.parts["relay"]
        await until(lambda: relay.status().lag_events == 0, what="the outbox relay")
        position = relay.status().head
        while position > 0 and not self._translated(position):
            position -= 1
        if position:
            await until(lambda: any(env.sequence == position for env, _ in self.published),
                        what=f"event {position} on Kafka")

    def _translated(self, position: int) -> bool:
        from dondoc_reports.adapters.translate import translate

        log = self.service.parts["log"]
        (notification,) = log.recorder.select_notifications(position, 1)
        return translate(log.mapper.to_domain_event(notification)) is not None


@dataclass(frozen=True)
class Record:
    """A Kafka record as the inbox sees it (for feeding the real decode path without a broker)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp: int = 0


def offline_service(tmp: Path, events: list[ContractEvent], start: datetime,
                    store_url: str | None = None) -> tuple[Any, DevSigner]:
    """A service on `store_url` (default: a SQLite store in `tmp`) whose local view holds
    `events` (fed through its inbox, with the real envelope); its workers are not started."""
    signer = DevSigner(tmp / "jwks.json")
    signer.ensure_key()
    service = bootstrap(Settings(store_url=store_url or f"sqlite:///{tmp / 'reports.sqlite'}"),
                        clock=ManualClock(start),
                        kafka=KafkaSettings(bootstrap="127.0.0.1:1"),  # never started
                        auth=AuthSettings(jwks_file=str(signer.jwks_file)))
    records = []
    for offset, event in enumerate(events):
        key, value, headers = encode(event, envelope_for(event, position=next(_positions)))
        records.append(Record(event_topic(event), 0, offset, key, value, headers))
    asyncio.run(service.parts["inbox"].handle(records))
    return service, signer


def close_offline(service: Any) -> None:
    service.parts["log"].close()
    service.parts["engine"].dispose()
