"""Test parts: a real SMTP server (aiosmtpd), a real HTTP server for webhooks, and a
producer that puts upstream events on the real broker with the real envelope."""

from __future__ import annotations

import asyncio
import email
import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from dondoc_contracts import ContractEvent, encode, envelope_for
from dondoc_platform.stores import StoreURL


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=default_policy)  # type: ignore[return-value]

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def rule(self) -> str:
        return str(self.message["X-Dondoc-Rule"])

    @property
    def date(self) -> datetime:
        return self.message["Date"].datetime


class _Handler:
    def __init__(self, box: SmtpServer) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # Like Postfix or Exim: the message is queued on the final ".", then answered. The
        # delay is a slow answer, which widens the window in which a kill can land.
        with self.box.lock:
            self.box.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                              bytes(envelope.original_content or envelope.content)))
        if self.box.delay:
            await asyncio.sleep(self.box.delay)
        return "250 2.0.0 Ok: queued"


class QueueingSMTP(SMTP):
    """aiosmtpd, reading to the end what a vanished client had sent, as Postfix or Exim do:
    they read the session in order, so a message whose final "." arrived is queued even if
    the client is gone before the answer (aiosmtpd alone drops it when the end of the
    stream arrives in the same instant)."""

    def eof_received(self) -> bool | None:
        return asyncio.StreamReaderProtocol.eof_received(self)

    def connection_lost(self, error: Exception | None) -> None:
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        asyncio.StreamReaderProtocol.connection_lost(self, error)
        if self._handler_coroutine is not None:  # it ends on the lost connection: that is expected
            self._handler_coroutine.add_done_callback(lambda task: task.cancelled() or task.exception())


class _QueueingController(Controller):
    def factory(self) -> SMTP:
        return QueueingSMTP(self.handler, **self.SMTP_kwargs)


@dataclass
class SmtpServer:
    """aiosmtpd in its own thread; stop() and start() again on the same port (an outage)."""

    port: int
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = _QueueingController(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     decode_data=False, enable_SMTPUTF8=True)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def count(self) -> int:
        with self.lock:
            return len(self.received)


@dataclass
class Hook:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookServer:
    """A real local HTTP server; `statuses` maps a path to the status codes it answers in turn
    (the last repeats)."""

    def __init__(self) -> None:
        self.requests: dict[str, list[Hook]] = {}
        self.statuses: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with outer.lock:
                    seen = outer.requests.setdefault(self.path, [])
                    seen.append(Hook({k.lower(): v for k, v in self.headers.items()}, body))
                    codes = outer.statuses.get(self.path, [200])
                    status = codes[min(len(seen) - 1, len(codes) - 1)]
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> WebhookServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def hits(self, path: str) -> list[Hook]:
        with self.lock:
            return list(self.requests.get(path, []))


class Upstream:
    """Produces contract events as the other services' relays would (real envelope)."""

    _positions = itertools.count(1)

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> Upstream:
        from dondoc_contracts import dlq_topic
        from dondoc_platform.kafka import TopicSpec, ensure_topics, event_topic

        names = [f"{self.prefix}dondoc.{s}.v1" for s in ("directives", "tasks", "reports", "notifications")]
        await ensure_topics(self.bootstrap, [event_topic(n) for n in names]
                            + [TopicSpec(dlq_topic(n), 1) for n in names[:3]])
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.producer is not None
        await self.producer.stop()

    def topic(self, event: ContractEvent) -> str:
        return f"{self.prefix}dondoc.{event.service}.v{event.version}"

    async def send(self, *events: ContractEvent) -> None:
        assert self.producer is not None
        for event in events:
            key, value, headers = encode(event, envelope_for(event, position=next(self._positions)))
            await self.producer.send_and_wait(self.topic(event), value=value, key=key, headers=headers)

    async def send_raw(self, topic: str, value: bytes, headers: list[tuple[str, bytes]],
                       key: bytes = b"x") -> None:
        assert self.producer is not None
        await self.producer.send_and_wait(f"{self.prefix}{topic}", value=value, key=key, headers=headers)


async def read_topic(bootstrap: str, topic: str, expected: int, convert) -> list:
    """`expected` records of a topic from its start, each through `convert(record)`."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=None, enable_auto_commit=False)
    await consumer.start()
    found: list = []
    try:
        async with asyncio.timeout(60):
            while len(found) < expected:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    found += [convert(record) for record in batch]
    finally:
        await consumer.stop()
    return found


async def until(condition, timeout: float = 60.0, what: str = "condition") -> None:
    """Wait for `condition()` (sync, run in a thread) to hold, with a deadline."""
    try:
        async with asyncio.timeout(timeout):
            while not await asyncio.to_thread(condition):
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for: {what}") from None


def sql_url(store_url: str) -> str:
    return StoreURL.parse(store_url).sqlalchemy_url()
