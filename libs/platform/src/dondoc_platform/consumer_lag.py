"""Consumer lag per group: Kafka's end offsets minus the group's committed offsets.

A worker measures its own consumer groups every `interval` seconds and sets
`dondoc_kafka_consumer_lag_messages{group, topic}` (partitions summed, so the labels stay
bounded) and `dondoc_kafka_consumer_lag_seconds{group, topic}`: the age of the oldest
message the group has not committed yet, by its Kafka timestamp (when it was published),
0 when nothing waits. That is how far behind a projection fed from Kafka is, whatever
business time its events carry. A partition the group never committed counts from its
first offset, as the group (auto_offset_reset=earliest) would start there. KEDA scales the
workers on the same messages figure in Kubernetes (through the Kafka exporter); this one
needs no exporter.

A consumer that keeps its positions in its own database rather than in a consumer group
(the analytics read models) passes `positions={name: read}`: `read()` returns the next
offset it will read per (topic, partition), and is called in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dondoc_platform import metrics

log = logging.getLogger(__name__)

Lag = dict[tuple[str, str], int]

#: (topic, partition) → the next offset the consumer will read.
Positions = Callable[[], Mapping[tuple[str, int], int]]

#: How long a measurement waits for the oldest waiting message of the lagging partitions.
FETCH_TIMEOUT_MS = 2000


class ConsumerLagMonitor:
    def __init__(self, bootstrap: str, groups: Mapping[str, Sequence[str]], *,
                 positions: Mapping[str, Positions] | None = None,
                 interval: float = 15.0, request_timeout: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self.groups = {group: list(topics) for group, topics in groups.items()}
        self.positions = dict(positions or {})
        self.interval = interval
        self.request_timeout = request_timeout
        self._admin: Any = None
        self._consumer: Any = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        timeout_ms = int(self.request_timeout * 1000)
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap,
                                          request_timeout_ms=timeout_ms,
                                          client_id="dondoc-lag-monitor")
        await self._admin.start()
        # no group: this consumer only reads offsets and never joins or commits
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap,
                                          enable_auto_commit=False,
                                          request_timeout_ms=timeout_ms,
                                          client_id="dondoc-lag-monitor")
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def measure(self) -> Lag:
        """The lag of every (group, topic) now, also set on the gauge."""
        from aiokafka import TopicPartition

        topics = sorted({t for names in self.groups.values() for t in names})
        described = await self._admin.describe_topics(topics)
        partitions = [TopicPartition(d["topic"], p["partition"])
                      for d in described if not d.get("error_code") for p in d["partitions"]]
        ends = await self._consumer.end_offsets(partitions)
        starts = await self._consumer.beginning_offsets(partitions)
        lag: Lag = {}
        for group, names in self.groups.items():
            committed = await self._next_offsets(group)
            waiting: dict[Any, int] = {}
            for tp in partitions:
                if tp.topic not in names:
                    continue
                done = committed.get((tp.topic, tp.partition))
                position = done if done is not None and done >= 0 else starts[tp]
                behind = max(0, ends[tp] - position)
                lag[(group, tp.topic)] = lag.get((group, tp.topic), 0) + behind
                if behind:
                    waiting[tp] = position
            oldest = await self._published_at(waiting)
            now = time.time()
            for topic in names:
                if (group, topic) not in lag:
                    continue
                metrics.CONSUMER_LAG_MESSAGES.labels(group, topic).set(lag[(group, topic)])
                ages = [now - oldest[tp] for tp in oldest if tp.topic == topic]
                metrics.CONSUMER_LAG_SECONDS.labels(group, topic).set(max([0.0, *ages]))
        return lag

    async def _next_offsets(self, group: str) -> Mapping[tuple[str, int], int]:
        if group in self.positions:
            return await asyncio.to_thread(self.positions[group])
        committed = await self._admin.list_consumer_group_offsets(group)
        return {(tp.topic, tp.partition): done.offset for tp, done in committed.items()}

    async def _published_at(self, positions: dict[Any, int]) -> dict[Any, float]:
        """The Kafka timestamp (Unix seconds) of the message at each position."""
        if not positions:
            return {}
        consumer = self._consumer
        consumer.assign(list(positions))
        for tp, offset in positions.items():
            consumer.seek(tp, offset)
        found: dict[Any, float] = {}
        deadline = time.monotonic() + FETCH_TIMEOUT_MS / 1000
        while len(found) < len(positions) and time.monotonic() < deadline:
            batches = await consumer.getmany(*[tp for tp in positions if tp not in found],
                                             timeout_ms=200, max_records=len(positions))
            for tp, records in batches.items():
                if records and tp not in found:
                    found[tp] = records[0].timestamp / 1000
        consumer.assign([])
        return found

    async def run(self, stop: asyncio.Event) -> None:
        """Measure until `stop` is set; Kafka being away is counted and retried, never fatal."""
        try:
            while not stop.is_set():
                try:
                    if self._admin is None:
                        await self.start()
                    await asyncio.wait_for(self.measure(), self.request_timeout * 3)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the broker may be away; next round retries
                    for group in self.groups:
                        metrics.CONSUMER_LAG_ERRORS.labels(group).inc()
                    log.warning("consumer lag of %s could not be measured", list(self.groups),
                                exc_info=True)
                    await self.stop()
                try:
                    await asyncio.wait_for(stop.wait(), self.interval)
                except TimeoutError:
                    pass
        finally:
            await self.stop()
