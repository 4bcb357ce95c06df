"""The rows of the three tables as typed records, with every problem located."""

from __future__ import annotations

import calendar
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from dondoc.importer.sheets import REPORTS, TASKS, UNITS, Issue, Row, Table, date_cell, text_cell
from dondoc.importer.text import canonical_review_group, clean, key
from dondoc_contracts.values import DirectiveKind, PeriodKind

KINDS = {
    key("Kết luận"): DirectiveKind.KET_LUAN,
    key("Thông báo kết luận"): DirectiveKind.THONG_BAO_KET_LUAN,
    key("Thông báo"): DirectiveKind.THONG_BAO_KET_LUAN,
    key("Chỉ thị"): DirectiveKind.CHI_THI,
    key("Nghị quyết"): DirectiveKind.NGHI_QUYET,
    key("Kế hoạch"): DirectiveKind.KE_HOACH,
    key("Công văn"): DirectiveKind.CONG_VAN,
}

#: Trạng thái as offices write it → what the row becomes
STATUSES = {
    key("Đã hoàn thành"): "completed",
    key("Hoàn thành"): "completed",
    key("Đã hoàn thành đúng hạn"): "completed",
    key("Đã hoàn thành trước hạn"): "completed",
    key("Đã hoàn thành quá hạn"): "completed",
    key("Hoàn thành trễ hạn"): "completed",
    key("Đang thực hiện"): "open",
    key("Chưa hoàn thành"): "open",
    key("Chưa thực hiện"): "open",
    key("Chưa hoàn thành, còn trong hạn"): "open",
    key("Chưa hoàn thành, quá hạn"): "open",
    key("Thường xuyên"): "open",
    key("Rút"): "withdrawn",
    key("Đã rút"): "withdrawn",
}

#: "Trọng điểm" (a key task / key project): what offices write for yes and no
YES = {key(v) for v in ("x", "có", "co", "1", "true", "đúng", "trọng điểm", "yes")}
NO = {key(v) for v in ("", "không", "khong", "0", "false", "no")}

MAX_TEXT = 20_000
_SPLIT_UNITS = re.compile(r"\s*[;,\n]\s*")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CODE = re.compile(r"^[A-Za-z0-9._\-]{1,50}$")  # what the unit directory accepts as a code
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


@dataclass(frozen=True)
class UnitRecord:
    source: str
    row: int
    unit_id: str  # the directory's id: an existing unit's, or the code of a new one
    code: str
    name: str
    review_group: str | None
    parent: str | None  # the parent's unit id
    emails: tuple[str, ...]
    existing: bool  # already in the unit directory (matched by code, then by name)
    columns: dict[str, str] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class TaskRecord:
    source: str
    row: int
    number: str
    kind: DirectiveKind
    issuing_body: str
    issued_on: date
    summary: str
    domain: str | None
    review_group: str | None
    content: str
    lead_unit: str  # the unit's id after matching
    cooperating_units: tuple[str, ...]
    due_on: date | None
    adjusted_due_on: date | None
    adjustment_number: str | None  # the decision of an adjustment, or of a withdrawal
    adjustment_decided_on: date | None
    completed_on: date | None
    withdrawn: bool
    result: str | None
    key_task: bool = False
    item_id: str = ""  # stable, from the content (see `item_ids`)
    paragraph: str = ""  # the row's place among its directive's rows: 1, 2, …
    columns: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def document(self) -> tuple[str, int]:
        return number_key(self.number), self.issued_on.year


@dataclass(frozen=True)
class ReportRecord:
    source: str
    row: int
    unit: str  # unit id
    period: str  # the label as the office wrote it
    due_on: date
    submitted_on: date | None
    period_kind: PeriodKind = PeriodKind.YEAR
    starts_on: date = date.min
    ends_on: date = date.max
    columns: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def data_cutoff_on(self) -> date:
        """Tasks open on this day are owed: the period's end, or the due day if earlier."""
        return min(self.ends_on, self.due_on)


@dataclass
class Directory:
    """Units known before the import (from the unit directory) plus those in the file:
    matching keys (code, name, former names) → unit id."""

    by_code: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, str] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)  # ids of the units already in the directory

    def add(self, code: str, name: str, unit_id: str | None = None) -> None:
        self.by_code[key(code)] = unit_id or code
        self.by_name[key(name)] = unit_id or code

    def know(self, unit_id: str, code: str, name: str, previous_names: Iterable[str] = ()) -> None:
        """A unit of the directory service; its former names still find it (old books)."""
        self.add(code, name, unit_id)
        self.by_code.setdefault(key(unit_id), unit_id)
        for former in previous_names:
            self.by_name.setdefault(key(former), unit_id)
        self.known.add(unit_id)

    def match(self, text: str) -> str | None:
        k = key(text)
        return self.by_code.get(k) or self.by_name.get(k)


