"""The reports the office is waiting for, for Prometheus, read from the reports view when it
is scraped: per unit and review group, reports not submitted yet whose due day has not
passed (`pending`) and those whose due day has passed (`missing`), as metrics.md defines
them, as of the service clock's local day. Labels are units and review groups, never ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from dondoc_platform.calendar import local_day
from dondoc_platform.clock import Clock
from dondoc_reports.projections.views import reports

NO_GROUP = "none"


def awaited_reports(engine: sa.Engine, clock: Clock) -> Iterator[Metric]:
    today = local_day(clock.now())
    query = (sa.select(reports.c.unit_id, reports.c.review_group, reports.c.due_on,
                       sa.func.count())
             .where(reports.c.first_submitted_on.is_(None))
             .group_by(reports.c.unit_id, reports.c.review_group, reports.c.due_on))
    awaited: Counter[tuple[str, str, str]] = Counter()
    with engine.connect() as conn:
        for unit, group, due_on, count in conn.execute(query):
            state = "missing" if today > due_on else "pending"
            awaited[(state, unit, group or NO_GROUP)] += count
    family = GaugeMetricFamily(
        "dondoc_reports_awaited_reports",
        "Reports not submitted yet, by state (pending: due day not passed; missing: passed), "
        "unit and review group", labels=["state", "unit", "review_group"])
    for labels, count in sorted(awaited.items()):
        family.add_metric(list(labels), count)
    return iter((family,))
