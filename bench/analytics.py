"""Analytics at national scale: a deterministic synthetic history, then the figures of
docs/PERFORMANCE.md ("Analytics").

    make bench-analytics                      # ≈ 5.3 million events (scale 1.0)
    uv run python bench/analytics.py --scale 0.05 --out results.json   # a quick look

What it does, in one run on one stack:

1. generates (`dondoc.synthetic`), from a seed, 63 provinces × 40 units × 10 years of work (directives, tasks with
   assignments, progress, adjustments, completions, withdrawals, overdue notices; reports
   with submissions, returns and reviews), and writes each event both to its service's
   event store (PostgreSQL, the recorder's table layout with its hash chain) and to Kafka
   (the real envelope, with `ce_sequence` and `ce_audithash`), as the services' relays do;
2. raw PostgreSQL COPY of the same number of rows (the events, one row each, text format
   prepared in memory beforehand so only the database's ingest is timed), measured again
   right after step 3 (the machine is shared: the ratio is to the mean of both);
3. projection rebuild: `dondoc analytics rebuild`'s code, from Kafka offset 0 into a new
   generation (decode, bulk load, derive, index, catch up, switch), events/s;
4. scorecard query latency: a unit's ten-year view (`unit_years`), p50/p95 over random units;
5. signed checkpoints of the three stores, then `audit verify` (chains, roots, signatures,
   Kafka copies, projection replay and comparison), seconds per million events.

It uses the stack named by DONDOC_BENCH_KAFKA_BOOTSTRAP and DONDOC_BENCH_DATABASE_URL (a
server URL ending in /postgres or any database), or starts a private one. No timed
assertion anywhere: it measures and reports.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dondoc.synthetic import History  # noqa: E402  (the generator: docs/PERFORMANCE.md)

# --------------------------------------------------------------------------- writing it


SERVICES = ("directives", "tasks", "reports")


@dataclass
class Log:
    """One service's log as its store and relay would leave it."""

    service: str
    url: str
    position: int = 0
    chain: bytes = bytes(32)
    versions: dict[str, int] = field(default_factory=dict)
    rows: io.StringIO = field(default_factory=io.StringIO)
    links: io.StringIO = field(default_factory=io.StringIO)
    pending: int = 0


def copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


async def write_history(history: History, logs: dict[str, Log], bootstrap: str,
                        topics: dict[str, str], say) -> int:
    import psycopg
    from aiokafka import AIOKafkaProducer

    from dondoc_contracts import event_id
    from dondoc_platform.audit_chain import canonical_bytes, link

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=1024 * 1024, enable_idempotence=True)
    await producer.start()
    connections = {s: psycopg.connect(log.url) for s, log in logs.items()}
    count = 0
    started = time.perf_counter()

    def flush(log: Log) -> None:
        conn = connections[log.service]
        with conn.cursor() as cur:
            table = "bench_events"
            with cur.copy(f"COPY {table} (originator_id, originator_version, topic, state, "
                          f"notification_id) FROM STDIN") as copy:
                copy.write(log.rows.getvalue())
            with cur.copy(f"COPY {table}_chain (position, previous_position, hash) FROM STDIN") as copy:
                copy.write(log.links.getvalue())
        conn.commit()
        log.rows, log.links, log.pending = io.StringIO(), io.StringIO(), 0

    try:
        for event in history.events():
            log = logs[event.service]
            log.position += 1
            version = log.versions.get(event.aggregate, 0) + 1
            log.versions[event.aggregate] = version
            state = event.payload.encode("utf-8")
            aggregate = event.aggregate if len(event.aggregate) == 36 else str(
                uuid.uuid5(uuid.NAMESPACE_URL, event.aggregate))
            canonical = canonical_bytes(log.position, aggregate, version, event.private_topic, state)
            previous = log.position - 1
            log.chain = link(log.chain, canonical)
            log.rows.write(f"{aggregate}\t{version}\t{event.private_topic}\t\\\\x{state.hex()}\t"
                           f"{log.position}\n")
            log.links.write(f"{log.position}\t{previous}\t\\\\x{log.chain.hex()}\n")
            log.pending += 1
            ident = event_id(event.service, log.position)
            headers = [("ce_specversion", b"1.0"), ("ce_id", ident.encode()),
                       ("ce_type", event.ce_type.encode()),
                       ("ce_source", f"/dondoc/{event.service}".encode()),
                       ("ce_subject", event.subject.encode()),
                       # the payload starts {"occurred_at":"…": the relay's ce_time is that moment
                       ("ce_time", state[16:state.index(b'"', 16)]), ("ce_dataversion", b"1"),
                       ("content-type", b"application/json; charset=utf-8"),
                       ("ce_sequence", str(log.position).encode()),
                       ("ce_correlationid", ident.encode()),
                       ("ce_audithash", log.chain.hex().encode())]
            await producer.send(topics[event.service], value=state, key=event.subject.encode(),
                                headers=headers)
            count += 1
            if log.pending >= 50_000:
                flush(log)
            if count % 500_000 == 0:
                say(f"  {count:,} events written ({count / (time.perf_counter() - started):,.0f}/s)")
        for log in logs.values():
            flush(log)
        await producer.flush()
    finally:
        await producer.stop()
        for conn in connections.values():
            conn.close()
    return count