@dataclass
class Parsed:
    units: list[UnitRecord] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)
    reports: list[ReportRecord] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def directives(self) -> dict[tuple[str, int], list[TaskRecord]]:
        """The rows of each document, by (Số hiệu, year): Party numbers restart every year,
        so 125-TB/TU of 2018 and of 2019 are two documents."""
        grouped: dict[tuple[str, int], list[TaskRecord]] = defaultdict(list)
        for task in self.tasks:
            grouped[task.document].append(task)
        return dict(grouped)


class _RowReader:
    def __init__(self, table: Table, row: Row, issues: list[Issue], today: date | None) -> None:
        self.table, self.row, self.issues, self.today = table, row, issues, today
        self.ok = True

    def fail(self, column: str | None, vi: str, en: str) -> None:
        self.ok = False
        where = self.row.columns.get(column, column) if column else None
        self.issues.append(Issue(self.table.source, self.row.number, where, vi, en))

    def text(self, column: str, *, required: bool = False, limit: int = 500) -> str:
        value = text_cell(self.row.cells.get(column))
        if required and not value:
            self.fail(column, "thiếu giá trị bắt buộc", "a required value is missing")
        if len(value) > limit:
            self.fail(column, f"quá dài (tối đa {limit} ký tự)", f"too long (at most {limit} characters)")
        return value

    def date(self, column: str, *, required: bool = False, past: bool = False) -> date | None:
        """A date cell; `past`: a day something happened, so not after today."""
        raw: Any = self.row.cells.get(column)
        try:
            value = date_cell(raw)
        except ValueError:
            self.fail(column, f"ngày không hợp lệ: {raw!r} (dùng dd/mm/yyyy)",
                      f"invalid date: {raw!r} (use dd/mm/yyyy)")
            return None
        if required and value is None:
            self.fail(column, "thiếu ngày bắt buộc", "a required date is missing")
        if past and value is not None and self.today is not None and value > self.today:
            self.fail(column, f"ngày {value:%d/%m/%Y} ở tương lai", f"the day {value.isoformat()} is in the future")
        return value

    def flag(self, column: str) -> bool:
        value = key(self.text(column))
        if value in YES:
            return True
        if value not in NO:
            self.fail(column, "ghi 'x' (hoặc 'Có') nếu là nhiệm vụ trọng điểm, để trống nếu không",
                      "write 'x' (or 'Có') for a key task, leave it empty otherwise")
        return False


def parse(tables: list[Table], directory: Directory | None = None,
          issues: list[Issue] | None = None, today: date | None = None) -> Parsed:
    """The records of the tables; `directory` holds the units already known, `today` bounds
    the days things happened (none may be in the future)."""
    parsed = Parsed(issues=list(issues or []))
    directory = directory or Directory()
    for table in (t for t in tables if t.kind == UNITS):
        _units(table, parsed, directory, today)
    for table in (t for t in tables if t.kind == TASKS):
        _tasks(table, parsed, directory, today)
    for table in (t for t in tables if t.kind == REPORTS):
        _reports(table, parsed, directory, today)
    _check_directives_agree(parsed)
    parsed.tasks = item_ids(parsed.tasks)
    return parsed


