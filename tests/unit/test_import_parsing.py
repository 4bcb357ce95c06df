"""Reading the offices' spreadsheets: formats, dates, names, and located errors."""

from __future__ import annotations

import re
import unicodedata
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from dondoc.importer.records import Directory, parse
from dondoc.importer.sheets import HEADERS, REPORTS, TASKS, UNITS, read_files

pytestmark = pytest.mark.unit

UNIT_ROWS = [
    ["BTG", "Ban Tuyên giáo Tỉnh ủy", "xây dựng đảng,  hệ thống chính trị,   Nội chính ", "", "btg@example.vn"],
    ["UBND", "UBND tỉnh", "Kinh tế - xã hội", "", "ubnd@example.vn; vp@example.vn"],
    ["TXQT", "Thị xã Quảng Trị", "Kinh tế – Xã hội", "UBND tỉnh", ""],
]


def _task(number="125-TB/TU", issued=date(2018, 3, 5), lead="UBND tỉnh", due=date(2018, 6, 30), **over):
    row = {h: "" for h in HEADERS[TASKS]}
    row.update({"Số hiệu": number, "Loại văn bản": "Thông báo kết luận", "Cơ quan ban hành": "BTV",
                "Ngày ban hành": issued, "Trích yếu": "Về Khu kinh tế Đông Nam",
                "Lĩnh vực": "Đất đai", "Nhóm rà soát": "Kinh tế - xã hội",
                "Nội dung nhiệm vụ": "Thu hồi đất", "Đơn vị chủ trì": lead,
                "Đơn vị phối hợp": "Ban Tuyên giáo Tỉnh ủy; TXQT", "Thời hạn": due})
    row.update(over)
    return [row[h] for h in HEADERS[TASKS]]


def _workbook(path: Path, tasks: list[list], reports: list[list] | None = None) -> Path:
    book = Workbook()
    units = book.active
    units.title = "Đơn vị"
    units.append(list(HEADERS[UNITS]))
    for row in UNIT_ROWS:
        units.append(row)
    sheet = book.create_sheet("Nhiệm vụ")
    sheet.append(list(HEADERS[TASKS]))
    for row in tasks:
        sheet.append(row)
    report_sheet = book.create_sheet("Báo cáo")
    report_sheet.append(list(HEADERS[REPORTS]))
    for row in reports or []:
        report_sheet.append(row)
    book.save(path)
    return path


def test_a_good_workbook_with_date_cells(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "so-theo-doi.xlsx", [
        _task(),
        _task(lead="BTG", due="", **{"Nội dung nhiệm vụ": "Tuyên truyền", "Ngày hoàn thành": "20/12/2018",
                                      "Trạng thái": "Đã hoàn thành"}),
        _task(number="7-KL/TU", issued=datetime(2016, 5, 10), lead="txqt",
              **{"Thời hạn điều chỉnh": "31/12/2019", "Số quyết định điều chỉnh": "1520-CV/TU",
                 "Ngày quyết định điều chỉnh": "15/06/2018", "Loại văn bản": "Kết luận"}),
    ], reports=[["Ban Tuyên giáo Tỉnh ủy", "2018", "30/11/2018", date(2018, 11, 28)],
                ["UBND", "2018", date(2018, 11, 30), None]])
    tables, issues = read_files([path])
    parsed = parse(tables, issues=issues)
    assert parsed.issues == []
    assert [u.code for u in parsed.units] == ["BTG", "UBND", "TXQT"]
    assert parsed.units[0].review_group == "Xây dựng Đảng, hệ thống chính trị, nội chính"
    assert parsed.units[1].emails == ("ubnd@example.vn", "vp@example.vn")
    directives = parsed.directives()
    assert sorted(directives) == [("125-TB/TU", 2018), ("7-KL/TU", 2016)]
    first, second = directives[("125-TB/TU", 2018)]
    assert (first.lead_unit, first.cooperating_units, first.due_on) == ("UBND", ("BTG", "TXQT"), date(2018, 6, 30))
    assert (second.due_on, second.completed_on) == (None, date(2018, 12, 20))
    (old,) = directives[("7-KL/TU", 2016)]
    assert (old.issued_on, old.adjusted_due_on, old.adjustment_number) == (date(2016, 5, 10), date(2019, 12, 31), "1520-CV/TU")
    assert [(r.unit, r.submitted_on) for r in parsed.reports] == [("BTG", date(2018, 11, 28)), ("UBND", None)]


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_csv_saved_by_excel_with_bom_and_nfd_names(tmp_path: Path, delimiter: str) -> None:
    nfd = unicodedata.normalize("NFD", "Ban Tuyên giáo Tỉnh ủy")
    units = tmp_path / "don-vi.csv"
    lines = [delimiter.join(HEADERS[UNITS]), delimiter.join(["BTG", nfd, "", "", ""])]
    units.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    tasks = tmp_path / "nhiem-vu.csv"
    row = _task(lead=f"  {nfd.upper()}  ", issued="05/03/2018", due="2018-06-30",
                **{"Đơn vị phối hợp": ""})
    tasks.write_bytes(("\ufeff" + delimiter.join(HEADERS[TASKS]) + "\r\n" +
                       delimiter.join(str(c) for c in row) + "\r\n").encode("utf-8"))
    tables, issues = read_files([units, tasks])
    parsed = parse(tables, issues=issues)
    assert parsed.issues == []
    assert parsed.units[0].name == "Ban Tuyên giáo Tỉnh ủy"  # stored NFC
    assert parsed.tasks[0].lead_unit == "BTG"
    assert parsed.tasks[0].issued_on == date(2018, 3, 5)


