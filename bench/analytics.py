"""Analytics at national scale: a deterministic synthetic history, then the figures of
docs/PERFORMANCE.md ("Analytics").

    make bench-analytics                      # ≈ 5.3 million events (scale 1.0)
    uv run python bench/analytics.py --scale 0.05 --out results.json   # a quick look

What it does, in one run on one stack:

1. generates, from a seed, 63 provinces × 40 units × 10 years of work (directives, tasks with
   assignments, progress, adjustments, completions, withdrawals, overdue notices; reports
   with submissions, returns and reviews), and writes each event both to its service's
   event store (PostgreSQL, the recorder's table layout with its hash chain) and to Kafka
   (the real envelope, with `ce_sequence` and `ce_audithash`), as the services' relays do;
2. raw PostgreSQL COPY of the same number of rows (the events, one row each, text format
   prepared in memory beforehand so only the database's ingest is timed);
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROVINCES = [
    "An Giang", "Bà Rịa - Vũng Tàu", "Bắc Giang", "Bắc Kạn", "Bạc Liêu", "Bắc Ninh", "Bến Tre",
    "Bình Định", "Bình Dương", "Bình Phước", "Bình Thuận", "Cà Mau", "Cần Thơ", "Cao Bằng",
    "Đà Nẵng", "Đắk Lắk", "Đắk Nông", "Điện Biên", "Đồng Nai", "Đồng Tháp", "Gia Lai", "Hà Giang",
    "Hà Nam", "Hà Nội", "Hà Tĩnh", "Hải Dương", "Hải Phòng", "Hậu Giang", "Hòa Bình", "Hưng Yên",
    "Khánh Hòa", "Kiên Giang", "Kon Tum", "Lai Châu", "Lâm Đồng", "Lạng Sơn", "Lào Cai",
    "Long An", "Nam Định", "Nghệ An", "Ninh Bình", "Ninh Thuận", "Phú Thọ", "Phú Yên",
    "Quảng Bình", "Quảng Nam", "Quảng Ngãi", "Quảng Ninh", "Quảng Trị", "Sóc Trăng", "Sơn La",
    "Tây Ninh", "Thái Bình", "Thái Nguyên", "Thanh Hóa", "Thừa Thiên Huế", "Tiền Giang",
    "TP. Hồ Chí Minh", "Trà Vinh", "Tuyên Quang", "Vĩnh Long", "Vĩnh Phúc", "Yên Bái",
]
UNIT_KINDS = ["Ban Tuyên giáo", "Ban Nội chính", "Ủy ban Kiểm tra", "Ban Dân vận", "Ban Tổ chức",
              "UBND", "Sở Kế hoạch và Đầu tư", "Sở Tài nguyên và Môi trường", "MTTQVN",
              "LĐLĐ", "Tỉnh đoàn", "Hội Liên hiệp Phụ nữ"]
GROUPS = ["Kinh tế - xã hội", "Xây dựng Đảng, hệ thống chính trị, nội chính", "Mặt trận, đoàn thể"]
DOMAINS = ["Kinh tế", "Đất đai", "Tuyên giáo", "Tổ chức", "Nội chính", "Dân vận", "Văn hóa"]
YEARS = range(2015, 2025)
OFFICE = ('{"id":"vptu.office","role":"office","name":"Văn phòng Tỉnh ủy","unit_id":"VPTU",'
          '"review_group":null}')
SYSTEM = '{"id":"system","role":"system","name":"dondoc","unit_id":null,"review_group":null}'


def q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def at(day: date, hour: int = 9) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00+07:00"


def d(day: date | None) -> str:
    return "null" if day is None else f'"{day.isoformat()}"'


@dataclass
class Event:
    service: str
    aggregate: str
    ce_type: str
    subject: str
    payload: str
    private_topic: str


class History:
    """The synthetic history, event by event, the same for the same seed and scale."""

    def __init__(self, seed: int, scale: float) -> None:
        self.seed = seed
        self.scale = scale
        self.units_per_province = 40
        self.tasks_per_unit_year = max(1, round(70 * scale))
        self.provinces = PROVINCES if scale >= 0.2 else PROVINCES[: max(3, round(63 * scale * 5))]

    def units(self) -> list[tuple[str, str, str]]:
        out = []
        for p, province in enumerate(self.provinces):
            for u in range(self.units_per_province):
                kind = UNIT_KINDS[u % len(UNIT_KINDS)]
                out.append((f"P{p:02d}-U{u:02d}", f"{kind} {province} {u // len(UNIT_KINDS) + 1}",
                            GROUPS[u % len(GROUPS)]))
        return out

    def events(self) -> Iterator[Event]:
        rng = random.Random(self.seed)
        units = self.units()
        for unit_id, name, group in units:
            yield Event("directives", unit_id, "vn.dondoc.unit.registered.v1", unit_id,
                        f'{{"occurred_at":"2015-01-05T09:00:00+07:00","actor":{OFFICE},'
                        f'"unit_id":"{unit_id}","code":"{unit_id}","name":{q(name)},'
                        f'"review_group":{q(group)},"parent_unit_id":null,"emails":[],'
                        f'"leadership_emails":[],"webhook_url":null}}', "dondoc_bench:UnitRegistered")
        for year in YEARS:
            for p in range(len(self.provinces)):
                directives = []
                for n in range(20):
                    ident = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                    number = f"{n + 1}-TB/TU"
                    issued = date(year, 1, 2) + timedelta(days=rng.randrange(360))
                    directives.append((ident, number, issued))
                    yield Event("directives", ident, "vn.dondoc.directive.issued.v1", ident,
                                f'{{"occurred_at":"{at(issued)}","actor":{OFFICE},"directive_id":"{ident}",'
                                f'"number":"{number}","kind":"thong_bao_ket_luan","issuing_body":"BTV",'
                                f'"issued_on":"{issued}","summary":"Kết luận về nhiệm vụ năm {year}",'
                                f'"signer":null,"secrecy":"thuong","urgency":"thuong","review_group":null,'
                                f'"items":[{{"item_id":"1","paragraph":"1","text":"Triển khai",'
                                f'"lead_unit_id":null,"cooperating_unit_ids":[],"deadline":{{"kind":"none",'
                                f'"due_on":null,"days":null,"frequency":null}},"domain":null,'
                                f'"review_group":null,"key_task":false,"product":null}}]}}',
                                "dondoc_bench:DirectiveIssued")
                for u in range(self.units_per_province):
                    unit_id, _, group = units[p * self.units_per_province + u]
                    for _ in range(self.tasks_per_unit_year):
                        yield from self._task(rng, year, unit_id, group, directives)
                    yield from self._reports(rng, year, unit_id)

    def _task(self, rng: random.Random, year: int, unit: str, group: str,
              directives: list) -> Iterator[Event]:
        task = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        directive, number, issued = directives[rng.randrange(len(directives))]
        assigned = max(issued, date(year, 1, 1) + timedelta(days=rng.randrange(330)))
        due = None if rng.random() < 0.15 else assigned + timedelta(days=rng.randrange(30, 180))
        rule = (f'{{"kind":"date","due_on":{d(due)},"days":null,"frequency":null}}' if due
                else '{"kind":"none","due_on":null,"days":null,"frequency":null}')
        key = "true" if rng.random() < 0.1 else "false"
        topic = "dondoc_bench:Task"

        def event(ce: str, body: str, kind: str) -> Event:
            return Event("tasks", task, f"vn.dondoc.task.{ce}.v1", task, body, topic + kind)

        yield event("assigned", (
            f'{{"occurred_at":"{at(assigned)}","actor":{OFFICE},"task_id":"{task}","directive_id":"{directive}",'
            f'"directive_number":"{number}","directive_kind":"thong_bao_ket_luan","issuing_body":"BTV",'
            f'"item_id":"1","paragraph":"1","content":"Tổ chức thực hiện nhiệm vụ năm {year}",'
            f'"lead_unit_id":"{unit}","cooperating_unit_ids":[],"assigned_on":"{assigned}",'
            f'"deadline_rule":{rule},"due_on":{d(due)},"original_due_on":{d(due)},'
            f'"domain":{q(DOMAINS[rng.randrange(len(DOMAINS))])},"review_group":{q(group)},'
            f'"key_task":{key},"secrecy":"thuong","report_frequency":null,"product":null}}'), "Assigned")
        if rng.random() < 0.5:
            day = assigned + timedelta(days=rng.randrange(5, 60))
            yield event("progress_recorded", (
                f'{{"occurred_at":"{at(day, 16)}","actor":{OFFICE},"task_id":"{task}","unit_id":"{unit}",'
                f'"status_claimed":"in_progress","progress":"Đang triển khai","evidence":null,'
                f'"delay_reason":null,"report_id":null,"recorded_on":"{day}"}}'), "Progress")
        effective = due
        if due and rng.random() < 0.2:
            decided = due - timedelta(days=rng.randrange(-20, 10))
            effective = due + timedelta(days=rng.randrange(30, 120))
            yield event("deadline_adjusted", (
                f'{{"occurred_at":"{at(decided, 10)}","actor":{OFFICE},"task_id":"{task}",'
                f'"lead_unit_id":"{unit}","kind":"extend","previous_due_on":"{due}","due_on":"{effective}",'
                f'"original_due_on":"{due}","decision":{{"number":"{rng.randrange(1, 9999)}-CV/TU",'
                f'"decided_on":"{decided}","decider":"Thường trực Tỉnh ủy"}},"request_id":null}}'), "Adjusted")
        outcome = rng.random()
        anchor = effective or assigned + timedelta(days=120)
        if outcome < 0.8:
            done = anchor + timedelta(days=rng.randrange(-40, 45))
            done = max(done, assigned)
            if effective and done > effective:
                yield self._overdue(task, unit, effective)
            yield event("completed", (
                f'{{"occurred_at":"{at(done, 15)}","actor":{OFFICE},"task_id":"{task}",'
                f'"lead_unit_id":"{unit}","completed_on":"{done}","due_on":{d(effective)},'
                f'"original_due_on":{d(due)},"result":null,"evidence":null,"report_id":null}}'), "Completed")
        elif outcome < 0.85:
            gone = assigned + timedelta(days=rng.randrange(10, 200))
            yield event("withdrawn", (
                f'{{"occurred_at":"{at(gone, 11)}","actor":{OFFICE},"task_id":"{task}",'
                f'"lead_unit_id":"{unit}","withdrawn_on":"{gone}","decision":null,"reason":null,'
                f'"request_id":null}}'), "Withdrawn")
        elif effective:
            yield self._overdue(task, unit, effective)

    @staticmethod
    def _overdue(task: str, unit: str, due: date) -> Event:
        moment = f"{(due + timedelta(days=1)).isoformat()}T00:00:00+07:00"
        return Event("tasks", task, "vn.dondoc.task.overdue.v1", task,
                     f'{{"occurred_at":"{moment}","actor":{SYSTEM},"task_id":"{task}",'
                     f'"lead_unit_id":"{unit}","due_on":"{due}","overdue_at":"{moment}"}}',
                     "dondoc_bench:TaskOverdue")

    def _reports(self, rng: random.Random, year: int, unit: str) -> Iterator[Event]:
        for label, due in ((f"6 tháng {year}", date(year, 6, 30)), (str(year), date(year, 11, 30))):
            report = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            cycle = f"cycle-{year}-{label[:1]}"
            asked = due - timedelta(days=30)

            def event(ce: str, body: str, kind: str, report: str = report) -> Event:
                return Event("reports", report, f"vn.dondoc.report.{ce}.v1", report, body,
                             "dondoc_bench:Report" + kind)

            yield event("requested", (
                f'{{"occurred_at":"{at(asked)}","actor":{OFFICE},"report_id":"{report}","cycle_id":"{cycle}",'
                f'"unit_id":"{unit}","period":{{"kind":"year","label":{q(label)},"starts_on":"{year}-01-01",'
                f'"ends_on":"{year}-12-31"}},"data_cutoff_on":"{due - timedelta(days=15)}",'
                f'"due_on":"{due}","task_ids":[]}}'), "Requested")
            if rng.random() < 0.9:
                submitted = due + timedelta(days=rng.randrange(-10, 8))
                for revision in (1, 2):
                    yield event("submitted", (
                        f'{{"occurred_at":"{at(submitted, 15)}","actor":{OFFICE},"report_id":"{report}",'
                        f'"cycle_id":"{cycle}","unit_id":"{unit}","submitted_on":"{submitted}",'
                        f'"revision":{revision},"lines":[],"summary":null}}'), "Submitted")
                    returned = rng.random() < 0.2 and revision == 1
                    reviewed = submitted + timedelta(days=5)
                    yield event("reviewed", (
                        f'{{"occurred_at":"{at(reviewed)}","actor":{OFFICE},"report_id":"{report}",'
                        f'"cycle_id":"{cycle}","unit_id":"{unit}","revision":{revision},'
                        f'"outcome":"{"returned" if returned else "accepted"}","reviewed_on":"{reviewed}",'
                        f'"lines":[],"comment":null}}'), "Reviewed")
                    if not returned:
                        break
                    submitted = reviewed + timedelta(days=rng.randrange(3, 20))


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
                       ("ce_subject", event.subject.encode()), ("ce_dataversion", b"1"),
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
    if not args.reuse:
        say("3. projection rebuild from Kafka offset 0…")
        started = time.perf_counter()
        report = await parts.projection.rebuild()
        rebuild_seconds = time.perf_counter() - started
        results["rebuild_seconds"] = rebuild_seconds
        results["rebuild_events_per_second"] = report.events / rebuild_seconds
        results["rebuild_breakdown"] = report.seconds
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
    try:
        results = asyncio.run(run(args, say))
    finally:
        if stack is not None:
            stack.down(report=say)
    print(json.dumps(results, indent=2, default=str))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