def _units(table: Table, parsed: Parsed, directory: Directory, today: date | None) -> None:
    seen: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    pending_parents: list[tuple[_RowReader, str, str]] = []
    rows: list[tuple[_RowReader, dict[str, Any]]] = []
    for row in table.rows:
        r = _RowReader(table, row, parsed.issues, today)
        code = r.text("Mã đơn vị", required=True, limit=64)
        name = r.text("Tên đơn vị", required=True, limit=300)
        group_text = r.text("Nhóm rà soát")
        group = canonical_review_group(group_text) if group_text else None
        if group_text and group is None:
            r.fail("Nhóm rà soát", f"nhóm rà soát không xác định: {group_text}",
                   f"unknown review group: {group_text}")
        emails = tuple(e for e in _SPLIT_UNITS.split(r.text("Email")) if e)
        for email in emails:
            if not _EMAIL.match(email):
                r.fail("Email", f"địa chỉ email không hợp lệ: {email}", f"invalid e-mail address: {email}")
        if code and key(code) in seen:
            r.fail("Mã đơn vị", f"mã đơn vị trùng với dòng {seen[key(code)]}",
                   f"unit code repeats row {seen[key(code)]}")
        if name and key(name) in seen_names:
            r.fail("Tên đơn vị", f"tên đơn vị trùng với dòng {seen_names[key(name)]}",
                   f"unit name repeats row {seen_names[key(name)]}")
        by_code = directory.by_code.get(key(code)) if code else None
        by_name = directory.by_name.get(key(name)) if name else None
        by_code = by_code if by_code in directory.known else None
        by_name = by_name if by_name in directory.known else None
        if by_code and by_name and by_code != by_name:
            r.fail("Tên đơn vị", f"mã {code} là của đơn vị {by_code} nhưng tên là của đơn vị {by_name}",
                   f"code {code} belongs to unit {by_code} but the name to unit {by_name}")
        existing = by_code or by_name
        if existing is None and code and not _CODE.match(code):
            r.fail("Mã đơn vị", "mã đơn vị chỉ gồm chữ không dấu, chữ số, '.', '_', '-' (tối đa 50)",
                   "a unit code has only unaccented letters, digits, '.', '_', '-' (at most 50)")
        parent = r.text("Đơn vị cấp trên", limit=300)
        if r.ok:
            unit_id = existing or code
            seen[key(code)] = seen_names[key(name)] = row.number
            directory.add(code, name, unit_id)
            pending_parents.append((r, parent, unit_id))
            rows.append((r, {"source": table.source, "row": row.number, "unit_id": unit_id,
                             "code": code, "name": name, "review_group": group,
                             "emails": emails, "existing": existing is not None,
                             "columns": row.columns}))
    parents: dict[str, str | None] = {}
    for reader, parent, unit_id in pending_parents:  # parents may come later in the sheet
        found = directory.match(parent) if parent else None
        if parent and found is None:
            reader.fail("Đơn vị cấp trên", f"không có đơn vị cấp trên này: {parent}",
                        f"unknown parent unit: {parent}")
        elif found == unit_id:
            reader.fail("Đơn vị cấp trên", "đơn vị không thể là cấp trên của chính nó",
                        "a unit cannot be its own parent")
        parents[unit_id] = found
    for reader, values in rows:
        if reader.ok:
            parsed.units.append(UnitRecord(parent=parents.get(values["unit_id"]), **values))


def _tasks(table: Table, parsed: Parsed, directory: Directory, today: date | None) -> None:
    for row in table.rows:
        r = _RowReader(table, row, parsed.issues, today)
        number = r.text("Số hiệu", required=True, limit=100)
        kind_text = r.text("Loại văn bản")
        kind = KINDS.get(key(kind_text)) if kind_text else DirectiveKind.THONG_BAO_KET_LUAN
        if kind is None:
            r.fail("Loại văn bản", f"loại văn bản không xác định: {kind_text}",
                   f"unknown kind of document: {kind_text}")
        issuing_body = r.text("Cơ quan ban hành", required=True, limit=200)
        issued_on = r.date("Ngày ban hành", required=True, past=True)
        summary = r.text("Trích yếu", required=True, limit=MAX_TEXT)
        domain = r.text("Lĩnh vực") or None
        group_text = r.text("Nhóm rà soát")
        group = canonical_review_group(group_text) if group_text else None
        if group_text and group is None:
            r.fail("Nhóm rà soát", f"nhóm rà soát không xác định: {group_text}",
                   f"unknown review group: {group_text}")
        content = r.text("Nội dung nhiệm vụ", required=True, limit=MAX_TEXT)
        lead_text = r.text("Đơn vị chủ trì", required=True)
        lead = directory.match(lead_text) if lead_text else None
        if lead_text and lead is None:
            r.fail("Đơn vị chủ trì", f"đơn vị không có trong danh mục: {lead_text}",
                   f"unit not in the directory: {lead_text}")
        cooperating = []
        for name in (n for n in _SPLIT_UNITS.split(r.text("Đơn vị phối hợp", limit=2000)) if n):
            code = directory.match(name)
            if code is None:
                r.fail("Đơn vị phối hợp", f"đơn vị không có trong danh mục: {name}",
                       f"unit not in the directory: {name}")
            elif code != lead and code not in cooperating:
                cooperating.append(code)
        due_on = r.date("Thời hạn")
        adjusted = r.date("Thời hạn điều chỉnh")
        decision_number = r.text("Số quyết định điều chỉnh", limit=100) or None
        decided_on = r.date("Ngày quyết định điều chỉnh", past=True)
        completed_on = r.date("Ngày hoàn thành", past=True)
        status_text = r.text("Trạng thái")
        status = STATUSES.get(key(status_text)) if status_text else ("completed" if completed_on else "open")
        if status_text and status is None:
            r.fail("Trạng thái", f"trạng thái không xác định: {status_text}", f"unknown status: {status_text}")
        if status == "withdrawn":
            _check_withdrawal(r, adjusted, decision_number, decided_on, completed_on)
        else:
            _check_adjustment(r, due_on, adjusted, decision_number, decided_on, completed_on)
        if status == "completed" and completed_on is None:
            r.fail("Ngày hoàn thành", "nhiệm vụ đã hoàn thành phải có ngày hoàn thành",
                   "a completed task needs its completion date")
        if status == "open" and completed_on is not None:
            r.fail("Trạng thái", "có ngày hoàn thành nhưng trạng thái là chưa hoàn thành",
                   "a completion date with a status that says not completed")
        if issued_on:
            for column, value in (("Thời hạn", due_on), ("Thời hạn điều chỉnh", adjusted),
                                  ("Ngày hoàn thành", completed_on),
                                  ("Ngày quyết định điều chỉnh", decided_on)):
                if value and value < issued_on:
                    r.fail(column, "ngày này trước ngày ban hành", "this date is before the issue date")
        result = r.text("Kết quả", limit=MAX_TEXT) or None
        key_task = r.flag("Trọng điểm")
        if r.ok:
            assert issued_on is not None and kind is not None and lead is not None
            parsed.tasks.append(TaskRecord(
                table.source, row.number, number, kind, issuing_body, issued_on, summary, domain, group,
                content, lead, tuple(cooperating), due_on, adjusted, decision_number, decided_on,
                completed_on if status == "completed" else None, status == "withdrawn", result,
                key_task=key_task, columns=row.columns))


