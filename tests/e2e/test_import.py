"""`dondoc import` against the real services (processes, as `dondoc dev up services` runs
them, on the test run's Kafka): a good workbook becomes the same events as live use with the
business dates of its rows; the same content as csv files changes nothing; a file with each
kind of error writes nothing and names every problem's sheet, row and column; an import
killed half-way and run again ends where one clean import ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from dondoc.importer.run import INPUT_PROBLEMS, OK, run_import
from dondoc.importer.sheets import HEADERS, REPORTS, TASKS, UNITS
from dondoc.scenario import generate
from tests.support.services import until
from tests.support.suite import RunningSuite, event_counts, running_suite, settled, snapshot

pytestmark = pytest.mark.e2e

KT, DANG, MT = "Kinh tế - xã hội", "Xây dựng Đảng, hệ thống chính trị, nội chính", "Mặt trận, đoàn thể"

UNIT_ROWS = [
    ["SKHDT", "Sở Kế hoạch và Đầu tư", KT, "UBND tỉnh", "skhdt@example.vn"],  # its parent comes later
    ["BTG", "Ban Tuyên giáo Tỉnh ủy", DANG, "", "btg@example.vn"],
    ["UBND", "UBND tỉnh", KT, "", "ubnd@example.vn; vp.ubnd@example.vn"],
    ["MTTQ", "Ủy ban MTTQ Việt Nam tỉnh", MT, "", ""],
]

DOC_2016 = {"Số hiệu": "125-TB/TU", "Loại văn bản": "Thông báo kết luận", "Cơ quan ban hành": "TT",
            "Ngày ban hành": "01/03/2016", "Trích yếu": "Kết luận về Khu kinh tế Đông Nam",
            "Nhóm rà soát": KT}
DOC_2018 = {"Số hiệu": "125-TB/TU", "Loại văn bản": "Thông báo kết luận", "Cơ quan ban hành": "BTV",
            "Ngày ban hành": "05/03/2018", "Trích yếu": "Kết luận về công tác tuyên truyền",
            "Nhóm rà soát": DANG}
DOC_2017 = {"Số hiệu": "12-KL/TU", "Loại văn bản": "Kết luận", "Cơ quan ban hành": "BTV",
            "Ngày ban hành": "10/01/2017", "Trích yếu": "Kết luận về công tác Mặt trận", "Nhóm rà soát": MT}

TASK_ROWS: list[dict[str, str]] = [
    {**DOC_2016, "Nội dung nhiệm vụ": "Thu hồi đất Khu kinh tế Đông Nam", "Đơn vị chủ trì": "SKHDT",
     "Đơn vị phối hợp": "UBND tỉnh", "Lĩnh vực": "Đất đai", "Thời hạn": "30/06/2016",
     "Thời hạn điều chỉnh": "30/09/2016", "Số quyết định điều chỉnh": "1520-CV/TU",
     "Ngày quyết định điều chỉnh": "20/06/2016", "Ngày hoàn thành": "15/09/2016",
     "Trạng thái": "Đã hoàn thành", "Kết quả": "Đã bàn giao mặt bằng", "Trọng điểm": "x"},
    {**DOC_2016, "Nội dung nhiệm vụ": "Báo cáo kết quả thực hiện", "Đơn vị chủ trì": "UBND tỉnh",
     "Thời hạn": "31/05/2016", "Ngày hoàn thành": "20/05/2016", "Trạng thái": "Đã hoàn thành"},
    {**DOC_2016, "Nội dung nhiệm vụ": "Rà soát quy hoạch", "Đơn vị chủ trì": "ubnd",
     "Thời hạn": "31/05/2016", "Ngày hoàn thành": "15/07/2016"},
    {**DOC_2016, "Nội dung nhiệm vụ": "Bàn giao đất lâm nghiệp", "Đơn vị chủ trì": "Sở Kế hoạch và Đầu tư",
     "Thời hạn": "31/10/2016", "Trạng thái": "Chưa hoàn thành", "Trọng điểm": "x"},
    {**DOC_2016, "Nội dung nhiệm vụ": "Tổng kết đề án", "Đơn vị chủ trì": "UBND tỉnh",
     "Thời hạn": "30/12/2016", "Trạng thái": "Rút", "Số quyết định điều chỉnh": "99-QĐ/TU",
     "Ngày quyết định điều chỉnh": "01/12/2016"},
    {**DOC_2018, "Nội dung nhiệm vụ": "Tuyên truyền Nghị quyết", "Đơn vị chủ trì": "BTG",
     "Ngày hoàn thành": "20/12/2018", "Trạng thái": "Đã hoàn thành"},
    {**DOC_2018, "Nội dung nhiệm vụ": "Tuyên truyền Nghị quyết", "Đơn vị chủ trì": "MTTQ",
     "Thời hạn": "30/11/2018"},
    {**DOC_2017, "Nội dung nhiệm vụ": "Chỉ đạo triển khai", "Đơn vị chủ trì": "MTTQ",
     "Thời hạn": "28/02/2017", "Ngày hoàn thành": "27/02/2017"},
]

REPORT_ROWS = [
    ["BTG", "2016", "30/11/2016", "25/11/2016"],        # nothing open: an empty report, on time
    ["UBND tỉnh", "Năm 2016", "30/11/2016", "28/11/2016"],
    ["SKHDT", "2016", "30/11/2016", "15/12/2016"],     # late
    ["MTTQ", "2016", "30/11/2016", ""],                # missing
    ["BTG", "Quý I/2018", "16/04/2018", "10/04/2018"],
]


def _task_values(row: dict[str, str]) -> list[str]:
    return [row.get(h, "") for h in HEADERS[TASKS]]


def workbook(path: Path, units=UNIT_ROWS, tasks=TASK_ROWS, reports=REPORT_ROWS) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "Đơn vị"
    for values in [list(HEADERS[UNITS]), *units]:
        sheet.append(values)
    sheet = book.create_sheet("Nhiệm vụ")
    for values in [list(HEADERS[TASKS]), *(_task_values(r) for r in tasks)]:
        sheet.append(values)
    sheet = book.create_sheet("Báo cáo")
    for values in [list(HEADERS[REPORTS]), *reports]:
        sheet.append(values)
    book.save(path)
    return path


def csv_files(directory: Path) -> list[Path]:
    """The same content as three csv files as Excel saves them: BOM, semicolons, CRLF."""
    def write(name: str, rows: list[list[str]]) -> Path:
        path = directory / name
        text = "\r\n".join(";".join(f'"{v}"' if ";" in v or "," in v else v for v in row) for row in rows)
        path.write_bytes(("\ufeff" + text + "\r\n").encode("utf-8"))
        return path

    return [write("don-vi.csv", [list(HEADERS[UNITS]), *UNIT_ROWS]),
            write("nhiem-vu.csv", [list(HEADERS[TASKS]), *(_task_values(r) for r in TASK_ROWS)]),
            write("bao-cao.csv", [list(HEADERS[REPORTS]), *REPORT_ROWS])]


def imported(suite: RunningSuite, paths: list[Path], **options: Any):
    with suite.client() as client:
        return run_import(client, paths, wait_seconds=120, **options)


def settled_snapshot(suite: RunningSuite, **options: Any) -> dict[str, Any]:
    """The suite's state once settled and the same twice in a row: `settled` reads the
    relays' gauges, and a relay still publishing its last partial batch reads 'caught up'
    (it observes its lag at the start of a pump only when a backlog fills a batch), so
    'nothing left to publish or read' alone can come a moment before the last effects."""
    until_settled(suite)
    previous = snapshot(suite, **options)
    deadline = time.monotonic() + 120
    while True:
        until_settled(suite)
        current = snapshot(suite, **options)
        if current == previous:
            return current
        assert time.monotonic() < deadline, "the suite's state kept changing"
        previous = current


def until_settled(suite: RunningSuite) -> None:
    import asyncio

    asyncio.run(until(lambda: settled(suite), timeout=120, what="the suite to settle"))


def counts(outcome) -> dict[str, tuple[int, int]]:
    return {name: (c.created, c.existing) for name, c in outcome.done.items()}


# --------------------------------------------------------------------------- a good file


def test_a_good_workbook_then_the_same_csv_files_change_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    with running_suite(tmp_path / "suite", kafka_bootstrap, hold_seconds=15) as suite:
        dry = imported(suite, [workbook(tmp_path / "so-theo-doi.xlsx")], dry_run=True)
        assert dry.code == OK and dry.done is None
        assert (dry.plan.expected["directives"].created, dry.plan.expected["tasks"].created) == (3, 8)
        assert event_counts(suite) == Counter()  # the dry run wrote nothing

        first = imported(suite, [tmp_path / "so-theo-doi.xlsx"])
        assert first.code == OK, first.error
        assert counts(first) == {
            "units": (4, 0), "directives": (3, 0), "tasks": (8, 0), "adjustments": (1, 0),
            "completions": (5, 0), "withdrawals": (1, 0), "cycles": (2, 0), "reports": (4, 0),
            "closures": (2, 0)}

        with suite.client() as api:
            tasks = {(t["directive_number"], t["assigned_on"][:4], t["content"], t["lead_unit_id"]): t
                     for t in api.get_all("tasks", "/tasks")}
            reports = {(r["period"]["label"], r["unit_id"]): r for r in api.get_all("reports", "/reports")}
            skhdt = api.get("directives", "/units/SKHDT")
        assert skhdt["parent_unit_id"] == "UBND"
        statuses = {(k[0], k[1], k[2]): (t["status"], t["status_against_original"]) for k, t in tasks.items()}
        assert statuses == {
            ("125-TB/TU", "2016", "Thu hồi đất Khu kinh tế Đông Nam"): ("completed_on_time", "completed_late"),
            ("125-TB/TU", "2016", "Báo cáo kết quả thực hiện"): ("completed_on_time", "completed_on_time"),
            ("125-TB/TU", "2016", "Rà soát quy hoạch"): ("completed_late", "completed_late"),
            ("125-TB/TU", "2016", "Bàn giao đất lâm nghiệp"): ("open_overdue", "open_overdue"),
            ("125-TB/TU", "2016", "Tổng kết đề án"): ("withdrawn", "withdrawn"),
            ("125-TB/TU", "2018", "Tuyên truyền Nghị quyết"): ("completed_on_time", "completed_on_time"),
            ("12-KL/TU", "2017", "Chỉ đạo triển khai"): ("completed_on_time", "completed_on_time")}
        land = tasks[("125-TB/TU", "2016", "Thu hồi đất Khu kinh tế Đông Nam", "SKHDT")]
        assert (land["assigned_on"], land["original_due_on"], land["due_on"], land["completed_on"]) == (
            "2016-03-01", "2016-06-30", "2016-09-30", "2016-09-15")
        assert land["key_task"] and land["cooperating_unit_ids"] == ["UBND"]
        assert land["adjustments"][0]["decision"] == {"number": "1520-CV/TU", "decided_on": "2016-06-20",
                                                      "decider": "Thường trực Tỉnh ủy"}
        withdrawn = tasks[("125-TB/TU", "2016", "Tổng kết đề án", "UBND")]
        assert withdrawn["withdrawn_on"] == "2016-12-01"
        assert tasks[("125-TB/TU", "2018", "Tuyên truyền Nghị quyết", "MTTQ")]["status"] == "open_overdue"

        assert {k: (r["first_submitted_on"], r["on_time"], r["overdue_at"]) for k, r in reports.items()} == {
            ("2016", "BTG"): ("2016-11-25", True, None),
            ("2016", "UBND"): ("2016-11-28", True, None),
            ("2016", "SKHDT"): ("2016-12-15", False, "2016-11-30T17:00:00Z"),
            ("2016", "MTTQ"): (None, None, "2016-11-30T17:00:00Z"),
            ("Quý I/2018", "BTG"): ("2018-04-10", True, None)}
        assert reports[("2016", "BTG")]["task_ids"] == []
        assert reports[("2016", "SKHDT")]["task_ids"] == [
            tasks[("125-TB/TU", "2016", "Bàn giao đất lâm nghiệp", "SKHDT")]["task_id"]]

        # the deadline watcher, after its hold, calls overdue the two tasks still open and
        # none of those the book shows done in time, adjusted in time or withdrawn
        def overdue_tasks() -> Any:
            with suite.client() as api:
                found = {(t["content"], t["lead_unit_id"]): t["overdue_for"]
                         for t in api.get_all("tasks", "/tasks") if t["overdue_for"]}
            return found if len(found) >= 2 else None

        import asyncio

        overdue = asyncio.run(until(overdue_tasks, timeout=120, what="the open tasks overdue"))
        assert overdue == {("Bàn giao đất lâm nghiệp", "SKHDT"): ["2016-10-31"],
                           ("Tuyên truyền Nghị quyết", "MTTQ"): ["2018-11-30"]}
        before = settled_snapshot(suite)
        assert before["events"]["TaskOverdue"] == 2 and before["events"]["ReportOverdue"] == 2
        assert before["events"]["DirectiveIssued"] == 3 and before["events"]["TaskAssigned"] == 8
        assert before["events"]["ReportSubmitted"] == 4
        # every report line made while its task was open stays in the task's history, even
        # when the book's completion or withdrawal reached the tasks service first: SKHDT's
        # on the land still open, UBND's (28/11/2016) on the summary withdrawn on 01/12/2016,
        # BTG's (10/04/2018) on the campaign completed on 20/12/2018
        assert before["events"]["TaskProgressRecorded"] == 3
        claims = {(t["content"], t["lead_unit_id"]): (t["last_progress"] or {}).get("recorded_on")
                  for t in tasks_now(suite) if t["last_progress"]}
        assert claims == {("Bàn giao đất lâm nghiệp", "SKHDT"): "2016-12-15",
                          ("Tổng kết đề án", "UBND"): "2016-11-28",
                          ("Tuyên truyền Nghị quyết", "BTG"): "2018-04-10"}

        again = imported(suite, csv_files(tmp_path))
        assert again.code == OK, again.error
        assert all(created == 0 for created, _ in counts(again).values()), counts(again)
        assert counts(again)["tasks"] == (0, 8) and counts(again)["reports"] == (0, 4)
        assert settled_snapshot(suite) == before


# --------------------------------------------------------------------------- errors


def _bad_task(**change: str) -> dict[str, str]:
    return {**DOC_2017, "Số hiệu": "30-TB/TU", "Nội dung nhiệm vụ": "Nhiệm vụ mới",
            "Đơn vị chủ trì": "BTG", "Thời hạn": "30/06/2017", **change}


def test_a_file_with_each_kind_of_error_writes_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    with running_suite(tmp_path / "suite", kafka_bootstrap) as suite:
        assert imported(suite, [workbook(tmp_path / "good.xlsx")]).code == OK
        before = settled_snapshot(suite)
        changed = [dict(r) for r in TASK_ROWS]
        changed[1]["Ngày hoàn thành"] = "21/05/2016"  # the system has 20/05/2016
        bad_tasks = [*changed,
                     _bad_task(**{"Đơn vị chủ trì": "Sở Không Có"}),
                     _bad_task(**{"Nội dung nhiệm vụ": "Khác", "Ngày ban hành": "31/02/2017",
                                  "Số hiệu": "31-TB/TU"}),
                     _bad_task(**{"Nội dung nhiệm vụ": "", "Số hiệu": "32-TB/TU"}),
                     _bad_task(**{"Số hiệu": "33-TB/TU", "Trạng thái": "Rút"}),
                     _bad_task(**{"Số hiệu": "34-TB/TU", "Ngày hoàn thành": "01/01/2099"})]
        bad_reports = [*REPORT_ROWS, ["BTG", "Kỳ 5", "30/11/2017", ""], ["Ban Không Có", "2017", "30/11/2017", ""]]
        path = workbook(tmp_path / "loi.xlsx", tasks=bad_tasks, reports=bad_reports)
        for dry_run in (True, False):
            outcome = imported(suite, [path], dry_run=dry_run)
            assert outcome.code == INPUT_PROBLEMS and outcome.done is None
            found = {(i.source, i.row, i.column) for i in outcome.plan.issues}
            sheet = "loi.xlsx:Nhiệm vụ"
            assert found == {
                (sheet, 3, "O (Ngày hoàn thành)"),        # contradicts what is registered
                (sheet, 10, "I (Đơn vị chủ trì)"),        # an unknown unit
                (sheet, 11, "D (Ngày ban hành)"),         # a bad date
                (sheet, 12, "H (Nội dung nhiệm vụ)"),     # a missing required cell
                (sheet, 13, "M (Số quyết định điều chỉnh)"),  # Rút without its decision
                (sheet, 13, "N (Ngày quyết định điều chỉnh)"),
                (sheet, 14, "O (Ngày hoàn thành)"),       # a day in the future
                ("loi.xlsx:Báo cáo", 7, "B (Kỳ báo cáo)"),  # an unknown period
                ("loi.xlsx:Báo cáo", 8, "A (Đơn vị)"),    # an unknown unit
            }, outcome.plan.issues
            assert all(i.message_vi and i.message_en for i in outcome.plan.issues)
        assert settled_snapshot(suite) == before


# --------------------------------------------------------------------------- interrupted


def _cli(suite: RunningSuite, path: Path, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, **suite.env(), "PYTHONUNBUFFERED": "1", "COLUMNS": "120"}
    return subprocess.Popen([sys.executable, "-m", "dondoc.cli", "import", str(path)], env=env,
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_an_interrupted_import_resumes_to_the_state_of_one_clean_import(kafka_bootstrap: str,
                                                                        tmp_path: Path) -> None:
    scenario = generate(today=date(2018, 12, 31))
    path = scenario.write_workbook(tmp_path / "tinh.xlsx")
    items = {(d.number, d.issued_on.isoformat()): len(d.tasks) for d in scenario.directives}

    with running_suite(tmp_path / "clean", kafka_bootstrap) as clean:
        assert imported(clean, [path]).code == OK
        expected = settled_snapshot(clean)
    assert len(expected["directives"]) == len(items)

    with running_suite(tmp_path / "resumed", kafka_bootstrap) as suite:
        process = _cli(suite, path, tmp_path)
        seen: list[int] = []

        def far_enough() -> bool:
            with suite.client() as api:
                listed = api.get_all("directives", "/directives")
            # no half-imported directive is ever visible: each has all its items
            assert all(len(d["items"]) == items[(d["number"], d["issued_on"])] for d in listed)
            seen.append(len(listed))
            return len(listed) >= len(items) // 3 or process.poll() is not None

        deadline = time.monotonic() + 300
        while not far_enough():
            assert time.monotonic() < deadline, "the import never got a third of the way"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL, output
        with suite.client() as api:
            registered = len(api.get_all("directives", "/directives"))
        assert 0 < registered < len(items) or \
            len(api_reports(suite)) < len(expected["reports"]), "the import was not interrupted"

        resumed = _cli(suite, path, tmp_path)
        output, _ = resumed.communicate(timeout=600)
        assert resumed.returncode == 0, output
        assert "Đã nhập / imported" in output
        assert_same(settled_snapshot(suite), expected)


def assert_same(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal snapshots; otherwise the first differing entries of each part, readable."""
    differences = []
    for part in expected:
        mine, theirs = actual[part], expected[part]
        if isinstance(theirs, dict):
            keys = sorted(set(mine) | set(theirs), key=str)
            differences += [(part, k, mine.get(k), theirs.get(k)) for k in keys
                            if mine.get(k) != theirs.get(k)][:5]
        elif mine != theirs:
            differences.append((part, None, mine, theirs))
    assert not differences, "\n".join(f"{p} {k}:\n  got      {a}\n  expected {e}"
                                       for p, k, a, e in differences)


def tasks_now(suite: RunningSuite) -> list[Any]:
    with suite.client() as api:
        return api.get_all("tasks", "/tasks")


def api_reports(suite: RunningSuite) -> list[Any]:
    with suite.client() as api:
        return api.get_all("reports", "/reports")
