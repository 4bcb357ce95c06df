"""Commands through the HTTP API: how many per second, and how long from a command's
acceptance until its effect shows in the other services' query APIs.

    uv run python bench/commands.py [--seconds 60] [--rate 20 --rate 100] [--concurrency 24]
                                    [--api-processes 2] [--ceiling] [--json out.json]
    make bench-commands

What runs (nothing in-process, nothing mocked): the local stack's Kafka broker and PostgreSQL
(`dondoc dev up kafka postgres`, on the ports of DONDOC_KAFKA_PORT / DONDOC_POSTGRES_PORT);
directives, tasks and reports as `dondoc serve` processes, each on its own fresh PostgreSQL
database; the load generator as a separate process (asyncio, a small HTTP/1.1 keep-alive
client of its own; `--http-client httpx` for the earlier one).

Two commands, alternated: the office issues a Thông báo kết luận with five items for five
units (POST /directives), and a unit submits its self-review report item by item
(POST /reports/{id}/submissions). Both carry an Idempotency-Key, as a real client's would.

1. raw baseline: the `eventsourcing` library alone saving one aggregate per transaction, on
   the same PostgreSQL, one writer (measured before and after the load; both shown);
2. saturation: `--concurrency` clients send commands back to back for `--seconds`; the rate
   of accepted commands, then how long the other services need to catch up with it
   (`--saturation last` runs it after the steady loads instead, `none` not at all: so a
   steady rate can be measured without the saturation's aftermath on the database and
   the broker);
3. steady load: `--rate` commands per second (open loop) for `--steady-seconds`, for each
   rate given (a rate the machine carries, then 100/s); the acceptance
   latency, and for one command in `--sample` the time from its acceptance until its effect
   is visible: a notice's five tasks in the tasks API (GET /tasks?directive_id=) and in the
   reports service's view of the lead unit (GET /units/{unit}/tasks); a report's claim in
   the tasks API (GET /tasks/{id}/history), each query waiting at the service until its
   answer changes (`Prefer: wait` with the last answer's ETag; `--follow poll`: asked again
   every `--poll-ms`, as in the earlier rounds; `--sample 0`: nothing followed); the resident memory of each service process, sampled every second;
4. with `--ceiling`: the same load generator and bodies at saturation against the command
   APIs' HTTP stack with nothing behind it (`bench/ceiling.py`: uvicorn, FastAPI, the
   platform's app, token check and body validation; then with the idempotency record too),
   the services stopped meanwhile: what the machine could answer if commands cost nothing.

For each run, the CPU time (user + system, from /proc) of every process involved — each
service process, PostgreSQL (its postmaster and backends), Kafka, the load generator —
from the start of the load until the other services caught up, and per accepted command;
the same by kind (`cpu_by_kind`): user and system time apart, and the context switches of
each process's threads, voluntary (waits: futexes, epoll, sockets) and involuntary
(preempted), with the whole machine's time by mode (user, system, softirq, steal…);
and the transactions each service's database committed meanwhile (every autocommit query
counts as one: about the round trips), in all and per accepted command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from datetime import date, timedelta
from pathlib import Path
from collections.abc import Iterator
from typing import Any

UNITS = 200
ITEMS = 5
CYCLES = 60  # each cycle gives every unit one report to submit (enough for 200 commands/s)
_DOSSIER: dict[str, type] = {}
MAX_IN_FLIGHT = 200  # commands the load generator has sent and not yet had answered
MAX_POLLS = 24  # effect queries in flight at once (`--follow poll`)
WAIT_SECONDS = 30  # how long an effect query may wait at the service (`--follow wait`)


# --------------------------------------------------------------------------- the raw baseline


def _dossier() -> type:
    """A minimal aggregate (defined once: the library registers each class by its topic)."""
    from eventsourcing.domain import Aggregate, event

    class Dossier(Aggregate):
        @event("Opened")
        def __init__(self, number: int, title: str) -> None:
            self.number = number
            self.title = title

    return Dossier


def raw_rate(postgres_url: str, seconds: float) -> dict[str, float]:
    """Aggregates saved per second by the eventsourcing library alone, one per transaction."""
    from eventsourcing.application import Application

    from dondoc.dev.suite import _create_database, _drop_database
    from dondoc_platform.stores import StoreURL

    Dossier = _DOSSIER.setdefault("class", _dossier())
    url = _create_database(postgres_url, "bench_raw")
    try:
        app = Application(env=StoreURL.parse(url).eventsourcing_env())
        try:
            for n in range(20):  # warm the pool and the prepared statements
                app.save(Dossier(n, "khởi động"))
            saved, started = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - started) < seconds:
                app.save(Dossier(saved, "Hồ sơ theo dõi thực hiện kết luận"))
                saved += 1
        finally:
            app.close()
    finally:
        _drop_database(postgres_url, url)
    return {"saved": saved, "seconds": round(elapsed, 2), "per_second": round(saved / elapsed, 1)}


# --------------------------------------------------------------------------- setting up


async def prepare(suite: Any, today: date) -> dict[str, Any]:
    """Units, a notice per unit's first task, and CYCLES report cycles: the plan of the load."""
    import httpx

    office = suite.headers("office")
    groups = ("Kinh tế - xã hội", "Xây dựng Đảng, hệ thống chính trị, nội chính",
              "Mặt trận, đoàn thể")
    units = [f"B{n:03d}" for n in range(UNITS)]
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(timeout=60) as client:
        async def post(url: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
            async with gate:
                response = await client.post(url, json=body, headers=office)
            if response.status_code != status:
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:500]}")
            return response.json()

        directives, reports = suite.url("directives"), suite.url("reports")
        await asyncio.gather(*(post(f"{directives}/units", {
            "code": unit, "name": f"Đơn vị đo tải {unit}", "review_group": groups[i % 3]})
            for i, unit in enumerate(units)))
        await asyncio.gather(*(post(f"{directives}/directives", notice(
            f"{n + 1}-TB/CB", today, units[n * ITEMS:(n + 1) * ITEMS], today + timedelta(days=120)))
            for n in range(UNITS // ITEMS)))

        async def every_unit_known() -> bool:
            response = await client.get(f"{reports}/units/{units[-1]}/tasks", headers=office)
            return response.status_code == 200 and len(response.json()["items"]) == 1

        deadline = time.monotonic() + 300
        while not await every_unit_known():
            if time.monotonic() > deadline:
                raise RuntimeError("the reports service never saw the set-up tasks")
            await asyncio.sleep(0.5)
        submissions = []
        for c in range(CYCLES):
            cycle = await post(f"{reports}/cycles", {
                "period": {"kind": "ad_hoc", "label": f"Đợt đo tải {c + 1}",
                           "starts_on": str(today.replace(day=1)), "ends_on": str(today)},
                "data_cutoff_on": str(today), "due_on": str(today + timedelta(days=30))})
            for obligation in cycle["obligations"]:
                submissions.append({"report_id": obligation["report_id"],
                                    "unit_id": obligation["unit_id"],
                                    "task_ids": obligation["task_ids"]})
    random.Random(7).shuffle(submissions)
    return {
        "urls": {name: suite.url(name) for name in suite.names},
        # the commands go round the processes that serve each API (`--api-processes`)
        "command_urls": {name: suite.api_urls(name) for name in suite.names},
        "office": suite.token("office", ttl_seconds=24 * 3600),
        "unit_tokens": {u: suite.token("unit", unit_id=u, ttl_seconds=24 * 3600) for u in units},
        "units": units, "today": str(today), "submissions": submissions,
    }


def notice(number: str, issued_on: date, leads: list[str], due_on: date) -> dict[str, Any]:
    return {
        "number": number, "kind": "thong_bao_ket_luan", "issuing_body": "BTV",
        "issued_on": str(issued_on), "signer": "Phó Bí thư Thường trực",
        "summary": "Thông báo kết luận của Ban Thường vụ Tỉnh ủy về các nhiệm vụ trọng tâm",
        "items": [{"item_id": str(i + 1), "paragraph": f"{i + 1}", "lead_unit_id": lead,
                   "text": f"Tổ chức thực hiện nhiệm vụ {i + 1}: rà soát, báo cáo kết quả",
                   "domain": "Kinh tế", "deadline": {"kind": "date", "due_on": str(due_on)}}
                  for i, lead in enumerate(leads)],
    }


# --------------------------------------------------------------------------- the HTTP client


class HttpError(Exception):
    """No answer: the connection dropped, the answer was not HTTP, or it took too long."""


class Answer:
    __slots__ = ("status_code", "content", "etag")

    def __init__(self, status_code: int, content: bytes, etag: str | None = None) -> None:
        self.status_code = status_code
        self.content = content
        self.etag = etag

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Http:
    """A small HTTP/1.1 keep-alive client on asyncio streams, for the load generator only.

    httpx cost the load generator about 14 % of the machine's CPU at saturation (its pools,
    its models of requests and answers, h11), CPU the services then lacked. This one writes
    the request's bytes at once and reads the answer by its Content-Length (or its chunks):
    the services answer every command and query in JSON, through uvicorn. A connection is
    reused when the answer allows it and closed on any error."""

    #: a connection left idle longer is closed, not reused: uvicorn closes a keep-alive
    #: connection after 5 s idle, and a request written to it then reads nothing
    IDLE_SECONDS = 4.0

    def __init__(self, timeout: float = 60) -> None:
        self.timeout = timeout
        self.idle: dict[tuple[str, int],
                        list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]]] = {}

    async def _connection(self, host: str, port: int) -> tuple[
            asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """A pooled connection used within `IDLE_SECONDS` (True: reused), else a new one."""
        pool = self.idle.setdefault((host, port), [])
        now = time.monotonic()
        while pool:
            reader, writer, since = pool.pop()
            if now - since < self.IDLE_SECONDS:
                return reader, writer, True
            writer.close()
        reader, writer = await asyncio.open_connection(host, port)
        return reader, writer, False

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def _base(url: str) -> tuple[str, int, str]:
        _, _, rest = url.partition("://")
        hostport, slash, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        return host, int(port or 80), slash + path

    async def request(self, method: str, url: str, *, body: bytes | None = None,
                      headers: dict[str, str] | None = None,
                      params: dict[str, Any] | None = None) -> Answer:
        host, port, path = self._base(url)
        if params:
            path += "?" + urllib.parse.urlencode(params)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        reader, writer, reused = await self._connection(host, port)
        try:
            async with asyncio.timeout(self.timeout):
                writer.write(head + body if body is not None else head)
                status, content, keep, etag = await self._answer(reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                TimeoutError) as e:
            writer.close()
            if reused and (isinstance(e, ConnectionError) or (
                    isinstance(e, asyncio.IncompleteReadError) and not e.partial)):
                # the server had closed the kept connection before reading this request (as
                # a client library does, and safe: nothing of it was answered): once more,
                # on a new connection
                return await self.request(method, url, body=body, headers=headers, params=params)
            raise HttpError(f"{type(e).__name__}: {e}") from e
        if keep:
            self.idle.setdefault((host, port), []).append((reader, writer, time.monotonic()))
        else:
            writer.close()
        return Answer(status, content, etag)

    @staticmethod
    async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool, str | None]:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        fields = head.lower()
        keep = b"\r\nconnection: close" not in fields
        etag = None
        if (tag := fields.find(b"\r\netag:")) >= 0:
            etag = head[tag + 7:head.index(b"\r\n", tag + 2)].strip().decode("latin-1")
        at = fields.find(b"\r\ncontent-length:")
        if at >= 0:
            end = fields.index(b"\r\n", at + 2)
            return status, await reader.readexactly(int(fields[at + 17:end])), keep, etag
        if b"\r\ntransfer-encoding: chunked" in fields:
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")  # no trailers are sent
            return status, b"".join(chunks), keep, etag
        return status, await reader.read(), False, etag  # to the end of the connection

    async def post(self, url: str, *, json_body: Any, headers: dict[str, str]) -> Answer:
        return await self.request("POST", url, body=json.dumps(json_body).encode(), headers=headers)

    async def get(self, url: str, *, headers: dict[str, str],
                  params: dict[str, Any] | None = None) -> Answer:
        return await self.request("GET", url, headers=headers, params=params)

    def close(self) -> None:
        for pool in self.idle.values():
            for _, writer, _ in pool:
                writer.close()
        self.idle.clear()


def _etag(answer: Any) -> str | None:
    return answer.etag if isinstance(answer, Answer) else answer.headers.get("etag")


class HttpxClient:
    """httpx behind the same three calls (`--http-client httpx`): the load generator of the
    earlier rounds, to compare what the client itself costs."""

    def __init__(self, connections: int) -> None:
        import httpx

        self.errors = httpx.TransportError
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(60, pool=None),
                                        limits=httpx.Limits(max_connections=connections))

    async def post(self, url: str, *, json_body: Any, headers: dict[str, str]) -> Any:
        return await self._call(self.client.post(url, json=json_body, headers=headers))

    async def get(self, url: str, *, headers: dict[str, str],
                  params: dict[str, Any] | None = None) -> Any:
        return await self._call(self.client.get(url, headers=headers, params=params))

    async def _call(self, sending: Any) -> Any:
        try:
            return await sending
        except self.errors as e:
            raise HttpError(f"{type(e).__name__}: {e}") from e

    def close(self) -> None:
        asyncio.get_running_loop().create_task(self.client.aclose())


