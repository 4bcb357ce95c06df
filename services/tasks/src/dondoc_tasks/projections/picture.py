"""The office's live picture for Prometheus, read from the task board when it is scraped.

Open tasks by status (metrics.md's open statuses, as of the service clock's local day),
overdue tasks by ageing bucket (1–30, 31–90, 91–120, >120 days past the effective
deadline), each by lead unit and review group, and key tasks by status. Labels are units
and review groups, never task ids: the number of series stays that of the office's units.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from dondoc_platform.calendar import local_day
from dondoc_platform.clock import Clock
from dondoc_tasks.domain.status import TaskStatus
from dondoc_tasks.projections.board import tasks as board

NO_GROUP = "none"

#: (label, first day, last day) past the effective deadline; metrics.md's ageing.
AGEING = (("1-30", 1, 30), ("31-90", 31, 90), ("91-120", 91, 120), ("over-120", 121, None))


def ageing_bucket(days_overdue: int) -> str:
    for label, first, last in AGEING:
        if days_overdue >= first and (last is None or days_overdue <= last):
            return label
    raise ValueError(f"a task overdue by {days_overdue} days has no ageing bucket")


def open_status(due_on: date | None, today: date) -> TaskStatus:
    if due_on is None:
        return TaskStatus.OPEN_NO_DEADLINE
    return TaskStatus.OPEN_OVERDUE if today > due_on else TaskStatus.OPEN_IN_TIME


def office_picture(engine: sa.Engine, clock: Clock) -> Iterator[Metric]:
    today = local_day(clock.now())
    query = (sa.select(board.c.lead_unit_id, board.c.review_group, board.c.due_on,
                       board.c.key_task, sa.func.count())
             .where(board.c.state == "open")
             .group_by(board.c.lead_unit_id, board.c.review_group, board.c.due_on,
                       board.c.key_task))
    by_status: Counter[tuple[str, str, str]] = Counter()
    by_ageing: Counter[tuple[str, str, str]] = Counter()
    key_tasks: Counter[str] = Counter()
    with engine.connect() as conn:
        for unit, group, due_on, key_task, count in conn.execute(query):
            group = group or NO_GROUP
            status = open_status(due_on, today)
            by_status[(status.value, unit, group)] += count
            if key_task:
                key_tasks[status.value] += count
            if status is TaskStatus.OPEN_OVERDUE:
                by_ageing[(ageing_bucket((today - due_on).days), unit, group)] += count
    open_tasks = GaugeMetricFamily(
        "dondoc_tasks_open_tasks",
        "Open tasks (not completed nor withdrawn) by status as of today, lead unit and review group",
        labels=["status", "lead_unit", "review_group"])
    for labels, count in sorted(by_status.items()):
        open_tasks.add_metric(list(labels), count)
    overdue = GaugeMetricFamily(
        "dondoc_tasks_overdue_tasks",
        "Open overdue tasks by days past the effective deadline (1-30, 31-90, 91-120, over-120), "
        "lead unit and review group", labels=["ageing", "lead_unit", "review_group"])
    for labels, count in sorted(by_ageing.items()):
        overdue.add_metric(list(labels), count)
    key = GaugeMetricFamily("dondoc_tasks_open_key_tasks",
                            "Open key tasks (nhiệm vụ trọng tâm) by status as of today",
                            labels=["status"])
    for status_value, count in sorted(key_tasks.items()):
        key.add_metric([status_value], count)
    return iter((open_tasks, overdue, key))
