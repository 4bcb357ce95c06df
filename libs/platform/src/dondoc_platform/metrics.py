"""Metrics of the shared plumbing (prometheus-client, default registry).

Names follow Prometheus conventions: base units, `_total` counters, `_seconds` durations.
Labels are bounded: services, consumers and reasons, never event or task ids.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PUBLISHED = Counter(
    "dondoc_outbox_published_events_total", "Events the outbox relay published to Kafka",
    ["service"])
OUTBOX_LAG_EVENTS = Gauge(
    "dondoc_outbox_lag_events", "Recorded events not yet published to Kafka", ["service"])
OUTBOX_LAG_SECONDS = Gauge(
    "dondoc_outbox_lag_seconds", "Age of the oldest recorded event not yet published", ["service"])
OUTBOX_POSITION = Gauge(
    "dondoc_outbox_position", "Last log position the relay published", ["service"])
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
    "Time between an event's publication to Kafka and its effect, for the last event applied",
    ["consumer"])
APPLY_SECONDS = Histogram(
    "dondoc_inbox_apply_seconds", "Time to apply one batch of consumed events", ["consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
GROUP_COMMIT_SIZE = Histogram(
    "dondoc_group_commit_commands", "Commands written together in one event-store transaction",
    ["service"], buckets=(1, 2, 4, 8, 16, 32, 64, 128))
