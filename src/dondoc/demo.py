"""`dondoc demo`: a province's story from 2016 to today, on the embedded defaults.

It brings up Kafka and the suite's services (SQLite stores) in the stack's directory,
generates the demo province (`dondoc.scenario`, a fixed seed, today's date) as the office's
own workbook, enters it through the real import and the services' APIs, records the review
team's item-by-item assessments of the 2018 reports through the reports API, waits until
the read models have caught up, prints the 2018 scorecard and the trend across the years
from the analytics API, writes the 2018 annual review report, and keeps everything running
until Ctrl-C. A second run reuses the loaded data when it was loaded for the same seed and
date (or finishes a load that was interrupted); otherwise, or with `--fresh`, it starts from
a clean slate.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from dondoc.dev import Stack

DEMO_SEED = 2018
REVIEWED_YEAR = 2018
#: what the demo leaves in the stack's directory (everything else is the stack's own)
DEMO_PARTS = ("demo", "data", "kafka", "services", "reports")
GENERIC_COMMENT = ("Báo cáo còn chung chung, chưa bám sát các nội dung chỉ đạo cụ thể tại Thông báo "
                   "kết luận; mới thống kê tiến độ, chưa đánh giá chất lượng, hiệu quả.")
SPECIFIC_COMMENT = "Báo cáo bám sát từng nội dung chỉ đạo, có đánh giá kết quả và nguyên nhân."


class DemoFailed(Exception):
    """A step of the demo could not be done; the message says which and what to do."""


class Stopped(KeyboardInterrupt):
    """Ctrl-C while loading (the import takes it as an interruption and says how to resume)."""


@dataclass
class Loaded:
    """What the stack's directory holds: the scenario the data was loaded for."""

    seed: int
    today: str
    complete: bool

    @classmethod
    def read(cls, path: Path) -> Loaded | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(data["seed"]), str(data["today"]), bool(data["complete"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.__dict__) + "\n", encoding="utf-8")


def plan_start(state_dir: Path, seed: int, today: date, fresh: bool) -> tuple[str, str]:
    """("fresh" | "reuse" | "resume", the sentence that says so)."""
    loaded = Loaded.read(state_dir / "demo" / "loaded.json")
    has_data = any((state_dir / part).exists() for part in ("data", "kafka"))
    if fresh:
        return "fresh", "Bắt đầu lại từ đầu (--fresh) / starting from a clean slate (--fresh)"
    if loaded is None:
        reason = ("dữ liệu cũ không rõ nguồn gốc / data of unknown origin" if has_data
                  else "lần chạy đầu / first run")
        return "fresh", f"Bắt đầu từ đầu ({reason}) / starting from a clean slate"
    if (loaded.seed, loaded.today) != (seed, today.isoformat()):
        return "fresh", (f"Bắt đầu lại từ đầu: dữ liệu đã nạp là của kịch bản seed {loaded.seed}, ngày "
                         f"{loaded.today} / starting from a clean slate: the loaded data is for seed "
                         f"{loaded.seed} and {loaded.today}, today is {today.isoformat()}")
    if not loaded.complete:
        return "resume", ("Nạp tiếp phần còn lại của lần chạy trước (cùng kịch bản) / resuming the "
                          "earlier load of the same scenario (nothing is entered twice)")
    return "reuse", (f"Dùng lại dữ liệu đã nạp (kịch bản seed {seed}, ngày {today.isoformat()}); "
                     f"`dondoc demo --fresh` để bắt đầu lại / reusing the loaded data (same seed and "
                     f"date); `dondoc demo --fresh` starts from a clean slate")


def clean_slate(stack: Stack, say: Callable[[str], None]) -> None:
    stack.down(report=say)
    for part in DEMO_PARTS:
        shutil.rmtree(stack.config.state_dir / part, ignore_errors=True)


# --------------------------------------------------------------------------- the run