def prepare_store(url: str) -> None:
    """The store's tables as the chained recorder makes them (via the real recorder)."""
    from eventsourcing.application import Application

    from dondoc_platform.eventstore import store_env

    class Bench(Application):
        name = "Bench"

    Bench(env=store_env(url)).close()


def raw_copy(url: str, history: History, expected: int) -> tuple[int, float]:
    """COPY of the same number of rows, prepared in memory first; only the COPY is timed."""
    import psycopg

    from dondoc_contracts import event_id

    seconds, rows = 0.0, 0
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_events")
        conn.execute("CREATE TABLE bench_raw_events (event_id text, service text, position bigint, "
                     "type text, subject text, payload text)")
        conn.commit()
        positions = dict.fromkeys(SERVICES, 0)
        chunk = io.StringIO()

        def copy(buffer: str) -> None:
            nonlocal seconds
            started = time.perf_counter()
            with conn.cursor() as cur, cur.copy("COPY bench_raw_events FROM STDIN") as c:
                c.write(buffer)
            conn.commit()
            seconds += time.perf_counter() - started

        for event in history.events():
            positions[event.service] += 1
            position = positions[event.service]
            chunk.write(f"{event_id(event.service, position)}\t{event.service}\t{position}\t"
                        f"{event.ce_type}\t{event.subject}\t{copy_text(event.payload)}\n")
            rows += 1
            if rows % 100_000 == 0:
                copy(chunk.getvalue())
                chunk = io.StringIO()
        copy(chunk.getvalue())
        conn.execute("DROP TABLE bench_raw_events")
        conn.commit()
    assert rows == expected, (rows, expected)
    return rows, seconds


# --------------------------------------------------------------------------- the run


