"""Producing the domain services' contract events onto the real broker, as they would.

Each test gets its own topics (a prefix) and database. `Publisher` numbers each service's
events like its log would (ce_sequence) and sends them with the real envelope
(`dondoc_contracts.envelope_for` / `encode`). The small constructors build the events a
history is made of, with business times in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from dondoc_contracts import (
    Actor,
    ContractEvent,
    Role,
    SYSTEM_ACTOR,
    encode,
    envelope_for,
)
from dondoc_contracts import events as ev
from dondoc_contracts.values import (
    AdjustmentKind,
    DeadlineKind,
    DeadlineRule,
    Decision,
    DirectiveKind,
    LineAssessment,
    Period,
    PeriodKind,
    Quality,
    ReportLine,
    ClaimedStatus,
    Verdict,
)
from dondoc_platform.clock import VN_TZ
from dondoc_platform.kafka import ensure_topics

from dondoc_analytics.adapters.kafka import service_topics, topic_specs

OFFICE = Actor(id="vptu.nguyenvana", role=Role.OFFICE, name="Nguyễn Văn A", unit_id="VPTU")


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=VN_TZ)


def new_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


async def create_topics(bootstrap: str, prefix: str, partitions: int = 3) -> None:
    await ensure_topics(bootstrap, topic_specs(prefix, partitions))


class Publisher:
    """Sends contract events as the producing services' relays would."""

    def __init__(self, bootstrap: str, prefix: str,
                 positions: dict[str, itertools.count] | None = None) -> None:
        self.bootstrap = bootstrap
        self.topics = service_topics(prefix)
        # a log's positions go on across publishers (they make the events' ids)
        self.positions = positions if positions is not None else {}
        for service in self.topics:
            self.positions.setdefault(service, itertools.count(1))
        self.producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> Publisher:
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                         enable_idempotence=True, linger_ms=2)
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.producer is not None
        await self.producer.stop()

    async def publish(self, events: Iterable[ContractEvent]) -> None:
        assert self.producer is not None
        futures = []
        for event in events:
            position = next(self.positions[event.service])
            # a relay sends the log position and the audit hash there (a stand-in: no store)
            envelope = envelope_for(event, position=position, audit_hash=hashlib.sha256(
                f"{event.service}:{position}".encode()).hexdigest())
            key, value, headers = encode(event, envelope)
            futures.append(await self.producer.send(self.topics[event.service], value=value,
                                                    key=key, headers=headers))
        for future in futures:
            await future


def read_engine(url: str) -> sa.Engine:
    from dondoc_analytics.bootstrap import engine_for

    return engine_for(url)


# --------------------------------------------------------------------------- the events


def unit(unit_id: str, name: str, review_group: str | None = None,
         day: date = date(2015, 1, 5)) -> ev.UnitRegistered:
    return ev.UnitRegistered(occurred_at=at(day), actor=OFFICE, unit_id=unit_id, code=unit_id,
                             name=name, review_group=review_group)


def renamed(unit_id: str, name: str, previous: str, day: date) -> ev.UnitChanged:
    return ev.UnitChanged(occurred_at=at(day), actor=OFFICE, unit_id=unit_id, code=unit_id,
                          name=name, previous_name=previous)


def assigned(task_id: str, lead: str, on: date, due: date | None = None, *,
             original_due: date | None = None, review_group: str | None = "Kinh tế - xã hội",
             domain: str | None = "Kinh tế", issuing_body: str = "BTV", key_task: bool = False,
             directive: str = "125-TB/TU", secrecy: str = "thuong",
             content: str = "Đẩy nhanh thu hồi đất Khu kinh tế Đông Nam") -> ev.TaskAssigned:
    rule = (DeadlineRule(kind=DeadlineKind.DATE, due_on=due) if due
            else DeadlineRule(kind=DeadlineKind.NONE))
    return ev.TaskAssigned(
        occurred_at=at(on), actor=OFFICE, task_id=task_id, directive_id=f"d-{directive}",
        directive_number=directive, directive_kind=DirectiveKind.THONG_BAO_KET_LUAN,
        issuing_body=issuing_body, item_id=task_id[-8:], paragraph="1", content=content,
        lead_unit_id=lead, assigned_on=on, deadline_rule=rule, due_on=due,
        original_due_on=original_due if original_due is not None else due, domain=domain,
        review_group=review_group, key_task=key_task, secrecy=secrecy)


def completed(task_id: str, lead: str, on: date, *, confirmed: date | None = None) -> ev.TaskCompleted:
    return ev.TaskCompleted(occurred_at=at(confirmed or on, 15), actor=OFFICE, task_id=task_id,
                            lead_unit_id=lead, completed_on=on)


def adjusted(task_id: str, lead: str, decided: date, due: date | None,
             previous: date | None = None) -> ev.TaskDeadlineAdjusted:
    return ev.TaskDeadlineAdjusted(
        occurred_at=at(decided, 10), actor=OFFICE, task_id=task_id, lead_unit_id=lead,
        kind=AdjustmentKind.EXTEND, previous_due_on=previous, due_on=due,
        decision=Decision(number=f"{decided:%m%d}-CV/TU", decided_on=decided,
                          decider="Thường trực Tỉnh ủy"))


