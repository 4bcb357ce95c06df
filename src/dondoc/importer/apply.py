"""Carrying out a plan through the services' APIs, in the order live use would: units, each
directive with all its items in one request, then (once the tasks service has made the
tasks) each task's adjustment and its completion or withdrawal, then the report cycles with
the reports the office received and, for past cycles, their close. Before each write the
current state is read again, so a second run (or a run after an interruption) only does
what is missing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import date
from typing import Any, Protocol

from dondoc.importer.client import ApiError, Suite, idempotency_key, wait_for
from dondoc.importer.plan import (
    Counts,
    CyclePlan,
    DirectivePlan,
    Plan,
    adjustment_recorded,
    deadline_of,
    decider,
    new_counts,
)
from dondoc.importer.records import ReportRecord, TaskRecord, UnitRecord, number_key

NOTE = "Nhập từ sổ theo dõi của Văn phòng Tỉnh ủy"
NO_REASON = "Sổ theo dõi của Văn phòng không ghi lý do chậm"


class Steps(Protocol):
    """Where progress goes (rich progress bars on a terminal, nothing in tests)."""

    def phase(self, name: str, total: int) -> Any: ...
    def advance(self, phase: Any, steps: int = 1) -> None: ...


class Silent:
    def phase(self, name: str, total: int) -> Any:
        return name

    def advance(self, phase: Any, steps: int = 1) -> None:
        return None


@contextmanager
def rich_steps(console: Any) -> Any:
    """Progress bars: one per phase, each with its count and elapsed time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:

        class Bars:
            def phase(self, name: str, total: int) -> Any:
                return progress.add_task(name, total=total)

            def advance(self, phase: Any, steps: int = 1) -> None:
                progress.advance(phase, steps)

        yield Bars()


def apply_plan(suite: Suite, plan: Plan, steps: Steps | None = None, *,
               wait_seconds: float = 300.0) -> dict[str, Counts]:
    steps = steps or Silent()
    done = new_counts()
    _register_units(suite, plan, steps, done)
    bars = (steps.phase("Văn bản / directives", len(plan.directives)),
            steps.phase("Chờ tạo nhiệm vụ / tasks assigned", len(plan.directives)),
            steps.phase("Điều chỉnh, hoàn thành, rút / follow-ups",
                        sum(1 for d in plan.directives for row in d.rows if _follows(row))))
    # a batch at a time, so a task's completion or adjustment follows its assignment within
    # seconds: the tasks service's deadline watcher holds a task recorded after its deadline
    # only for a while (DONDOC_HISTORY_HOLD_SECONDS) before it calls it overdue
    for start in range(0, len(plan.directives), BATCH):
        batch = plan.directives[start:start + BATCH]
        _register_directives(suite, batch, steps, bars[0], done)
        _await_tasks(suite, batch, steps, bars[1], wait_seconds)
        _record_follow_ups(suite, batch, steps, bars[2], done)
    _record_reports(suite, plan, steps, done, wait_seconds)
    return done


BATCH = 20


def _follows(row: TaskRecord) -> bool:
    return bool(row.adjusted_due_on or row.completed_on or row.withdrawn)


# --------------------------------------------------------------------------- units


def _register_units(suite: Suite, plan: Plan, steps: Steps, done: dict[str, Counts]) -> None:
    bar = steps.phase("Đơn vị / units", len(plan.parsed.units))
    done["units"].existing = plan.expected["units"].existing
    steps.advance(bar, done["units"].existing)
    for unit in plan.new_units:
        body = _unit_body(unit)
        try:
            suite.post("directives", "/units", body, idempotency_key("unit", body))
            done["units"].created += 1
        except ApiError as e:
            if e.status != 409 or not _unit_exists(suite, unit.unit_id):
                raise
            done["units"].existing += 1
        steps.advance(bar)