def run(stack: Stack, *, wait: bool, say: Callable[[str], None], console: Any = None,
        fresh: bool = False, seed: int = DEMO_SEED, today: date | None = None) -> int:
    from dondoc.importer.run import today_in_vietnam

    stopping = threading.Event()
    loading = threading.Event()

    def on_signal(*_: object) -> None:
        stopping.set()
        if loading.is_set():
            raise Stopped

    # Set both handlers ourselves: a parent that ignores SIGINT (some shells, test runners)
    # passes that on, and Python then never raises KeyboardInterrupt.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    today = today or today_in_vietnam()
    started = time.monotonic()
    try:
        loading.set()
        how, sentence = plan_start(stack.config.state_dir, seed, today, fresh)
        say(sentence)
        if how == "fresh":
            clean_slate(stack, say)
        say("Khởi động Kafka và các dịch vụ / bringing up Kafka and the services…")
        stack.up(["kafka", "services"], report=say)
        demo = Demo(stack, say, console, seed, today)
        if how != "reuse":
            demo.load()
        demo.settle()
        loading.clear()
        demo.show()
        say(f"Xong sau {time.monotonic() - started:.0f} giây / done in {time.monotonic() - started:.0f} s.")
        if wait and not stopping.is_set():
            say("Các dịch vụ đang chạy. Nhấn Ctrl-C để dừng. / The suite is running. Press Ctrl-C to stop it.")
            while not stopping.wait(0.5):
                pass
        return 0
    except Stopped:
        say("Dừng theo yêu cầu; chạy lại `dondoc demo` để nạp tiếp / stopped on request; run "
            "`dondoc demo` again to resume.")
        return 130
    finally:
        loading.clear()  # a second Ctrl-C must not cut the stop short
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        say("Dừng các dịch vụ và Kafka / stopping the services and Kafka…")
        stack.down(report=say)