@pytest.mark.parametrize(("change", "column", "fragment"), [
    ({"Đơn vị chủ trì": "Sở Không Có"}, "I (Đơn vị chủ trì)", "không có trong danh mục"),
    ({"Ngày ban hành": "31/02/2018"}, "D (Ngày ban hành)", "ngày không hợp lệ"),
    ({"Trích yếu": ""}, "E (Trích yếu)", "thiếu giá trị bắt buộc"),
    ({"Thời hạn": "01/01/2018"}, "K (Thời hạn)", "trước ngày ban hành"),
    ({"Thời hạn điều chỉnh": "31/12/2019"}, "M (Số quyết định điều chỉnh)", "bằng một quyết định"),
    ({"Trạng thái": "Đã hoàn thành"}, "O (Ngày hoàn thành)", "phải có ngày hoàn thành"),
    ({"Loại văn bản": "Thư tay"}, "B (Loại văn bản)", "loại văn bản không xác định"),
    ({"Nội dung nhiệm vụ": "x" * 20_001}, "H (Nội dung nhiệm vụ)", "quá dài"),
])
def test_each_error_is_located_by_sheet_row_and_column(tmp_path: Path, change: dict, column: str,
                                                       fragment: str) -> None:
    path = _workbook(tmp_path / "loi.xlsx", [_task(), _task(**change)])
    tables, issues = read_files([path])
    parsed = parse(tables, issues=issues)
    assert len(parsed.issues) == 1, parsed.issues
    (issue,) = parsed.issues
    assert (issue.source, issue.row, issue.column) == ("loi.xlsx:Nhiệm vụ", 3, column)
    assert fragment in issue.message_vi
    assert len(parsed.tasks) == 1  # the bad row is not taken


def _with_dimension(path: Path, dimension: str) -> Path:
    """The workbook as some programs write it: every sheet claims the given dimension."""
    out = path.with_name(f"dim-{path.name}")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data, found = re.subn(rb'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{dimension}"/>'.encode(),
                                      data)
                assert found == 1
            target.writestr(item, data)
    return out