def _unit_body(unit: UnitRecord) -> dict[str, Any]:
    body: dict[str, Any] = {"code": unit.code, "name": unit.name, "review_group": unit.review_group,
                            "parent_unit_id": unit.parent, "emails": list(unit.emails)}
    if unit.unit_id != unit.code:
        body["unit_id"] = unit.unit_id
    return body


def _unit_exists(suite: Suite, unit_id: str) -> bool:
    try:
        suite.get("directives", f"/units/{unit_id}")
    except ApiError:
        return False
    return True


# --------------------------------------------------------------------------- directives


def item_body(row: TaskRecord) -> dict[str, Any]:
    return {"item_id": row.item_id, "paragraph": row.paragraph, "text": row.content,
            "lead_unit_id": row.lead_unit, "cooperating_unit_ids": list(row.cooperating_units),
            "deadline": deadline_of(row.due_on), "domain": row.domain,
            "review_group": row.review_group, "key_task": row.key_task}


def _register_directives(suite: Suite, directives: list[DirectivePlan], steps: Steps, bar: Any,
                         done: dict[str, Counts]) -> None:
    for directive in directives:
        first = directive.first
        if directive.existing is None:
            body = {"number": first.number, "kind": first.kind.value, "issuing_body": first.issuing_body,
                    "issued_on": first.issued_on.isoformat(), "summary": first.summary,
                    "review_group": directive.review_group,
                    "items": [item_body(row) for row in directive.rows]}
            try:
                directive.existing = suite.post("directives", "/directives", body,
                                                idempotency_key("directive", body))
                done["directives"].created += 1
            except ApiError as e:
                if e.code != "duplicate_number":
                    raise
                directive.existing = _registered(suite, first)
                done["directives"].existing += 1
        else:
            done["directives"].existing += 1
            if directive.new_items:
                # the rows the book adds to a registered document are items of that document:
                # the document itself is the decision, so their tasks are assigned on its date
                body = {"items_added": [item_body(row) for row in directive.new_items],
                        "reason": f"Bổ sung nhiệm vụ của văn bản theo sổ theo dõi ({NOTE.lower()})",
                        "decision": {"number": first.number, "decided_on": first.issued_on.isoformat(),
                                     "decider": decider(first.issuing_body)}}
                directive.existing = suite.post(
                    "directives", f"/directives/{directive.existing['directive_id']}/amendments", body,
                    idempotency_key("amendment", directive.existing["directive_id"], body))
        done["tasks"].created += len(directive.new_items)
        done["tasks"].existing += len(directive.rows) - len(directive.new_items)
        steps.advance(bar)


def _registered(suite: Suite, first: TaskRecord) -> dict[str, Any]:
    wanted = number_key(first.number)
    for directive in suite.get_all("directives", "/directives", year=first.issued_on.year):
        if number_key(directive["number"]) == wanted:
            return directive
    raise ApiError("directives", "GET", "/directives", 404, "not_found",
                   f"văn bản {first.number} đã có số nhưng không đọc được (độ mật?)",
                   f"document {first.number} is registered but cannot be read (secrecy?)", "number")


def _await_tasks(suite: Suite, directives: list[DirectivePlan], steps: Steps, bar: Any,
                 wait_seconds: float) -> None:
    """The tasks service makes the tasks from the directives' events (through Kafka)."""
    for directive in directives:
        assert directive.existing is not None
        wanted = {row.item_id for row in directive.rows}
        directive_id = directive.existing["directive_id"]
        if not wanted <= set(directive.tasks):
            def listed(directive_id: str = directive_id, wanted: set[str] = wanted) -> Any:
                tasks = {t["item_id"]: t for t in suite.get_all("tasks", "/tasks", directive_id=directive_id)}
                return tasks if wanted <= set(tasks) else None

            directive.tasks = wait_for(listed, timeout=wait_seconds,
                                       what_vi=f"nhiệm vụ của văn bản {directive.first.number}",
                                       what_en=f"the tasks of document {directive.first.number}")
        steps.advance(bar)


# --------------------------------------------------------------------------- follow-ups


