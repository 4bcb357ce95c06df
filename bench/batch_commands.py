"""Directives registered in batches through the HTTP API (`POST /directives/batch`): how many
per second the API accepts, how many per second the whole system carries to the tasks and
reports services, and what each costs in CPU, beside the raw rate of the eventsourcing library.

    uv run python bench/batch_commands.py [--sizes 1,10,50,200] [--seconds 10]
                                          [--steady 100x10 --steady 200x50] [--json out.json]
    make bench-batch-commands BENCH_ARGS="..."

Reuses `bench/commands.py`: its raw baseline (the `eventsourcing` library alone saving one
aggregate per transaction, one writer, on a fresh database of the same PostgreSQL, before and
after the load), its notice (a Thông báo kết luận with five items for five units), its HTTP
client, its CPU accounting from /proc and its catch-up check. The stack is the same: the
local Kafka and PostgreSQL, directives, tasks and reports as `dondoc serve` processes on
fresh databases, `--api-processes` processes answering the directives API, the load
generator in a process of its own. Only notices are sent (no report submissions).

1. saturation, for each batch size of `--sizes` (1 is the single command `POST /directives`,
   the others `POST /directives/batch` with that many notices): `--concurrency` clients send
   requests back to back for `--seconds`, each request with its own Idempotency-Key. Figures: notices accepted per second (and as a
   ratio to the raw rate), request latency, CPU per notice by process while the API accepted
   them; then the downstream: seconds after the load until every task shows in the tasks
   service's board and the reports service's task directory (the tables their query APIs
   read, counted; every outbox relayed, every consumer caught up), the CPU of the whole
   (acceptance and effects) per notice, and the rate the whole system carried: notices
   accepted / (load + catch-up);
2. steady, for each `RATExSIZE` of `--steady` (notices per second × notices per request):
   open-loop batches on schedule for `--steady-seconds`; whether the API accepts the rate,
   the backlog of tasks not yet shown downstream (sampled every second: its largest, its
   value when the schedule ended, how long after that it was gone), and for one request in
   two seconds (`--follow-per-second`) the time from its answer until every one of its
   notices shows its five tasks in the tasks API (GET /tasks?directive_id=).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from commands import (  # noqa: E402
    ITEMS,
    Http,
    HttpError,
    caught_up,
    cpu_figures,
    cpu_seconds,
    emit,
    machine,
    ms,
    notice,
    percentile,
    processes,
    say,
    stack_and_raw_baseline,
)

UNITS = 200


# --------------------------------------------------------------------------- the load generator


class BatchLoad:
    """Runs in its own process: sends notices in requests of `size`, follows some to the tasks API."""

    def __init__(self, plan: dict[str, Any], size: int, follow_per_second: float) -> None:
        self.plan = plan
        self.size = size
        self.office = {"Authorization": f"Bearer {plan['office']}"}
        self.urls = plan["directive_urls"]
        self.tasks_url = plan["tasks_url"]
        self.units = plan["units"]
        self.today = date.fromisoformat(plan["today"])
        self.run = uuid.uuid4().hex[:6].upper()
        self.follow_every = follow_per_second
        self.requests: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.effects: list[float | None] = []
        self.followers: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.last_followed = 0.0
        self.polling = asyncio.Semaphore(4)

    def bodies(self, n: int) -> list[dict[str, Any]]:
        due = self.today + timedelta(days=90)
        first = n * self.size
        return [notice(f"{first + k}-TB/{self.run}", self.today,
                       [self.units[(first + k + i * 37) % len(self.units)] for i in range(ITEMS)], due)
                for k in range(self.size)]

    async def request(self, client: Http, n: int, due: float | None = None) -> int:
        """Send request `n`; the notices it got accepted (0 if refused)."""
        started = due or time.perf_counter()
        bodies = self.bodies(n)
        single = self.size == 1
        url = f"{self.urls[n % len(self.urls)]}/directives{'' if single else '/batch'}"
        headers = {**self.office, "Idempotency-Key": uuid.uuid4().hex}
        try:
            answer = await client.post(url, json_body=bodies[0] if single else {"directives": bodies},
                                       headers=headers)
        except HttpError as e:
            self.refused.append(f"{type(e).__name__}: {e}"[:300])
            return 0
        accepted = time.perf_counter()
        if answer.status_code != 201:
            self.refused.append(f"{answer.status_code} {answer.text[:300]}")
            return 0
        self.requests.append({"at": accepted, "seconds": accepted - started, "notices": self.size})
        if self.follow_every and accepted - self.last_followed >= 1 / self.follow_every:
            self.last_followed = accepted
            content = answer.json()
            ids = [content["directive_id"]] if single else [d["directive_id"] for d in content["directives"]]
            task = asyncio.create_task(self.follow(client, ids, accepted))
            self.followers.add(task)
            task.add_done_callback(self.followers.discard)
        return self.size

    async def follow(self, client: Http, directive_ids: list[str], since: float) -> None:
        """Until every notice of the request shows its five tasks in the tasks API, each
        polled every 100 ms until it shows; four polls at most in flight for all the followed
        requests together (the polls are load on the tasks service too, and each catches its
        board up first: unbounded, they multiplied as the effects fell behind)."""
        deadline = since + 180
        gate = self.polling

        async def shown(directive_id: str) -> bool:
            while time.perf_counter() < deadline:
                async with gate:
                    try:
                        answer = await client.get(f"{self.tasks_url}/tasks", headers=self.office,
                                                  params={"directive_id": directive_id})
                        if answer.status_code == 200 and len(answer.json()["items"]) == ITEMS:
                            return True
                    except HttpError:
                        pass
                await asyncio.sleep(0.1)
            return False

        every = await asyncio.gather(*(shown(d) for d in directive_ids))
        self.effects.append(time.perf_counter() - since if all(every) else None)

    async def saturate(self, concurrency: int, seconds: float) -> None:
        counter = iter(range(10**9))
        self.started = started = time.perf_counter()

        async def loop(client: Http) -> None:
            while time.perf_counter() - started < seconds:
                await self.request(client, next(counter))

        client = Http(timeout=120)
        try:
            await asyncio.gather(*(loop(client) for _ in range(concurrency)))
        finally:
            client.close()
        self.wall = time.perf_counter() - started

    async def steady(self, rate: float, seconds: float) -> None:
        client = Http(timeout=120)
        per_second = rate / self.size  # requests
        inflight: set[asyncio.Task[int]] = set()
        try:
            self.started = started = time.perf_counter()
            n = 0
            while time.perf_counter() - started < seconds:
                due = started + n / per_second
                if due > time.perf_counter():
                    await asyncio.sleep(due - time.perf_counter())
                task = asyncio.create_task(self.request(client, n, due))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
                n += 1
            self.sent = n
            self.wall = time.perf_counter() - started
            await asyncio.gather(*inflight)
            await asyncio.gather(*list(self.followers))
        finally:
            client.close()


def run_load(args: argparse.Namespace) -> None:
    plan = json.loads(Path(args.plan).read_text())
    load = BatchLoad(plan, args.size, args.follow_per_second if args.mode == "steady" else 0)
    if args.mode == "steady":
        asyncio.run(load.steady(args.rate, args.seconds))
    else:
        asyncio.run(load.saturate(args.concurrency, args.seconds))
    Path(args.out).write_text(json.dumps({
        "cpu_seconds": time.process_time(), "wall": load.wall, "started": load.started,
        "requests": load.requests, "refused": load.refused, "effects": load.effects}))


# --------------------------------------------------------------------------- the orchestrator


def effects_applied(suite: Any) -> dict[str, int]:
    """Notices in the directives log; tasks on the tasks board and in the reports directory
    (the rows their query APIs read)."""
    import psycopg

    counts = {}
    for name, query in (
            ("notices", "select count(*) from directives_events where topic like '%Directive.Issued'"),
            ("tasks board", "select count(*) from board_tasks"),
            ("reports directory", "select count(*) from rpt_tasks")):
        service = {"notices": "directives", "tasks board": "tasks",
                   "reports directory": "reports"}[name]
        with psycopg.connect(suite.databases[service]) as conn:
            counts[name] = int(conn.execute(query).fetchone()[0])
    return counts


class Backlog:
    """Samples every second, in a thread, how many tasks the downstream still has to show."""

    def __init__(self, suite: Any) -> None:
        self.suite = suite
        self.samples: list[dict[str, Any]] = []
        self.stopped = False

    def run(self, started: float) -> None:
        while not self.stopped:
            counts = effects_applied(self.suite)
            owed = counts["notices"] * ITEMS
            self.samples.append({"t": round(time.perf_counter() - started, 1), **counts,
                                 "tasks_behind": owed - min(counts["tasks board"],
                                                            counts["reports directory"])})
            time.sleep(1)


def downstream_caught_up(suite: Any, started: float, limit: float) -> dict[str, Any]:
    """Seconds from `started` until every notice's tasks show downstream (or `limit`)."""
    while True:
        counts = effects_applied(suite)
        owed = counts["notices"] * ITEMS
        done = counts["tasks board"] >= owed and counts["reports directory"] >= owed
        elapsed = time.perf_counter() - started
        if done or elapsed > limit:
            relayed = caught_up(suite) if done else None  # the outboxes and consumer offsets too
            return {"seconds": round(elapsed, 1), "complete": done, **counts,
                    "relay_and_consumers_after_seconds": None if relayed is None else round(relayed, 1)}
        time.sleep(0.2)


