"""The rebuild loaders' loop in memory: decode, event row and task fold of records read once
from a benchmark history's topics, no Kafka and no COPY in the timing (docs/PERFORMANCE.md,
"The rebuild, eighth pass").

    uv run python bench/loaders_loop.py --kafka 127.0.0.1:19292 --prefix bench20181231s0_2xxxx. \
        --records 250000 --rounds 3

The records are read once (aiokafka, as the loaders read them: the three event topics in
their mix, each partition from offset 0), then each variant runs the loop of
`projection.load` over all of them, the collector frozen per 20,000 records as `load` does,
the variants alternating round after round; process CPU time per record. Variants:
`proven` (`ContractDecoder.decode_record`: the proof of every record, main before the
eighth pass), `trusted` (`replay_record`: a relayed record decoded by its struct alone) and
`unproven` (not the loop: `audit verify`'s new check of each message alone; "rows" is then
the number of messages it names).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import sys
import time


async def read(bootstrap: str, prefix: str, wanted: int) -> list:
    from dondoc_analytics.adapters import kafka

    topics = list(kafka.service_topics(prefix).values())
    ends = await kafka.end_offsets(bootstrap, topics)
    total = sum(ends.values())
    capped = {tp: min(end, math.ceil(wanted * end / total)) for tp, end in ends.items() if end}
    consumer = kafka.reader(bootstrap)
    await consumer.start()
    records: list = []
    try:
        async for batch in kafka.read_range(consumer, {}, capped, max_records=20_000):
            records += batch
    finally:
        await kafka.close(consumer)
    return records


def synthetic(wanted: int, seed: int = 20181231, scale: float = 0.2) -> list:
    """The first `wanted` events of `bench/analytics.py`'s history as aiokafka hands its
    records over (headers a tuple of pairs, as `write_history` sends them): no broker."""
    from collections import namedtuple
    from pathlib import Path

    from dondoc_contracts import event_id
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from dondoc.synthetic import History

    Record = namedtuple("Record", "topic partition offset headers value")
    positions: dict[str, int] = {}
    records = []
    for event in History(seed, scale).events():
        position = positions[event.service] = positions.get(event.service, 0) + 1
        state = event.payload.encode("utf-8")
        ident = event_id(event.service, position).encode()
        headers = (("ce_specversion", b"1.0"), ("ce_id", ident), ("ce_type", event.ce_type.encode()),
                   ("ce_source", f"/dondoc/{event.service}".encode()),
                   ("ce_subject", event.subject.encode()),
                   ("ce_time", state[16:state.index(b'"', 16)]), ("ce_dataversion", b"1"),
                   ("content-type", b"application/json; charset=utf-8"),
                   ("ce_sequence", str(position).encode()), ("ce_correlationid", ident),
                   ("ce_audithash", f"{position:064x}".encode()))
        records.append(Record(f"dondoc.{event.service}.v1", position % 6, position, headers, state))
        if len(records) == wanted:
            break
    return records


def loop(records: list, variant: str, chunk: int = 20_000) -> tuple[float, int, int]:
    """The loaders' loop (`projection.load`) over `records`: CPU seconds, rows, trusted."""
    from dondoc_contracts import UndecodableEvent

    from dondoc_analytics.adapters.compiled import ContractDecoder
    from dondoc_analytics.projections.rows import LoadedTasks, event_values_and_fact

    decoder = ContractDecoder()
    if variant == "unproven":  # what `audit verify` adds per message on Kafka, alone
        gc.collect()
        started = time.process_time()
        named = sum(decoder.unproven(r.headers or (), r.value) is not None for r in records)
        return time.process_time() - started, named, 0
    decode_record = decoder.replay_record if variant == "trusted" else decoder.decode_record
    tasks = LoadedTasks()
    rows: list[tuple] = []
    done = 0
    gc.collect()
    started = time.process_time()
    for start in range(0, len(records), chunk):
        for record in records[start:start + chunk]:
            try:
                event_id, position, audit_hash, event, payload = decode_record(
                    record.headers or (), record.value)
            except UndecodableEvent:
                continue
            row, fact = event_values_and_fact(
                event_id, position, audit_hash, event, record.topic, record.partition,
                record.offset, payload)
            rows.append(row)
            tasks.add(event_id, event, fact)
        gc.freeze()
        done += len(rows)
        rows = []  # copied, in the loader
    seconds = time.process_time() - started
    gc.unfreeze()
    return seconds, done, decoder.trusted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", help="read the records from this broker…")
    parser.add_argument("--prefix", help="…from the topics of the history with this prefix")
    parser.add_argument("--synthetic", action="store_true",
                        help="or make them from the synthetic history, without a broker")
    parser.add_argument("--records", type=int, default=250_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="proven,trusted,unproven")
    args = parser.parse_args()
    import dondoc_analytics.adapters.compiled as compiled

    print(f"code: {compiled.__file__}", file=sys.stderr)
    records = (synthetic(args.records) if args.synthetic
               else asyncio.run(read(args.kafka, args.prefix, args.records)))
    print(f"{len(records):,} records read; load average {os.getloadavg()[0]:.2f}")
    for n in range(args.rounds):
        for variant in args.variants.split(","):
            seconds, rows, trusted = loop(records, variant)
            print(f"round {n + 1} {variant:8s} {seconds / len(records) * 1e6:6.2f} µs per record "
                  f"({rows:,} rows, {trusted:,} trusted; load {os.getloadavg()[0]:.2f})",
                  flush=True)


if __name__ == "__main__":
    main()
