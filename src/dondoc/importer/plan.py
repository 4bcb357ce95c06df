"""What an import will do, decided before anything is written: the file's records set
against what the services already hold. Whatever is already there with the same content is
counted as done; whatever is there with other content is a located problem, and a plan with
any problem writes nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from dondoc.importer.client import Suite, wait_for
from dondoc.importer.records import (
    Directory,
    Parsed,
    ReportRecord,
    TaskRecord,
    UnitRecord,
    number_key,
    parse,
)
from dondoc.importer.sheets import Issue, read_files
from dondoc.importer.text import clean, key
from dondoc_contracts.values import PeriodKind

#: What the summary counts, in the office's words
KINDS: tuple[tuple[str, str, str], ...] = (
    ("units", "Đơn vị", "units"),
    ("directives", "Văn bản", "directives"),
    ("tasks", "Nhiệm vụ", "tasks"),
    ("adjustments", "Điều chỉnh thời hạn", "deadline adjustments"),
    ("completions", "Hoàn thành", "completions"),
    ("withdrawals", "Rút nhiệm vụ", "withdrawals"),
    ("cycles", "Kỳ báo cáo", "report cycles"),
    ("reports", "Báo cáo đã nộp", "reports submitted"),
    ("closures", "Kỳ báo cáo đã đóng", "cycles closed"),
)

DECIDERS = {
    key("BTV"): "Ban Thường vụ Tỉnh ủy",
    key("Ban Thường vụ"): "Ban Thường vụ Tỉnh ủy",
    key("Ban Thường vụ Tỉnh ủy"): "Ban Thường vụ Tỉnh ủy",
    key("TT"): "Thường trực Tỉnh ủy",
    key("TTTU"): "Thường trực Tỉnh ủy",
    key("Thường trực"): "Thường trực Tỉnh ủy",
    key("Thường trực Tỉnh ủy"): "Thường trực Tỉnh ủy",
    key("BCH"): "Ban Chấp hành Đảng bộ tỉnh",
}


def decider(issuing_body: str) -> str:
    """Who decides for a directive's issuing body: deadlines change by its decision."""
    return DECIDERS.get(key(issuing_body), clean(issuing_body))


@dataclass
class Counts:
    created: int = 0
    existing: int = 0


def new_counts() -> dict[str, Counts]:
    return {name: Counts() for name, _, _ in KINDS}


@dataclass
class DirectivePlan:
    rows: list[TaskRecord]
    existing: dict[str, Any] | None = None  # the directive as the directives service has it
    new_items: list[TaskRecord] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # item id → task view

    @property
    def first(self) -> TaskRecord:
        return self.rows[0]

    @property
    def review_group(self) -> str | None:
        groups = {row.review_group for row in self.rows}
        return groups.pop() if len(groups) == 1 else None


@dataclass
class CyclePlan:
    rows: list[ReportRecord]
    existing: dict[str, Any] | None = None  # the cycle with its obligations

    @property
    def first(self) -> ReportRecord:
        return self.rows[0]

    def period(self) -> dict[str, Any]:
        first = self.first
        return {"kind": first.period_kind.value, "label": first.period,
                "starts_on": first.starts_on.isoformat(), "ends_on": first.ends_on.isoformat()}


@dataclass
class Plan:
    today: date
    parsed: Parsed
    issues: list[Issue]
    new_units: list[UnitRecord] = field(default_factory=list)
    directives: list[DirectivePlan] = field(default_factory=list)
    cycles: list[CyclePlan] = field(default_factory=list)
    expected: dict[str, Counts] = field(default_factory=new_counts)

    @property
    def ok(self) -> bool:
        return not self.issues


def row_issue(record: Any, column: str | None, vi: str, en: str) -> Issue:
    """A problem of a record, located where the office finds it (column letter and header)."""
    where = record.columns.get(column, column) if column else None
    return Issue(record.source, record.row, where, vi, en)


