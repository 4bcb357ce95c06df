"""The rebuild's Kafka read in isolation: process CPU per record of reading every record of
the analytics topics from offset 0 to their ends, per client and setting, with the
broker's CPU beside it (docs/PERFORMANCE.md, "the Kafka client's share").

    uv run python bench/kafka_read.py --kafka 127.0.0.1:19392 \\
        --database postgresql://dondoc@127.0.0.1:15732/dondoc --kafka-pid <broker> --rounds 3

Reads the topics of the history `bench/analytics.py` wrote last on that stack (the prefix
is taken from its read models' database). Each variant runs in a fresh process, the
variants alternate, round after round; every run touches the attributes the loaders read
(topic, partition, offset, headers, value) and checks that it read every record once.
The `compact` variant is `read_range(compact=True)`: aiokafka's fetches, the records read by
the compiled reader of `dondoc_kafkabatch` (docs/adr/0014). The `confluent-raw` variant needs confluent-kafka, which the project does not depend on
(`uv pip install confluent-kafka==2.16.1` for the measurement; docs/PERFORMANCE.md says
why); without it the variant is left out.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {
    "aiokafka": "aiokafka as the loaders used it (reader(), read_range, 20,000 a batch)",
    "compact": "aiokafka's fetches, the compiled record-batch reader (read_range(compact=True))",
    "aiokafka-tuned": "aiokafka, CRCs unchecked, 16/64 MiB fetches, 100,000 a batch",
    "confluent-raw": "confluent-kafka's consume(10,000), the Message methods called, no record",
}


def touch(records, seen: dict) -> int:
    size = 0
    for record in records:
        key = (record.topic, record.partition)
        offset = record.offset
        if offset != seen.get(key, -1) + 1:
            raise AssertionError(f"{key}: offset {offset} after {seen.get(key)}")
        seen[key] = offset
        size += len(record.headers) + len(record.value)
    return size


async def one(variant: str, bootstrap: str, topics: list[str]) -> dict:
    from dondoc_analytics.adapters import kafka

    ends = await kafka.end_offsets(bootstrap, topics)
    seen: dict = {}
    size = 0
    started, cpu = time.perf_counter(), time.process_time()
    if variant.startswith("aiokafka") or variant == "compact":
        tuned = variant == "aiokafka-tuned"
        options = ({"check_crcs": False, "max_partition_fetch_bytes": 16 * 1024 * 1024,
                    "fetch_max_bytes": 64 * 1024 * 1024} if tuned else {})
        consumer = kafka.reader(bootstrap, **options)
        await consumer.start()
        try:
            async for records in kafka.read_range(consumer, {}, ends,
                                                  max_records=100_000 if tuned else 20_000,
                                                  compact=variant == "compact"):
                size += touch(records, seen)
        finally:
            await kafka.close(consumer)
    else:
        size = raw_confluent(bootstrap, ends, seen)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    records = sum(offset + 1 for offset in seen.values())
    expected = sum(ends.values())
    if records != expected:
        raise AssertionError(f"{variant}: read {records} records, {expected} expected")
    return {"variant": variant, "records": records, "bytes": size, "wall": wall, "cpu": cpu}


def raw_confluent(bootstrap: str, ends: dict, seen: dict) -> int:
    """The floor: librdkafka's batches, each Message's methods called once, nothing built."""
    import confluent_kafka

    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": "bench-raw", "enable.auto.commit": False,
        "isolation.level": "read_uncommitted", "fetch.max.bytes": 32 * 1024 * 1024,
        "max.partition.fetch.bytes": 4 * 1024 * 1024})
    consumer.assign([confluent_kafka.TopicPartition(tp.topic, tp.partition, 0)
                     for tp, end in ends.items() if end])
    remaining = {(tp.topic, tp.partition): end for tp, end in ends.items() if end}
    size = 0
    try:
        while remaining:
            for message in consumer.consume(10_000, 1.0):
                key = (message.topic(), message.partition())
                offset = message.offset()
                if key not in remaining or message.error() is not None:
                    continue
                seen[key] = offset
                size += len(message.headers()) + len(message.value())
                if offset >= remaining[key] - 1:
                    del remaining[key]
    finally:
        consumer.close()
    return size


def broker_cpu(pid: int | None) -> float:
    if not pid:
        return 0.0
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def topics_of_last_history(database: str) -> list[str]:
    import psycopg

    from dondoc_analytics.adapters.kafka import service_topics

    with psycopg.connect(f"{database.rpartition('/')[0]}/bench_analytics") as conn:
        topic = conn.execute("SELECT topic FROM analytics_events LIMIT 1").fetchone()[0]
    return list(service_topics(topic[: topic.index("dondoc.")]).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kafka", default=os.environ.get("DONDOC_BENCH_KAFKA_BOOTSTRAP"))
    parser.add_argument("--database", default=os.environ.get("DONDOC_BENCH_DATABASE_URL"))
    parser.add_argument("--kafka-pid", type=int, help="the broker: its CPU per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--topics", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(one(args.one, args.kafka, args.topics.split(",")))))
        return
    topics = topics_of_last_history(args.database)
    variants = args.variants.split(",")
    if importlib.util.find_spec("confluent_kafka") is None and "confluent-raw" in variants:
        print("confluent-kafka is not installed: confluent-raw left out")
        variants.remove("confluent-raw")
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for round_ in range(args.rounds):
        for variant in runs:
            load = os.getloadavg()[0]
            broker = broker_cpu(args.kafka_pid)
            done = subprocess.run([sys.executable, __file__, "--one", variant, "--kafka", args.kafka,
                                   "--topics", ",".join(topics)],
                                  check=True, capture_output=True, text=True)
            run = json.loads(done.stdout)
            run["broker_cpu"] = broker_cpu(args.kafka_pid) - broker
            run["load"] = [load, os.getloadavg()[0]]
            runs[variant].append(run)
            print(f"round {round_ + 1} {variant:15} {run['records']:,} records: "
                  f"{run['cpu'] / run['records'] * 1e6:5.2f} µs CPU/record "
                  f"(broker {run['broker_cpu'] / run['records'] * 1e6:4.2f}), "
                  f"{run['records'] / run['wall']:,.0f} records/s, "
                  f"load {run['load'][0]:.1f} → {run['load'][1]:.1f}", flush=True)
    print()
    for variant, done in runs.items():
        per = [r["cpu"] / r["records"] * 1e6 for r in done]
        broker = [r["broker_cpu"] / r["records"] * 1e6 for r in done]
        print(f"{variant:15} client {min(per):.2f}–{max(per):.2f} µs/record "
              f"(median {statistics.median(per):.2f}), broker {min(broker):.2f}–{max(broker):.2f}"
              f"  — {VARIANTS.get(variant, '')}")


if __name__ == "__main__":
    main()
