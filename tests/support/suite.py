"""The directives, tasks and reports services as real processes (`dondoc serve <service>
--role all`, as `dondoc dev up services` starts them) on free ports, fresh SQLite stores and
topics of their own on the test run's Kafka broker; and what a test reads of them: when
everything has settled, and a snapshot of their state by natural keys (ids differ between
two suites) with the count of every event type on Kafka."""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dondoc.dev.process import ephemeral_ports_start, port_is_free
from dondoc.dev.services import ServiceProcess, service_processes
from dondoc.importer.client import Suite
from dondoc_platform.auth import DevSigner

NAMES = ["directives", "tasks", "reports"]


def free_base_port(count: int = len(NAMES)) -> int:
    """A base for `count` consecutive free ports below the kernel's ephemeral range: the tests
    restart services on their port, and an outgoing connection could borrow an ephemeral one
    while a service is down."""
    top = max(20_000 + count, ephemeral_ports_start() - count)
    while True:
        base = random.randint(20_000, top)
        if all(port_is_free(base + i) for i in range(count)):
            return base


@dataclass
class RunningSuite:
    home: Path
    kafka_bootstrap: str
    prefix: str
    processes: list[ServiceProcess]
    signer: DevSigner

    @property
    def urls(self) -> dict[str, str]:
        return {p.name: p.url for p in self.processes}

    def office_token(self) -> str:
        return self.signer.token(subject="vptu.nhaplieu", roles=["office"], name="Nhập liệu")

    def client(self) -> Suite:
        return Suite(self.urls, self.office_token())

    def env(self) -> dict[str, str]:
        """What `dondoc import` needs to reach this suite."""
        env = {f"DONDOC_{name.upper()}_URL": url for name, url in self.urls.items()}
        env["DONDOC_TOKEN"] = self.office_token()
        return env

    @property
    def topics(self) -> list[str]:
        return [f"{self.prefix}dondoc.{name}.v1" for name in NAMES]


@contextmanager
def running_suite(home: Path, kafka_bootstrap: str, *, hold_seconds: float = 600.0) -> Iterator[RunningSuite]:
    signer = DevSigner(home / "auth" / "jwks.json")
    signer.ensure_key()
    prefix = f"t{uuid.uuid4().hex[:8]}."
    processes = service_processes(home, kafka_bootstrap=kafka_bootstrap, jwks_file=signer.jwks_file,
                                  base_port=free_base_port(), names=NAMES)
    for process in processes:
        process.env.update({"DONDOC_TOPIC_PREFIX": prefix, "DONDOC_WATCHER_POLL_SECONDS": "0.5",
                            "DONDOC_HISTORY_HOLD_SECONDS": str(hold_seconds)})
    started: list[ServiceProcess] = []
    try:
        for process in processes:
            process.start()
            started.append(process)
        yield RunningSuite(home, kafka_bootstrap, prefix, processes, signer)
    finally:
        for process in reversed(started):
            process.stop()


# --------------------------------------------------------------------------- settling


_GAUGE = re.compile(r'^dondoc_outbox_(position|lag_events)\{service="(\w+)"\} ([0-9.e+]+)$', re.M)


def outbox(suite: RunningSuite) -> dict[str, tuple[float, float]]:
    """(position, lag) of each service's outbox relay, from its /metrics."""
    out = {}
    for process in suite.processes:
        text = httpx.get(f"{process.url}/metrics", timeout=10).text
        values = {kind: float(value) for kind, service, value in _GAUGE.findall(text)
                  if service == process.name}
        out[process.name] = (values.get("position", -1.0), values.get("lag_events", -1.0))
    return out


async def _partitions(suite: RunningSuite) -> list[Any]:
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=suite.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(suite.topics)
    finally:
        await admin.close()
    return [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]


#: consumer group → the services whose topics it reads
CONSUMED = {"dondoc-tasks": ("directives", "reports"), "dondoc-reports-directory": ("directives", "tasks")}


