"""Metrics of the shared plumbing (prometheus-client, default registry).

Names follow Prometheus conventions: base units, `_total` counters, `_seconds` durations.
Labels are bounded: services, consumers and reasons, never event or task ids.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)

OUTBOX_PUBLISHED = Counter(
    "dondoc_outbox_published_events_total", "Events the outbox relay published to Kafka",
    ["service"])
OUTBOX_LAG_EVENTS = Gauge(
    "dondoc_outbox_lag_events", "Recorded events not yet published to Kafka", ["service"])
OUTBOX_LAG_SECONDS = Gauge(
    "dondoc_outbox_lag_seconds", "Age of the oldest recorded event not yet published", ["service"])
OUTBOX_POSITION = Gauge(
    "dondoc_outbox_position", "Last log position the relay published", ["service"])
OUTBOX_LEADING = Gauge(
    "dondoc_outbox_leading", "1 while this process's relay holds its store's lease and publishes",
    ["service"])
OUTBOX_ERRORS = Counter(
    "dondoc_outbox_errors_total", "Relay batches that failed and will be retried", ["service"])

INBOX_APPLIED = Counter(
    "dondoc_inbox_applied_events_total", "Consumed events whose effect was applied", ["consumer"])
INBOX_SKIPPED = Counter(
    "dondoc_inbox_redeliveries_skipped_total",
    "Redelivered events skipped because their effect exists already", ["consumer"])
INBOX_RETRIES = Counter(
    "dondoc_inbox_retries_total", "Effect attempts that failed and were retried", ["consumer"])
DEAD_LETTERS = Counter(
    "dondoc_dead_letters_total", "Messages sent to a dead-letter topic", ["consumer", "reason"])
PROJECTION_LAG_SECONDS = Gauge(
    "dondoc_projection_lag_seconds",
    "How far a consumer is behind: for a Kafka consumer, publication to effect of the last "
    "event applied; for a service's own read model, age of the oldest event not applied yet",
    ["consumer"])
APPLY_SECONDS = Histogram(
    "dondoc_inbox_apply_seconds", "Time to apply one batch of consumed events", ["consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
GROUP_COMMIT_SIZE = Histogram(
    "dondoc_group_commit_commands", "Commands written together in one event-store transaction",
    ["service"], buckets=(1, 2, 4, 8, 16, 32, 64, 128))
PROJECTION_LAG_EVENTS = Gauge(
    "dondoc_projection_lag_events",
    "Events recorded in a service's log and not yet applied to its read models", ["consumer"])

CONSUMER_LAG_MESSAGES = Gauge(
    "dondoc_kafka_consumer_lag_messages",
    "Messages on a topic not yet committed by a consumer group (end offsets minus committed)",
    ["group", "topic"])
CONSUMER_LAG_SECONDS = Gauge(
    "dondoc_kafka_consumer_lag_seconds",
    "Age of the oldest message a consumer group has not committed yet (by its Kafka "
    "timestamp); 0 when nothing waits", ["group", "topic"])
CONSUMER_LAG_ERRORS = Counter(
    "dondoc_kafka_consumer_lag_errors_total",
    "Consumer lag measurements that failed (Kafka unreachable); the gauge keeps its last value",
    ["group"])

# The audit's figures: the analytics service sets them when it signs a checkpoint and when
# `audit verify` finishes. `audited_service` names the audited log (directives, tasks, ...):
# not `service`, which Prometheus sets on every target (the analytics one here).
AUDIT_CHECKPOINT_TIMESTAMP = Gauge(
    "dondoc_audit_last_checkpoint_timestamp_seconds",
    "When the last signed checkpoint of a service's log was made (Unix time)",
    ["audited_service"])
AUDIT_CHECKPOINT_SIZE = Gauge(
    "dondoc_audit_last_checkpoint_size_events",
    "Log size (events) covered by the last signed checkpoint of a service", ["audited_service"])
AUDIT_CHECKPOINT_FAILURES = Counter(
    "dondoc_audit_checkpoint_failures_total",
    "Checkpoint rounds refused for a service because its log does not match its hash chain",
    ["audited_service"])
AUDIT_VERIFY_TIMESTAMP = Gauge(
    "dondoc_audit_last_verify_timestamp_seconds",
    "When the last audit verification of a service finished (Unix time)", ["audited_service"])
AUDIT_VERIFY_SUCCESS = Gauge(
    "dondoc_audit_last_verify_success",
    "1 if the last audit verification of a service found nothing wrong, 0 otherwise",
    ["audited_service"])
AUDIT_VERIFY_PROBLEMS = Gauge(
    "dondoc_audit_last_verify_problems",
    "Findings (altered, dropped or reordered events, diverging projections) of the last "
    "audit verification of a service", ["audited_service"])

LIVE_COLLECTOR_ERRORS = Counter(
    "dondoc_live_metrics_errors_total",
    "Scrape-time reads of a read model that failed (the figures are then left out)",
    ["collector"])


def checkpoint_recorded(service: str, size: int, at: datetime) -> None:
    """A signed checkpoint of `service`'s log now covers `size` events (made at `at`)."""
    AUDIT_CHECKPOINT_SIZE.labels(service).set(size)
    AUDIT_CHECKPOINT_TIMESTAMP.labels(service).set(at.timestamp())


def verification_finished(service: str, problems: int, at: datetime) -> None:
    """`audit verify` of `service` finished at `at` with `problems` findings (0: clean)."""
    AUDIT_VERIFY_PROBLEMS.labels(service).set(problems)
    AUDIT_VERIFY_SUCCESS.labels(service).set(1 if problems == 0 else 0)
    AUDIT_VERIFY_TIMESTAMP.labels(service).set(at.timestamp())


class SnapshotCollector:
    """Figures read from a read model when Prometheus scrapes (the office's live picture).

    `read()` returns metric families (prometheus_client's GaugeMetricFamily…); the result is
    kept `max_age` seconds so several scrapers cost one query. A failing read is counted
    and logged and leaves the figures out, never fails the whole scrape. `describe()` is
    empty: nothing is read at registration, and a test process may hold two services.
    """

    def __init__(self, name: str, read: Callable[[], Iterable[Metric]], *,
                 max_age: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.read = read
        self.max_age = max_age
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = self.clock()
            if self._cached is None or now - self._cached[0] >= self.max_age:
                try:
                    self._cached = (now, list(self.read()))
                except Exception:  # noqa: BLE001 - a scrape must not fail for one read model
                    LIVE_COLLECTOR_ERRORS.labels(self.name).inc()
                    log.exception("live metrics %s could not be read", self.name)
                    self._cached = None
                    return iter(())
            return iter(self._cached[1])

    def register(self, registry: CollectorRegistry = REGISTRY) -> Callable[[], None]:
        """Expose the figures on /metrics; returns what removes them again."""
        registry.register(self)  # type: ignore[arg-type]

        def unregister() -> None:
            registry.unregister(self)  # type: ignore[arg-type]

        return unregister
