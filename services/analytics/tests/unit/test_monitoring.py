"""What the analytics worker reports of a verification: per audited log and for the read
models, clean (1) or not (0) with the number of findings; every log gets a figure."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dondoc_analytics.application.audit import Finding
from dondoc_analytics.application.monitoring import record_verification
from dondoc_platform import metrics

pytestmark = pytest.mark.unit

AT = datetime(2019, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def figures(service: str) -> tuple[float, float, float]:
    return (metrics.AUDIT_VERIFY_SUCCESS.labels(service)._value.get(),
            metrics.AUDIT_VERIFY_PROBLEMS.labels(service)._value.get(),
            metrics.AUDIT_VERIFY_TIMESTAMP.labels(service)._value.get())


def test_findings_count_against_their_log_and_the_read_models() -> None:
    findings = [Finding("tasks", 17, "altered", "a byte changed"),
                Finding("tasks", 18, "reordered", "swapped"),
                Finding("analytics_tasks", None, "projection_differs", "row t1 differs")]
    record_verification(findings, ["directives", "tasks"], projections=True, at=AT)
    assert figures("tasks") == (0, 2, AT.timestamp())
    assert figures("directives") == (1, 0, AT.timestamp())
    assert figures("analytics") == (0, 1, AT.timestamp())


def test_a_clean_verification_clears_the_figures() -> None:
    record_verification([Finding("reports", 3, "removed", "gone")], ["reports"],
                        projections=False, at=AT)
    assert figures("reports")[:2] == (0, 1)
    record_verification([], ["reports"], projections=False, at=AT)
    assert figures("reports")[:2] == (1, 0)
