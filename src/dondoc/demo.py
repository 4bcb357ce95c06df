"""`dondoc demo`: the main job on the embedded defaults.

Today it brings the local stack up and sends one directive event through Kafka and back;
it grows into the province's multi-year story as the services land.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from dondoc.dev import Stack

DEMO_TOPIC = "dondoc.demo.v1"
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def sample_event() -> dict:
    return {
        "type": "DirectiveIssued",
        "directive_number": "125-TB/TU",
        "kind": "Thông báo kết luận",
        "issuing_body": "Ban Thường vụ Tỉnh ủy",
        "summary": "Kết luận về thực hiện nhiệm vụ kinh tế - xã hội năm 2018",
        "items": [
            {"paragraph": "1", "lead_unit": "UBND tỉnh", "text": "Đẩy nhanh thu hồi đất Khu kinh tế Đông Nam"},
            {"paragraph": "2", "lead_unit": "Ban Tuyên giáo", "text": "Tuyên truyền kết quả thực hiện"},
        ],
        "issued_at": datetime(2018, 3, 5, 9, 0, tzinfo=VN).isoformat(),
    }


async def send_one_event_through_kafka(bootstrap: str, say: Callable[[str], None]) -> dict:
    from dondoc_platform.kafka import TopicSpec, ensure_topics, make_broker
    from dondoc_platform.settings import KafkaSettings

    await ensure_topics(bootstrap, [TopicSpec(DEMO_TOPIC, partitions=1)])
    broker = make_broker(KafkaSettings(bootstrap=bootstrap), logger=None)  # the demo speaks itself
    received: asyncio.Queue[dict] = asyncio.Queue()
    marker = uuid.uuid4().hex

    @broker.subscriber(DEMO_TOPIC, group_id=f"dondoc-demo-{marker[:8]}", auto_offset_reset="earliest")
    async def on_event(body: dict) -> None:
        await received.put(body)

    event = {**sample_event(), "demo_run": marker}
    async with broker:
        await broker.start()
        await broker.publish(event, DEMO_TOPIC, key=event["directive_number"].encode())
        say(f"published {event['type']} {event['directive_number']} to {DEMO_TOPIC}")
        async with asyncio.timeout(60):
            while True:
                body = await received.get()
                if body.get("demo_run") == marker:
                    return body


def run(stack: Stack, *, wait: bool, say: Callable[[str], None]) -> int:
    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        say("Bringing up the local stack (Kafka, KRaft, from its Maven Central jars)…")
        stack.up(["kafka"], report=say)
        body = asyncio.run(send_one_event_through_kafka(stack.kafka.address(), say))
        say(f"consumed it back: {body['kind']} số {body['directive_number']} — {body['summary']}")
        for item in body["items"]:
            say(f"  mục {item['paragraph']}: {item['lead_unit']} chủ trì — {item['text']}")
        if wait:
            try:  # the announcement inside: a Ctrl-C right after it is caught too
                say("The stack is running. Press Ctrl-C to stop it.")
                while not stopping.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        say("Stopping the local stack…")
        stack.down(report=say)