def _check_adjustment(r: _RowReader, due_on: date | None, adjusted: date | None,
                      number: str | None, decided_on: date | None, completed_on: date | None) -> None:
    if adjusted and not (number and decided_on):
        r.fail("Số quyết định điều chỉnh",
               "thời hạn chỉ được điều chỉnh bằng một quyết định: cần số và ngày quyết định",
               "a deadline changes only by a decision: its number and date are required")
    if (number or decided_on) and not adjusted:
        r.fail("Thời hạn điều chỉnh", "có quyết định điều chỉnh nhưng thiếu thời hạn mới",
               "an adjustment decision without the new deadline")
    if adjusted and due_on and adjusted == due_on:
        r.fail("Thời hạn điều chỉnh", "thời hạn điều chỉnh trùng thời hạn ban đầu",
               "the adjusted deadline is the original one")
    if decided_on and completed_on and decided_on > completed_on:
        r.fail("Ngày quyết định điều chỉnh", "quyết định điều chỉnh sau ngày hoàn thành nhiệm vụ",
               "the adjustment was decided after the task was completed")


def _check_withdrawal(r: _RowReader, adjusted: date | None, number: str | None,
                      decided_on: date | None, completed_on: date | None) -> None:
    """Only the assigning body withdraws a task, by a decision: its number and date."""
    if not number:
        r.fail("Số quyết định điều chỉnh", "nhiệm vụ rút phải có số quyết định rút",
               "a withdrawn task needs the number of the withdrawal decision")
    if decided_on is None:
        r.fail("Ngày quyết định điều chỉnh", "nhiệm vụ rút phải có ngày quyết định rút",
               "a withdrawn task needs the date of the withdrawal decision")
    if adjusted:
        r.fail("Thời hạn điều chỉnh", "nhiệm vụ rút không có thời hạn điều chỉnh",
               "a withdrawn task has no adjusted deadline")
    if completed_on:
        r.fail("Ngày hoàn thành", "nhiệm vụ rút không có ngày hoàn thành",
               "a withdrawn task has no completion date")


