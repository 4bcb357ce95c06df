"""What the analytics worker tells Prometheus besides the shared figures: how far the read
models are behind the topics (their positions live in the database, not in a consumer
group), and the result of an `audit verify` it runs every `audit_verify_interval_seconds`
(the gauges of dondoc_platform.metrics the Audit dashboard and the alert rules read)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from dondoc_platform import metrics
from dondoc_platform.consumer_lag import ConsumerLagMonitor

log = logging.getLogger(__name__)

#: The read models' findings (a table that differs from a replay) are the analytics
#: service's own; every other finding names the audited service.
READ_MODELS = "analytics"


def lag_monitor(parts: Any) -> ConsumerLagMonitor:
    """The lag of the active generation's consumer, under a name that survives rebuilds."""
    name = f"{parts.settings.topic_prefix}dondoc-analytics"

    def next_offsets() -> Mapping[tuple[str, int], int]:
        applied = parts.projection.positions(parts.projection.active())
        return {(tp.topic, tp.partition): offset + 1 for tp, offset in applied.items()}

    return ConsumerLagMonitor(parts.bootstrap, {name: parts.topics}, positions={name: next_offsets})


def record_verification(findings: Iterable[Any], services: Iterable[str], *, projections: bool,
                        at: datetime) -> None:
    """One verification's outcome per audited log (and the read models when replayed)."""
    audited = [*services, *([READ_MODELS] if projections else [])]
    counts = dict.fromkeys(audited, 0)
    for finding in findings:
        service = finding.service if finding.service in counts else READ_MODELS
        counts[service] = counts.get(service, 0) + 1
    for service, problems in counts.items():
        metrics.verification_finished(service, problems, at)


class Verifier:
    """Runs the auditor's full verification at start and every interval, never two at once."""

    def __init__(self, parts: Any) -> None:
        self.parts = parts
        self.interval = parts.settings.audit_verify_interval_seconds

    async def verify_once(self) -> Any:
        from dondoc_analytics.application.audit import Auditor

        report = await Auditor(self.parts, self.parts.trusted_keys()).verify()
        record_verification(report.findings, self.parts.settings.audit_store_urls(),
                            projections=True, at=datetime.now(timezone.utc))
        for finding in report.findings:
            log.error("audit verify: %s", finding)
        return report

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.verify_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a store away: the next round tries again
                log.exception("audit verify could not run; trying again in %.0f s", self.interval)
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except TimeoutError:
                pass