def backlog_figures(samples: list[dict[str, Any]], schedule: float, sampled: float,
                    downstream: dict[str, Any]) -> dict[str, Any]:
    """The tasks still owed downstream during a steady run: the most, when the schedule
    ended, and how long after it none was owed (the load generator keeps following its
    last requests after the schedule, so the sampling goes on past it)."""
    behind = [s["tasks_behind"] for s in samples]
    at_end = next((s["tasks_behind"] for s in samples if s["t"] >= schedule), behind[-1] if behind else None)
    cleared = next((s["t"] for s in samples if s["t"] >= schedule and s["tasks_behind"] <= 0), None)
    after = (cleared - schedule if cleared is not None
             else sampled - schedule + downstream["seconds"] if downstream["complete"] else None)
    return {"tasks_behind_max": max(behind) if behind else None,
            "tasks_behind_at_schedule_end": at_end,
            "caught_up_after_schedule_seconds": None if after is None else round(after, 1)}


def request_figures(result: dict[str, Any]) -> dict[str, Any]:
    requests = result["requests"]
    notices = sum(r["notices"] for r in requests)
    span = max([result["wall"], *(r["at"] - result["started"] for r in requests)])
    latency = [r["seconds"] for r in requests]
    effects = [e for e in result["effects"] if e is not None]
    return {
        "requests": len(requests), "notices": notices, "seconds": round(span, 2),
        "notices_per_second": round(notices / span, 1) if span else None,
        "requests_per_second": round(len(requests) / span, 1) if span else None,
        "refused": len(result["refused"]), "refusals": result["refused"][:3],
        "request_p50_ms": ms(percentile(latency, 50)), "request_p99_ms": ms(percentile(latency, 99)),
        "followed": len(result["effects"]), "followed_missed": len(result["effects"]) - len(effects),
        "end_to_end_p50_ms": ms(percentile(effects, 50)), "end_to_end_p99_ms": ms(percentile(effects, 99)),
    }