def http_client(kind: str, connections: int) -> Http | HttpxClient:
    return HttpxClient(connections) if kind == "httpx" else Http()


# --------------------------------------------------------------------------- the load generator


class Load:
    """Runs in its own process: sends the commands, polls for their effects."""

    def __init__(self, plan: dict[str, Any], *, sample: int, poll_ms: float,
                 client: str = "raw", recycle: bool = False, follow: str = "wait") -> None:
        self.plan = plan
        self.recycle = recycle  # the ceiling takes any report again: the mix stays half and half
        self.client_kind = client
        self.urls = plan["urls"]
        self.command_urls = plan["command_urls"]
        self.office = {"Authorization": f"Bearer {plan['office']}"}
        self.units = plan["units"]
        self.today = date.fromisoformat(plan["today"])
        self.submissions = list(plan["submissions"])
        self.sample = sample
        self.poll = poll_ms / 1000
        self.follow = follow
        self.asks = 0  # effect queries sent (each a request through the HTTP stack)
        self.run = uuid.uuid4().hex[:6].upper()
        self.sent = 0
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.effects: list[dict[str, Any]] = []
        self.poll_errors = 0  # polls of the query APIs that got no answer (overload)
        self.pollers: set[asyncio.Task[None]] = set()
        self.rng = random.Random(11)
        # Commands and polls wait here, not in a client's pool (httpx's rescans its queue for
        # each freed connection): an overloaded run measures the services, not the client.
        self.sending = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.polling = asyncio.Semaphore(MAX_POLLS)

    async def command(self, client: Any, n: int, scheduled: float | None = None) -> None:
        """Send command `n`; its latency counts from when it was due (an open-loop load
        measures the waiting of commands the services could not take in time, too)."""
        kind = "directive" if n % 2 == 0 or not self.submissions else "report"
        started = scheduled or time.perf_counter()
        try:
            async with self.sending:
                await self._command(client, n, kind, started)
        except Exception as e:  # noqa: BLE001 - a timeout or a dropped connection is a figure
            self.refused.append(f"{kind} {type(e).__name__}: {e}"[:300])

    async def _command(self, client: Any, n: int, kind: str, started: float) -> None:
        if kind == "directive":
            leads = self.rng.sample(self.units, ITEMS)
            body = notice(f"{n}-TB/{self.run}", self.today, leads, self.today + timedelta(days=90))
            response = await client.post(f"{self.command_url('directives', n)}/directives",
                                         json_body=body,
                                         headers={**self.office, "Idempotency-Key": uuid.uuid4().hex})
        else:
            report = self.submissions[n % len(self.submissions)] if self.recycle \
                else self.submissions.pop()
            body = {"lines": [{"task_id": t, "status_claimed": "in_progress",
                               "progress": "Đã triển khai, đang tổng hợp kết quả",
                               "evidence": "Kế hoạch số 12-KH"} for t in report["task_ids"]]}
            token = self.plan["unit_tokens"][report["unit_id"]]
            response = await client.post(
                f"{self.command_url('reports', n)}/reports/{report['report_id']}/submissions",
                json_body=body,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})
        accepted = time.perf_counter()
        if response.status_code != 201:
            self.refused.append(f"{kind} {response.status_code} {response.text[:200]}")
            return
        self.accepted.append({"kind": kind, "at": accepted, "seconds": accepted - started})
        if self.sample and (n // 2) % self.sample == 0:  # both kinds of command
            if kind == "directive":
                target = self.directive_visible(client, response.json()["directive_id"], leads,
                                                accepted)
            else:
                target = self.claim_visible(client, report, accepted)
            task = asyncio.create_task(target)
            self.pollers.add(task)
            task.add_done_callback(self.pollers.discard)

    def command_url(self, service: str, n: int) -> str:
        urls = self.command_urls[service]
        return urls[(n // 2) % len(urls)]  # `n` alternates the two kinds of command

    async def until(self, client: Any, ask: Any, shows: Any, since: float, what: str) -> None:
        """Ask `ask(headers)` until `shows(answer)`; the effect's latency is taken when that
        answer arrives. `--follow poll`: every `--poll-ms`. `--follow wait`: each ask waits
        at the service until its answer differs from the last one (`Prefer: wait`, with the
        last answer's ETag), so the service answers within one look (at most 20 ms after
        the commit that shows the effect, plus the query) instead of the client asking
        every 20 ms (`dondoc_platform.longpoll`)."""
        deadline = since + 120
        etag: str | None = None
        while time.perf_counter() < deadline:
            headers: dict[str, str] = {}
            if self.follow == "wait":
                headers["Prefer"] = f"wait={WAIT_SECONDS}"
                if etag:
                    headers["If-None-Match"] = etag
            try:
                if self.follow == "wait":
                    answer = await ask(headers)
                else:
                    async with self.polling:
                        answer = await ask(headers)
            except HttpError:  # a dropped poll under overload: poll again
                self.poll_errors += 1
                answer = None
            self.asks += 1
            if answer is not None and answer.status_code == 200:
                if shows(answer.json()):
                    self.effects.append({"what": what, "seconds": time.perf_counter() - since})
                    return
                unchanged = _etag(answer) == etag
                etag = _etag(answer) or etag
            else:
                unchanged = False
            if self.follow == "poll" or answer is None or unchanged \
                    or answer.status_code not in (200, 304):
                await asyncio.sleep(self.poll)
        self.effects.append({"what": what, "seconds": None})

    async def directive_visible(self, client: Any, directive_id: str, leads: list[str],
                                accepted: float) -> None:
        from dondoc_tasks.domain.tasks import task_id_for

        async def ask_tasks(headers: dict[str, str]) -> Any:
            return await client.get(f"{self.urls['tasks']}/tasks", headers={**self.office, **headers},
                                    params={"directive_id": directive_id})

        last = str(task_id_for(directive_id, str(ITEMS)))

        async def ask_reports(headers: dict[str, str]) -> Any:
            return await client.get(f"{self.urls['reports']}/units/{leads[-1]}/tasks",
                                    headers={**self.office, **headers}, params={"limit": 200})

        await asyncio.gather(
            self.until(client, ask_tasks, lambda page: len(page["items"]) == ITEMS, accepted,
                       "notice → tasks API"),
            self.until(client, ask_reports,
                       lambda page: any(t["task_id"] == last for t in page["items"]), accepted,
                       "notice → reports API"))

    async def claim_visible(self, client: Any, report: dict[str, Any], accepted: float) -> None:
        task_id = report["task_ids"][0]

        async def ask(headers: dict[str, str]) -> Any:
            # the task's history, not its last progress: the same unit's reports of other
            # cycles land on the same task, in any order
            return await client.get(f"{self.urls['tasks']}/tasks/{task_id}/history",
                                    headers={**self.office, **headers})

        await self.until(client, ask, lambda history: any(
            entry["type"] == "TaskProgressRecorded"
            and entry["data"].get("report_id") == report["report_id"] for entry in history),
            accepted, "report → tasks API")

    async def steady(self, rate: float, seconds: float) -> None:
        client = http_client(self.client_kind, MAX_IN_FLIGHT + MAX_POLLS)
        try:
            started = self.started = time.perf_counter()
            inflight: set[asyncio.Task[None]] = set()
            n = 0
            while (elapsed := time.perf_counter() - started) < seconds:
                due = started + n / rate
                if due > time.perf_counter():
                    await asyncio.sleep(due - time.perf_counter())
                task = asyncio.create_task(self.command(client, n, due))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
                n += 1
            self.sent = n
            self.wall = elapsed
            await asyncio.gather(*inflight)
            await asyncio.gather(*list(self.pollers))
        finally:
            client.close()

    async def saturate(self, concurrency: int, seconds: float) -> None:
        counter = iter(range(10**9))
        started = time.perf_counter()
        self.started = started

        async def client_loop(client: Any) -> None:
            while time.perf_counter() - started < seconds:
                await self.command(client, next(counter))

        client = http_client(self.client_kind, concurrency * 2)
        try:
            await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        finally:
            client.close()
        self.wall = time.perf_counter() - started


def run_load(args: argparse.Namespace) -> None:
    plan = json.loads(Path(args.plan).read_text())
    load = Load(plan, sample=args.sample if args.mode == "steady" else 0, poll_ms=args.poll_ms,
                client=args.http_client, recycle=args.recycle_reports, follow=args.follow)
    if args.mode == "steady":
        asyncio.run(load.steady(args.rate, args.seconds))
    else:
        asyncio.run(load.saturate(args.concurrency, args.seconds))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(args.out).write_text(json.dumps({
        "cpu_seconds": time.process_time(),
        "usage": {"user": usage.ru_utime, "system": usage.ru_stime,
                  "voluntary": usage.ru_nvcsw, "involuntary": usage.ru_nivcsw},
        "mode": args.mode, "wall": load.wall, "started": load.started, "sent": load.sent,
        "accepted": load.accepted,
        "refused": load.refused, "effects": load.effects, "poll_errors": load.poll_errors,
        "effect_queries": load.asks,
        "used_reports": len(plan["submissions"]) - len(load.submissions)}))


# --------------------------------------------------------------------------- the orchestrator


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


TICKS = os.sysconf("SC_CLK_TCK")

#: what `process_usage` gives for each root: CPU seconds in user and in kernel (system) mode,
#: and the context switches of its threads: voluntary (it waited: a futex, epoll, a socket)
#: and involuntary (the scheduler took the core away)
USAGE_KINDS = ("user", "system", "voluntary", "involuntary")


def _thread_switches(pid: int) -> tuple[int, int]:
    """Voluntary and involuntary context switches of a live process's threads (each thread's
    /proc/<pid>/task/<tid>/status; the process's own status counts its main thread only).
    Threads that ended meanwhile are not counted: their switches are not kept anywhere
    /proc shows, short of the process's own getrusage."""
    voluntary = involuntary = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0, 0
    for task in tasks:
        try:
            text = (task / "status").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary += int(line.split()[1])
    return voluntary, involuntary


def process_usage(roots: dict[str, int | None], switches: bool = True) -> dict[str, dict[str, float]]:
    """For each root process and all its descendants, so far: CPU seconds in user and in
    system mode (from /proc/<pid>/stat: the live ones' own time and the time of the children
    they have reaped — a PostgreSQL backend that ended is in its postmaster's `cutime` and
    `cstime`) and, with `switches`, the context switches of the live ones' threads."""
    stats: dict[int, tuple[int, float, float]] = {}  # pid -> (parent, user, system)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        # utime, stime, cutime, cstime: fields 14-17 of proc(5), 11-14 after the name
        user, system, children_user, children_system = (int(f) for f in fields[11:15])
        stats[int(entry.name)] = (int(fields[1]), (user + children_user) / TICKS,
                                  (system + children_system) / TICKS)
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    totals = {}
    for name, root in roots.items():
        usage = dict.fromkeys(USAGE_KINDS, 0.0)
        todo = [root] if root in stats else []
        while todo:
            pid = todo.pop()
            usage["user"] += stats[pid][1]
            usage["system"] += stats[pid][2]
            if switches:
                voluntary, involuntary = _thread_switches(pid)
                usage["voluntary"] += voluntary
                usage["involuntary"] += involuntary
            todo.extend(children.get(pid, []))
        totals[name] = usage
    return totals


def cpu_seconds(roots: dict[str, int | None]) -> dict[str, float]:
    """CPU time (user + system) each root process and all its descendants used so far."""
    return {name: u["user"] + u["system"]
            for name, u in process_usage(roots, switches=False).items()}


def machine_times() -> dict[str, float]:
    """The whole machine's CPU seconds by mode since boot and its context switches
    (/proc/stat): `steal` is time the hypervisor gave this VM's virtual cores to others."""
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    figures: dict[str, float] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        parts = line.split()
        if parts[0] == "cpu":
            figures.update({n: int(v) / TICKS for n, v in zip(names, parts[1:9])})
        elif parts[0] == "ctxt":
            figures["context_switches"] = int(parts[1])
    return figures


def sessions_opened(postgres_url: str) -> int:
    """Sessions PostgreSQL has opened so far, over every database (each is a backend forked
    and set up: a pool that closes and reopens connections under load pays it again)."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("select pg_stat_force_next_flush()")
        return int(conn.execute("select coalesce(sum(sessions), 0) from pg_stat_database").fetchone()[0])


def statements_reset(postgres_url: str) -> bool:
    """Forget what pg_stat_statements counted so far (`--statements`); False if the server
    was not started with it (the dev Stack loads it; another server may not)."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        if conn.execute("select 1 from pg_available_extensions where name = 'pg_stat_statements'"
                        ).fetchone() is None:
            return False
        conn.execute("create extension if not exists pg_stat_statements")
        try:
            conn.execute("select pg_stat_statements_reset()")
        except psycopg.errors.ObjectNotInPrerequisiteState:
            return False  # not in shared_preload_libraries
        return True


def statements_top(postgres_url: str, commands: int, top: int = 60) -> list[dict[str, Any]]:
    """Since the reset, over every database: all statements together, then the `top` that
    took the most time and the `top` most often run (round trips cost CPU on both sides
    whatever their execution time), with their calls and milliseconds per command accepted."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        rows = conn.execute(
            "with s as (select coalesce(d.datname, '?') as datname, s.calls, s.total_exec_time,"
            " s.rows, s.query, rank() over (order by s.total_exec_time desc) as by_time,"
            " rank() over (order by s.calls desc) as by_calls from pg_stat_statements s"
            " left join pg_database d on d.oid = s.dbid where d.datname is distinct from 'postgres')"
            " select datname, calls, total_exec_time, rows, query from s"
            " where by_time <= %s or by_calls <= %s order by total_exec_time desc",
            (top, top)).fetchall()
        total = conn.execute("select sum(total_exec_time), sum(calls) from pg_stat_statements s"
                             " left join pg_database d on d.oid = s.dbid"
                             " where d.datname is distinct from 'postgres'").fetchone()
        by_database = conn.execute(
            "select coalesce(d.datname, '?'), sum(s.total_exec_time), sum(s.calls)"
            " from pg_stat_statements s left join pg_database d on d.oid = s.dbid"
            " where d.datname is distinct from 'postgres' group by 1 order by 1").fetchall()
    per = max(commands, 1)
    return [{"all": True, "total_ms": round(float(total[0] or 0), 1),
             "calls": int(total[1] or 0), "ms_per_command": round(float(total[0] or 0) / per, 3),
             "calls_per_command": round(int(total[1] or 0) / per, 2)}] + [
        # every statement of one database together (the top lists leave the small ones out)
        {"all": True, "database": d.removeprefix("suite_").rsplit("_", 1)[0],
         "total_ms": round(float(t or 0), 1), "calls": int(c or 0),
         "ms_per_command": round(float(t or 0) / per, 3),
         "calls_per_command": round(int(c or 0) / per, 2)}
        for d, t, c in by_database] + [
        {"database": d.removeprefix("suite_").rsplit("_", 1)[0], "calls": c,
         "calls_per_command": round(c / per, 2), "total_ms": round(t, 1),
         "ms_per_command": round(t / per, 3), "rows": r, "query": " ".join(q.split())[:300]}
        for d, c, t, r, q in rows]


def transactions(suite: Any) -> dict[str, int]:
    """Transactions each service's database has committed or rolled back so far: on
    PostgreSQL every autocommit statement (the queries, the idempotency record) counts as
    one, so this is about the round trips that write or read. Backends report them at the
    end of a transaction, at most once a second while busy: a phase's figure may miss the
    last second of it."""
    import psycopg

    names = {name: urllib.parse.urlparse(url).path.lstrip("/")
             for name, url in suite.databases.items()}
    with psycopg.connect(next(iter(suite.databases.values())), autocommit=True) as conn:
        rows = dict(conn.execute("select datname, xact_commit + xact_rollback from "
                                 "pg_stat_database where datname = any(%s)",
                                 [list(names.values())]).fetchall())
    return {name: int(rows.get(database, 0)) for name, database in names.items()}


def transaction_figures(before: dict[str, int], after: dict[str, int],
                        accepted: int) -> dict[str, Any]:
    counts = {name: after[name] - before.get(name, 0) for name in after}
    return {"by_database": counts,
            "per_command": round(sum(counts.values()) / accepted, 1) if accepted else None}


def processes(suite: Any, stack: Any) -> dict[str, int | None]:
    """The processes whose CPU a command costs: the services, PostgreSQL, Kafka."""
    pids = {name: suite[name].pidfile.read() for name in suite.names}
    pids.update({f"{name}-{p.instance}": p.pidfile.read()
                 for name, more in suite.api_processes.items() for p in more})
    pids["postgresql"] = stack.components["postgres"].running_pid()
    pids["kafka"] = stack.components["kafka"].running_pid()
    return pids


def cpu_figures(before: dict[str, float], after: dict[str, float], load_generator: float,
                commands: int, seconds: float) -> dict[str, Any]:
    """Where the CPU went while the commands were answered and their effects applied."""
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    used["load generator"] = load_generator
    total = sum(used.values())
    return {
        "cpu_seconds": {name: round(value, 2) for name, value in used.items()},
        "cpu_seconds_total": round(total, 2),
        "cores_busy": round(total / seconds, 2) if seconds else None,
        "cpu_ms_per_command": round(total * 1000 / commands, 2) if commands else None,
        "load_generator_share": round(load_generator / total, 3) if total else None,
    }


def usage_figures(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]],
                  load_generator: dict[str, float], commands: int, seconds: float,
                  machine_before: dict[str, float], machine_after: dict[str, float]) -> dict[str, Any]:
    """The CPU by kind: for each process and in all, user and system CPU-seconds and context
    switches (voluntary, involuntary), in the phase and per command accepted; and the whole
    machine's time by mode (our processes and everyone else's), as shares of its cores."""
    used = {name: {k: after[name][k] - before.get(name, {}).get(k, 0.0) for k in USAGE_KINDS}
            for name in after}
    used["load generator"] = {k: load_generator.get(k, 0.0) for k in USAGE_KINDS}
    used["all"] = {k: sum(u[k] for u in used.values()) for k in USAGE_KINDS}
    per = max(commands, 1)

    def shown(u: dict[str, float]) -> dict[str, float]:
        return {"user_seconds": round(u["user"], 2), "system_seconds": round(u["system"], 2),
                "user_ms_per_command": round(u["user"] * 1000 / per, 2),
                "system_ms_per_command": round(u["system"] * 1000 / per, 2),
                "system_share": round(u["system"] / (u["user"] + u["system"]), 3)
                if u["user"] + u["system"] else None,
                "voluntary_switches": int(u["voluntary"]),
                "involuntary_switches": int(u["involuntary"]),
                "voluntary_per_command": round(u["voluntary"] / per, 1),
                "involuntary_per_command": round(u["involuntary"] / per, 1)}

    modes = {k: machine_after[k] - machine_before.get(k, 0.0) for k in machine_after}
    cores = os.cpu_count() or 1
    return {
        "by_process": {name: shown(u) for name, u in used.items()},
        "machine_cores_by_mode": {k: round(v / seconds, 3) for k, v in modes.items()
                                  if k != "context_switches"} if seconds else None,
        "machine_context_switches_per_second": round(modes.get("context_switches", 0) / seconds)
        if seconds else None,
        "machine_cores": cores,
    }


def usage_line(figures: dict[str, Any]) -> str:
    """The printed summary of `usage_figures`: per command, user + system ms and the
    voluntary / involuntary switches, in all and for each process."""
    def one(name: str, u: dict[str, Any]) -> str:
        return (f"{name} {u['user_ms_per_command']}+{u['system_ms_per_command']} ms "
                f"{u['voluntary_per_command']}/{u['involuntary_per_command']} cs")
    by = figures["by_process"]
    modes = figures["machine_cores_by_mode"] or {}
    return ("per command (user+system, voluntary/involuntary switches): "
            + "; ".join(one(n, u) for n, u in by.items())
            + f" | machine cores: user {modes.get('user')}, system {modes.get('system')}, "
              f"softirq {modes.get('softirq')}, steal {modes.get('steal')}, idle {modes.get('idle')}; "
              f"{figures['machine_context_switches_per_second']} switches/s")


def load_argv(plan_file: Path, mode: str, args: argparse.Namespace, out: Path, rate: float,
              sample: int, recycle: bool = False) -> list[str]:
    seconds = args.steady_seconds if mode == "steady" else args.seconds
    return [sys.executable, __file__, "load", "--plan", str(plan_file), "--mode", mode,
            "--seconds", str(seconds), "--rate", str(rate or 1),
            "--concurrency", str(args.concurrency), "--sample", str(sample),
            "--poll-ms", str(args.poll_ms), "--follow", args.follow,
            "--http-client", args.http_client, "--out", str(out),
            *(["--recycle-reports"] if recycle else [])]


def sample_for(args: argparse.Namespace, rate: float) -> int:
    """Follow one command in this many to its effects. With `--follow-per-second`, the same
    number of commands is followed each second at every rate: the polls of their effects are
    load too (each a query through the HTTP stack), and at 100/s one command in four made
    them cost about as much CPU as the commands themselves."""
    if args.follow_per_second and rate:
        return max(1, round(rate / args.follow_per_second))
    return args.sample


def drive(plan_file: Path, mode: str, args: argparse.Namespace, suite: Any, out: Path,
          rate: float = 0) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Run the load generator process; sample the services' memory meanwhile."""
    argv = load_argv(plan_file, mode, args, out, rate, sample_for(args, rate))
    pids = {name: suite[name].pidfile.read() for name in suite.names}
    pids.update({f"{name}-{p.instance}": p.pidfile.read()
                 for name, more in suite.api_processes.items() for p in more})
    samples: dict[str, list[float]] = {name: [] for name in pids}
    process = subprocess.Popen(argv)
    while process.poll() is None:
        for name, pid in pids.items():
            if pid and (value := rss_mib(pid)) is not None:
                samples[name].append(value)
        time.sleep(1)
    if process.returncode != 0:
        raise RuntimeError(f"the load generator failed ({process.returncode})")
    memory = {name: {"rss_mib_max": round(max(v), 1), "rss_mib_median": round(statistics.median(v), 1)}
              for name, v in samples.items() if v}
    return json.loads(out.read_text()), memory


def ceiling(args: argparse.Namespace, plan: dict[str, Any], scratch: Path, jwks_file: Path,
            postgres: str, idempotency: bool) -> dict[str, Any]:
    """Saturate `bench/ceiling.py`, the command APIs' HTTP stack with nothing behind it, as
    many processes as answer the commands (`--api-processes` for each of the two APIs), with
    the same load generator and bodies; with `idempotency`, its middleware records the keys
    in a fresh database of the same PostgreSQL."""
    import urllib.request

    from dondoc.dev.process import server_port, spawn, wait_until
    from dondoc.dev.suite import _create_database, _drop_database

    store = _create_database(postgres, "bench_ceiling") if idempotency else None
    if store:  # its table made once, before the processes start all at once
        import sqlalchemy as sa

        from dondoc_platform.http import IDEMPOTENCY
        from dondoc_platform.stores import StoreURL

        engine = sa.create_engine(StoreURL.parse(store).sqlalchemy_url())
        IDEMPOTENCY.metadata.create_all(engine)
        engine.dispose()
    env = {**os.environ, "DONDOC_AUTH_JWKS_FILE": str(jwks_file), "DONDOC_LOG_LEVEL": "WARNING"}
    servers: dict[str, list[tuple[str, subprocess.Popen[bytes]]]] = {}
    try:
        for name in ("directives", "reports"):
            for _ in range(args.api_processes):
                port = server_port()
                argv = [sys.executable, str(Path(__file__).with_name("ceiling.py")), "--port", str(port)]
                if store:
                    argv += ["--idempotency-store", store]
                process = spawn(argv, log=scratch / f"ceiling-{port}.log", env=env)
                servers.setdefault(name, []).append((f"http://127.0.0.1:{port}", process))

        def answers(url: str) -> bool:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        for url, process in (s for group in servers.values() for s in group):
            wait_until(lambda: answers(url), timeout=60, what=f"the ceiling on {url}",
                       abort=lambda: None if process.poll() is None else "it exited")
        plan = {**plan, "command_urls": {n: [u for u, _ in group] for n, group in servers.items()}}
        plan_file = scratch / "ceiling-plan.json"
        plan_file.write_text(json.dumps(plan))
        roots: dict[str, int | None] = {
            f"ceiling {n} {i + 1}": p.pid for n, group in servers.items() for i, (_, p) in enumerate(group)}
        if store:
            from dondoc.dev import Stack, StackConfig

            roots["postgresql"] = Stack(StackConfig.from_env()).components["postgres"].running_pid()
        out = scratch / "ceiling.json"
        sessions = sessions_opened(postgres)
        before, started = cpu_seconds(roots), time.perf_counter()
        process = subprocess.Popen(load_argv(plan_file, "saturate", args, out, 0, sample=0,
                                             recycle=True))
        if process.wait() != 0:
            raise RuntimeError(f"the load generator failed ({process.returncode})")
        result = json.loads(out.read_text())
        figures = summarise(result)
        figures["cpu"] = cpu_figures(before, cpu_seconds(roots), result["cpu_seconds"],
                                     len(result["accepted"]), time.perf_counter() - started)
        figures["postgresql_sessions_opened"] = sessions_opened(postgres) - sessions
        return figures
    finally:
        for _, process in (s for group in servers.values() for s in group):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if store:
            _drop_database(postgres, store)


def caught_up(suite: Any) -> float:
    """Seconds until every outbox is relayed and every consumer has applied its backlog."""
    import psycopg

    def behind() -> bool:
        for name in suite.names:
            with psycopg.connect(suite.databases[name]) as conn:
                head = conn.execute(f"select coalesce(max(notification_id), 0) from {name}_events"
                                    ).fetchone()[0]
                relayed = conn.execute("select coalesce(max(position), 0) from dondoc_outbox"
                                       ).fetchone()[0]
            if relayed < head:
                return True
        return _consumer_lag(suite) > 0

    started = time.perf_counter()
    while behind():
        if time.perf_counter() - started > 600:
            raise RuntimeError("the services did not catch up within 10 minutes")
        time.sleep(0.2)
    return time.perf_counter() - started


def _consumer_lag(suite: Any) -> int:
    """Records the tasks and reports consumers have not committed yet (Kafka's own figures)."""
    async def lag() -> int:
        from aiokafka import TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka import AIOKafkaConsumer

        admin = AIOKafkaAdminClient(bootstrap_servers=suite.kafka_bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=suite.kafka_bootstrap)
        await admin.start()
        await consumer.start()
        try:
            total = 0
            for group in (f"{suite.topic_prefix}dondoc-tasks",
                          f"{suite.topic_prefix}dondoc-reports-directory"):
                committed = await admin.list_consumer_group_offsets(group)
                ends = await consumer.end_offsets(list(committed))
                total += sum(max(0, ends[tp] - meta.offset) for tp, meta in committed.items()
                             if isinstance(tp, TopicPartition))
            return total
        finally:
            await consumer.stop()
            await admin.close()

    return asyncio.run(lag())


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    accepted = result["accepted"]
    by_kind = {}
    for kind in ("directive", "report"):
        seconds = [a["seconds"] for a in accepted if a["kind"] == kind]
        by_kind[kind] = {"accepted": len(seconds), "p50_ms": ms(percentile(seconds, 50)),
                         "p99_ms": ms(percentile(seconds, 99))}
    effects = {}
    for what in sorted({e["what"] for e in result["effects"]}):
        values = [e["seconds"] for e in result["effects"] if e["what"] == what]
        seen = [v for v in values if v is not None]
        effects[what] = {"samples": len(values), "missed": len(values) - len(seen),
                         "p50_ms": ms(percentile(seen, 50)), "p99_ms": ms(percentile(seen, 99)),
                         "max_ms": ms(max(seen) if seen else None)}
    all_effects = [e["seconds"] for e in result["effects"] if e["seconds"] is not None]
    # from the first command sent to the last one answered: an overloaded open-loop run
    # keeps answering after its schedule ended
    span = max([result["wall"], *(a["at"] - result["started"] for a in accepted)])
    return {
        "wall_seconds": round(result["wall"], 1), "answered_within_seconds": round(span, 1),
        "accepted_per_second": round(len(accepted) / span, 1),
        "refused": len(result["refused"]), "refusals": result["refused"][:5],
        "acceptance": by_kind,
        "acceptance_p50_ms": ms(percentile([a["seconds"] for a in accepted], 50)),
        "acceptance_p99_ms": ms(percentile([a["seconds"] for a in accepted], 99)),
        "end_to_end": effects,
        "end_to_end_p50_ms": ms(percentile(all_effects, 50)),
        "end_to_end_p99_ms": ms(percentile(all_effects, 99)),
        "effect_queries": result.get("effect_queries"),
    }


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release(), "load_average_1_5_15": [round(x, 2) for x in load],
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def emit(results: dict[str, Any], path: str | None) -> None:
    """The results as JSON on stdout, and in `path` if given."""
    text = json.dumps(results, indent=2, ensure_ascii=False)
    print(text)
    if path:
        Path(path).write_text(text + "\n")


def say(line: str) -> None:
    print(f"[bench] {line}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def stack_and_raw_baseline(args: argparse.Namespace) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The local Kafka and PostgreSQL (a running demo's are reused; what this starts, it
    stops), and the raw rate measured on them before the run and again after it: yields the
    stack and the results, which then hold `raw_before`, `raw_after`, `raw_mean_per_second`
    and the machine's state before and after."""
    from dondoc.dev import Stack, StackConfig

    stack = Stack(StackConfig.from_env())
    left_running = [n for n in ("kafka", "postgres") if stack.components[n].running_pid() is not None]
    stack.up(["kafka", "postgres"], report=say)
    try:
        results: dict[str, Any] = {"machine_before": machine(), "settings": vars(args)}
        say(f"raw baseline: eventsourcing saving one aggregate per transaction ({args.raw_seconds} s)")
        results["raw_before"] = raw_rate(stack.postgres.url, args.raw_seconds)
        say(f"  {results['raw_before']['per_second']}/s")
        yield stack, results
        say(f"raw baseline again ({args.raw_seconds} s)")
        results["raw_after"] = raw_rate(stack.postgres.url, args.raw_seconds)
        results["machine_after"] = machine()
        results["raw_mean_per_second"] = round(statistics.mean(
            [results["raw_before"]["per_second"], results["raw_after"]["per_second"]]), 1)
    finally:
        started = [n for n in ("kafka", "postgres") if n not in left_running]
        if started:
            stack.down(started, report=say)


def main(args: argparse.Namespace) -> None:
    from dondoc.dev.suite import ProcessSuite

    with stack_and_raw_baseline(args) as (stack, results):
        postgres, kafka = stack.postgres.url, stack.kafka.address()
        with tempfile.TemporaryDirectory(prefix="bench-commands-") as scratch, ProcessSuite(
                Path(scratch) / "suite", kafka_bootstrap=kafka, postgres_url=postgres,
                env={"DONDOC_LOG_LEVEL": "WARNING", **dict(e.split("=", 1) for e in args.env)}) as suite:
            for name in ("directives", "reports"):  # the two APIs the commands go to
                for _ in range(args.api_processes - 1):
                    suite.add_api_process(name)
            say(f"services up: {', '.join(f'{n} {suite.api_urls(n)}' for n in suite.names)}")
            from dondoc_platform.calendar import local_day
            from dondoc_platform.clock import SystemClock

            plan = asyncio.run(prepare(suite, local_day(SystemClock().now())))
            plan_file = Path(scratch) / "plan.json"
            plan_file.write_text(json.dumps(plan))
            every_report = list(plan["submissions"])  # the ceiling takes them again
            say(f"prepared {len(plan['units'])} units, {len(plan['submissions'])} reports to submit")
            say(f"waiting for the set-up to settle ({caught_up(suite):.1f} s)")

            roots = processes(suite, stack)

            def measure(mode: str, rate: float = 0) -> dict[str, Any]:
                """One run of the load generator; its figures, and the plan without the
                reports it submitted."""
                sessions, committed = sessions_opened(postgres), transactions(suite)
                counting = mode == "steady" and args.statements and statements_reset(postgres)
                before, whole_before = process_usage(roots), machine_times()
                started = time.perf_counter()
                run, memory = drive(plan_file, mode, args, suite,
                                    Path(scratch) / f"{mode}-{rate:g}.json", rate=rate)
                figures = summarise(run)
                if mode == "steady":
                    figures["followed_one_command_in"] = sample_for(args, rate)
                figures["catch_up_seconds"] = round(caught_up(suite), 1)
                figures["memory"] = memory
                after, whole_after = process_usage(roots), machine_times()
                elapsed = time.perf_counter() - started
                figures["cpu"] = cpu_figures(
                    {n: u["user"] + u["system"] for n, u in before.items()},
                    {n: u["user"] + u["system"] for n, u in after.items()},
                    run["cpu_seconds"], len(run["accepted"]), elapsed)
                figures["cpu_by_kind"] = usage_figures(before, after, run.get("usage", {}),
                                                       len(run["accepted"]), elapsed,
                                                       whole_before, whole_after)
                figures["postgresql_sessions_opened"] = sessions_opened(postgres) - sessions
                figures["postgresql_transactions"] = transaction_figures(
                    committed, transactions(suite), len(run["accepted"]))
                if counting:
                    figures["statements"] = statements_top(postgres, len(run["accepted"]))
                used = run["used_reports"]
                plan["submissions"] = plan["submissions"][: len(plan["submissions"]) - used]
                plan_file.write_text(json.dumps(plan))
                return figures

            def saturate() -> None:
                say(f"saturation: {args.concurrency} clients for {args.seconds} s")
                figures = results["saturation"] = measure("saturate")
                say(f"  {figures['accepted_per_second']}/s accepted, caught up "
                    f"{figures['catch_up_seconds']} s after; "
                    f"{figures['cpu']['cpu_ms_per_command']} ms CPU per command")
                say("  " + usage_line(figures["cpu_by_kind"]))

            results["phase_order"] = args.saturation
            if args.saturation == "first":
                saturate()
            results["steady"] = {}
            for rate in args.rate:
                say(f"steady load: {rate} commands/s for {args.steady_seconds} s")
                figures = results["steady"][f"{rate:g}/s"] = measure("steady", rate)
                say(f"  {figures['accepted_per_second']}/s accepted; end to end p50 "
                    f"{figures['end_to_end_p50_ms']} ms, p99 {figures['end_to_end_p99_ms']} ms; "
                    f"{figures['cpu']['cpu_ms_per_command']} ms CPU per command, "
                    f"{figures['cpu']['cores_busy']} cores busy")
                say("  " + usage_line(figures["cpu_by_kind"]))
            if args.saturation == "last":
                saturate()
            if args.ceiling:
                for process in [*(p for more in suite.api_processes.values() for p in more),
                                *suite.processes.values()]:
                    process.stop()  # the machine to the ceiling alone
                results["ceiling"] = {}
                for variant, idempotency in (("bare", False), ("idempotency", True)):
                    say(f"ceiling ({variant}): the HTTP stack with nothing behind it, "
                        f"{args.concurrency} clients for {args.seconds} s")
                    figures = results["ceiling"][variant] = ceiling(
                        args, {**plan, "submissions": every_report}, Path(scratch),
                        suite.signer.jwks_file, postgres, idempotency)
                    say(f"  {figures['accepted_per_second']}/s answered; "
                        f"{figures['cpu']['cpu_ms_per_command']} ms CPU per command")
    raw = results["raw_mean_per_second"]
    if "saturation" in results:
        results["ratio_saturation_to_raw"] = round(
            results["saturation"]["accepted_per_second"] / raw, 2)
    for variant, figures in results.get("ceiling", {}).items():
        results[f"ratio_ceiling_{variant}_to_raw"] = round(figures["accepted_per_second"] / raw, 2)
    emit(results, args.json)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", nargs="?", default="run", choices=["run", "load"])
    parser.add_argument("--seconds", type=float, default=60, help="length of the saturation run")
    parser.add_argument("--steady-seconds", type=float, default=45, help="length of each steady run")
    parser.add_argument("--rate", type=float, action="append",
                        help="a steady load in commands per second (repeatable; default 20, 100)")
    parser.add_argument("--concurrency", type=int, default=24, help="clients at saturation")
    parser.add_argument("--saturation", choices=["first", "last", "none"], default="first",
                        help="when the saturation run comes: before the steady rates (its "
                             "aftermath - autovacuum, checkpoints, the broker's log work - then "
                             "falls on them), after them, or not at all")
    parser.add_argument("--sample", type=int, default=4, help="follow one command in N to its effect")
    parser.add_argument("--follow-per-second", type=float,
                        help="instead of --sample: follow about this many commands a second to "
                             "their effects, whatever the rate (--sample 4 at 20/s is 5)")
    parser.add_argument("--follow", choices=["wait", "poll"], default="wait",
                        help="how the followed effects are watched: each query waits at the "
                             "service for its answer to change (Prefer: wait), or the query is "
                             "asked again every --poll-ms (the earlier rounds)")
    parser.add_argument("--poll-ms", type=float, default=20)
    parser.add_argument("--raw-seconds", type=float, default=15)
    parser.add_argument("--api-processes", type=int, default=1,
                        help="processes serving the directives and the reports APIs each: the "
                             "first runs the service's workers too, the others `--role api`")
    parser.add_argument("--ceiling", action="store_true",
                        help="also saturate the command APIs' HTTP stack with nothing behind it "
                             "(bench/ceiling.py), bare and with the idempotency record")
    parser.add_argument("--http-client", choices=["raw", "httpx"], default="raw",
                        help="the load generator's HTTP client: a small asyncio one, or httpx")
    parser.add_argument("--env", action="append", default=[],
                        help="NAME=value for every service process (repeatable)")
    parser.add_argument("--statements", action="store_true",
                        help="count each steady run's statements with pg_stat_statements "
                             "(the dev Stack's PostgreSQL loads it) and report the top ones")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--plan")
    parser.add_argument("--mode", choices=["steady", "saturate"])
    parser.add_argument("--out")
    parser.add_argument("--recycle-reports", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    parsed = arguments()
    if parsed.role == "load":
        parsed.rate = parsed.rate[0]
        run_load(parsed)
    else:
        parsed.rate = parsed.rate or [20, 100]
        main(parsed)