def parse_period(label: str) -> tuple[PeriodKind, date, date] | None:
    """'2018', 'Năm 2018', 'Quý I/2019', '6 tháng đầu năm 2018', 'Tháng 3/2018' → the period."""
    text = key(label)
    if m := re.fullmatch(r"(?:năm\s+)?(\d{4})", text):
        year = int(m[1])
        return PeriodKind.YEAR, date(year, 1, 1), date(year, 12, 31)
    if m := re.fullmatch(r"quý\s*(i{1,3}|iv|[1-4])\s*(?:/|-|năm)\s*(\d{4})", text):
        quarter, year = _ROMAN.get(m[1]) or int(m[1]), int(m[2])
        return PeriodKind.QUARTER, date(year, 3 * quarter - 2, 1), _month_end(year, 3 * quarter)
    if m := re.fullmatch(r"(?:6|sáu)\s+tháng\s+(đầu|cuối)\s+(?:năm\s+)?(\d{4})", text):
        year = int(m[2])
        if m[1] == "đầu":
            return PeriodKind.HALF_YEAR, date(year, 1, 1), date(year, 6, 30)
        return PeriodKind.HALF_YEAR, date(year, 7, 1), date(year, 12, 31)
    if m := re.fullmatch(r"tháng\s*(\d{1,2})\s*(?:/|-|năm)\s*(\d{4})", text):
        month, year = int(m[1]), int(m[2])
        if 1 <= month <= 12:
            return PeriodKind.MONTH, date(year, month, 1), _month_end(year, month)
    return None


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _reports(table: Table, parsed: Parsed, directory: Directory, today: date | None) -> None:
    seen: dict[tuple[str, str], int] = {}
    for row in table.rows:
        r = _RowReader(table, row, parsed.issues, today)
        unit_text = r.text("Đơn vị", required=True)
        unit = directory.match(unit_text) if unit_text else None
        if unit_text and unit is None:
            r.fail("Đơn vị", f"đơn vị không có trong danh mục: {unit_text}",
                   f"unit not in the directory: {unit_text}")
        label = r.text("Kỳ báo cáo", required=True, limit=100)
        period = parse_period(label) if label else None
        if label and period is None:
            r.fail("Kỳ báo cáo", f"không nhận ra kỳ báo cáo: {label} (ví dụ: 2018, Quý I/2019, "
                   "6 tháng đầu năm 2018, Tháng 3/2018)",
                   f"unknown reporting period: {label} (e.g. 2018, Quý I/2019, "
                   "6 tháng đầu năm 2018, Tháng 3/2018)")
        due_on = r.date("Hạn nộp", required=True)
        submitted_on = r.date("Ngày nộp", past=True)
        if period and due_on and due_on < period[1]:
            r.fail("Hạn nộp", "hạn nộp trước ngày bắt đầu kỳ báo cáo", "the due date is before the period starts")
        if period and submitted_on and submitted_on < period[1]:
            r.fail("Ngày nộp", "ngày nộp trước ngày bắt đầu kỳ báo cáo",
                   "the submission date is before the period starts")
        if unit and label and (unit, key(label)) in seen:
            r.fail("Kỳ báo cáo", f"đơn vị đã có báo cáo kỳ này ở dòng {seen[(unit, key(label))]}",
                   f"the unit's report for this period is on row {seen[(unit, key(label))]} already")
        if r.ok:
            assert unit is not None and due_on is not None and period is not None
            seen[(unit, key(label))] = row.number
            parsed.reports.append(ReportRecord(table.source, row.number, unit, label, due_on, submitted_on,
                                               period[0], period[1], period[2], row.columns))


def number_key(number: str) -> str:
    """A document number as the directives service compares it: one kind of dash, no spaces,
    capitals."""
    return re.sub(r"\s+", "", re.sub(r"[\u2010-\u2015\u2212]", "-", clean(number))).upper()


def _check_directives_agree(parsed: Parsed) -> None:
    """Rows of one Số hiệu are the items of one directive: its own fields must agree."""
    for (_, _), rows in parsed.directives().items():
        first = rows[0]
        number = first.number
        for other in rows[1:]:
            for attribute, column in (("kind", "Loại văn bản"), ("issuing_body", "Cơ quan ban hành"),
                                      ("issued_on", "Ngày ban hành"), ("summary", "Trích yếu")):
                if getattr(other, attribute) != getattr(first, attribute):
                    parsed.issues.append(Issue(
                        other.source, other.row, other.columns.get(column, column),
                        f"khác với dòng {first.row} của cùng văn bản {number}",
                        f"differs from row {first.row} of the same document {number}"))


def item_ids(tasks: list[TaskRecord]) -> list[TaskRecord]:
    """Each row gets an item id from its content, stable across re-imports and re-sorted
    sheets: 'n' + 12 hex digits of the normalised text, '.2', '.3' … for the same text
    repeated in one directive (one task for each of several units); and its paragraph, the
    row's place among its directive's rows."""
    counts: dict[tuple[tuple[str, int], str], int] = defaultdict(int)
    positions: dict[tuple[str, int], int] = defaultdict(int)
    out = []
    for task in tasks:
        digest = hashlib.sha256(key(task.content).encode()).hexdigest()[:12]
        counts[(task.document, digest)] += 1
        positions[task.document] += 1
        occurrence = counts[(task.document, digest)]
        item_id = f"n{digest}" + (f".{occurrence}" if occurrence > 1 else "")
        out.append(replace(task, item_id=item_id, paragraph=str(positions[task.document])))
    return out