def drive(argv: list[str], out: Path) -> dict[str, Any]:
    if subprocess.run(argv).returncode != 0:
        raise RuntimeError("the load generator failed")
    return json.loads(out.read_text())


def load_argv(plan_file: Path, out: Path, mode: str, size: int, args: argparse.Namespace,
              rate: float = 0) -> list[str]:
    return [sys.executable, __file__, "load", "--plan", str(plan_file), "--out", str(out),
            "--mode", mode, "--size", str(size), "--rate", str(rate or 1),
            "--seconds", str(args.steady_seconds if mode == "steady" else args.seconds),
            "--concurrency", str(args.concurrency),
            "--follow-per-second", str(args.follow_per_second)]


async def prepare(suite: Any, today: date) -> dict[str, Any]:
    import httpx

    office = suite.headers("office")
    units = [f"B{n:03d}" for n in range(UNITS)]
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(timeout=60) as client:
        async def register(unit: str) -> None:
            async with gate:
                answer = await client.post(f"{suite.url('directives')}/units", headers=office,
                                           json={"code": unit, "name": f"Đơn vị đo tải {unit}"})
            if answer.status_code != 201:
                raise RuntimeError(f"unit {unit}: {answer.status_code} {answer.text[:300]}")

        await asyncio.gather(*(register(u) for u in units))
    return {"directive_urls": suite.api_urls("directives"), "tasks_url": suite.url("tasks"),
            "office": suite.token("office", ttl_seconds=24 * 3600), "units": units,
            "today": str(today)}


