"""Backbone benchmark: the outbox relay and the SQL inbox beside raw aiokafka baselines.

    make bench-backbone
    uv run python -m bench.backbone [--events 20000] [--repeat 3] [--profile relay|consumer]

Brings up a private Kafka + PostgreSQL (free ports, a temporary directory) unless
`--kafka HOST:PORT --database postgresql://…/db` name running ones. Measures, in one run:

- relay: events/s from a PostgreSQL event store to Kafka (OutboxRelay: read the log,
  translate, envelope, publish with acks=all and idempotence, record the position), beside a
  raw aiokafka producer sending the same records, already encoded, in batches of the same
  size (`send` per record, awaiting each batch; the baseline of the target), and, for
  information, the same records through aiokafka's batch API as the relay itself uses;
- consumer: events/s from Kafka into PostgreSQL with inbox tracking (FastStream batch
  subscriber + SqlInbox: decode and validate, inbox rows, effect rows, positions, commit),
  beside a raw aiokafka consumer doing one batched insert of the same effect rows per batch.

Each run measures the four in turn, so a run's two ratios compare figures taken moments
apart (the build machines are shared and their load moves): the ratios reported are the
medians of the per-run ratios. Beside events/s, the CPU time this process spent per event
(its own threads included; the broker's and the database's not) shows the client-side cost
with less noise. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dondoc.dev import Stack
from dondoc_platform.inbox import DeadLetters, Delivery, SqlInbox, aiokafka_publisher, subscribe
from dondoc_platform.kafka import ensure_topics, event_topic, make_broker, send_batched
from dondoc_platform.outbox import OutboxRelay
from dondoc_platform.runtime import tune_garbage_collector
from dondoc_platform.settings import KafkaSettings
from dondoc_platform.stores import StoreURL
from tests.backbone import sample_service as svc

TARGET_RATIO = 0.5
BATCH = 1000  # the relay's default batch; the raw producer sends the same batches
MAX_RECORDS = 500  # subscribe()'s default; the raw consumer asks for the same
PARTITIONS = 6
KEYS = 100


@dataclass(frozen=True)
class Run:
    per_second: float  # events per second
    cpu_us: float  # CPU time of this process per event, in microseconds


class Clock:
    """Wall and CPU time of one measured stretch."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def run(self, events: int) -> Run:
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        return Run(events / wall, cpu / events * 1e6)


@dataclass(frozen=True)
class Figure:
    name: str
    runs: list[Run]

    @property
    def median(self) -> float:
        return statistics.median(r.per_second for r in self.runs)

    @property
    def cpu_us(self) -> float:
        return statistics.median(r.cpu_us for r in self.runs)


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


# --------------------------------------------------------------------------- the stack