def test_a_workbook_with_a_wrong_dimension_loses_no_row(tmp_path: Path) -> None:
    """Some programs record a sheet's size as "A1": every row is read all the same, with the
    row number the office sees (the header need not be on row 1)."""
    book = Workbook()
    sheet = book.active
    sheet.append(["Sổ theo dõi nhiệm vụ năm 2018"])
    sheet.append([])
    sheet.append(list(HEADERS[TASKS]))
    for n in range(1, 6):
        sheet.append(_task(**{"Nội dung nhiệm vụ": f"Nhiệm vụ {n}", "Đơn vị phối hợp": ""}))
    sheet.append(_task(**{"Ngày ban hành": "31/02/2018", "Đơn vị phối hợp": ""}))
    book.save(tmp_path / "so.xlsx")
    path = _with_dimension(tmp_path / "so.xlsx", "A1")
    directory = Directory()
    directory.add("UBND", "UBND tỉnh")
    tables, issues = read_files([path])
    parsed = parse(tables, directory, issues)
    assert len(parsed.tasks) == 5
    assert [t.row for t in parsed.tasks] == [4, 5, 6, 7, 8]
    assert [(i.row, i.column) for i in parsed.issues] == [(9, "D (Ngày ban hành)")]


def test_cells_merged_down_over_a_documents_rows_hold_for_each_row(tmp_path: Path) -> None:
    """Offices merge a document's number, date and summary over the rows of its items."""
    path = _workbook(tmp_path / "gop.xlsx", [
        _task(**{"Nội dung nhiệm vụ": "Thu hồi đất"}),
        _task(number=None, issued=None, lead="TXQT", **{"Nội dung nhiệm vụ": "Bàn giao đất", "Trích yếu": None,
                                                         "Cơ quan ban hành": None, "Đơn vị phối hợp": ""}),
        _task(number="7-KL/TU", **{"Nội dung nhiệm vụ": "Khác", "Đơn vị phối hợp": ""}),
    ])
    book = load_workbook(path)
    sheet = book["Nhiệm vụ"]
    for column in "ACDE":
        sheet.merge_cells(f"{column}2:{column}3")
    sheet.merge_cells("F4:G4")  # merged across: the value stays in its own column
    book.save(path)
    parsed = parse(*read_files([path]))
    assert parsed.issues == []
    first, second, third = parsed.tasks
    assert (second.number, second.issued_on, second.summary, second.issuing_body, second.lead_unit) == (
        first.number, first.issued_on, first.summary, "BTV", "TXQT")
    assert len(parsed.directives()) == 2
    assert (third.domain, third.review_group) == ("Đất đai", None)


def test_rows_of_one_document_must_agree(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "x.xlsx", [_task(), _task(**{"Trích yếu": "Một trích yếu khác"})])
    parsed = parse(*read_files([path]))
    assert [(i.row, i.column) for i in parsed.issues] == [(3, "E (Trích yếu)")]


def test_unknown_table_and_unknown_file_type(tmp_path: Path) -> None:
    odd = tmp_path / "khac.csv"
    odd.write_text("Cột A,Cột B\n1,2\n", encoding="utf-8")
    doc = tmp_path / "bao-cao.docx"
    doc.write_bytes(b"PK")
    tables, issues = read_files([odd, doc])
    assert tables == []
    assert [i.source for i in issues] == ["khac.csv", "bao-cao.docx"]
    assert "không nhận ra bảng" in issues[0].message_vi


def test_known_units_come_from_the_directory_too(tmp_path: Path) -> None:
    tasks = tmp_path / "t.csv"
    tasks.write_text(",".join(HEADERS[TASKS]) + "\n" +
                     ",".join(str(c) for c in _task(lead="Ban Dân vận", **{"Đơn vị phối hợp": ""})) + "\n",
                     encoding="utf-8")
    directory = Directory()
    directory.add("BDV", "Ban Dân vận Tỉnh ủy")
    directory.add("BDV2", "Ban Dân vận")
    tables, _ = read_files([tasks])
    parsed = parse(tables, directory)
    assert parsed.tasks[0].lead_unit == "BDV2"


ROOT = Path(__file__).resolve().parents[2]


def test_the_templates_in_the_repository_are_read_without_an_issue() -> None:
    templates = ROOT / "docs" / "import"
    workbook = parse(*read_files([templates / "mau-nhap-lieu.xlsx"]))
    csvs = parse(*read_files([templates / "mau-don-vi.csv", templates / "mau-nhiem-vu.csv",
                              templates / "mau-bao-cao.csv"]))
    for parsed in (workbook, csvs):
        assert parsed.issues == []
        assert (len(parsed.units), len(parsed.tasks), len(parsed.reports)) == (3, 2, 2)
        assert parsed.tasks[0].adjustment_number == "1520-CV/TU"
        assert [t.key_task for t in parsed.tasks] == [True, False]