def main(args: argparse.Namespace) -> None:
    from dondoc.dev.suite import ProcessSuite
    from dondoc_platform.calendar import local_day
    from dondoc_platform.clock import SystemClock

    with stack_and_raw_baseline(args) as (stack, results):
        postgres, kafka = stack.postgres.url, stack.kafka.address()
        with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch, ProcessSuite(
                Path(scratch) / "suite", kafka_bootstrap=kafka, postgres_url=postgres,
                env={"DONDOC_LOG_LEVEL": "WARNING"}) as suite:
            for _ in range(args.api_processes - 1):
                suite.add_api_process("directives")
            plan = asyncio.run(prepare(suite, local_day(SystemClock().now())))
            plan_file = Path(scratch) / "plan.json"
            plan_file.write_text(json.dumps(plan))
            say(f"{UNITS} units registered; settled in {caught_up(suite):.1f} s")
            roots = processes(suite, stack)

            results["saturation"] = {}
            for size in args.sizes:
                say(f"saturation, {size} notice(s) a request: {args.concurrency} clients for "
                    f"{args.seconds} s")
                out = Path(scratch) / f"sat-{size}.json"
                before, started = cpu_seconds(roots), time.perf_counter()
                load = drive(load_argv(plan_file, out, "saturate", size, args), out)
                accepted_cpu = cpu_seconds(roots)
                load_ended = time.perf_counter()
                figures = results["saturation"][str(size)] = request_figures(load)
                figures["cpu_accepting"] = cpu_figures(before, accepted_cpu, load["cpu_seconds"],
                                                       figures["notices"], load_ended - started)
                figures["downstream"] = downstream_caught_up(suite, load_ended, args.catch_up_limit)
                whole = time.perf_counter() - started
                figures["cpu_with_effects"] = cpu_figures(before, cpu_seconds(roots), load["cpu_seconds"],
                                                          figures["notices"], whole)
                figures["system_notices_per_second"] = (
                    round(figures["notices"] / (figures["seconds"] + figures["downstream"]["seconds"]), 1)
                    if figures["downstream"]["complete"] else None)
                figures["load_average_after"] = machine()["load_average_1_5_15"]
                say(f"  {figures['notices_per_second']}/s accepted "
                    f"({figures['cpu_accepting']['cpu_ms_per_command']} ms CPU each); downstream "
                    f"{figures['downstream']['seconds']} s after; whole system "
                    f"{figures['system_notices_per_second']}/s "
                    f"({figures['cpu_with_effects']['cpu_ms_per_command']} ms CPU each)")

            results["steady"] = {}
            for spec in args.steady:
                rate, size = (float(x) for x in spec.split("x"))
                size = int(size)
                say(f"steady: {rate:g} notices/s in requests of {size} for {args.steady_seconds} s")
                out = Path(scratch) / f"steady-{spec}.json"
                backlog = Backlog(suite)
                before, started = cpu_seconds(roots), time.perf_counter()
                sampler = threading.Thread(target=backlog.run, args=(started,), daemon=True)
                sampler.start()
                load = drive(load_argv(plan_file, out, "steady", size, args, rate), out)
                load_ended = time.perf_counter()
                backlog.stopped = True
                sampler.join()
                figures = results["steady"][spec] = request_figures(load)
                figures["downstream"] = downstream_caught_up(suite, load_ended, args.catch_up_limit)
                figures["cpu"] = cpu_figures(before, cpu_seconds(roots), load["cpu_seconds"],
                                             figures["notices"], time.perf_counter() - started)
                figures.update(backlog_figures(backlog.samples, args.steady_seconds,
                                               load_ended - started, figures["downstream"]))
                figures["tasks_behind_samples"] = [(s["t"], s["tasks_behind"]) for s in backlog.samples]
                figures["load_average_after"] = machine()["load_average_1_5_15"]
                say(f"  {figures['notices_per_second']}/s accepted; tasks behind: max "
                    f"{figures['tasks_behind_max']}, when the schedule ended "
                    f"{figures['tasks_behind_at_schedule_end']}; caught up "
                    f"{figures['caught_up_after_schedule_seconds']} s after it; end to end p50 "
                    f"{figures['end_to_end_p50_ms']} ms, p99 {figures['end_to_end_p99_ms']} ms")
    raw = results["raw_mean_per_second"]
    results["ratios_to_raw"] = {
        size: {"accepted": round(f["notices_per_second"] / raw, 2),
               "whole_system": (round(f["system_notices_per_second"] / raw, 2)
                                if f["system_notices_per_second"] else None)}
        for size, f in results["saturation"].items()}
    emit(results, args.json)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", nargs="?", default="run", choices=["run", "load"])
    parser.add_argument("--sizes", default="1,10,50,200",
                        help="notices per request at saturation, comma-separated (1: POST /directives)")
    parser.add_argument("--seconds", type=float, default=10,
                        help="length of each saturation run (each batch size)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients at saturation")
    parser.add_argument("--steady", action="append",
                        help="RATExSIZE: notices per second in requests of SIZE (repeatable; "
                             "default 100x10, 200x50)")
    parser.add_argument("--steady-seconds", type=float, default=30)
    parser.add_argument("--follow-per-second", type=float, default=0.5,
                        help="requests a second followed to their tasks in the tasks API (steady)")
    parser.add_argument("--catch-up-limit", type=float, default=240,
                        help="longest wait for the downstream after a run, in seconds")
    parser.add_argument("--raw-seconds", type=float, default=10)
    parser.add_argument("--api-processes", type=int, default=2,
                        help="processes answering the directives API (the first runs its workers)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--plan")
    parser.add_argument("--out")
    parser.add_argument("--mode", choices=["steady", "saturate"])
    parser.add_argument("--size", type=int)
    parser.add_argument("--rate", type=float)
    return parser.parse_args()


if __name__ == "__main__":
    parsed = arguments()
    if parsed.role == "load":
        run_load(parsed)
    else:
        parsed.sizes = [int(s) for s in parsed.sizes.split(",")]
        parsed.steady = parsed.steady or ["100x10", "200x50"]
        main(parsed)
