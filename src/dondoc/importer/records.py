"""The rows of the three tables as typed records, with every problem located."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dondoc.importer.sheets import REPORTS, TASKS, UNITS, Issue, Row, Table, date_cell, text_cell
from dondoc.importer.text import canonical_review_group, key
from dondoc_contracts.values import DirectiveKind

KINDS = {
    key("Kết luận"): DirectiveKind.KET_LUAN,
    key("Thông báo kết luận"): DirectiveKind.THONG_BAO_KET_LUAN,
    key("Thông báo"): DirectiveKind.THONG_BAO_KET_LUAN,
    key("Chỉ thị"): DirectiveKind.CHI_THI,
    key("Nghị quyết"): DirectiveKind.NGHI_QUYET,
    key("Kế hoạch"): DirectiveKind.KE_HOACH,
    key("Công văn"): DirectiveKind.CONG_VAN,
}

#: Trạng thái as offices write it → (completed?, withdrawn?)
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

MAX_TEXT = 20_000
_SPLIT_UNITS = re.compile(r"\s*[;,\n]\s*")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class UnitRecord:
    source: str
    row: int
    code: str
    name: str
    review_group: str | None
    parent: str | None
    emails: tuple[str, ...]


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
    lead_unit: str  # the unit's code after matching
    cooperating_units: tuple[str, ...]
    due_on: date | None
    adjusted_due_on: date | None
    adjustment_number: str | None
    adjustment_decided_on: date | None
    completed_on: date | None
    withdrawn: bool
    result: str | None

    @property
    def item_ref(self) -> str:
        return f"{self.number}#{self.row}"


@dataclass(frozen=True)
class ReportRecord:
    source: str
    row: int
    unit: str  # code
    period: str
    due_on: date
    submitted_on: date | None


@dataclass
class Directory:
    """Units known before the import (from the unit directory) plus those in the file."""

    by_code: dict[str, str] = field(default_factory=dict)  # key(code) → code
    by_name: dict[str, str] = field(default_factory=dict)  # key(name) → code

    def add(self, code: str, name: str) -> None:
        self.by_code[key(code)] = code
        self.by_name[key(name)] = code

    def match(self, text: str) -> str | None:
        k = key(text)
        return self.by_code.get(k) or self.by_name.get(k)


@dataclass
class Parsed:
    units: list[UnitRecord] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)
    reports: list[ReportRecord] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def directives(self) -> dict[str, list[TaskRecord]]:
        grouped: dict[str, list[TaskRecord]] = defaultdict(list)
        for task in self.tasks:
            grouped[task.number].append(task)
        return dict(grouped)


class _RowReader:
    def __init__(self, table: Table, row: Row, issues: list[Issue]) -> None:
        self.table, self.row, self.issues = table, row, issues
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

    def date(self, column: str, *, required: bool = False) -> date | None:
        raw: Any = self.row.cells.get(column)
        try:
            value = date_cell(raw)
        except ValueError:
            self.fail(column, f"ngày không hợp lệ: {raw!r} (dùng dd/mm/yyyy)",
                      f"invalid date: {raw!r} (use dd/mm/yyyy)")
            return None
        if required and value is None:
            self.fail(column, "thiếu ngày bắt buộc", "a required date is missing")
        return value


def parse(tables: list[Table], directory: Directory | None = None,
          issues: list[Issue] | None = None) -> Parsed:
    parsed = Parsed(issues=list(issues or []))
    directory = directory or Directory()
    for table in (t for t in tables if t.kind == UNITS):
        _units(table, parsed, directory)
    for table in (t for t in tables if t.kind == TASKS):
        _tasks(table, parsed, directory)
    for table in (t for t in tables if t.kind == REPORTS):
        _reports(table, parsed, directory)
    _check_directives_agree(parsed)
    return parsed


def _units(table: Table, parsed: Parsed, directory: Directory) -> None:
    seen: dict[str, int] = {}
    pending_parents: list[tuple[_RowReader, str]] = []
    for row in table.rows:
        r = _RowReader(table, row, parsed.issues)
        code = r.text("Mã đơn vị", required=True, limit=64)
        name = r.text("Tên đơn vị", required=True)
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
        parent = r.text("Đơn vị cấp trên")
        if r.ok:
            seen[key(code)] = row.number
            directory.add(code, name)
            pending_parents.append((r, parent))
            parsed.units.append(UnitRecord(table.source, row.number, code, name, group, parent or None, emails))
    for reader, parent in pending_parents:  # parents may come later in the sheet
        if parent and directory.match(parent) is None:
            reader.fail("Đơn vị cấp trên", f"không có đơn vị cấp trên này: {parent}",
                        f"unknown parent unit: {parent}")


def _tasks(table: Table, parsed: Parsed, directory: Directory) -> None:
    for row in table.rows:
        r = _RowReader(table, row, parsed.issues)
        number = r.text("Số hiệu", required=True, limit=100)
        kind_text = r.text("Loại văn bản")
        kind = KINDS.get(key(kind_text)) if kind_text else DirectiveKind.THONG_BAO_KET_LUAN
        if kind is None:
            r.fail("Loại văn bản", f"loại văn bản không xác định: {kind_text}",
                   f"unknown kind of document: {kind_text}")
        issuing_body = r.text("Cơ quan ban hành", required=True, limit=200)
        issued_on = r.date("Ngày ban hành", required=True)
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
            elif code != lead:
                cooperating.append(code)
        due_on = r.date("Thời hạn")
        adjusted = r.date("Thời hạn điều chỉnh")
        adjustment_number = r.text("Số quyết định điều chỉnh", limit=100) or None
        adjustment_date = r.date("Ngày quyết định điều chỉnh")
        if adjusted and not (adjustment_number and adjustment_date):
            r.fail("Số quyết định điều chỉnh",
                   "thời hạn chỉ được điều chỉnh bằng một quyết định: cần số và ngày quyết định",
                   "a deadline changes only by a decision: its number and date are required")
        if (adjustment_number or adjustment_date) and not adjusted:
            r.fail("Thời hạn điều chỉnh", "có quyết định điều chỉnh nhưng thiếu thời hạn mới",
                   "an adjustment decision without the new deadline")
        completed_on = r.date("Ngày hoàn thành")
        status_text = r.text("Trạng thái")
        status = STATUSES.get(key(status_text)) if status_text else ("completed" if completed_on else "open")
        if status_text and status is None:
            r.fail("Trạng thái", f"trạng thái không xác định: {status_text}", f"unknown status: {status_text}")
        if status == "completed" and completed_on is None:
            r.fail("Ngày hoàn thành", "nhiệm vụ đã hoàn thành phải có ngày hoàn thành",
                   "a completed task needs its completion date")
        if status == "open" and completed_on is not None:
            r.fail("Trạng thái", "có ngày hoàn thành nhưng trạng thái là chưa hoàn thành",
                   "a completion date with a status that says not completed")
        if issued_on:
            for column, value in (("Thời hạn", due_on), ("Ngày hoàn thành", completed_on),
                                  ("Ngày quyết định điều chỉnh", adjustment_date)):
                if value and value < issued_on:
                    r.fail(column, "ngày này trước ngày ban hành", "this date is before the issue date")
        result = r.text("Kết quả", limit=MAX_TEXT) or None
        if r.ok:
            assert issued_on is not None and kind is not None and lead is not None
            parsed.tasks.append(TaskRecord(
                table.source, row.number, number, kind, issuing_body, issued_on, summary, domain, group,
                content, lead, tuple(cooperating), due_on, adjusted, adjustment_number, adjustment_date,
                completed_on if status == "completed" else None, status == "withdrawn", result))


def _reports(table: Table, parsed: Parsed, directory: Directory) -> None:
    for row in table.rows:
        r = _RowReader(table, row, parsed.issues)
        unit_text = r.text("Đơn vị", required=True)
        unit = directory.match(unit_text) if unit_text else None
        if unit_text and unit is None:
            r.fail("Đơn vị", f"đơn vị không có trong danh mục: {unit_text}",
                   f"unit not in the directory: {unit_text}")
        period = r.text("Kỳ báo cáo", required=True, limit=100)
        due_on = r.date("Hạn nộp", required=True)
        submitted_on = r.date("Ngày nộp")
        if r.ok:
            assert unit is not None and due_on is not None
            parsed.reports.append(ReportRecord(table.source, row.number, unit, period, due_on, submitted_on))


def _check_directives_agree(parsed: Parsed) -> None:
    """Rows of one Số hiệu are the items of one directive: its own fields must agree."""
    for number, rows in parsed.directives().items():
        first = rows[0]
        for other in rows[1:]:
            for attribute, column in (("kind", "Loại văn bản"), ("issuing_body", "Cơ quan ban hành"),
                                      ("issued_on", "Ngày ban hành"), ("summary", "Trích yếu")):
                if getattr(other, attribute) != getattr(first, attribute):
                    parsed.issues.append(Issue(
                        other.source, other.row, column,
                        f"khác với dòng {first.row} của cùng văn bản {number}",
                        f"differs from row {first.row} of the same document {number}"))