def database(server: str, name: str) -> str:
    import psycopg
    from psycopg import sql

    admin = server.rpartition("/")[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.rpartition("/")[0] + "/" + name


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children, living and reaped (`/proc`): a server's
    backends and parallel workers, or the broker's JVM."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(p: int) -> list[str]:
        text = Path(f"/proc/{p}/stat").read_text()
        return text[text.rindex(")") + 2:].split()  # fields from the state on

    own = stat(pid)
    total = sum(int(v) for v in own[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != pid:
            try:
                fields = stat(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
            if int(fields[1]) == pid:  # a living child
                total += int(fields[11]) + int(fields[12])
    return total / tick


def python_cpu() -> float:
    """CPU seconds of this process and its reaped children (the rebuild's loaders)."""
    import resource

    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def cpu_now(args: argparse.Namespace) -> dict[str, float]:
    out = {"python": python_cpu()}
    if args.postgres_pid:
        out["postgresql"] = process_tree_cpu(args.postgres_pid)
    if args.kafka_pid:
        out["kafka"] = process_tree_cpu(args.kafka_pid)
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace, say) -> dict:
    from dondoc_analytics.adapters.kafka import service_topics, topic_specs
    from dondoc_analytics.adapters.signing import generate
    from dondoc_analytics.application.audit import Auditor
    from dondoc_analytics.application.checkpoints import Checkpointer
    from dondoc_analytics.bootstrap import Parts, Settings
    from dondoc_platform.clock import VN_TZ, ManualClock
    from dondoc_platform.kafka import ensure_topics

    results: dict = {"seed": args.seed, "scale": args.scale}
    history = History(args.seed, args.scale)
    server = args.database.rpartition("/")[0]
    key = args.key or Path(tempfile.mkdtemp()) / "bench.key"
    if args.reuse:  # the history, its stores and read models of an earlier run
        import psycopg

        read_url = f"{server}/bench_analytics"
        stores = {s: f"{server}/bench_{s}" for s in SERVICES}
        with psycopg.connect(read_url) as conn:
            topic = conn.execute("SELECT topic FROM analytics_events LIMIT 1").fetchone()[0]
            events = conn.execute("SELECT count(*) FROM analytics_events").fetchone()[0]
            for table in ("audit_checkpoints", "audit_leaves", "audit_nodes"):
                conn.execute(f"DELETE FROM {table}")
        prefix = topic[: topic.index("dondoc.")]
        results["events"] = events
        say(f"reusing {events:,} events of an earlier run (topics {prefix}*)")
        if args.rebuild:
            say("2. raw PostgreSQL COPY of the same number of rows…")
            rows, seconds = raw_copy(read_url, history, events)
            results["copy_rows_per_second"] = rows / seconds
            say(f"   {rows:,} rows in {seconds:.1f} s: {rows / seconds:,.0f} rows/s")
    else:
        prefix = f"bench{args.seed}s{str(args.scale).replace('.', '_')}{uuid.uuid4().hex[:4]}."
        await ensure_topics(args.kafka, topic_specs(prefix, partitions=6))
        topics = service_topics(prefix)
        stores = {s: database(args.database, f"bench_{s}") for s in SERVICES}
        for url in stores.values():
            prepare_store(url)
        logs = {s: Log(s, url) for s, url in stores.items()}
        say(f"1. generating and writing the history (seed {args.seed}, scale {args.scale})…")
        started = time.perf_counter()
        events = await write_history(history, logs, args.kafka, topics, say)
        results["events"] = events
        results["write_seconds"] = time.perf_counter() - started
        results["events_by_service"] = {s: log.position for s, log in logs.items()}
        say(f"   {events:,} events in {results['write_seconds']:.0f} s")

        say("2. raw PostgreSQL COPY of the same number of rows…")
        read_url = database(args.database, "bench_analytics")
        rows, seconds = raw_copy(read_url, history, events)
        results["copy_rows_per_second"] = rows / seconds
        say(f"   {rows:,} rows in {seconds:.1f} s: {rows / seconds:,.0f} rows/s")
    if not key.exists():
        generate(key)
    settings = Settings(store_url=read_url, topic_prefix=prefix, audit_signing_key_file=str(key),
                        audit_directives_store_url=stores["directives"],
                        audit_tasks_store_url=stores["tasks"], audit_reports_store_url=stores["reports"])
    parts = Parts(settings, kafka_bootstrap=args.kafka,
                  clock=ManualClock(datetime(2025, 3, 1, 9, tzinfo=VN_TZ)))
    parts.ensure_schema()
    if not args.reuse or args.rebuild:
        say("3. projection rebuild from Kafka offset 0…")
        load_before = os.getloadavg()[0]
        cpu_before = cpu_now(args)
        started = time.perf_counter()
        report = await parts.projection.rebuild()
        rebuild_seconds = time.perf_counter() - started
        cpu = {name: seconds - cpu_before[name] for name, seconds in cpu_now(args).items()}
        results["rebuild_cpu_seconds"] = cpu
        results["rebuild_cpu_us_per_event"] = sum(cpu.values()) / report.events * 1e6
        say("   CPU: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu.items())
            + f" = {results['rebuild_cpu_us_per_event']:.1f} µs per event"
            + ("" if len(cpu) == 3 else " (--postgres-pid and --kafka-pid add the servers)"))
        results["rebuild_seconds"] = rebuild_seconds
        results["rebuild_events_per_second"] = report.events / rebuild_seconds
        results["rebuild_breakdown"] = report.seconds
        results["rebuild_compiled_decoded"] = getattr(report, "compiled", None)  # older code: none
        results["rebuild_trusted"] = getattr(report, "trusted", None)  # older code: none
        results["load_average_around_rebuild"] = [load_before, os.getloadavg()[0]]
        # the machine is shared: the baseline again right after, the ratio to their mean
        rows, seconds = raw_copy(read_url, history, results["events"])
        results["copy_rows_per_second_before"] = results["copy_rows_per_second"]
        results["copy_rows_per_second_after"] = rows / seconds
        results["copy_rows_per_second"] = statistics.fmean(
            [results["copy_rows_per_second_before"], results["copy_rows_per_second_after"]])
        say(f"   COPY again right after: {rows / seconds:,.0f} rows/s "
            f"(mean {results['copy_rows_per_second']:,.0f})")
        results["rebuild_vs_copy"] = (results["rebuild_events_per_second"]
                                      / results["copy_rows_per_second"])
        say(f"   {report.events:,} events in {rebuild_seconds:.0f} s: "
            f"{results['rebuild_events_per_second']:,.0f} events/s = "
            f"{results['rebuild_vs_copy']:.2f} × COPY ({report.seconds})")

    say("4. a unit's ten-year scorecard: latency…")
    units = [u for u, _, _ in history.units()]
    rng = random.Random(args.seed)
    for unit in rng.sample(units, 20):  # warm the caches as a running service would be
        parts.reading.unit_years(unit, 2015, 2024)
    samples = []
    for unit in (rng.choice(units) for _ in range(args.queries)):
        started = time.perf_counter()
        years = parts.reading.unit_years(unit, 2015, 2024)
        samples.append((time.perf_counter() - started) * 1000)
        assert len(years) == 10 and years[3]["figures"]["assigned"] > 0
    results["query_ms"] = {"p50": percentile(samples, 50), "p95": percentile(samples, 95),
                           "mean": statistics.fmean(samples), "n": len(samples)}
    say(f"   p50 {results['query_ms']['p50']:.1f} ms, p95 {results['query_ms']['p95']:.1f} ms")

    if args.no_audit:
        parts.engine.dispose()
        return results
    say("5. signed checkpoints, then audit verify…")
    started = time.perf_counter()
    made = await Checkpointer(parts, parts.signer()).make_all()
    results["checkpoint_seconds"] = time.perf_counter() - started
    assert len(made) == len(SERVICES)
    started = time.perf_counter()
    verified = await Auditor(parts, parts.trusted_keys()).verify()
    verify_seconds = time.perf_counter() - started
    results["verify_ok"] = verified.ok
    results["verify_findings"] = [str(f) for f in verified.findings[:10]]
    results["verify_seconds"] = verify_seconds
    results["verify_seconds_per_million"] = verify_seconds / (events / 1e6)
    results["verify_breakdown"] = verified.seconds
    say(f"   checkpoints {results['checkpoint_seconds']:.0f} s; verify {verify_seconds:.0f} s "
        f"({results['verify_seconds_per_million']:.0f} s per million events), ok: {verified.ok}")
    parts.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20181231)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 ≈ 5.3 million events")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None, help="results as JSON")
    parser.add_argument("--reuse", action="store_true",
                        help="measure steps 4-5 on the databases and topics of an earlier run")
    parser.add_argument("--rebuild", action="store_true",
                        help="with --reuse: measure the COPY baseline and the rebuild (2-3) again")
    parser.add_argument("--no-audit", action="store_true", help="skip step 5")
    parser.add_argument("--postgres-pid", type=int, default=None,
                        help="the stack's PostgreSQL server (postmaster) process: its CPU, "
                             "with its backends', is reported for the rebuild")
    parser.add_argument("--kafka-pid", type=int, default=None,
                        help="the stack's Kafka broker process: its CPU during the rebuild")
    parser.add_argument("--key", type=Path, default=None,
                        help="the checkpoint key (made if missing; default: a new one)")
    args = parser.parse_args()
    say = lambda line: print(line, flush=True)  # noqa: E731
    stack = None
    args.kafka = os.environ.get("DONDOC_BENCH_KAFKA_BOOTSTRAP")
    args.database = os.environ.get("DONDOC_BENCH_DATABASE_URL")
    if not (args.kafka and args.database):
        from dondoc.dev import Stack, StackConfig
        from dondoc.dev.process import free_port

        config = StackConfig.from_env()
        stack = Stack(StackConfig(state_dir=Path(tempfile.mkdtemp(prefix="dondoc-bench-")),
                                  cache_dir=config.cache_dir, kafka_port=free_port(),
                                  kafka_controller_port=free_port(), postgres_port=free_port(),
                                  prometheus_port=free_port()))
        stack.up(["kafka", "postgres"], report=say)
        args.kafka, args.database = stack.kafka.address(), stack.postgres.url
        args.postgres_pid = args.postgres_pid or stack.postgres.running_pid()
        args.kafka_pid = args.kafka_pid or stack.kafka.running_pid()
    try:
        results = asyncio.run(run(args, say))
    finally:
        if stack is not None:
            stack.discard(report=say)
    print(json.dumps(results, indent=2, default=str))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