def withdrawn(task_id: str, lead: str, on: date) -> ev.TaskWithdrawn:
    return ev.TaskWithdrawn(occurred_at=at(on, 11), actor=OFFICE, task_id=task_id,
                            lead_unit_id=lead, withdrawn_on=on, reason="Không còn phù hợp")


def reassigned(task_id: str, previous: str, lead: str, on: date,
               cooperating: Sequence[str] = ()) -> ev.TaskReassigned:
    """A reassignment; `cooperating`: the cooperating units after it (the whole list)."""
    return ev.TaskReassigned(occurred_at=at(on, 14), actor=OFFICE, task_id=task_id,
                             previous_lead_unit_id=previous, lead_unit_id=lead,
                             cooperating_unit_ids=tuple(cooperating), reassigned_on=on)


def overdue(task_id: str, lead: str, due: date) -> ev.TaskOverdue:
    moment = datetime.combine(due + timedelta(days=1), time(0), tzinfo=VN_TZ)
    return ev.TaskOverdue(occurred_at=moment, actor=SYSTEM_ACTOR, task_id=task_id,
                          lead_unit_id=lead, due_on=due, overdue_at=moment)


def progress(task_id: str, unit_id: str, on: date, text: str) -> ev.TaskProgressRecorded:
    return ev.TaskProgressRecorded(occurred_at=at(on, 16), actor=OFFICE, task_id=task_id,
                                   unit_id=unit_id, status_claimed=ClaimedStatus.IN_PROGRESS,
                                   progress=text, recorded_on=on)


def requested(report_id: str, unit_id: str, due: date, *, on: date | None = None,
              year: int | None = None, task_ids: Sequence[str] = ()) -> ev.ReportRequested:
    year = year or due.year
    asked = on or due - timedelta(days=30)
    return ev.ReportRequested(
        occurred_at=at(asked), actor=OFFICE, report_id=report_id, cycle_id=f"c-{year}",
        unit_id=unit_id, period=Period(kind=PeriodKind.YEAR, label=str(year),
                                       starts_on=date(year, 1, 1), ends_on=date(year, 12, 31)),
        data_cutoff_on=due - timedelta(days=15), due_on=due, task_ids=tuple(task_ids))


def submitted(report_id: str, unit_id: str, on: date, revision: int = 1, *,
              year: int = 2018, task_ids: Sequence[str] = ()) -> ev.ReportSubmitted:
    return ev.ReportSubmitted(
        occurred_at=at(on, 15), actor=OFFICE, report_id=report_id, cycle_id=f"c-{year}",
        unit_id=unit_id, submitted_on=on, revision=revision,
        lines=tuple(ReportLine(task_id=t, status_claimed=ClaimedStatus.IN_PROGRESS,
                               progress="Đang triển khai") for t in task_ids))


def reviewed(report_id: str, unit_id: str, on: date, outcome: Verdict, revision: int = 1, *,
             year: int = 2018, qualities: Sequence[str] = ()) -> ev.ReportReviewed:
    """A review; `qualities`: the quality judged on each line (specific / generic)."""
    lines = tuple(LineAssessment(task_id=f"{report_id}-line{i}", verdict=outcome, quality=Quality(q))
                  for i, q in enumerate(qualities))
    return ev.ReportReviewed(
        occurred_at=at(on, 10), actor=OFFICE, report_id=report_id, cycle_id=f"c-{year}",
        unit_id=unit_id, revision=revision, outcome=outcome, reviewed_on=on, lines=lines)


_PG_SHAPE = """
SELECT c.relname, c.relpersistence, c.reloptions, a.attname, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attcollation::regcollation::text,
       a.attstorage
FROM pg_class AS c JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef AS d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relname LIKE %(pattern)s AND c.relkind = 'r' ORDER BY c.relname, a.attnum
"""
_PG_INDEXES = """
SELECT c.relname, i.relname, pg_get_indexdef(x.indexrelid), x.indisprimary, i.relpersistence,
       coalesce(k.conname, '')
FROM pg_index AS x JOIN pg_class AS c ON c.oid = x.indrelid JOIN pg_class AS i ON i.oid = x.indexrelid
LEFT JOIN pg_constraint AS k ON k.conindid = x.indexrelid
WHERE c.relname LIKE %(pattern)s ORDER BY c.relname, i.relname
"""


def generation_shape(conn: sa.Connection, generation: int) -> list[tuple]:
    """What a generation's tables are, its name taken out: columns (type, NOT NULL, default,
    collation, storage), keys, indexes, constraints, and on PostgreSQL whether each table and
    index is logged (`relpersistence`) and its storage options. Two generations equal in
    shape are interchangeable behind the views."""
    prefix = f"an{generation}_"

    def bare(value):
        return value.replace(prefix, "an?_") if isinstance(value, str) else value

    if conn.dialect.name == "postgresql":
        pattern = {"pattern": prefix.replace("_", r"\_") + "%"}
        rows = [*conn.exec_driver_sql(_PG_SHAPE, pattern), *conn.exec_driver_sql(_PG_INDEXES, pattern)]
    else:
        rows = []
        for name, sql in conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE name LIKE ? ESCAPE '\\' ORDER BY name",
                (prefix.replace("_", r"\_") + "%",)):
            rows.append((name, " ".join((sql or "").split())))
    return [tuple(bare(v) if not isinstance(v, list) else tuple(v) for v in row) for row in rows]
