"""How fast the notifications service plans and hands mail over to a local SMTP server.

    DONDOC_BENCH_DATABASE_URL=postgresql://dondoc@127.0.0.1:55432/dondoc \\
        .tools/bin/uv run python bench/notifications_delivery.py [notices]

Plans one reminder for each of N tasks (one unit each) in a fresh database, then delivers
them through a real aiosmtpd server (its own process) on loopback; prints notices per second for planning and
for delivery (each delivery: a claim on the record, the SMTP exchange, the hand-over mark,
the Sent record).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time as clock_time

import psycopg
from psycopg import sql

from dondoc.dev.process import free_port
from dondoc_contracts import Actor, Role, TaskAssigned, UnitRegistered, encode, envelope_for
from dondoc_contracts.values import DeadlineKind, DeadlineRule, DirectiveKind
from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_notifications.bootstrap import Settings, bootstrap

OFFICE = Actor(id="vptu", role=Role.OFFICE, unit_id="VPTU")


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list
    timestamp: int = 0


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, clock_time(hour), tzinfo=VN_TZ)


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the SMTP sink did not listen on {port}")


def main(count: int) -> None:
    import asyncio

    server_url = os.environ["DONDOC_BENCH_DATABASE_URL"]
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = server_url.rpartition("/")[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    port = free_port()
    # the mail server in a process of its own, as in production (in-process it would share the GIL)
    smtp = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                             "-l", f"127.0.0.1:{port}"])
    _wait_for_port(port)
    clock = ManualClock(at(date(2018, 6, 1), 7))
    service = bootstrap(Settings(store_url=server_url.rpartition("/")[0] + "/" + name, smtp_port=port,
                                 delivery_batch=100), clock=clock)
    parts = service.parts
    try:
        events = []
        for i in range(count):
            events.append(UnitRegistered(occurred_at=at(date(2018, 1, 2), 9), actor=OFFICE, unit_id=f"U{i}",
                                         code=f"U{i}", name=f"Đơn vị {i}", emails=(f"u{i}@example.vn",)))
            events.append(TaskAssigned(
                occurred_at=at(date(2018, 6, 1), 9), actor=OFFICE, task_id=f"t-{i}", directive_id="d",
                directive_number="125-TB/TU", directive_kind=DirectiveKind.THONG_BAO_KET_LUAN, issuing_body="BTV",
                item_id="1", paragraph="2.a", content="Tuyên truyền sâu rộng", lead_unit_id=f"U{i}",
                assigned_on=date(2018, 6, 1), deadline_rule=DeadlineRule(kind=DeadlineKind.DATE, due_on=date(2018, 6, 29)),
                due_on=date(2018, 6, 29)))
        records = []
        for offset, event in enumerate(events):
            key, value, headers = encode(event, envelope_for(event, position=offset + 1))
            records.append(Record("dondoc.tasks.v1", 0, offset, key, value, headers))
        asyncio.run(parts["facts"].handle(records))
        clock.set(at(date(2018, 6, 20), 8) .replace(minute=5))
        started = time.perf_counter()
        while parts["planner"].run_once():
            pass
        planned = time.perf_counter() - started
        started = time.perf_counter()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.enable()
        while parts["deliverer"].run_once():
            pass
        if os.environ.get("BENCH_PROFILE"):
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        delivered = time.perf_counter() - started
        sent = parts["queries"].find(state="sent", limit=count + 1)
        assert len(sent) == count, len(sent)
        print(f"{count} notices: planning {count / planned:.0f}/s ({planned:.2f} s), "
              f"delivery {count / delivered:.0f}/s ({delivered:.2f} s)")
    finally:
        smtp.terminate()
        smtp.wait()
        for stop in service.on_stop:
            asyncio.run(stop())
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
