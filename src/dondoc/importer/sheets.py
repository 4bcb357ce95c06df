"""Reading workbooks and csv files as Excel saves them, and recognising the three tables."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from dondoc.importer.text import clean, key

UNITS, TASKS, REPORTS = "units", "tasks", "reports"

HEADERS: dict[str, tuple[str, ...]] = {
    UNITS: ("Mã đơn vị", "Tên đơn vị", "Nhóm rà soát", "Đơn vị cấp trên", "Email"),
    TASKS: ("Số hiệu", "Loại văn bản", "Cơ quan ban hành", "Ngày ban hành", "Trích yếu", "Lĩnh vực",
            "Nhóm rà soát", "Nội dung nhiệm vụ", "Đơn vị chủ trì", "Đơn vị phối hợp", "Thời hạn",
            "Thời hạn điều chỉnh", "Số quyết định điều chỉnh", "Ngày quyết định điều chỉnh",
            "Ngày hoàn thành", "Trạng thái", "Kết quả", "Trọng điểm"),
    REPORTS: ("Đơn vị", "Kỳ báo cáo", "Hạn nộp", "Ngày nộp"),
}
#: The headers that identify a table (the others may be absent when empty).
IDENTIFYING: dict[str, tuple[str, ...]] = {
    UNITS: ("Mã đơn vị", "Tên đơn vị"),
    TASKS: ("Số hiệu", "Nội dung nhiệm vụ", "Đơn vị chủ trì"),
    REPORTS: ("Đơn vị", "Kỳ báo cáo", "Hạn nộp"),
}
SHEET_NAMES_VI = {UNITS: "Đơn vị", TASKS: "Nhiệm vụ", REPORTS: "Báo cáo"}


@dataclass(frozen=True)
class Issue:
    """A problem in the input, located as a person finds it in the file."""

    source: str
    row: int | None
    column: str | None
    message_vi: str
    message_en: str

    def where(self) -> str:
        parts = [self.source]
        if self.row is not None:
            parts.append(f"dòng {self.row}")
        if self.column:
            parts.append(f"cột {self.column}")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"{self.where()}: {self.message_vi} / {self.message_en}"


@dataclass
class Row:
    number: int  # as the office sees it (1-based, header is row 1 or wherever it was)
    cells: dict[str, Any]  # canonical header → raw value
    columns: dict[str, str]  # canonical header → "C (Ngày ban hành)"


@dataclass
class Table:
    source: str
    kind: str
    rows: list[Row] = field(default_factory=list)


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _recognise(header: list[Any]) -> tuple[str | None, dict[int, str]]:
    keys = [key(str(h)) if h not in (None, "") else "" for h in header]
    for kind, required in IDENTIFYING.items():
        if all(key(r) in keys for r in required):
            known = {key(h): h for h in HEADERS[kind]}
            mapping = {i: known[k] for i, k in enumerate(keys) if k in known}
            # a units sheet also has "Tên đơn vị"; a reports sheet's "Đơn vị" must not be
            # mistaken for a units sheet and vice versa: the required set decides
            return kind, mapping
    return None, {}


#: how many filled rows above the header a sheet may have (a title, the office's name, a date)
TITLE_ROWS = 10


def _table(source: str, grid: list[list[Any]], issues: list[Issue]) -> Table | None:
    """The header is the first row recognised as one, among the first filled rows (offices put a
    title above it); what follows are data rows."""
    filled = [i for i, row in enumerate(grid) if any(_filled(c) for c in row)]
    if not filled:
        return None
    kind, mapping, header_index = None, {}, filled[0]
    for index in filled[:TITLE_ROWS + 1]:
        kind, mapping = _recognise(grid[index])
        if kind is not None:
            header_index = index
            break
    if kind is None:
        issues.append(Issue(source, header_index + 1, None,
                            "không nhận ra bảng: tiêu đề phải là của bảng Đơn vị, Nhiệm vụ hoặc Báo cáo "
                            "(xem docs/IMPORT.md)",
                            "table not recognised: the header must be that of the units, tasks or "
                            "reports table (see docs/IMPORT.md)"))
        return None
    table = Table(source, kind)
    for offset, values in enumerate(grid[header_index + 1:], start=header_index + 2):
        if not any(_filled(v) for v in values):
            continue
        cells = {name: values[i] if i < len(values) else None for i, name in mapping.items()}
        columns = {name: f"{column_letter(i)} ({name})" for i, name in mapping.items()}
        table.rows.append(Row(offset, cells, columns))
    return table


def _filled(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def read_csv(path: Path, issues: list[Issue]) -> list[Table]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1258"):  # Excel's "CSV UTF-8" has a BOM; older ones cp1258
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1258 decodes every byte
        text = raw.decode("utf-8", "replace")
    first_line = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first_line.count)
    grid = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    table = _table(path.name, grid, issues)
    return [table] if table else []


def read_xlsx(path: Path, issues: list[Issue]) -> list[Table]:
    from openpyxl import load_workbook

    try:
        # not read-only: that reader trusts the sheet's recorded size, which some programs write
        # wrong ("A1", rows past it dropped without a word), and it cannot see merged cells
        workbook = load_workbook(path, data_only=True)
    except Exception as e:  # noqa: BLE001 - openpyxl raises many kinds for a damaged file
        issues.append(Issue(path.name, None, None, f"không đọc được tệp xlsx: {e}",
                            f"cannot read the xlsx file: {e}"))
        return []
    tables = []
    try:
        for sheet in workbook.worksheets:
            grid = [list(row) for row in sheet.iter_rows(values_only=True)]
            for merged in sheet.merged_cells.ranges:
                # a cell merged down over the rows of one document (its number, date, summary)
                # holds the value for each of them; merged across, it stays in its first column
                value = grid[merged.min_row - 1][merged.min_col - 1]
                for row in grid[merged.min_row:merged.max_row]:
                    row[merged.min_col - 1] = value
            table = _table(f"{path.name}:{sheet.title}", grid, issues)
            if table:
                tables.append(table)
    finally:
        workbook.close()
    return tables


def read_files(paths: list[Path]) -> tuple[list[Table], list[Issue]]:
    issues: list[Issue] = []
    tables: list[Table] = []
    for path in paths:
        if not path.exists():
            issues.append(Issue(str(path), None, None, "không có tệp này", "no such file"))
        elif path.suffix.lower() in (".xlsx", ".xlsm"):
            tables += read_xlsx(path, issues)
        elif path.suffix.lower() in (".csv", ".txt"):
            tables += read_csv(path, issues)
        else:
            issues.append(Issue(path.name, None, None, "chỉ nhận tệp .xlsx hoặc .csv",
                                "only .xlsx and .csv files are accepted"))
    return tables, issues


# --------------------------------------------------------------------------- cells


EXCEL_EPOCH = date(1899, 12, 30)


def text_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return clean(str(value))


def date_cell(value: Any) -> date | None:
    """Dates as offices write them: Excel date cells, dd/mm/yyyy (or d/m/yy, dd-mm-yyyy,
    dd.mm.yyyy), ISO yyyy-mm-dd, and Excel serial numbers. Raises ValueError otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float):
        if 1 <= value < 2958466:
            return EXCEL_EPOCH + timedelta(days=int(value))
        raise ValueError(str(value))
    text = clean(str(value)).split(" ")[0]
    for separator in ("/", "-", "."):
        parts = text.split(separator)
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            if len(parts[0]) == 4:  # ISO
                return date(int(parts[0]), int(parts[1]), int(parts[2]))
            day, month, year = (int(p) for p in parts)
            if year < 100:
                year += 2000
            return date(year, month, day)
    raise ValueError(text)
