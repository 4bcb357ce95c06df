"""Kafka plumbing shared by the services: brokers built on demand, topics declared."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aiokafka.partitioner import murmur2

from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy

from dondoc_platform.settings import KafkaSettings

#: Commit a message's offset only after its handler returned; on an unhandled error seek
#: back so it is delivered again. Never the auto-commit default (ACK_FIRST), which loses
#: a message whose handler crashes.
AT_LEAST_ONCE = AckPolicy.NACK_ON_ERROR


class WarningsOnly:
    """FastStream's logger for a broker: its warnings and errors (a Kafka error in a
    consumer's loop, a failing handler) go to the service's log through `logging`; its access
    lines ("Received", "Processed": two per consumed batch, formatted and written at every
    batch, so at a steady rate at every event) are dropped."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("faststream")

    def log(self, level: int, msg: Any, /, *, exc_info: Any = None,
            extra: Mapping[str, Any] | None = None) -> None:
        if level >= logging.WARNING:
            self.logger.log(level, msg, exc_info=exc_info)


def make_broker(settings: KafkaSettings, *, service: str | None = None,
                **options: Any) -> KafkaBroker:
    """A broker with an idempotent producer (acks=all) and at-least-once consumers, its
    traffic counted by FastStream's Prometheus middleware (`faststream_*` metrics with
    `app_name` = the service) in the default registry that /metrics exposes, and only its
    warnings and errors logged (`WarningsOnly`; `logger=None`: nothing).

    Nothing connects until the broker is started: safe to call at bootstrap time.
    """
    from faststream.kafka.prometheus import KafkaPrometheusMiddleware
    from prometheus_client import REGISTRY

    defaults: dict[str, Any] = {
        "middlewares": (KafkaPrometheusMiddleware(registry=REGISTRY,
                                                  app_name=service or settings.client_id),),
        "client_id": settings.client_id,
        "request_timeout_ms": settings.request_timeout_ms,
        "acks": "all",
        "enable_idempotence": True,
        "ack_policy": AT_LEAST_ONCE,
        "allow_auto_create_topics": False,
        "logger": WarningsOnly(),
    }
    defaults.update(options)
    return KafkaBroker(settings.bootstrap, **defaults)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6
    replication: int = 1
    config: dict[str, str] = field(default_factory=dict)


def event_topic(name: str, partitions: int = 6, replication: int = 1) -> TopicSpec:
    """An event topic keeps everything: auditors and new consumers replay from offset 0."""
    return TopicSpec(name, partitions, replication,
                     {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete",
                      "min.insync.replicas": "1"})


async def ensure_topics(bootstrap: str, topics: Iterable[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    wanted = list(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(admin.start(), timeout)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(t.name, t.partitions, t.replication, topic_configs=t.config)
                     for t in missing]
                )
            except TopicAlreadyExistsError:
                pass  # created meanwhile by another process: what we wanted
        return [t.name for t in missing]
    finally:
        await admin.close()


def topic_names(topics: Sequence[TopicSpec]) -> list[str]:
    return [t.name for t in topics]


@lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def key_partition(key: bytes, partitions: int) -> int:
    """The partition of a keyed record: what Kafka's default partitioner chooses (the Java
    client's murmur2 of the key, modulo the partition count), with each key's hash computed
    once. A service's keys are aggregate ids with many events each, and aiokafka's pure-Python
    murmur2 was a fifth of the relay's time."""
    return _key_hash(key) % partitions


#: a record to send: (topic, key, value, headers)
KeyedRecord = tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]


async def send_batched(producer: Any, records: Iterable[KeyedRecord]) -> tuple[int, asyncio.Future[Any]]:
    """Send keyed records, in order, as one aiokafka record batch per partition (as full as
    the producer's `max_batch_size` allows): one delivery future per batch instead of one per
    record. Returns how many records were sent and a future done when all are acknowledged.

    The partitions are Kafka's default ones (`key_partition`); per partition, records keep
    the order they came in.
    """
    counts: dict[str, int] = {}  # partitions per topic, from the producer's metadata
    open_batches: dict[tuple[str, int], Any] = {}
    futures = []
    sent = 0

    async def ship(where: tuple[str, int], builder: Any) -> None:
        builder.close()  # the producer may add nothing else to it
        futures.append(await producer.send_batch(builder, where[0], partition=where[1]))

    for topic, key, value, headers in records:
        if topic not in counts:
            counts[topic] = len(await producer.partitions_for(topic))
        where = (topic, key_partition(key, counts[topic]))
        builder = open_batches.get(where) or producer.create_batch()
        if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            await ship(where, builder)  # full: send it, start the next
            builder = producer.create_batch()
            # a batch always takes its first record, however large (the broker's
            # max.message.bytes is the limit then, as for a single send)
            builder.append(key=key, value=value, timestamp=None, headers=headers)
        open_batches[where] = builder
        sent += 1
    for where, builder in open_batches.items():
        await ship(where, builder)
    return sent, asyncio.gather(*futures)
