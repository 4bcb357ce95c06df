"""`dondoc demo` from a fresh state directory, as `make demo` runs it: the demo province goes in
through the real import and APIs, the 2018 scorecard is printed and the annual review report
written; the figures it prints are those `dondoc scorecard` and the analytics API give; the
report's figures are the scenario's own counts (computed here from `scenario.generate`); a
second run reuses the data, waits, and stops cleanly on Ctrl-C, leaving nothing running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from dondoc import scenario
from dondoc.dev import Stack, StackConfig
from dondoc.dev.process import free_port, processes_with
from dondoc_platform.calendar import WorkingCalendar
from tests.support.suite import free_base_port

pytestmark = pytest.mark.e2e

YEAR = 2018
END = date(YEAR + 1, 1, 1)  # the cut day of the end of 2018: facts dated before it count


def _env(state: Path) -> dict[str, str]:
    return dict(
        os.environ,
        DONDOC_STATE_DIR=str(state),
        DONDOC_KAFKA_PORT=str(free_port()),
        DONDOC_KAFKA_CONTROLLER_PORT=str(free_port()),
        DONDOC_POSTGRES_PORT=str(free_port()),
        DONDOC_PROMETHEUS_PORT=str(free_port()),
        DONDOC_SERVICES_BASE_PORT=str(free_base_port(5)),
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )


def _nothing_left(state: Path) -> None:
    assert processes_with(str(state)) == []


@dataclass
class DemoRun:
    state: Path
    env: dict[str, str]
    output: str

    def json(self, name: str) -> Any:
        return json.loads((self.state / "reports" / name).read_text(encoding="utf-8"))

    @property
    def today(self) -> date:
        return date.fromisoformat(json.loads((self.state / "demo" / "loaded.json").read_text())["today"])


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    state = tmp_path_factory.mktemp("demo")
    env = _env(state)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "dondoc.cli", "demo", "--no-wait"], env=env,
                            capture_output=True, text=True, timeout=1200)
    print(f"dondoc demo --no-wait: {time.monotonic() - started:.0f} s", file=sys.stderr)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return DemoRun(state, env, result.stdout)


def test_the_demo_prints_the_scorecard_writes_the_report_and_stops_everything(demo_run: DemoRun) -> None:
    out = demo_run.output
    assert "starting from a clean slate" in out
    assert "Đã nhập / imported" in out
    assert "the review team assessed" in out
    assert "task scorecard by lead unit, as of 2019-01-01T00:00:00+07:00" in out
    assert "on_time_rate_of_due: hoàn thành đúng hạn ÷" in out and "on_time_rate_of_all:" in out
    assert "the trend across years" in out
    for suffix in ("md", "xlsx", "json"):
        path = demo_run.state / "reports" / f"bao-cao-ra-soat-{YEAR}.{suffix}"
        assert path.stat().st_size > 0 and str(path) in out
    assert "/v1/scorecards/tasks?year=2018" in out and "dondoc dev token --role leader" in out
    # the token command it prints runs as printed, in a shell without the project's environment
    command = next(line for line in out.splitlines() if "a token: " in line).split("a token: ")[1].split("   (")[0]
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent)
    shell = {**{k: v for k, v in os.environ.items() if not k.startswith(("DONDOC_", "VIRTUAL_ENV"))}, "PATH": path}
    token = subprocess.run(command, shell=True, env=shell, capture_output=True, text=True, timeout=120)
    assert token.returncode == 0 and token.stdout.strip().count(".") == 2, (command, token.stderr)
    assert "kafka: stopped" in out
    _nothing_left(demo_run.state)


def _printed_rows(demo_run: DemoRun) -> dict[str, dict[str, Any]]:
    card = demo_run.json(f"scorecard-{YEAR}.json")["scorecard"]
    return {row["key"]: row["figures"] for row in card["rows"]}


def test_the_printed_figures_are_those_of_dondoc_scorecard(demo_run: DemoRun) -> None:
    from dondoc.demo import rate

    printed = _printed_rows(demo_run)
    env = {**demo_run.env, "DONDOC_STORE_URL": f"sqlite:///{demo_run.state / 'data' / 'analytics.sqlite'}"}
    result = subprocess.run([sys.executable, "-m", "dondoc.cli", "scorecard", "--year", str(YEAR),
                             "--format", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    cli = {row["key"]: row["figures"] for row in json.loads(result.stdout)["rows"]}
    assert cli == printed and len(cli) == len(scenario.UNITS_OF_THE_PROVINCE)
    card = demo_run.json(f"scorecard-{YEAR}.json")["scorecard"]
    for row in card["rows"]:  # and what the console showed is that record
        f = row["figures"]
        line = next(line for line in demo_run.output.splitlines() if line.startswith(f"│ {row['name'][:20]}"))
        assert rate(f["on_time_rate_of_due"]) in line and rate(f["on_time_rate_of_all"]) in line


def test_a_second_run_reuses_the_data_serves_the_same_figures_and_stops_on_ctrl_c(demo_run: DemoRun) -> None:
    from dondoc_platform.auth import DevSigner

    printed = _printed_rows(demo_run)
    process = subprocess.Popen([sys.executable, "-m", "dondoc.cli", "demo"], env=demo_run.env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    deadline = time.monotonic() + 600
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if "Press Ctrl-C" in line or time.monotonic() > deadline:
            break
    assert any("Press Ctrl-C" in line for line in seen), "".join(seen)
    assert any("reusing the loaded data" in line for line in seen), "".join(seen)
    assert not any("Đã nhập / imported" in line for line in seen)
    # the analytics API answers what the demo printed
    base = int(demo_run.env["DONDOC_SERVICES_BASE_PORT"])
    token = DevSigner(demo_run.state / "auth" / "jwks.json").token(subject="t", roles=["leader"])
    response = httpx.get(f"http://127.0.0.1:{base + 4}/v1/scorecards/tasks",
                         params={"year": YEAR, "by": "unit"}, headers={"Authorization": f"Bearer {token}"},
                         timeout=60)
    assert response.status_code == 200, response.text
    assert {row["key"]: row["figures"] for row in response.json()["rows"]} == printed
    config = StackConfig(state_dir=demo_run.state, cache_dir=StackConfig.from_env().cache_dir,
                         kafka_port=int(demo_run.env["DONDOC_KAFKA_PORT"]))
    assert Stack(config).kafka.running_pid() is not None
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    assert process.returncode == 0, "".join(seen) + rest
    assert "kafka: stopped" in rest
    _nothing_left(demo_run.state)


# --------------------------------------------------------------------------- the scenario's counts


@dataclass
class Expected:
    documents: Counter
    assigned_by_group: Counter
    status: Counter
    overdue_by_domain: Counter
    late_by_domain: Counter
    reports: dict[str, str]       # unit code → on_time | late | missing
    quality: dict[str, str]       # unit code → specific | generic
    key_overdue: set[str]
    carried: Counter              # origin year → carried over
    carried_open: Counter         # origin year → still open at the end of 2018


def expected_counts(province: scenario.Scenario) -> Expected:
    """The scenario's 2018, counted by metrics.md's rules with the working calendar, straight
    from the generated records (no service, no read model)."""
    calendar = WorkingCalendar()
    e = Expected(Counter(), Counter(), Counter(), Counter(), Counter(), {}, {}, set(), Counter(), Counter())
    for d in province.directives:
        if d.issued_on.year == YEAR:
            e.documents[(d.review_group, d.kind)] += 1
        for t in d.tasks:
            completed = t.completed_on if t.completed_on and t.completed_on < END else None
            if d.issued_on > date(YEAR, 12, 31):
                continue
            if d.issued_on.year < YEAR and t.completed_on and t.completed_on < date(YEAR, 1, 1):
                continue  # done before 2018: not in its workload
            due = t.due_on
            if t.adjusted_due_on and t.adjustment_decided_on and t.adjustment_decided_on < END:
                due = t.adjusted_due_on
            due = calendar.effective_due(due) if due else None
            if completed:
                status = "completed_on_time" if due is None or completed <= due else "completed_late"
            elif due is None:
                status = "open_no_deadline"
            else:
                status = "open_overdue" if due < END else "open_in_time"
            e.status[status] += 1
            if d.issued_on.year == YEAR:
                e.assigned_by_group[d.review_group] += 1
            else:
                e.carried[d.issued_on.year] += 1
                e.carried_open[d.issued_on.year] += status.startswith("open")
            if status == "open_overdue":
                e.overdue_by_domain[t.domain] += 1
                if t.key_project:
                    e.key_overdue.add(t.content)
            if status == "completed_late":
                e.late_by_domain[t.domain] += 1
    for r in province.reports:
        if r.period == str(YEAR):
            e.reports[r.unit] = ("missing" if r.submitted_on is None
                                 else "on_time" if r.submitted_on <= r.due_on else "late")
            if r.quality:
                e.quality[r.unit] = r.quality
    return e


def test_the_2018_report_has_the_scenarios_counts(demo_run: DemoRun) -> None:
    province = scenario.generate(seed=2018, today=demo_run.today)
    e = expected_counts(province)
    review = demo_run.json(f"bao-cao-ra-soat-{YEAR}.json")
    codes = {name: code for code, name, *_ in scenario.UNITS_OF_THE_PROVINCE}
    kinds = {"Kết luận": "ket_luan", "Thông báo kết luận": "thong_bao_ket_luan"}

    # documents and tasks by review group: 1 + 9, 19, 10 as the source text says
    assert {(r["review_group"], r["kind"]): r["documents"] for r in review["documents"]["rows"]} == {
        (group, kinds[kind]): n for (group, kind), n in e.documents.items()}
    assert sorted(e.documents.values()) == [1, 9, 10, 19] and review["documents"]["total"] == 39
    assert {r["name"]: r["figures"]["assigned"] for r in review["by_review_group"]["rows"]} == dict(
        e.assigned_by_group)
    # results by status, and the rates from them
    total = review["by_unit"]["total"]
    assert {k: total[k] for k in e.status} == dict(e.status)
    assert total["assigned"] + total["carried_over"] == sum(e.status.values())
    due = e.status["completed_on_time"] + e.status["completed_late"] + e.status["open_overdue"]
    assert total["on_time_rate_of_due"] == pytest.approx(e.status["completed_on_time"] / due)
    assert total["on_time_rate_of_all"] == pytest.approx(e.status["completed_on_time"] / sum(e.status.values()))
    # overdue and late by domain, and the key projects overdue
    domains = {r["name"]: r["figures"] for r in review["by_domain"]["rows"]}
    assert {k: f["open_overdue"] for k, f in domains.items() if f["open_overdue"]} == dict(e.overdue_by_domain)
    assert {k: f["completed_late"] for k, f in domains.items() if f["completed_late"]} == dict(e.late_by_domain)
    assert {t["content"] for t in review["key_tasks"] if t["status"] == "open_overdue"} == e.key_overdue
    assert len(e.key_overdue) == len(scenario.KEY_PROJECTS)
    # the units' reports: timeliness, and the review team's judgement
    units = {codes[u["name"]]: u["figures"] for u in review["by_unit"]["rows"]}
    standing = {code: next(s for s in ("on_time", "late", "missing") if f[f"reports_{s}"])
                for code, f in units.items() if f["reports_due"]}
    assert standing == e.reports
    judged = {code: ("specific" if f["reports_specific"] else "generic")
              for code, f in units.items() if f["reports_specific"] + f["reports_generic"]}
    assert judged == e.quality
    well = {code for code, s in e.reports.items() if s == "on_time" and e.quality.get(code) == "specific"}
    assert {codes[u["name"]] for u in review["reported_well"]} == well
    praised = {code for code, *_, good in scenario.UNITS_OF_THE_PROVINCE if good}
    assert praised <= well  # the units the source text names
    assert {codes[u["name"]] for u in review["reported_late_or_missing"]} == {
        code for code, s in e.reports.items() if s != "on_time"}
    # carried over from 2016 and 2017, never adjusted
    carried = {r["origin_year"]: r for r in review["carry_over"]["by_origin_year"]}
    assert {y: r["carried_over"] for y, r in carried.items()} == dict(e.carried)
    assert {y: r["carried_open"] for y, r in carried.items()} == dict(e.carried_open)
    assert all(r["never_adjusted"] == r["carried_open"] > 0 for r in carried.values())
    # every figure with its definition and the as-of moment
    assert review["as_of"] == "2019-01-01T00:00:00+07:00"
    for name in ("on_time_rate_of_due", "reports_generic", "carried_open", "documents"):
        assert review["definitions"][name]["vi"] and review["definitions"][name]["en"]
    for words in ("definitions", "labels"):  # none of them is a bare key
        assert [n for n, text in review[words].items() if n in (text["vi"], text["en"])] == []
    markdown = (demo_run.state / "reports" / f"bao-cao-ra-soat-{YEAR}.md").read_text(encoding="utf-8")
    assert "Tổ rà soát đã rà soát 39 văn bản: 1 kết luận, 9 thông báo kết luận (Kinh tế - xã hội)" in markdown
    assert "24:00 ngày 31/12/2018" in markdown
