"""`dondoc import FILE... [--dry-run]`: read, plan, and (unless a dry run or a problem)
write; every problem is printed with its sheet, row and column, and then nothing is written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from dondoc.importer.apply import Silent, apply_plan, rich_steps
from dondoc.importer.client import ApiError, Suite
from dondoc.importer.plan import KINDS, Counts, Plan, make_plan
from dondoc_platform.clock import VN_TZ

OK, INPUT_PROBLEMS, STOPPED, INTERRUPTED = 0, 1, 2, 130
RESUME = ("Chạy lại cùng lệnh để nhập tiếp: phần đã ghi được giữ nguyên, không ghi hai lần. / "
          "Run the same command again to resume: what was written stays, nothing is written twice.")


@dataclass
class Outcome:
    code: int
    plan: Plan | None = None
    done: dict[str, Counts] | None = None
    error: ApiError | None = None


def today_in_vietnam() -> date:
    return datetime.now(VN_TZ).date()


def run_import(suite: Suite, paths: list[Path], *, dry_run: bool = False, console: Any = None,
               today: date | None = None, wait_seconds: float = 300.0) -> Outcome:
    """The whole command; `console` (rich) gets progress bars and the summary, or nothing."""
    say = (lambda line: console.print(line, highlight=False)) if console else (lambda _: None)
    try:
        plan = make_plan(suite, paths, today or today_in_vietnam(), wait_seconds=wait_seconds, say=say)
    except ApiError as e:
        say(f"[red]Không đọc được trạng thái các dịch vụ / cannot read the services' state:[/] {e}")
        return Outcome(STOPPED, error=e)
    if not plan.ok:
        if console:
            print_issues(console, plan)
        return Outcome(INPUT_PROBLEMS, plan)
    if dry_run:
        if console:
            print_summary(console, plan.expected, "Sẽ nhập (chạy thử, không ghi gì) / would import "
                                                  "(dry run, nothing written)")
        return Outcome(OK, plan)
    try:
        if console:
            with rich_steps(console) as steps:
                done = apply_plan(suite, plan, steps, wait_seconds=wait_seconds)
        else:
            done = apply_plan(suite, plan, Silent(), wait_seconds=wait_seconds)
    except ApiError as e:
        say(f"[red]Dừng nhập / the import stopped:[/] {e}")
        say(RESUME)
        return Outcome(STOPPED, plan, error=e)
    except KeyboardInterrupt:
        say("[yellow]Dừng theo yêu cầu / stopped on request.[/]")
        say(RESUME)
        return Outcome(INTERRUPTED, plan)
    if console:
        print_summary(console, done, "Đã nhập / imported")
    return Outcome(OK, plan, done)


def print_issues(console: Any, plan: Plan) -> None:
    from rich.table import Table

    table = Table("Nơi / where", "Lỗi", "Problem", title=f"{len(plan.issues)} lỗi / problem(s)",
                  show_lines=False)
    for issue in plan.issues:
        table.add_row(issue.where(), issue.message_vi, issue.message_en)
    console.print(table)
    console.print("[red]Không ghi gì: sửa các lỗi trên rồi nhập lại. / Nothing was written: fix the "
                  "problems above and import again.[/]", highlight=False)


def print_summary(console: Any, counts: dict[str, Counts], title: str) -> None:
    from rich.table import Table

    table = Table("", "Mới / created", "Đã có / already there", title=title)
    for name, vi, en in KINDS:
        table.add_row(f"{vi} / {en}", str(counts[name].created), str(counts[name].existing))
    console.print(table)