def make_plan(suite: Suite, paths: list[Path], today: date, *, wait_seconds: float = 120.0,
              say: Callable[[str], None] = lambda _: None) -> Plan:
    tables, issues = read_files(paths)
    directory = Directory()
    say("Đọc danh mục đơn vị / reading the unit directory")
    for unit in suite.get_all("directives", "/units"):
        directory.know(unit["unit_id"], unit["code"], unit["name"], unit.get("previous_names") or ())
    parsed = parse(tables, directory, issues, today)
    plan = Plan(today, parsed, parsed.issues)
    if not tables and not plan.issues:
        plan.issues.append(Issue("", None, None, "không có bảng nào để nhập", "there is no table to import"))
    _plan_units(plan)
    say("Đối chiếu văn bản đã có / comparing with the directives already registered")
    _plan_directives(suite, plan, wait_seconds)
    _check_adjusted_deadlines(suite, plan)
    say("Đối chiếu kỳ báo cáo đã có / comparing with the report cycles already open")
    _plan_cycles(suite, plan)
    return plan


# --------------------------------------------------------------------------- units


def _plan_units(plan: Plan) -> None:
    """New units, parents before their children (a parent must exist to be named)."""
    new = {u.unit_id: u for u in plan.parsed.units if not u.existing}
    plan.expected["units"].existing = sum(1 for u in plan.parsed.units if u.existing)
    ordered: list[UnitRecord] = []
    placing: set[str] = set()

    def place(unit: UnitRecord) -> None:
        if unit in ordered:
            return
        if unit.unit_id in placing:
            plan.issues.append(row_issue(unit, "Đơn vị cấp trên", "quan hệ cấp trên tạo thành vòng lặp",
                                         "the parent relation forms a cycle"))
            return
        placing.add(unit.unit_id)
        if unit.parent in new:
            place(new[unit.parent])
        ordered.append(unit)

    for unit in new.values():
        place(unit)
    plan.new_units = ordered
    plan.expected["units"].created = len(ordered)


# --------------------------------------------------------------------------- directives


def deadline_of(due_on: date | None) -> dict[str, Any]:
    return {"kind": "date", "due_on": due_on.isoformat()} if due_on else {"kind": "none"}


def _plan_directives(suite: Suite, plan: Plan, wait_seconds: float) -> None:
    grouped = plan.parsed.directives()
    registered: dict[tuple[str, int], dict[str, Any]] = {}
    for year in sorted({year for _, year in grouped}):
        for directive in suite.get_all("directives", "/directives", year=year):
            registered[(number_key(directive["number"]), year)] = directive
    for document, rows in grouped.items():
        directive = DirectivePlan(rows, registered.get(document))
        plan.directives.append(directive)
        if directive.existing is None:
            directive.new_items = list(rows)
            plan.expected["directives"].created += 1
            plan.expected["tasks"].created += len(rows)
            for row in rows:
                _expect_follow_ups(plan, row, None)
            continue
        plan.expected["directives"].existing += 1
        _compare_directive(plan, directive)
        directive.tasks = _tasks_of(suite, directive, wait_seconds)
        for row in rows:
            task = directive.tasks.get(row.item_id)
            if row in directive.new_items:
                plan.expected["tasks"].created += 1
            else:
                plan.expected["tasks"].existing += 1
            _expect_follow_ups(plan, row, task)


def _compare_directive(plan: Plan, directive: DirectivePlan) -> None:
    existing, first = directive.existing, directive.first
    assert existing is not None
    for column, mine, theirs in (
            ("Loại văn bản", first.kind.value, existing["kind"]),
            ("Cơ quan ban hành", key(first.issuing_body), key(existing["issuing_body"])),
            ("Ngày ban hành", first.issued_on.isoformat(), existing["issued_on"]),
            ("Trích yếu", key(first.summary), key(existing["summary"]))):
        if mine != theirs:
            plan.issues.append(row_issue(
                first, column,
                f"văn bản {existing['number']} đã được đăng ký với {column.lower()} khác",
                f"document {existing['number']} is registered with another value here"))
    items = {item["item_id"]: item for item in existing["items"]}
    for row in directive.rows:
        item = items.get(row.item_id)
        if item is None:
            directive.new_items.append(row)
            continue
        for column, mine, theirs in (
                ("Đơn vị chủ trì", row.lead_unit, item["lead_unit_id"]),
                ("Đơn vị phối hợp", sorted(row.cooperating_units), sorted(item["cooperating_unit_ids"])),
                ("Thời hạn", deadline_of(row.due_on),
                 {k: v for k, v in item["deadline"].items() if k in ("kind", "due_on") and v is not None}),
                ("Lĩnh vực", key(row.domain or ""), key(item.get("domain") or "")),
                ("Trọng điểm", row.key_task, item.get("key_task", False))):
            if mine != theirs:
                plan.issues.append(row_issue(
                    row, column, "nhiệm vụ này đã được đăng ký với giá trị khác ở cột này",
                    "this task is registered with another value in this column"))
    if directive.new_items and existing["status"] == "revoked":
        plan.issues.append(row_issue(directive.new_items[0], "Số hiệu",
                                     f"văn bản {existing['number']} đã bị thu hồi, không bổ sung được",
                                     f"document {existing['number']} was revoked: nothing can be added"))


