"""Where a PostgreSQL server spends its CPU while something else runs (a rebuild): every
`--interval` seconds, each server process's CPU from `/proc` is charged to what it was
doing (`pg_stat_activity`: the statement of a backend or of a parallel worker's leader,
or the process's kind: checkpointer, WAL writer, autovacuum…), until interrupted (Ctrl-C,
SIGTERM) or `--seconds` pass. WAL written (`pg_stat_wal`) is reported for the same time.

    uv run python bench/postgres_phases.py --url postgresql://dondoc@127.0.0.1:15832/postgres \
        --postmaster <pid> --out phases.json &
    ... the run to observe ...
    kill -TERM <its pid>

Statements are grouped by `--classify`'s rules (the rebuild's phases by default): a COPY
into, an index or key on, an INSERT into a table named `an<g>_<name>` is charged to its
base name, so generations compare. A sample attributes the whole interval to the statement
seen at its end (or, if the backend is idle by then, to the one seen at its start): short
statements are approximate, phases of seconds are not.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import time
from collections import defaultdict
from pathlib import Path

import psycopg

_RULES = [
    (re.compile(r'^\s*COPY "?an\d+_(\w+)"?', re.I), "COPY {0}"),
    (re.compile(r'ALTER TABLE "?an\d+_(\w+)"? ADD PRIMARY KEY', re.I), "key {0}"),
    (re.compile(r'ALTER TABLE "?an\d+_(\w+)"? SET LOGGED', re.I), "SET LOGGED {0}"),
    (re.compile(r'ALTER TABLE "?an\d+_(\w+)"? ADD CONSTRAINT', re.I), "key {0}"),
    (re.compile(r'CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?"?an\d+_(\w+)"?', re.I), "index {0}"),
    (re.compile(r'CREATE TEMPORARY TABLE (\w+)', re.I), "temp {0}"),
    (re.compile(r'^\s*INSERT INTO "?an\d+_(\w+)"?', re.I), "derive {0}"),
    (re.compile(r'^\s*VACUUM ANALYZE "?an\d+_(\w+)"?', re.I), "VACUUM ANALYZE {0}"),
    (re.compile(r'^\s*ANALYZE "?an\d+_(\w+)"?', re.I), "ANALYZE {0}"),
    (re.compile(r'^\s*(?:ANALYZE|VACUUM)\b', re.I), "ANALYZE/VACUUM other"),
    (re.compile(r'^\s*DELETE FROM "?an\d+_(\w+)"?', re.I), "delete {0}"),
    (re.compile(r'^\s*COPY bench_raw_events', re.I), "COPY baseline"),
]


def classify(query: str) -> str:
    for pattern, label in _RULES:
        if (m := pattern.search(query)) is not None:
            return label.format(*m.groups())
    return "other: " + " ".join(query.split())[:60]


def _cpu(pid: int, tick: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / tick


def _reaped(pid: int, tick: int) -> float:
    """CPU of the children a process has waited for (a server's ended backends)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[13]) + int(fields[14])) / tick


def _children(postmaster: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(text[text.rindex(")") + 2:].split()[1]) == postmaster:
                out.append(int(entry.name))
    return out


_ACTIVITY = """
SELECT a.pid, a.backend_type, a.state, coalesce(l.query, a.query)
FROM pg_stat_activity AS a LEFT JOIN pg_stat_activity AS l ON l.pid = a.leader_pid
"""
_BETWEEN = ("(idle)", "(idle in transaction)")
_WAL = "SELECT wal_records, wal_fpi, wal_bytes::bigint FROM pg_stat_wal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="any database of the server")
    parser.add_argument("--postmaster", type=int, required=True)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=3600)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    tick = os.sysconf("SC_CLK_TCK")
    stop = False

    def finish(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    cpu_by: dict[str, float] = defaultdict(float)
    wall_by: dict[str, float] = defaultdict(float)
    last: dict[int, tuple[float, str]] = {}
    with psycopg.connect(args.url, autocommit=True) as conn:
        me = conn.info.backend_pid
        wal_start = conn.execute(_WAL).fetchone()
        reaped = _reaped(args.postmaster, tick)
        started = time.monotonic()
        while not stop and time.monotonic() - started < args.seconds:
            labels = {}
            for pid, kind, state, query in conn.execute(_ACTIVITY):
                if pid == me:
                    labels[pid] = "(this sampler)"
                elif kind in ("client backend", "parallel worker") and state != "idle" and query:
                    labels[pid] = classify(query) if state == "active" else f"({state})"
                elif kind in ("client backend", "parallel worker"):
                    labels[pid] = "(idle)"
                else:
                    labels[pid] = f"({kind})"
            seen = set()
            for pid in _children(args.postmaster):
                now = _cpu(pid, tick)
                if now is None:
                    continue
                seen.add(pid)
                label = seen_as = labels.get(pid, "(other process)")
                before, previous = last.get(pid, (now, label))
                if label in _BETWEEN and previous not in _BETWEEN:
                    label = previous  # a statement ended since the last look: its CPU
                cpu_by[label] += now - before
                if now > before:
                    wall_by[label] += args.interval
                last[pid] = (now, seen_as)
            ended = set(last) - seen
            now_reaped = _reaped(args.postmaster, tick)
            # an ended process's CPU after its last sample: charged to what it was doing
            rest = now_reaped - reaped - sum(last[pid][0] for pid in ended)
            for pid in ended:
                cpu_by[last[pid][1]] += rest / len(ended)
                del last[pid]
            if not ended:
                cpu_by["(ended between samples)"] += rest
            reaped = now_reaped
            time.sleep(args.interval)
        wal_end = conn.execute(_WAL).fetchone()
    result = {
        "seconds": time.monotonic() - started,
        "cpu_seconds": dict(sorted(cpu_by.items(), key=lambda kv: -kv[1])),
        "busy_seconds": dict(sorted(wall_by.items(), key=lambda kv: -kv[1])),
        "cpu_total": sum(cpu_by.values()),
        "wal": {name: end - start for name, start, end in
                zip(("records", "full_page_images", "bytes"), wal_start, wal_end)},
    }
    text = json.dumps(result, indent=1, ensure_ascii=False)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
