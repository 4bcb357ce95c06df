"""Figures read when Prometheus scrapes (SnapshotCollector) and the audit's gauges."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from dondoc_platform import metrics
from dondoc_platform.metrics import SnapshotCollector

pytestmark = pytest.mark.unit


class Reads:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def __call__(self) -> list[GaugeMetricFamily]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("database away")
        family = GaugeMetricFamily("dondoc_test_open_tasks", "open tasks", labels=["status"])
        family.add_metric(["open_overdue"], self.calls)
        return [family]


def test_a_snapshot_is_read_once_per_max_age_and_left_out_when_it_fails() -> None:
    now = [100.0]
    reads = Reads()
    collector = SnapshotCollector("test", reads, max_age=10, clock=lambda: now[0])
    registry = CollectorRegistry()
    unregister = collector.register(registry)
    assert reads.calls == 0  # registering reads nothing
    assert b'dondoc_test_open_tasks{status="open_overdue"} 1.0' in generate_latest(registry)
    now[0] += 9
    assert b"} 1.0" in generate_latest(registry) and reads.calls == 1
    now[0] += 1
    reads.fail = True
    errors = metrics.LIVE_COLLECTOR_ERRORS.labels("test")._value.get()
    assert b"dondoc_test_open_tasks" not in generate_latest(registry)
    assert metrics.LIVE_COLLECTOR_ERRORS.labels("test")._value.get() == errors + 1
    reads.fail = False
    assert b'dondoc_test_open_tasks{status="open_overdue"} 3.0' in generate_latest(registry)
    unregister()
    assert b"dondoc_test_open_tasks" not in generate_latest(registry)


def test_two_collectors_of_the_same_figures_can_be_registered() -> None:
    registry = CollectorRegistry()
    first = SnapshotCollector("a", Reads()).register(registry)
    second = SnapshotCollector("b", Reads()).register(registry)  # a test process, two services
    first()
    second()


def test_audit_gauges_say_when_and_whether_verification_passed() -> None:
    at = datetime(2019, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    metrics.checkpoint_recorded("tasks", 1234, at)
    metrics.verification_finished("tasks", 2, at)
    assert metrics.AUDIT_CHECKPOINT_SIZE.labels("tasks")._value.get() == 1234
    assert metrics.AUDIT_CHECKPOINT_TIMESTAMP.labels("tasks")._value.get() == at.timestamp()
    assert metrics.AUDIT_VERIFY_SUCCESS.labels("tasks")._value.get() == 0
    assert metrics.AUDIT_VERIFY_PROBLEMS.labels("tasks")._value.get() == 2
    metrics.verification_finished("tasks", 0, at)
    assert metrics.AUDIT_VERIFY_SUCCESS.labels("tasks")._value.get() == 1