class Demo:
    def __init__(self, stack: Stack, say: Callable[[str], None], console: Any, seed: int,
                 today: date) -> None:
        from dondoc.dev.services import SERVICE_NAMES, service_port

        self.stack = stack
        self.say = say
        self.console = console
        self.seed = seed
        self.today = today
        self.home = stack.config.state_dir / "demo"
        self.reports_dir = stack.config.state_dir / "reports"
        base = stack.config.services_base_port
        self.urls = {name: f"http://127.0.0.1:{service_port(name, base)}" for name in SERVICE_NAMES}

    # -- tokens and clients ---------------------------------------------------------------

    def token(self, role: str, subject: str, name: str) -> str:
        from dondoc_platform.auth import DevSigner

        return DevSigner(self.stack.jwks_file).token(subject=subject, roles=[role], name=name,
                                                     ttl_seconds=12 * 3600)

    @contextmanager
    def client(self, service: str, role: str = "office") -> Iterator[httpx.Client]:
        token = self.token(role, f"demo.{role}", "Văn phòng Tỉnh ủy (demo)")
        with httpx.Client(base_url=self.urls[service], timeout=180,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            yield client

    # -- loading --------------------------------------------------------------------------

    def load(self) -> None:
        from dondoc import scenario
        from dondoc.importer.client import Suite
        from dondoc.importer.run import INTERRUPTED, OK, run_import

        marker = self.home / "loaded.json"
        Loaded(self.seed, self.today.isoformat(), complete=False).write(marker)
        province = scenario.generate(seed=self.seed, today=self.today)
        workbook = province.write_workbook(self.home / f"so-theo-doi-{self.seed}-{self.today.isoformat()}.xlsx")
        self.say(f"Kịch bản: một tỉnh, {province.directives[0].issued_on.year}–{self.today.year}, "
                 f"{len(province.directives)} văn bản, {sum(len(d.tasks) for d in province.directives)} "
                 f"nhiệm vụ, {len(province.reports)} báo cáo / the scenario, written as the office's "
                 f"workbook: {workbook}")
        self.say("Nhập sổ theo dõi qua các API / importing it through the services' APIs…")
        office = self.token("office", "vptu.nhaplieu", "Nhập liệu từ sổ theo dõi")
        with Suite({n: self.urls[n] for n in ("directives", "tasks", "reports")}, office) as suite:
            outcome = run_import(suite, [workbook], console=self.console, today=self.today)
        if outcome.code == INTERRUPTED:
            raise Stopped
        if outcome.code != OK:
            raise DemoFailed(f"the import stopped ({outcome.error or outcome.code}); run `dondoc demo` again "
                             "to resume")
        self.review(province)
        Loaded(self.seed, self.today.isoformat(), complete=True).write(marker)

    def review(self, province: Any) -> None:
        """The review team's assessment of each 2018 report, line by line, recorded by the
        office from its records on the day it was made (the reports API's `reviewed_on`)."""
        judged = {r.unit: r for r in province.reports if r.period == str(REVIEWED_YEAR) and r.quality}
        with self.client("reports") as api:
            cycles = [c for c in _all(api, "/cycles") if c["period"]["label"] == str(REVIEWED_YEAR)]
            if not cycles:
                raise DemoFailed(f"no report cycle of {REVIEWED_YEAR} was imported")
            reports = [r for c in cycles for r in _all(api, "/reports", cycle_id=c["cycle_id"])]
            done = skipped = 0
            for obligation in reports:
                wanted = judged.get(obligation["unit_id"])
                if wanted is None or obligation["status"] != "submitted":
                    continue
                detail = _ok(api.get(f"/reports/{obligation['report_id']}"))
                lines = detail["submissions"][-1]["lines"]
                if not lines:
                    skipped += 1  # nothing was open at the cut-off: an empty report has no line to judge
                    continue
                specific = wanted.quality == "specific"
                body = {"revision": detail["revision"], "reviewed_on": wanted.reviewed_on.isoformat(),
                        "comment": SPECIFIC_COMMENT if specific else GENERIC_COMMENT,
                        "lines": [{"task_id": line["task_id"], "verdict": "accepted",
                                   "quality": wanted.quality,
                                   "effectiveness": "high" if specific else "low"} for line in lines]}
                _ok(api.post(f"/reports/{obligation['report_id']}/reviews", json=body,
                             headers={"Idempotency-Key": f"demo-review-{obligation['report_id']}-"
                                                         f"{detail['revision']}"}))
                done += 1
        self.say(f"Tổ rà soát đã đánh giá từng dòng của {done} báo cáo năm {REVIEWED_YEAR}"
                 + (f" ({skipped} báo cáo không có nhiệm vụ nào để đánh giá)" if skipped else "")
                 + f" / the review team assessed {done} reports of {REVIEWED_YEAR} line by line")

    # -- settling -------------------------------------------------------------------------

    def settle(self, timeout: float = 600.0) -> None:
        """Wait until every service has published everything it recorded and the read models
        have applied everything published (analytics `wait`), twice in a row with nothing
        moving in between."""
        self.say("Chờ các bảng số liệu tổng hợp cập nhật / waiting for the read models to catch up…")
        deadline = time.monotonic() + timeout
        while True:
            first = self.outbox()
            if all(lag == 0 for _, lag in first.values()):
                with self.client("analytics", "leader") as api:  # wait: analytics applied all published
                    caught_up = (api.get("/v1/scorecards/tasks", params={"year": REVIEWED_YEAR, "wait": "true"})
                                 .status_code == 200)
                if caught_up and self.outbox() == first:
                    return
            if time.monotonic() > deadline:
                raise DemoFailed(f"the services did not settle in {timeout:.0f} s; see the logs in "
                                 f"{self.stack.config.state_dir / 'services' / 'logs'}")
            time.sleep(0.5)

    def outbox(self) -> dict[str, tuple[float, float]]:
        pattern = re.compile(r'^dondoc_outbox_(position|lag_events)\{service="(\w+)"\} ([0-9.e+]+)$', re.M)
        out = {}
        for name in ("directives", "tasks", "reports"):
            text = httpx.get(f"{self.urls[name]}/metrics", timeout=10).text
            values = {kind: float(v) for kind, service, v in pattern.findall(text) if service == name}
            out[name] = (values.get("position", -1.0), values.get("lag_events", -1.0))
        return out

    # -- showing --------------------------------------------------------------------------

    def show(self) -> None:
        from dondoc import review_report

        with self.client("analytics", "leader") as api:
            card = _ok(api.get("/v1/scorecards/tasks", params={"year": REVIEWED_YEAR, "by": "unit"}))
            years = [_ok(api.get("/v1/scorecards/tasks", params={"year": y, "by": "review_group"}))
                     for y in range(min(2016, self.today.year), self.today.year + 1)]
            review = _ok(api.get(f"/v1/reviews/{REVIEWED_YEAR}"))
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        printed = {"scorecard": card, "trend": [{"year": y["year"], "as_of": y["as_of"], "total": y["total"]}
                                                for y in years]}
        (self.reports_dir / f"scorecard-{REVIEWED_YEAR}.json").write_text(
            json.dumps(printed, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print_scorecard(self.console, card, review["definitions"])
        print_trend(self.console, years)
        written = review_report.write(review, self.reports_dir, ("md", "xlsx", "json"))
        self.say(f"Báo cáo rà soát năm {REVIEWED_YEAR} / the annual review report of {REVIEWED_YEAR}:")
        for path in written:
            self.say(f"  {path}")
        self.show_urls()

    def show_urls(self) -> None:
        state = self.stack.config.state_dir
        dondoc = runnable_command(Path(sys.executable).parent / "dondoc", Path.cwd())
        token = ("" if state == Path.cwd() / ".dondoc" else f"DONDOC_STATE_DIR={state} ") + \
            f"{dondoc} dev token --role leader"
        self.say("API (OpenAPI tại /docs mỗi dịch vụ / each service's OpenAPI at /docs):")
        for name, url in self.urls.items():
            self.say(f"  {name:<14} {url}/docs")
        self.say(f"Mã truy cập / a token: {token}   (office, unit --unit BTG, reviewer, auditor, admin)")
        self.say(f"  e.g. curl -H \"Authorization: Bearer $({token})\" "
                 f"'{self.urls['analytics']}/v1/scorecards/tasks?year={REVIEWED_YEAR}'")
        store = f"DONDOC_STORE_URL=sqlite:///{state / 'data' / 'analytics.sqlite'}"
        self.say(f"Dòng lệnh / command line: {store} {dondoc} scorecard --year {REVIEWED_YEAR}")
        self.say(f"  {store} {dondoc} review-report --year {REVIEWED_YEAR} --out {self.reports_dir}")


def runnable_command(script: Path, cwd: Path) -> str:
    """How the reader types this dondoc in a shell where the demo was started: its path
    (relative when it lives below, `.venv/bin/dondoc` after `make demo`). Never the bare name:
    `uv run` puts the environment on the demo's PATH, not on the reader's shell's."""
    try:
        return str(script.relative_to(cwd))
    except ValueError:
        return str(script)


# --------------------------------------------------------------------------- printing


def rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


TASK_COLUMNS = (("Giao", "assigned"), ("Ch.tiếp", "carried_over"), ("HT đúng", "completed_on_time"),
                ("HT muộn", "completed_late"), ("Tr.hạn", "open_in_time"), ("Quá hạn", "open_overdue"),
                ("K.hạn", "open_no_deadline"), ("Rút", "withdrawn"),
                ("rate_of_due", "on_time_rate_of_due"), ("rate_of_all", "on_time_rate_of_all"))
REPORT_COLUMNS = (("Phải nộp", "reports_due"), ("Đúng hạn", "reports_on_time"), ("Muộn", "reports_late"),
                  ("Chưa nộp", "reports_missing"), ("Cụ thể", "reports_specific"),
                  ("Chung chung", "reports_generic"))


def _cell(figures: dict[str, Any], key: str) -> str:
    return rate(figures.get(key)) if "rate" in key else str(figures.get(key) or 0)


def _figures_table(title: str, rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("Đơn vị / unit", no_wrap=True, overflow="ellipsis", max_width=30)
    for label, _ in columns:
        table.add_column(label, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(row["name"], *[_cell(row["figures"], key) for _, key in columns])
    return table


def print_scorecard(console: Any, card: dict[str, Any], definitions: dict[str, dict[str, str]]) -> None:
    as_of = card["as_of"]
    rows = [*card["rows"], card["total"]]
    console.print(_figures_table(f"Nhiệm vụ năm {card['year']} theo đơn vị chủ trì / {card['year']} task "
                                 f"scorecard by lead unit, as of {as_of}", rows, TASK_COLUMNS))
    console.print("  " + "; ".join(f"{label} = {key}" for label, key in TASK_COLUMNS[:8]), highlight=False)
    for name in ("on_time_rate_of_due", "on_time_rate_of_all"):
        console.print(f"  {name}: {definitions[name]['vi']} / {definitions[name]['en']}", highlight=False)
    console.print(_figures_table(f"Báo cáo tự rà soát năm {card['year']} / self-review reports of "
                                 f"{card['year']}, as of {as_of}",
                                 [r for r in rows if r["figures"].get("reports_due")], REPORT_COLUMNS))
    console.print("  " + "; ".join(f"{label} = {key}" for label, key in REPORT_COLUMNS), highlight=False)
    console.print(f"  Mọi số liệu tính đến / every figure as of {as_of} (Asia/Ho_Chi_Minh): the end of "
                  f"{card['year']}; definitions in docs/services/analytics.md", highlight=False)


def print_trend(console: Any, years: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title="Xu hướng qua các năm (toàn tỉnh) / the trend across years (the province)",
                  title_justify="left")
    for label in ("Năm / year", "Tính đến / as of", "Giao", "Chuyển tiếp", "HT đúng hạn", "HT quá hạn",
                  "Quá hạn", "on_time_rate_of_due", "on_time_rate_of_all"):
        table.add_column(label, justify="right")
    for card in years:
        t = card["total"]["figures"]
        table.add_row(str(card["year"]), card["as_of"][:16], str(t["assigned"]), str(t["carried_over"]),
                      str(t["completed_on_time"]), str(t["completed_late"]), str(t["open_overdue"]),
                      rate(t["on_time_rate_of_due"]), rate(t["on_time_rate_of_all"]))
    console.print(table)


# --------------------------------------------------------------------------- HTTP


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise DemoFailed(f"{response.request.method} {response.request.url}: {response.status_code} "
                         f"{response.text[:500]}")
    return response.json()


def _all(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = _ok(client.get(path, params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})}))
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items
