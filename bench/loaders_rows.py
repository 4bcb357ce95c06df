"""The rebuild's loaders in memory: what `projection.load` does with each record once it is
read (decode, event row, the tasks' fold), with no Kafka and no COPY; and apart, the COPY's
cost on the client's side per row.

    # once: partition 0 of each topic of the scale-0.2 history, as `bench/analytics.py`
    # writes it (the same records, keys, headers and partitioner), kept in a file
    uv run python bench/loaders_rows.py generate --scale 0.2 --out /tmp/records.pickle
    # per run, each side's code first on PYTHONPATH, alternating:
    uv run python bench/loaders_rows.py run --records /tmp/records.pickle --passes 2 \
        [--database postgresql://dondoc@127.0.0.1:15732/dondoc]

`run` times, per pass, the loop over every record as `load` runs it (its own function when the
code has one, `projection.load_records`, else the loop body of main 670c86b, copied below),
the collector frozen every 20,000 records as `load` does, then the fold at the end
(`LoadedTasks.rows`); with `--database`, the COPY of those rows into tables of the events'
and tasks' shapes (`copy_tuples`, created and dropped here), timed by this process's CPU
(psycopg formatting and libpq sending; the server is another process). Prints JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generate(seed: int, scale: float, partitions: int, keep: int) -> list[tuple]:
    """The records `bench/analytics.py` (`write_history`) sends for this history, those of
    partition `keep` of each topic (Kafka's default partitioner: murmur2 of the key), with
    their offsets there."""
    from aiokafka.partitioner import murmur2

    from dondoc.synthetic import History
    from dondoc_analytics.adapters.kafka import service_topics
    from dondoc_contracts import event_id
    from dondoc_platform.audit_chain import canonical_bytes, link

    topics = service_topics("bench.")
    positions: dict[str, int] = {}
    versions: dict[tuple[str, str], int] = {}
    chains: dict[str, bytes] = {}
    offsets: dict[str, int] = {}
    out = []
    for event in History(seed, scale).events():
        service = event.service
        position = positions[service] = positions.get(service, 0) + 1
        version = versions[service, event.aggregate] = versions.get((service, event.aggregate), 0) + 1
        state = event.payload.encode("utf-8")
        aggregate = event.aggregate if len(event.aggregate) == 36 else str(
            uuid.uuid5(uuid.NAMESPACE_URL, event.aggregate))
        chain = chains[service] = link(chains.get(service, bytes(32)), canonical_bytes(
            position, aggregate, version, event.private_topic, state))
        key = event.subject.encode()
        if (murmur2(key) & 0x7FFFFFFF) % partitions != keep:
            continue
        ident = event_id(service, position)
        headers = [("ce_specversion", b"1.0"), ("ce_id", ident.encode()),
                   ("ce_type", event.ce_type.encode()),
                   ("ce_source", f"/dondoc/{service}".encode()),
                   ("ce_subject", event.subject.encode()), ("ce_dataversion", b"1"),
                   ("content-type", b"application/json; charset=utf-8"),
                   ("ce_sequence", str(position).encode()),
                   ("ce_correlationid", ident.encode()),
                   ("ce_audithash", chain.hex().encode())]
        topic = topics[service]
        offset = offsets[topic] = offsets.get(topic, -1) + 1
        out.append((topic, keep, offset, headers, state))
    return out


def _records(path: Path) -> list:
    from aiokafka.structs import ConsumerRecord

    with path.open("rb") as f:
        raw = pickle.load(f)
    return [ConsumerRecord(topic, partition, offset, 0, 0, None, value, None, 0, len(value or b""),
                           tuple(headers))
            for topic, partition, offset, headers, value in raw]


def _loop_670c86b(records, decode_record, event_values_and_fact, tasks, rows, last, out):
    """The body of `load`'s loop at main 670c86b, for code that has no `load_records`."""
    from dondoc_contracts import UndecodableEvent

    for record in records:
        last[record.topic, record.partition] = record.offset
        try:
            event_id, position, audit_hash, event, payload = decode_record(
                record.headers or (), record.value)
        except UndecodableEvent:
            out.undecodable += 1
            continue
        row, fact = event_values_and_fact(
            event_id, position, audit_hash, event, record.topic, record.partition,
            record.offset, payload)
        rows.append(row)
        if tasks is not None:
            tasks.add(event_id, event, fact)


def _pass(records: list, chunk: int) -> tuple[float, float, list, object, object]:
    from dondoc_analytics.adapters.compiled import contract_decoder
    from dondoc_analytics.application import projection
    from dondoc_analytics.projections.rows import LoadedTasks, event_values_and_fact

    decoder = contract_decoder()
    tasks = LoadedTasks()
    out = projection.Loaded()
    last: dict = {}
    every: list = []
    load_records = getattr(projection, "load_records", None)
    gc.collect()
    gc.freeze()  # the records read: in `load` each batch goes once it is loaded
    if getattr(projection, "load_records", None) is not None:
        gc.disable()  # as `load` does since it has `load_records` (this branch)
    started = time.process_time()
    for start in range(0, len(records), 2_000):  # batches as Kafka hands them over
        batch = records[start:start + 2_000]
        rows: list = []
        if load_records is not None and hasattr(decoder, "replay"):  # given the record (0016)
            load_records(batch, decoder.replay, tasks, rows, last, out)
        elif load_records is not None:
            load_records(batch, decoder.decode_record, tasks, rows, last, out)
        else:
            _loop_670c86b(batch, decoder.decode_record, event_values_and_fact, tasks, rows,
                          last, out)
        every.extend(rows)
        if len(every) // chunk != (len(every) - len(rows)) // chunk:
            gc.freeze()
    loop = time.process_time() - started
    started = time.process_time()
    folded = tasks.rows()
    fold = time.process_time() - started
    gc.unfreeze()
    gc.enable()
    return loop, fold, every, folded, out


def _copy(url: str, every: list, folded: tuple) -> dict[str, float]:
    import sqlalchemy as sa

    from dondoc_analytics.projections import projector
    from dondoc_analytics.projections.rows import EVENT_COLUMNS, PERIOD_COLUMNS, TASK_COLUMNS
    from dondoc_analytics.projections.schema import projection_tables

    tables = projection_tables(f"loopbench{os.getpid()}_")
    columns = getattr(projector, "COPIED_EVENT_COLUMNS", EVENT_COLUMNS)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    out: dict[str, float] = {}
    try:
        with engine.begin() as conn:
            for table in (tables.events, tables.tasks, tables.task_periods):
                table.create(conn)
        for name, table, cols, rows in (("events", tables.events, columns, every),
                                        ("tasks", tables.tasks, TASK_COLUMNS, folded[0]),
                                        ("periods", tables.task_periods, PERIOD_COLUMNS, folded[1])):
            with engine.begin() as conn:
                conn.exec_driver_sql(f'TRUNCATE "{table.name}"')
            spent = 0.0
            for start in range(0, len(rows), 20_000):
                with engine.begin() as conn:
                    started = time.process_time()
                    if rows and isinstance(rows[0][-1], bytes):  # the payload's bytes (0016)
                        projector.copy_tuples(conn, table, cols, rows[start:start + 20_000],
                                              {"payload": "bytea"})
                    else:
                        projector.copy_tuples(conn, table, cols, rows[start:start + 20_000])
                    spent += time.process_time() - started
            out[name] = spent
    finally:
        with engine.begin() as conn:
            for table in (tables.task_periods, tables.tasks, tables.events):
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table.name}"')
        engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--seed", type=int, default=20181231)
    g.add_argument("--scale", type=float, default=0.2)
    g.add_argument("--partitions", type=int, default=6, help="per topic, as the bench makes them")
    g.add_argument("--keep", type=int, default=0, help="the partition kept")
    g.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run")
    r.add_argument("--records", type=Path, required=True)
    r.add_argument("--passes", type=int, default=2)
    r.add_argument("--chunk", type=int, default=20_000)
    r.add_argument("--database", default=None)
    args = parser.parse_args()
    if args.command == "generate":
        sys.path.insert(0, str(ROOT))
        records = _generate(args.seed, args.scale, args.partitions, args.keep)
        with args.out.open("wb") as f:
            pickle.dump(records, f, protocol=pickle.HIGHEST_PROTOCOL)
        print(f"{len(records)} records", file=sys.stderr)
        return
    from dondoc_analytics.application import projection

    records = _records(args.records)
    n = len(records)
    result: dict = {"code": projection.__file__, "records": n, "passes": []}
    for _ in range(args.passes):
        loop, fold, every, folded, out = _pass(records, args.chunk)
        entry = {"loop_us": round(loop / n * 1e6, 2), "fold_us": round(fold / n * 1e6, 2),
                 "rows": len(every), "tasks": len(folded[0]), "periods": len(folded[1]),
                 "undecodable": out.undecodable}
        if args.database:
            gc.collect()  # not timed: the passes left the collector in different states
            spent = _copy(args.database, every, folded)
            entry.update({f"copy_{k}_us": round(v / n * 1e6, 2) for k, v in spent.items()})
        result["passes"].append(entry)
        del every, folded
    result["loadavg"] = os.getloadavg()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
