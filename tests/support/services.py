"""Helpers for tests that run the directives and tasks services in-process: tokens for
every role, services bootstrapped on their own stores and topics, waiting on conditions."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from dondoc_platform.auth import DevSigner, TokenVerifier
from dondoc_platform.runtime import Service
from dondoc_platform.settings import AuthSettings

REVIEW_GROUP_PARTY = "Xây dựng Đảng, hệ thống chính trị, nội chính"
REVIEW_GROUP_ECONOMY = "Kinh tế - xã hội"


@dataclass
class Tokens:
    """Bearer headers for each role, signed by a throw-away development key."""

    signer: DevSigner

    @classmethod
    def create(cls, directory: Path) -> Tokens:
        signer = DevSigner(directory / "jwks.json")
        signer.ensure_key()
        return cls(signer)

    def auth(self) -> AuthSettings:
        return AuthSettings(jwks_file=str(self.signer.jwks_file))

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(self.auth())

    def headers(self, role: str, *, unit_id: str | None = None, review_group: str | None = None,
                clearance: str = "thuong", subject: str | None = None) -> dict[str, str]:
        if role == "unit" and unit_id is None:
            unit_id = "BTG"
        if role == "reviewer" and review_group is None:
            review_group = REVIEW_GROUP_PARTY
        token = self.signer.token(subject=subject or f"{role}.tester", roles=[role],
                                  unit_id=unit_id, review_group=review_group,
                                  clearance=clearance, name=f"Người thử {role}")
        return {"Authorization": f"Bearer {token}"}


async def until(condition: Callable[[], Any], *, timeout: float = 60.0,
                what: str = "condition") -> Any:
    """Wait for `condition()` to be truthy, failing after `timeout`. A plain function runs
    in a thread; a coroutine (an HTTP query through an async client) is awaited."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if inspect.iscoroutinefunction(condition):
                    value = await condition()
                else:
                    value = await asyncio.to_thread(condition)
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return value
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@contextlib.asynccontextmanager
async def running(service: Service) -> AsyncIterator[Service]:
    """The service's workers (relay, consumers, watchers) run until the block ends."""
    stop = asyncio.Event()
    tasks = await service.start_workers(stop)
    try:
        yield service
    finally:
        stop.set()
        await service.stop_all(tasks)


def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


UNITS = [
    {"code": "BTG", "name": "Ban Tuyên giáo Tỉnh ủy", "review_group": REVIEW_GROUP_PARTY,
     "emails": ["bantuyengiao@example.vn"]},
    {"code": "BDV", "name": "Ban Dân vận Tỉnh ủy", "review_group": REVIEW_GROUP_PARTY},
    {"code": "UBND", "name": "Ủy ban nhân dân tỉnh", "review_group": REVIEW_GROUP_ECONOMY},
    {"code": "MTTQ", "name": "Ủy ban MTTQ Việt Nam tỉnh", "review_group": "Mặt trận, đoàn thể"},
]


def notice(number: str = "125-TB/TU", issued_on: date | str = date(2018, 3, 5), **extra: Any) -> dict:
    """A Thông báo kết luận with three items for three units."""
    body = {
        "number": number, "kind": "thong_bao_ket_luan", "issuing_body": "BTV",
        "issued_on": str(issued_on),
        "summary": "Kết luận của Ban Thường vụ Tỉnh ủy về nhiệm vụ kinh tế - xã hội năm 2018",
        "signer": "Phó Bí thư Thường trực",
        "items": [
            {"paragraph": "1", "text": "Đẩy nhanh thu hồi đất Khu kinh tế Đông Nam",
             "lead_unit_id": "UBND", "cooperating_unit_ids": ["BDV"], "key_task": True,
             "domain": "Đất đai", "deadline": {"kind": "date", "due_on": "2018-06-30"}},
            {"paragraph": "2.a", "text": "Tuyên truyền kết quả thực hiện Nghị quyết",
             "lead_unit_id": "BTG", "deadline": {"kind": "working_days", "days": 5}},
            {"paragraph": "3", "text": "Giám sát việc thực hiện chính sách",
             "lead_unit_id": "MTTQ", "deadline": {"kind": "recurring", "frequency": "quarterly"}},
        ],
    }
    body.update(extra)
    return body


class TopicReader:
    """Reads topics from their beginning, decoding every record into its contract event
    (`envelopes` keeps each event's envelope beside it, e.g. to tell a republished event,
    same `ce_id`, from a second one)."""

    def __init__(self, bootstrap: str, topic: str, *more: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.topics = (topic, *more)
        self.events: list[Any] = []
        self.envelopes: list[Any] = []
        self._consumer: Any = None

    async def __aenter__(self) -> TopicReader:
        from aiokafka import AIOKafkaConsumer

        from dondoc_platform.kafka import ensure_topics, event_topic

        await ensure_topics(self.bootstrap, [event_topic(t) for t in self.topics])
        self._consumer = AIOKafkaConsumer(*self.topics, bootstrap_servers=self.bootstrap,
                                          auto_offset_reset="earliest", group_id=None,
                                          enable_auto_commit=False)
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> list[Any]:
        from dondoc_contracts import decode

        batches = await self._consumer.getmany(timeout_ms=200)
        for records in batches.values():
            for record in records:
                envelope, event = decode(record.headers, record.value)
                self.envelopes.append(envelope)
                self.events.append(event)
        return self.events

    async def drain(self, *, timeout: float = 60.0) -> list[Any]:
        """Read every record the topics hold now (up to their current end offsets)."""
        from aiokafka import TopicPartition

        await self.poll()
        partitions = [TopicPartition(t, p) for t in self.topics
                      for p in sorted(self._consumer.partitions_for_topic(t) or ())]
        ends = await self._consumer.end_offsets(partitions)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    assigned = self._consumer.assignment()
                    behind = [tp for tp, end in ends.items() if end > 0 and (
                        tp not in assigned or await self._consumer.position(tp) < end)]
                    if not behind:
                        return self.events
                    await self.poll()
        except TimeoutError:
            raise AssertionError(f"timed out reading {self.topics} to their ends") from None

    async def wait_for(self, condition: Callable[[list[Any]], Any], *, timeout: float = 60.0,
                       what: str = "events") -> Any:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    value = condition(await self.poll())
                    if value:
                        return value
        except TimeoutError:
            kinds = [type(e).__name__ for e in self.events]
            raise AssertionError(f"timed out waiting for {what}; saw {kinds}") from None

    def of(self, kind: type, **fields: Any) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)
                and all(getattr(e, k) == v for k, v in fields.items())]


async def publish(bootstrap: str, topic: str, events: list[Any], start: int = 1) -> None:
    """Publish contract events as their producing service's relay would."""
    from aiokafka import AIOKafkaProducer

    from dondoc_contracts import encode, envelope_for

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for position, event in enumerate(events, start=start):
            key, value, headers = encode(event, envelope_for(event, position=position))
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


def create_database(admin_url: str) -> str:
    """A fresh PostgreSQL database next to `admin_url`'s (dropped by the caller's cleanup)."""
    import psycopg
    from psycopg import sql

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return f"{admin_url.rpartition('/')[0]}/{name}"


def drop_database(admin_url: str, url: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(
            sql.Identifier(url.rpartition("/")[2])))