# --------------------------------------------------------------------------- what the import adds


def test_a_withdrawal_needs_its_decision_and_no_day_is_in_the_future(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "rut.xlsx", [
        _task(**{"Trạng thái": "Rút"}),
        _task(**{"Nội dung nhiệm vụ": "Khác", "Trạng thái": "Đã rút", "Số quyết định điều chỉnh": "9-QĐ/TU",
                 "Ngày quyết định điều chỉnh": "01/04/2018"}),
        _task(**{"Nội dung nhiệm vụ": "Sau", "Ngày hoàn thành": "02/01/2019"}),
    ], reports=[["BTG", "2018", "30/11/2018", "03/01/2019"]])
    parsed = parse(*read_files([path]), today=date(2019, 1, 1))
    assert {(i.source.split(":")[1], i.row, i.column) for i in parsed.issues} == {
        ("Nhiệm vụ", 2, "M (Số quyết định điều chỉnh)"), ("Nhiệm vụ", 2, "N (Ngày quyết định điều chỉnh)"),
        ("Nhiệm vụ", 4, "O (Ngày hoàn thành)"), ("Báo cáo", 2, "D (Ngày nộp)")}
    (withdrawn,) = parsed.tasks
    assert withdrawn.withdrawn and withdrawn.adjustment_number == "9-QĐ/TU"


@pytest.mark.parametrize(("label", "kind", "starts", "ends"), [
    ("2018", "year", date(2018, 1, 1), date(2018, 12, 31)),
    ("Năm 2018", "year", date(2018, 1, 1), date(2018, 12, 31)),
    ("Quý I/2019", "quarter", date(2019, 1, 1), date(2019, 3, 31)),
    ("quý 4 năm 2019", "quarter", date(2019, 10, 1), date(2019, 12, 31)),
    ("6 tháng đầu năm 2018", "half_year", date(2018, 1, 1), date(2018, 6, 30)),
    ("Sáu tháng cuối năm 2018", "half_year", date(2018, 7, 1), date(2018, 12, 31)),
    ("Tháng 2/2020", "month", date(2020, 2, 1), date(2020, 2, 29)),
])
def test_reporting_periods_as_offices_write_them(label: str, kind: str, starts: date, ends: date) -> None:
    from dondoc.importer.records import parse_period

    found = parse_period(unicodedata.normalize("NFD", label))
    assert found is not None and (found[0].value, found[1], found[2]) == (kind, starts, ends)


def test_an_unknown_period_is_located() -> None:
    from dondoc.importer.records import parse_period

    assert parse_period("Kỳ 5") is None and parse_period("Tháng 13/2018") is None


def test_item_ids_come_from_the_content_and_survive_resorting(tmp_path: Path) -> None:
    rows = [_task(**{"Nội dung nhiệm vụ": "Thu hồi đất"}),
            _task(lead="BTG", **{"Nội dung nhiệm vụ": "Tuyên truyền"}),
            _task(lead="TXQT", **{"Nội dung nhiệm vụ": "Tuyên truyền"}),
            _task(number="125-TB/TU", issued=date(2019, 3, 5), due=date(2019, 6, 30),
                  **{"Nội dung nhiệm vụ": "Thu hồi đất"})]
    first = parse(*read_files([_workbook(tmp_path / "a.xlsx", rows)]))
    again = parse(*read_files([_workbook(tmp_path / "b.xlsx", [rows[3], rows[0], rows[1], rows[2]])]))
    ids = {(t.number, t.issued_on.year, t.lead_unit, t.item_id) for t in first.tasks}
    assert ids == {(t.number, t.issued_on.year, t.lead_unit, t.item_id) for t in again.tasks}
    by_lead = {t.lead_unit: t.item_id for t in first.tasks if t.issued_on.year == 2018}
    assert by_lead["TXQT"] == by_lead["BTG"] + ".2"
    assert sorted(first.directives()) == [("125-TB/TU", 2018), ("125-TB/TU", 2019)]  # two years, two documents
    assert [t.paragraph for t in first.tasks] == ["1", "2", "3", "1"]