def _record_follow_ups(suite: Suite, directives: list[DirectivePlan], steps: Steps, bar: Any,
                       done: dict[str, Counts]) -> None:
    for directive, row in ((d, row) for d in directives for row in d.rows if _follows(row)):
        task = directive.tasks[row.item_id]
        for name, recorded, command, body in _follow_ups(row):
            if recorded(task):
                done[name].existing += 1
                continue
            task = suite.post("tasks", f"/tasks/{task['task_id']}/{command}", body,
                              idempotency_key(name, task["task_id"], body))
            done[name].created += 1
        directive.tasks[row.item_id] = task
        steps.advance(bar)


def _follow_ups(row: TaskRecord) -> list[tuple[str, Callable[[dict[str, Any]], bool], str, dict[str, Any]]]:
    """What follows a row's assignment, in order (a closed task is not adjusted): the count it
    goes to, whether the task shows it recorded already, the command and its body."""
    decision = {"number": row.adjustment_number,
                "decided_on": row.adjustment_decided_on.isoformat() if row.adjustment_decided_on else None,
                "decider": decider(row.issuing_body)}
    out: list[tuple[str, Callable[[dict[str, Any]], bool], str, dict[str, Any]]] = []
    if row.adjusted_due_on:
        out.append(("adjustments", lambda task: adjustment_recorded(task, row) is not None,
                    "deadline-adjustments", {"kind": "extend", "due_on": row.adjusted_due_on.isoformat(),
                                             "decision": decision, "reason": NOTE}))
    if row.completed_on:
        out.append(("completions", lambda task: task["state"] == "completed", "completion",
                    {"completed_on": row.completed_on.isoformat(), "result": row.result}))
    if row.withdrawn:
        out.append(("withdrawals", lambda task: task["state"] == "withdrawn", "deadline-adjustments",
                    {"kind": "withdraw", "decision": decision,
                     "reason": f"Rút theo quyết định {row.adjustment_number} ({NOTE.lower()})"}))
    return out


# --------------------------------------------------------------------------- reports


def _record_reports(suite: Suite, plan: Plan, steps: Steps, done: dict[str, Counts],
                    wait_seconds: float) -> None:
    if not plan.cycles:
        return
    units = list(dict.fromkeys(row.unit for cycle in plan.cycles for row in cycle.rows))
    bar = steps.phase("Chờ dịch vụ báo cáo / reports up to date", len(units))
    tasks: dict[str, dict[str, Any]] = {}
    for unit in units:
        tasks.update(_caught_up(suite, unit, wait_seconds))
        steps.advance(bar)
    bar = steps.phase("Kỳ báo cáo, báo cáo / cycles, reports",
                      len(plan.cycles) + sum(len(c.rows) for c in plan.cycles))
    for cycle in plan.cycles:
        if cycle.existing is None:
            cycle.existing = _open_cycle(suite, cycle, wait_seconds)
            done["cycles"].created += 1
        else:
            done["cycles"].existing += 1
        steps.advance(bar)
        owed = {o["unit_id"]: o for o in cycle.existing["obligations"]}
        for row in cycle.rows:
            obligation = owed[row.unit]
            if row.submitted_on is not None:
                if obligation["first_submitted_on"] is not None:
                    done["reports"].existing += 1
                else:
                    _submit(suite, cycle, row, obligation, tasks)
                    done["reports"].created += 1
            steps.advance(bar)
        if cycle.existing["overdue_decided_at_close"] and cycle.first.due_on < plan.today:
            if cycle.existing["status"] == "closed":
                done["closures"].existing += 1
            else:
                cycle_id = cycle.existing["cycle_id"]
                suite.post("reports", f"/cycles/{cycle_id}/close", None, idempotency_key("close", cycle_id))
                done["closures"].created += 1


def _facts(task: dict[str, Any]) -> tuple[Any, ...]:
    return (task["task_id"], task.get("due_on"), task.get("completed_on"), task.get("withdrawn_on"))


