"""Closing a year: wait until the read models hold every event published before the
close, then freeze the year's figures with the positions they include."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from dondoc_analytics.adapters.kafka import recorded_positions
from dondoc_analytics.domain.timeliness import AsOf, end_of_year
from dondoc_analytics.projections import frozen
from dondoc_analytics.projections import generations as gens


class YearNotOver(ValueError):
    pass


class NotCaughtUp(TimeoutError):
    pass


async def close_year(parts: Any, year: int, *, closed_by: str, as_of: datetime | None = None,
                     timeout: float | None = None) -> dict[str, Any]:
    now = parts.clock.now()
    moment = AsOf(as_of or end_of_year(year))
    if moment.moment > now:
        raise YearNotOver(f"{year} is not over at {moment.local().isoformat()}")
    if not await parts.projection.wait_caught_up(timeout or parts.settings.wait_timeout_seconds):
        raise NotCaughtUp("the read models did not catch up with the published events in time")
    signer = parts.signer()

    def sign(digest: str) -> tuple[str, str]:
        assert signer is not None
        return signer.key_id, signer.sign(f"dondoc period {year} {digest}".encode())

    with parts.engine.begin() as conn:
        generation = gens.active_generation(conn)
        gens.hold_generation(conn, generation)
        positions = {frozen.positions_key(tp.topic, tp.partition): offset for tp, offset in
                     recorded_positions(conn, gens.consumer_name(generation)).items()}
        closed = frozen.close(conn, year, moment, closed_by=closed_by, closed_at=now,
                              positions=positions, sign=sign if signer else None)
    closed["positions"] = json.loads(json.dumps(positions))
    return closed