def _tasks_of(suite: Suite, directive: DirectivePlan, wait_seconds: float) -> dict[str, dict[str, Any]]:
    """The tasks of a registered directive's items (waiting for those the tasks service has
    not created yet: an earlier import stopped right after registering the directive)."""
    assert directive.existing is not None
    expected = {item["item_id"] for item in directive.existing["items"] if item.get("lead_unit_id")}

    def listed() -> dict[str, dict[str, Any]] | None:
        tasks = {t["item_id"]: t for t in suite.get_all(
            "tasks", "/tasks", directive_id=directive.existing["directive_id"])}
        return tasks if expected <= set(tasks) else None

    return wait_for(listed, timeout=wait_seconds,
                    what_vi=f"các nhiệm vụ của văn bản {directive.existing['number']}",
                    what_en=f"the tasks of document {directive.existing['number']}")


def _expect_follow_ups(plan: Plan, row: TaskRecord, task: dict[str, Any] | None) -> None:
    """What follows a task's assignment (adjustment, then completion or withdrawal), set
    against the task's state when it exists already."""
    counts = plan.expected
    if task is None:
        counts["adjustments"].created += bool(row.adjusted_due_on)
        counts["completions"].created += bool(row.completed_on)
        counts["withdrawals"].created += row.withdrawn
        return
    state = task["state"]
    if row.adjusted_due_on:
        if adjustment_recorded(task, row) is not None:
            counts["adjustments"].existing += 1
        elif state != "open":
            plan.issues.append(row_issue(row, "Thời hạn điều chỉnh",
                                         "nhiệm vụ đã đóng trong hệ thống, không điều chỉnh được nữa",
                                         "the task is closed already: its deadline cannot change"))
        else:
            counts["adjustments"].created += 1
    if row.completed_on:
        if state == "completed" and task["completed_on"] == row.completed_on.isoformat():
            counts["completions"].existing += 1
        elif state == "open":
            counts["completions"].created += 1
        else:
            plan.issues.append(row_issue(
                row, "Ngày hoàn thành",
                f"trong hệ thống nhiệm vụ {_state_vi(task)}, khác với sổ",
                f"the system has this task {_state_en(task)}, unlike the book"))
    if row.withdrawn:
        if state == "withdrawn":
            counts["withdrawals"].existing += 1
        elif state == "open":
            counts["withdrawals"].created += 1
        else:
            plan.issues.append(row_issue(
                row, "Trạng thái", f"trong hệ thống nhiệm vụ {_state_vi(task)}, không rút được",
                f"the system has this task {_state_en(task)}: it cannot be withdrawn"))


def adjustment_recorded(task: dict[str, Any], row: TaskRecord) -> dict[str, Any] | None:
    """The task's adjustment made by the row's decision, if recorded already."""
    for adjustment in task.get("adjustments") or []:
        decision = adjustment.get("decision") or {}
        if key(decision.get("number", "")) == key(row.adjustment_number or "") and \
                decision.get("decided_on") == (row.adjustment_decided_on.isoformat()
                                               if row.adjustment_decided_on else None):
            return adjustment
    return None


def _state_vi(task: dict[str, Any]) -> str:
    if task["state"] == "completed":
        return f"đã hoàn thành ngày {date.fromisoformat(task['completed_on']):%d/%m/%Y}"
    return "đã rút" if task["state"] == "withdrawn" else "chưa hoàn thành"