def _caught_up(suite: Suite, unit: str, wait_seconds: float) -> dict[str, dict[str, Any]]:
    """Wait until the reports service knows the unit's tasks as the tasks service has them
    (it learns them through Kafka): obligations are computed from that knowledge."""
    def same() -> dict[str, dict[str, Any]] | None:
        truth = {t["task_id"]: t for t in suite.get_all("tasks", "/tasks", lead_unit_id=unit)}
        seen = suite.get_all("reports", f"/units/{unit}/tasks", include_closed=True)
        return truth if {_facts(t) for t in truth.values()} == {_facts(t) for t in seen} else None

    return wait_for(same, timeout=wait_seconds, what_vi=f"dịch vụ báo cáo cập nhật nhiệm vụ của {unit}",
                    what_en=f"the reports service to know {unit}'s tasks")


def _open_cycle(suite: Suite, cycle: CyclePlan, wait_seconds: float) -> dict[str, Any]:
    first = cycle.first
    body = {"period": cycle.period(), "data_cutoff_on": first.data_cutoff_on.isoformat(),
            "due_on": first.due_on.isoformat(), "title": f"Báo cáo tự rà soát kỳ {first.period}",
            "unit_ids": list(dict.fromkeys(row.unit for row in cycle.rows)),
            "include_units_without_open_tasks": True}

    def opened() -> dict[str, Any] | None:
        try:
            return suite.post("reports", "/cycles", body, idempotency_key("cycle", body))
        except ApiError as e:
            if e.code == "unknown_unit":  # the unit is on its way to the reports service
                return None
            raise

    return wait_for(opened, timeout=wait_seconds, what_vi="dịch vụ báo cáo biết các đơn vị",
                    what_en="the reports service to know the units")


def report_lines(task_ids: Iterable[str], unit: str, day: date,
                 tasks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per task the unit owes, its status claimed as the task stood that day, in
    the order of the documents (year, number, paragraph)."""
    lines = []
    for task_id in sorted(task_ids, key=lambda t: _reading_order(tasks.get(t))):
        task = tasks.get(task_id)
        if task is None or task["lead_unit_id"] != unit:
            continue  # reassigned since: no longer this unit's to answer
        withdrawn, completed = _day(task.get("withdrawn_on")), _day(task.get("completed_on"))
        if withdrawn is not None and withdrawn <= day:
            continue
        if completed is not None and completed <= day:
            lines.append({"task_id": task_id, "status_claimed": "completed",
                          "completed_on": completed.isoformat(),
                          "progress": f"Đã hoàn thành ngày {completed:%d/%m/%Y}. {NOTE}."})
            continue
        line = {"task_id": task_id, "status_claimed": "in_progress", "progress": f"{NOTE}."}
        due = _day(task.get("due_on"))
        if due is not None and due < day:
            line["delay_reason"] = NO_REASON
        lines.append(line)
    return lines


def _reading_order(task: dict[str, Any] | None) -> tuple[Any, ...]:
    if task is None:
        return ()
    number = task["directive_number"]
    return (task["assigned_on"][:4], len(number), number, int(task["paragraph"])
            if task["paragraph"].isdigit() else 0, task["paragraph"])


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _submit(suite: Suite, cycle: CyclePlan, row: ReportRecord, obligation: dict[str, Any],
            tasks: dict[str, dict[str, Any]]) -> None:
    assert row.submitted_on is not None
    body = {"submitted_on": row.submitted_on.isoformat(),
            "lines": report_lines(obligation["task_ids"], row.unit, row.submitted_on, tasks),
            "summary": f"Báo cáo tự rà soát kỳ {cycle.first.period}, nộp ngày "
                       f"{row.submitted_on:%d/%m/%Y}. {NOTE}."}
    report_id = obligation["report_id"]
    suite.post("reports", f"/reports/{report_id}/submissions", body,
               idempotency_key("submission", report_id, body))