async def _consumer_lag(suite: RunningSuite) -> int:
    """Records on the suite's topics that its consumer groups have not committed yet."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=suite.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=suite.kafka_bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        partitions = await _partitions(suite)
        ends = await consumer.end_offsets(partitions)
        lag = 0
        for group, services in CONSUMED.items():
            committed = await admin.list_consumer_group_offsets(suite.prefix + group)
            read = {f"{suite.prefix}dondoc.{name}.v1" for name in services}
            for tp in (tp for tp in partitions if tp.topic in read):
                meta = committed.get(tp)
                lag += max(0, ends[tp] - (meta.offset if meta is not None else 0))
        return lag
    finally:
        await consumer.stop()
        await admin.close()


def settled(suite: RunningSuite) -> bool:
    """Every relay has published all it recorded and every consumer has read all there is,
    twice in a row with nothing moving in between."""
    first = outbox(suite)
    if any(lag != 0 for _, lag in first.values()):
        return False
    if asyncio.run(_consumer_lag(suite)) != 0:
        return False
    return outbox(suite) == first


# --------------------------------------------------------------------------- snapshots


async def _event_counts(suite: RunningSuite) -> Counter:
    from aiokafka import AIOKafkaConsumer

    from dondoc_contracts import decode

    counts: Counter = Counter()
    seen: set[str] = set()
    consumer = AIOKafkaConsumer(bootstrap_servers=suite.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(suite)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        left = {tp for tp, end in ends.items() if end > 0}
        while left:
            for tp, records in (await consumer.getmany(*left, timeout_ms=500)).items():
                for record in records:
                    envelope, event = decode(record.headers, record.value)
                    if envelope.id not in seen:  # a relay may publish a batch twice; consumers dedupe by id
                        seen.add(envelope.id)
                        counts[type(event).__name__] += 1
                if records and records[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
    finally:
        await consumer.stop()
    return counts


def event_counts(suite: RunningSuite) -> Counter:
    return asyncio.run(_event_counts(suite))


def snapshot(suite: RunningSuite, *, with_overdue: bool = True) -> dict[str, Any]:
    """The suite's state by natural keys: what the query APIs return, ids replaced by the
    document number, year and item (tasks) or the period and unit (reports)."""
    with suite.client() as api:
        units = sorted((u["unit_id"], u["code"], u["name"], u["review_group"], u["parent_unit_id"],
                        tuple(u["emails"])) for u in api.get_all("directives", "/units"))
        directives = {}
        for d in api.get_all("directives", "/directives"):
            items = sorted((i["item_id"], i["paragraph"], i["text"], i["lead_unit_id"],
                            tuple(i["cooperating_unit_ids"]), i["deadline"].get("due_on"),
                            i["domain"], i["review_group"], i["key_task"]) for i in d["items"])
            directives[(d["number"], d["issued_on"])] = (d["kind"], d["issuing_body"], d["summary"],
                                                         d["status"], items)
        tasks, names = {}, {}
        for t in api.get_all("tasks", "/tasks"):
            name = (t["directive_number"], t["assigned_on"][:4], t["item_id"])
            names[t["task_id"]] = name
            progress = t["last_progress"] or {}
            tasks[name] = (t["lead_unit_id"], t["state"], t["assigned_on"], t["due_on"],
                           t["original_due_on"], t["completed_on"], t["withdrawn_on"], t["key_task"],
                           tuple((a["kind"], a["due_on"], a["decision"]["number"],
                                  a["decision"]["decided_on"]) for a in t["adjustments"]),
                           (progress.get("status_claimed"), progress.get("recorded_on")),
                           tuple(t["overdue_for"]) if with_overdue else ())
        reports = {}
        for cycle in api.get_all("reports", "/cycles"):
            for o in api.get("reports", f"/cycles/{cycle['cycle_id']}")["obligations"]:
                detail = api.get("reports", f"/reports/{o['report_id']}")
                lines = tuple(tuple((names.get(line["task_id"]), line["status_claimed"],
                                     line["completed_on"], line["delay_reason"]) for line in s["lines"])
                              for s in detail["submissions"])
                reports[(cycle["period"]["label"], cycle["due_on"], o["unit_id"])] = (
                    cycle["status"], cycle["overdue_decided_at_close"], o["data_cutoff_on"],
                    tuple(sorted(names.get(t, t) for t in o["task_ids"])), o["status"],
                    o["first_submitted_on"], o["on_time"], o["overdue_at"], lines)
    counts = event_counts(suite)
    if not with_overdue:
        counts.pop("TaskOverdue", None)
    return {"units": units, "directives": directives, "tasks": tasks, "reports": reports,
            "events": dict(counts)}