def _state_en(task: dict[str, Any]) -> str:
    if task["state"] == "completed":
        return f"completed on {task['completed_on']}"
    return task["state"]


def _check_adjusted_deadlines(suite: Suite, plan: Plan) -> None:
    """An adjustment must move the effective deadline (after the move off weekends and days
    off, as the tasks service's calendar has it); one that moves nothing is refused there."""
    cache: dict[date, str | None] = {}

    def effective(day: date, assigned_on: date) -> str | None:
        if day not in cache:
            answer = suite.get("tasks", "/calendar/due-date", assigned_on=assigned_on.isoformat(),
                               kind="date", due_on=day.isoformat())
            cache[day] = answer["due_on"]
        return cache[day]

    for directive in plan.directives:
        for row in directive.rows:
            if row.adjusted_due_on and row.due_on and (directive.tasks.get(row.item_id) is None) and \
                    effective(row.adjusted_due_on, row.issued_on) == effective(row.due_on, row.issued_on):
                plan.issues.append(row_issue(
                    row, "Thời hạn điều chỉnh",
                    "thời hạn điều chỉnh rơi vào cùng ngày làm việc với thời hạn ban đầu",
                    "the adjusted deadline falls on the same working day as the original one"))


# --------------------------------------------------------------------------- report cycles


def _cycle_key(kind: str | PeriodKind, starts_on: Any, ends_on: Any, due_on: Any) -> tuple[str, str, str, str]:
    return (str(getattr(kind, "value", kind)), str(starts_on), str(ends_on), str(due_on))


def _plan_cycles(suite: Suite, plan: Plan) -> None:
    grouped: dict[tuple[str, str, str, str], list[ReportRecord]] = defaultdict(list)
    for record in plan.parsed.reports:
        grouped[_cycle_key(record.period_kind, record.starts_on, record.ends_on, record.due_on)].append(record)
    opened: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for year in sorted({r.due_on.year for r in plan.parsed.reports}):
        for cycle in suite.get_all("reports", "/cycles", year=year):
            period = cycle["period"]
            opened[_cycle_key(period["kind"], period["starts_on"], period["ends_on"],
                              cycle["due_on"])].append(cycle)
    counts = plan.expected
    for cycle_key, rows in grouped.items():
        cycle = CyclePlan(rows)
        plan.cycles.append(cycle)
        found = opened.get(cycle_key, [])
        if len(found) > 1:
            plan.issues.append(row_issue(rows[0], "Kỳ báo cáo",
                                         "đã có nhiều kỳ báo cáo cùng kỳ và hạn nộp này",
                                         "several report cycles already have this period and due date"))
            continue
        due_passed = rows[0].due_on < plan.today
        if not found:
            counts["cycles"].created += 1
            counts["reports"].created += sum(1 for r in rows if r.submitted_on)
            counts["closures"].created += due_passed
            continue
        cycle.existing = suite.get("reports", f"/cycles/{found[0]['cycle_id']}")
        counts["cycles"].existing += 1
        closed = cycle.existing["status"] == "closed"
        if cycle.existing["overdue_decided_at_close"] and due_passed:
            if closed:
                counts["closures"].existing += 1
            else:
                counts["closures"].created += 1
        owed = {o["unit_id"]: o for o in cycle.existing["obligations"]}
        for row in rows:
            obligation = owed.get(row.unit)
            if obligation is None:
                plan.issues.append(row_issue(row, "Đơn vị",
                                             "kỳ báo cáo này đã mở mà không có đơn vị này",
                                             "this report cycle was opened without this unit"))
                continue
            if row.submitted_on is None:
                continue
            first = obligation["first_submitted_on"]
            if first == row.submitted_on.isoformat():
                counts["reports"].existing += 1
            elif first is not None:
                plan.issues.append(row_issue(
                    row, "Ngày nộp", f"hệ thống đã ghi báo cáo này nộp ngày "
                    f"{date.fromisoformat(first):%d/%m/%Y}",
                    f"the system has this report submitted on {first}"))
            elif closed:
                plan.issues.append(row_issue(row, "Ngày nộp",
                                             "kỳ báo cáo đã đóng, không ghi thêm báo cáo được",
                                             "the report cycle is closed: no report can be recorded"))
            else:
                counts["reports"].created += 1