@contextlib.contextmanager
def infrastructure(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """(Kafka bootstrap, server-level PostgreSQL URL): given, or a private stack's."""
    if args.kafka and args.database:
        yield args.kafka, args.database
        return
    with tempfile.TemporaryDirectory(prefix="dondoc-bench-") as root:
        stack = Stack.private(Path(root), database_url=args.database)
        report = lambda line: print(f"[stack] {line}", file=sys.stderr)  # noqa: E731
        try:
            stack.up(["kafka", "postgres"], report=report)
            yield args.kafka or stack.kafka.address(), stack.postgres.url
        finally:
            stack.discard(report=report)


def fresh_database(server_url: str, name: str) -> str:
    base = server_url.rpartition("/")[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


async def fresh_topic(bootstrap: str, label: str) -> str:
    name = f"bench.{label}.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [event_topic(name, partitions=PARTITIONS)])
    return name


def write_events(store_url: str, events: int) -> None:
    """`events` events over KEYS aggregates, one more event per aggregate per transaction."""
    app = svc.open_app(store_url)
    try:
        tracked = [svc.Tracked(unit=f"U{i}") for i in range(KEYS)]
        app.save(*tracked)
        for n in range(1, events // KEYS):
            for t in tracked:
                t.note(f"ghi chú {n}: tiến độ thực hiện")
            app.save(*tracked)
    finally:
        app.close()


# --------------------------------------------------------------------------- relay


PRODUCER = {"acks": "all", "enable_idempotence": True, "linger_ms": 2,
            "max_batch_size": 256 * 1024}


async def relay_run(store_url: str, bootstrap: str, topic: str, events: int) -> Run:
    app = svc.open_app(store_url)
    relay = OutboxRelay(app, service="tasks", translate=svc.translate, bootstrap=bootstrap,
                        name=f"bench-{uuid.uuid4().hex[:8]}", batch_size=BATCH,
                        producer_options=PRODUCER, route=lambda _: topic)
    stop = asyncio.Event()
    try:
        async with relay:
            clock = Clock()
            running = asyncio.ensure_future(relay.run(stop))
            async with asyncio.timeout(300):
                while relay.recorded_position < events and not running.done():
                    await asyncio.sleep(0.002)
            measured = clock.run(events)
            stop.set()
            await running
    finally:
        app.close()
    return measured


async def raw_produce_run(bootstrap: str, topic: str, records: Sequence[Record], *,
                          batched: bool = False) -> Run:
    """The records, already encoded, in batches of BATCH: `send()` per record, awaiting each
    batch (the target's baseline), or, `batched`, through aiokafka's batch API as the relay
    sends them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER)
    await producer.start()
    try:
        clock = Clock()
        for first in range(0, len(records), BATCH):
            chunk = records[first:first + BATCH]
            if batched:
                _, acks = await send_batched(
                    producer, ((topic, r.key, r.value, r.headers) for r in chunk))
            else:
                acks = asyncio.gather(*[
                    await producer.send(topic, value=r.value, key=r.key, headers=r.headers)
                    for r in chunk])
            await acks
        measured = clock.run(len(records))
    finally:
        await producer.stop()
    return measured


async def read_back(bootstrap: str, topic: str, expected: int) -> list[Record]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[Record] = []
    try:
        async with asyncio.timeout(120):
            while len(found) < expected:
                for batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                    found.extend(Record(r.key, r.value, list(r.headers)) for r in batch)
    finally:
        await consumer.stop()
    return found


# --------------------------------------------------------------------------- consumer


effects_metadata = sa.MetaData()
effects = sa.Table(
    "bench_effects", effects_metadata,
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("task_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
RAW_TABLE = "raw_effects"


def apply_effects(conn: sa.Connection, deliveries: Sequence[Delivery]) -> None:
    conn.execute(effects.insert(), [
        {"event_id": d.event_id, "task_id": d.event.task_id, "version": int(d.event.progress)}
        for d in deliveries
    ])


class Timed:
    """An inbox seen from outside: when its first batch came and when `expected` were done."""

    def __init__(self, inner: SqlInbox, expected: int) -> None:
        self.inner = inner
        self.expected = expected
        self.handled = 0
        self.clock: Clock | None = None
        self.done = asyncio.Event()
        self.measured: Run | None = None

    async def handle(self, records: Sequence) -> None:
        self.clock = self.clock or Clock()
        await self.inner.handle(records)
        self.handled += len(records)
        if self.handled >= self.expected and self.measured is None:
            self.measured = self.clock.run(self.handled)
            self.done.set()


async def inbox_run(bootstrap: str, effects_url: str, topic: str, events: int) -> Run:
    engine = sa.create_engine(StoreURL.parse(effects_url).sqlalchemy_url())
    name = f"bench-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    inbox = SqlInbox(engine, effects_metadata, consumer=name, apply=apply_effects,
                     dead_letters=DeadLetters(aiokafka_publisher(producer), name))
    effects_metadata.create_all(engine)
    timed = Timed(inbox, events)
    broker = make_broker(KafkaSettings(bootstrap=bootstrap))
    subscribe(broker, [topic], group_id=name, inbox=timed, max_records=MAX_RECORDS)
    try:
        async with broker:
            await broker.start()
            async with asyncio.timeout(300):
                await timed.done.wait()
    finally:
        await producer.stop()
        engine.dispose()
    assert timed.measured is not None
    return timed.measured


async def raw_consume_run(bootstrap: str, effects_url: str, topic: str, events: int) -> Run:
    """aiokafka getmany + one batched INSERT of the same effect rows + offset commit."""
    with psycopg.connect(effects_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {RAW_TABLE} (event_id varchar(64) NOT NULL, "
                     "task_id varchar(64) NOT NULL, version integer NOT NULL)")
    db = await psycopg.AsyncConnection.connect(effects_url)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                group_id=f"raw-{uuid.uuid4().hex[:8]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    handled, clock = 0, None
    try:
        async with asyncio.timeout(300):
            while handled < events:
                batches = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
                if not batches:
                    continue
                clock = clock or Clock()
                rows = []
                for records in batches.values():
                    for r in records:
                        headers = dict(r.headers)
                        rows.append((headers["ce_id"].decode(), r.key.decode(),
                                     int(json.loads(r.value)["progress"])))
                async with db.cursor() as cur:
                    await cur.executemany(
                        f"INSERT INTO {RAW_TABLE} (event_id, task_id, version) "
                        "VALUES (%s, %s, %s)", rows)
                await db.commit()
                handled += len(rows)
                if handled < events:
                    await consumer.commit()
            assert clock is not None
            measured = clock.run(handled)
    finally:
        await consumer.stop()
        await db.close()
    return measured


# --------------------------------------------------------------------------- the run


async def measure(args: argparse.Namespace, bootstrap: str, server_url: str) -> dict:
    store_url = fresh_database(server_url, "bench_backbone_store")
    effects_url = fresh_database(server_url, "bench_backbone_effects")
    print(f"writing {args.events} events to the store…", file=sys.stderr)
    await asyncio.to_thread(write_events, store_url, args.events)

    # a first relay run warms up, and leaves the topic the consumers read and the encoded
    # records the raw producer sends
    source = await fresh_topic(bootstrap, "source")
    await relay_run(store_url, bootstrap, source, args.events)
    records = await read_back(bootstrap, source, args.events)
    # as `dondoc serve` does once a service is built: the measured code and the baselines
    # all run in this process with its collector set up so (the start-up heap, and the
    # records kept for the raw producer, frozen)
    if not args.default_gc:
        tune_garbage_collector()

    relay, produce, batched, inbox, consume = (Figure(n, []) for n in (
        "relay", "raw produce", "raw produce, send_batch", "SqlInbox", "raw consume"))
    topics = [[await fresh_topic(bootstrap, label) for label in ("relay", "raw", "batched")]
              for _ in range(args.repeat)]
    for run in range(args.repeat):
        print(f"run {run + 1} of {args.repeat}…", file=sys.stderr)
        relay_topic, raw_topic, batched_topic = topics[run]
        relay.runs.append(await relay_run(store_url, bootstrap, relay_topic, args.events))
        produce.runs.append(await raw_produce_run(bootstrap, raw_topic, records))
        batched.runs.append(await raw_produce_run(bootstrap, batched_topic, records,
                                                  batched=True))
        inbox.runs.append(await inbox_run(bootstrap, effects_url, source, args.events))
        consume.runs.append(await raw_consume_run(bootstrap, effects_url, source, args.events))
    if args.profile:
        await profile(args.profile, store_url, effects_url, bootstrap, source, args.events)
    return {
        "events": args.events, "repeat": args.repeat, "machine": machine(server_url),
        "garbage collector": "interpreter defaults" if args.default_gc else "as dondoc serve sets it",
        "figures": [asdict(f) | {"median": f.median, "cpu_us": f.cpu_us}
                    for f in (relay, produce, batched, inbox, consume)],
        "ratios": {"relay / raw produce": paired_ratio(relay, produce),
                   "SqlInbox / raw consume": paired_ratio(inbox, consume)},
        "informational": {"relay / raw produce, send_batch": paired_ratio(relay, batched)},
    }


def paired_ratio(measured: Figure, baseline: Figure) -> float:
    return statistics.median(m.per_second / b.per_second
                             for m, b in zip(measured.runs, baseline.runs, strict=True))


async def profile(what: str, store_url: str, effects_url: str, bootstrap: str, source: str,
                  events: int) -> None:
    runs: dict[str, Callable[[], Awaitable[Run]]] = {
        "relay": lambda: relay_run(store_url, bootstrap, source, events),
        "consumer": lambda: inbox_run(bootstrap, effects_url, source, events),
    }
    profiler = cProfile.Profile()
    profiler.enable()
    await runs[what]()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
    print(out.getvalue(), file=sys.stderr)


def machine(server_url: str) -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, IndexError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    with psycopg.connect(server_url) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    from dondoc.dev.kafka import KAFKA_VERSION

    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": memory,
            "python": platform.python_version(), "kafka": KAFKA_VERSION,
            "postgresql": str(postgres), "os": platform.platform()}


def render(result: dict) -> str:
    lines = [f"events per run: {result['events']}, runs: {result['repeat']}",
             "machine: " + ", ".join(f"{k} {v}" for k, v in result["machine"].items()),
             f"garbage collector: {result['garbage collector']}", "",
             "| figure | median events/s | CPU µs/event (median) | runs (events/s) |",
             "|---|---:|---:|---|"]
    for f in result["figures"]:
        lines.append(f"| {f['name']} | {f['median']:,.0f} | {f['cpu_us']:.0f} | "
                     + ", ".join(f"{r['per_second']:,.0f}" for r in f["runs"]) + " |")
    lines += ["", "| ratio (median of the runs' ratios) | value | target |", "|---|---:|---|"]
    for name, value in result["ratios"].items():
        verdict = "met" if value >= TARGET_RATIO else "MISSED"
        lines.append(f"| {name} | {value:.2f} | ≥ {TARGET_RATIO} ({verdict}) |")
    for name, value in result["informational"].items():
        lines.append(f"| {name} | {value:.2f} | (no target: the baseline uses the relay's batching) |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.backbone", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kafka", help="bootstrap of a running broker (else a private stack)")
    parser.add_argument("--database", help="server-level PostgreSQL URL of a running server")
    parser.add_argument("--profile", choices=["relay", "consumer"],
                        help="also run one cProfile'd pass and print the top functions")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--default-gc", action="store_true",
                        help="keep the interpreter's garbage collector settings instead of "
                             "those `dondoc serve` sets (tune_garbage_collector), to compare")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with infrastructure(args) as (bootstrap, server_url):
        result = asyncio.run(measure(args, bootstrap, server_url))
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