def test_units_already_in_the_directory_are_matched_by_code_then_name(tmp_path: Path) -> None:
    directory = Directory()
    directory.know("UBND", "UBND", "Ủy ban nhân dân tỉnh", previous_names=["UBND tỉnh Quảng Trị"])
    directory.know("BTG", "BTG", "Ban Tuyên giáo Tỉnh ủy")
    path = _workbook(tmp_path / "u.xlsx", [_task(lead="UBND tỉnh Quảng Trị", **{"Đơn vị phối hợp": "TG"})])
    book = load_workbook(path)
    sheet = book["Đơn vị"]
    sheet.delete_rows(2, sheet.max_row)
    for row in (["UBND", "UBND tỉnh", "", "", ""],                       # by code: the existing UBND
                ["TG", "ban tuyên giáo tỉnh ủy", "", "", ""],           # by name: the existing BTG
                ["BTG", "Ban Dân vận", "", "", ""],                    # code of one, name new
                ["SKH", "Sở KH", "", "UBND tỉnh", ""],
                ["X Y", "Đơn vị có mã sai", "", "", ""]):
        sheet.append(row)
    book.save(path)
    tables, issues = read_files([path])
    parsed = parse(tables, directory, issues)
    units = {u.row: (u.unit_id, u.existing, u.parent) for u in parsed.units}
    assert units == {2: ("UBND", True, None), 3: ("BTG", True, None), 4: ("BTG", True, None),
                     5: ("SKH", False, "UBND")}
    assert [(i.row, i.column) for i in parsed.issues] == [(6, "A (Mã đơn vị)")]
    (task,) = parsed.tasks
    assert (task.lead_unit, task.cooperating_units) == ("UBND", ("BTG",))


def test_a_key_task_is_marked_x_or_co(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "k.xlsx", [_task(**{"Trọng điểm": "x"}),
                                           _task(**{"Nội dung nhiệm vụ": "B", "Trọng điểm": "Có"}),
                                           _task(**{"Nội dung nhiệm vụ": "C", "Trọng điểm": "không"}),
                                           _task(**{"Nội dung nhiệm vụ": "D", "Trọng điểm": "hmm"})])
    parsed = parse(*read_files([path]))
    assert [t.key_task for t in parsed.tasks] == [True, True, False]
    assert [(i.row, i.column) for i in parsed.issues] == [(5, "R (Trọng điểm)")]


def test_an_imported_reports_lines_claim_each_task_as_it_stood_that_day() -> None:
    from dondoc.importer.apply import NO_REASON, report_lines

    def task(task_id: str, paragraph: str, **dates: str) -> dict:
        return {"task_id": task_id, "lead_unit_id": "BTG", "directive_number": "125-TB/TU",
                "assigned_on": "2018-03-05", "paragraph": paragraph, "due_on": None,
                "completed_on": None, "withdrawn_on": None, **dates}

    tasks = {t["task_id"]: t for t in (
        task("done", "1", due_on="2018-06-30", completed_on="2018-06-20"),
        task("done-later", "2", due_on="2018-12-31", completed_on="2018-12-20"),
        task("late", "3", due_on="2018-10-31"),
        task("gone", "4", withdrawn_on="2018-09-01"),
        task("standing", "10"),
        {**task("moved", "5"), "lead_unit_id": "BDV"})}
    lines = report_lines(["standing", "late", "gone", "done-later", "done", "moved", "unknown"], "BTG",
                         date(2018, 11, 28), tasks)
    assert [(line["task_id"], line["status_claimed"], line.get("completed_on"), line.get("delay_reason"))
            for line in lines] == [
        ("done", "completed", "2018-06-20", None),
        ("done-later", "in_progress", None, None),
        ("late", "in_progress", None, NO_REASON),
        ("standing", "in_progress", None, None)]
    assert all("sổ theo dõi" in line["progress"] for line in lines)
