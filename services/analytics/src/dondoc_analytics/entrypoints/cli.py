"""The analytics commands of `dondoc`: scorecard, history, audit, analytics (operations).

They read the settings of the analytics service from the environment (DONDOC_STORE_URL of
the read models, DONDOC_KAFKA_BOOTSTRAP, DONDOC_AUDIT_*) and work on its database directly.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dondoc_platform.clock import VN_TZ

console = Console()
errors = Console(stderr=True)


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"


class Lang(StrEnum):
    VI = "vi"
    EN = "en"


class HistoryFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


class By(StrEnum):
    UNIT = "unit"
    REVIEW_GROUP = "review-group"
    DOMAIN = "domain"
    ISSUING_BODY = "issuing-body"


def _parts():
    from dondoc_analytics.bootstrap import Parts, Settings

    parts = Parts(Settings())
    parts.ensure_schema()
    return parts


def _moment(text: str | None) -> datetime | None:
    """`2018-06-30` is the end of that day; a time without offset is Vietnam time."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), time(0), tzinfo=VN_TZ)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use YYYY-MM-DD or an ISO 8601 moment") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=VN_TZ)


def _wait(parts) -> None:
    if not asyncio.run(parts.projection.wait_caught_up(parts.settings.wait_timeout_seconds)):
        errors.print("[red]the read models did not catch up in time[/] "
                     "(is the analytics worker running? `dondoc serve analytics --role worker`)")
        raise typer.Exit(3)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------- scorecard

scorecard_app = typer.Typer(help="Bảng điểm đúng hạn / timeliness scorecards (metrics.md).",
                            invoke_without_command=True, no_args_is_help=False)


@scorecard_app.callback()
def scorecard(
    ctx: typer.Context,
    year: Annotated[int | None, typer.Option("--year", help="the year Y")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="T: YYYY-MM-DD (end of day) or "
                                               "an ISO moment; default end of Y, or now")] = None,
    by: Annotated[By, typer.Option("--by", help="grouping")] = By.UNIT,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv, xlsx or json")] = Format.TABLE,
    wait: Annotated[bool, typer.Option("--wait", help="first wait for every event published "
                                        "before this call")] = False,
    unit: Annotated[list[str] | None, typer.Option("--unit", help="only this unit (repeatable)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="file (required for xlsx)")] = None,
    restated: Annotated[bool, typer.Option("--restated", help="for a closed year: the current "
                                           "figures instead of the frozen ones")] = False,
) -> None:
    """`dondoc scorecard --year 2018 [--as-of T] [--by unit] [--format csv] [--wait]`"""
    if ctx.invoked_subcommand is not None:
        return
    if year is None:
        raise typer.BadParameter("--year is required", param_hint="--year")
    from dondoc_analytics.domain.timeliness import AsOfBeforeYear
    from dondoc_analytics.projections.queries import Grouping

    parts = _parts()
    if wait:
        _wait(parts)
    grouping = Grouping(by.value.replace("-", "_"))
    try:
        card = parts.reading.scorecard(year, as_of=_moment(as_of), by=grouping, units=unit)
    except AsOfBeforeYear as e:
        errors.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    if card.restatement and not restated:
        errors.print(f"[yellow]Năm {year} đã khóa số liệu; có số liệu điều chỉnh sau khi khóa "
                     f"({len(card.restatement['events'])} sự kiện). Frozen figures shown; "
                     f"--restated shows the current ones, --format json both.[/]")
    rows = [(r.name, (r.restated or r.figures) if restated else r.figures) for r in card.rows]
    first = "unit" if grouping is Grouping.UNIT else grouping.value
    names = list(card.figure_names)
    if fmt is Format.JSON:
        _emit(json.dumps(_card_json(card), ensure_ascii=False, indent=2, default=str) + "\n", output)
    elif fmt is Format.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([first, *names])
        for name, figures in rows:
            writer.writerow([name, *[_cell(figures.get(n)) for n in names]])
        _emit(buffer.getvalue(), output)
    elif fmt is Format.XLSX:
        if output is None:
            raise typer.BadParameter("xlsx needs --output FILE", param_hint="--output")
        _xlsx(output, card, first, names, rows)
        errors.print(f"wrote {output}")
    else:
        _table(card, rows, restated)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def _card_json(card) -> dict[str, Any]:
    return {"year": card.year, "as_of": card.as_of.isoformat(), "grouping": card.grouping.value,
            "rows": [{"key": r.key, "name": r.name, "figures": r.figures, "restated": r.restated}
                     for r in card.rows],
            "total": card.total.figures, "total_restated": card.total.restated,
            "period": card.period, "restatement": card.restatement}


def _xlsx(path: Path, card, first: str, names: list[str], rows) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from dondoc_analytics.domain.wording import figure_label

    book = Workbook()
    sheet = book.active
    sheet.title = f"{card.year}"
    sheet.append([first, *names])
    sheet.append([figure_label(first)[0], *[figure_label(n)[0] for n in names]])
    for cell in sheet[1] + sheet[2]:
        cell.font = Font(bold=True)
    for name, figures in rows:
        sheet.append([name, *[figures.get(n) for n in names]])
    for column, name in enumerate(names, start=2):
        if "rate" in name:
            for row in range(3, sheet.max_row + 1):
                sheet.cell(row=row, column=column).number_format = "0.0%"
    about = book.create_sheet("about")
    about.append(["year", card.year])
    about.append(["as_of", card.as_of.isoformat()])
    about.append(["grouping", card.grouping.value])
    about.append(["definitions", "docs/metrics.md: rates are fractions 0..1, empty where undefined"])
    if card.period:
        about.append(["frozen", f"closed {card.period['closed_at']} by {card.period['closed_by']}"])
    book.save(path)


def _pct(value: Any) -> str:
    return "—" if value is None else f"{value:.1%}"


def _table(card, rows, restated: bool = False) -> None:
    title = (f"Năm {card.year}, tính đến {card.as_of:%d/%m/%Y %H:%M} "
             f"({card.grouping.value})" + (" — ĐÃ KHÓA SỐ LIỆU" if card.period else ""))
    table = Table(title=title)
    columns = [("Đơn vị" if card.grouping.value == "unit" else card.grouping.value, None),
               ("Giao", "assigned"), ("Chuyển tiếp", "carried_over"),
               ("HT đúng hạn", "completed_on_time"), ("HT quá hạn", "completed_late"),
               ("Trong hạn", "open_in_time"), ("Quá hạn", "open_overdue"),
               ("Không thời hạn", "open_no_deadline"), ("Rút", "withdrawn"),
               ("Đúng hạn/đến hạn", "on_time_rate_of_due"),
               ("Đúng hạn/tổng số", "on_time_rate_of_all"),
               ("Đúng hạn/đến hạn (hạn gốc)", "on_time_rate_of_due_original"),
               ("Đúng hạn/tổng số (hạn gốc)", "on_time_rate_of_all_original")]
    if card.with_reports:  # the five add up to reports_due, pending included
        columns += [("BC phải nộp", "reports_due"), ("BC đúng hạn", "reports_on_time"),
                    ("BC muộn", "reports_late"), ("BC chưa nộp", "reports_missing"),
                    ("BC chưa đến hạn", "reports_pending")]
    for label, key in columns:  # a unit's name on one line: it is what the reader looks for
        table.add_column(label, justify="left" if key is None else "right", no_wrap=key is None)
    total = (card.total.restated or card.total.figures) if restated else card.total.figures
    for name, figures in [*rows, (card.total.name, total)]:
        table.add_row(name, *[_pct(figures.get(k)) if "rate" in k else _cell(figures.get(k))
                              for _, k in columns[1:]])
    console.print(table)


@scorecard_app.command("close")
def close(
    year: Annotated[int, typer.Option("--year")],
    as_of: Annotated[str | None, typer.Option("--as-of")] = None,
    by: Annotated[str, typer.Option("--by", help="who closes it (recorded)")] = "cli",
) -> None:
    """Freeze a year's figures (after waiting for every published event)."""
    from dondoc_analytics.application import periods
    from dondoc_analytics.projections.frozen import PeriodClosed

    parts = _parts()
    try:
        closed = asyncio.run(periods.close_year(parts, year, closed_by=by, as_of=_moment(as_of)))
    except (periods.YearNotOver, PeriodClosed, periods.NotCaughtUp) as e:
        errors.print(f"[red]{type(e).__name__}: {e}[/]")
        raise typer.Exit(1) from None
    console.print_json(json.dumps(closed, default=str))


@scorecard_app.command("years")
def years(unit_id: str, first: Annotated[int, typer.Option("--from")],
          last: Annotated[int, typer.Option("--to")],
          fmt: Annotated[Format, typer.Option("--format")] = Format.TABLE) -> None:
    """One unit's figures year by year."""
    parts = _parts()
    rows = parts.reading.unit_years(unit_id, first, last)
    if fmt is Format.JSON:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    from dondoc_analytics.domain.timeliness import REPORT_FIGURES, TASK_FIGURES

    names = [*TASK_FIGURES, *REPORT_FIGURES]
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["year", "unit", *names])
    for row in rows:
        writer.writerow([row["year"], row["name"], *[_cell(row["figures"].get(n)) for n in names]])


# --------------------------------------------------------------------------- history

def history(
    task_id: Annotated[str, typer.Argument(help="the task's id")],
    fmt: Annotated[HistoryFormat, typer.Option("--format", help="table or json")] = HistoryFormat.TABLE,
    lang: Annotated[Lang, typer.Option("--lang", help="vi or en")] = Lang.VI,
    wait: Annotated[bool, typer.Option("--wait")] = False,
) -> None:
    """Lịch sử một nhiệm vụ / a task's history: every event, who, what, when, in the
    office's words (`dondoc history TASK_ID [--lang en] [--format json]`)."""
    from dondoc_analytics.application.reading import NotFound

    parts = _parts()
    if wait:
        _wait(parts)
    try:
        found = parts.reading.history(task_id)
    except NotFound:
        errors.print(f"[red]Không tìm thấy nhiệm vụ {task_id} / task not found[/]")
        raise typer.Exit(1) from None
    if fmt is HistoryFormat.JSON:
        print(json.dumps({"task": found.task, "state_now": found.state_now,
                          "periods": found.periods, "events": found.events},
                         ensure_ascii=False, indent=2, default=str))
        return
    task = found.task
    console.print(f"[bold]{task.get('directive_number', '')} mục {task.get('paragraph', '')}[/]: "
                  f"{task.get('content', task_id)}", highlight=False)
    if found.state_now:
        state = found.state_now
        label = state["status_vi"] if lang == "vi" else state["status_en"]
        days = " ngày" if lang == "vi" else " days"
        console.print(f"{state['lead_unit']} — {label}"
                      + (f" ({state['days_overdue']}{days})" if state.get("days_overdue") else ""),
                      highlight=False)
    table = Table("Ngày" if lang == "vi" else "Day", "Ai" if lang == "vi" else "Who",
                  "Việc" if lang == "vi" else "What", "Ghi nhận" if lang == "vi" else "Recorded")
    for e in found.events:
        table.add_row(e["business_day"].strftime("%d/%m/%Y"), e["who"],
                      e["what_vi"] if lang == "vi" else e["what_en"],
                      f"{e['service']} #{e['position']}")
    console.print(table)


# --------------------------------------------------------------------------- audit

audit_app = typer.Typer(help="Kiểm toán / audit: checkpoints, verification, proofs.",
                        no_args_is_help=True)


@audit_app.command("verify")
def verify(
    checkpoints: Annotated[list[Path] | None, typer.Option(
        "--checkpoints", help="checkpoint files or folders an auditor kept (repeatable)")] = None,
    public_keys: Annotated[Path | None, typer.Option("--public-keys", help="trusted keys (JSON)")] = None,
    kafka: Annotated[bool, typer.Option("--kafka/--no-kafka")] = True,
    projections: Annotated[bool, typer.Option("--projections/--no-projections")] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recompute chains and Merkle roots from the stores and Kafka, check every signature
    and consistency proof, replay the projections; exit 0 only if everything agrees."""
    from dondoc_analytics.adapters.signing import load_public_keys
    from dondoc_analytics.application.audit import Auditor

    parts = _parts()
    keys = load_public_keys(public_keys) if public_keys else parts.trusted_keys()
    report = asyncio.run(Auditor(parts, keys, checkpoint_files=checkpoints or ()).verify(
        use_kafka=kafka, projections=projections))
    if as_json:
        print(json.dumps({"ok": report.ok, "findings": [f.__dict__ for f in report.findings],
                          "checked": report.checked, "seconds": report.seconds}, indent=2))
    else:
        if not parts.settings.audit_store_urls():
            errors.print("[yellow]no service store configured (DONDOC_AUDIT_<SERVICE>_STORE_URL): "
                         "hash chains, Merkle roots and the Kafka copies' hashes not checked, "
                         "only the read models and the messages a rebuild trusts[/]",
                         highlight=False)
        for key, value in sorted(report.checked.items()):
            console.print(f"checked {key}: {value}", highlight=False)
        for finding in report.findings:
            errors.print(f"[red]DAMAGE[/] {finding}", highlight=False)
        console.print("[green]verified: everything agrees[/]" if report.ok
                      else f"[red]{len(report.findings)} finding(s)[/]")
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("history")
def audit_history(
    task_id: str,
    prove: Annotated[bool, typer.Option("--prove", help="with inclusion proofs")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    kept: Annotated[list[Path] | None, typer.Option(
        "--kept", help="checkpoint files or folders the auditor kept (repeatable): the proof "
                       "then shows the log extends each of them")] = None,
) -> None:
    """A task's full history; with --prove, each event's inclusion proof under the latest
    signed checkpoint of its service's log (check offline: docs/services/analytics.md)."""
    from dondoc_analytics.application.audit import checkpoints_from_files, prove_history
    from dondoc_analytics.application.reading import NotFound

    parts = _parts()
    try:
        if prove:
            document = prove_history(parts, task_id, checkpoints_from_files(kept or ()))
        else:
            found = parts.reading.history(task_id)
            document = {"task_id": task_id, "task": found.task, "events": found.events}
    except NotFound:
        errors.print(f"[red]Không tìm thấy nhiệm vụ {task_id} / task not found[/]")
        raise typer.Exit(1) from None
    _emit(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n", output)


@audit_app.command("checkpoint")
def checkpoint() -> None:
    """Make and publish signed checkpoints of every configured store now."""
    from dondoc_analytics.application.checkpoints import Checkpointer

    parts = _parts()
    signer = parts.signer()
    if signer is None:
        errors.print("[red]no signing key: set DONDOC_AUDIT_SIGNING_KEY_FILE[/]")
        raise typer.Exit(2)
    for made in asyncio.run(Checkpointer(parts, signer).make_all()):
        console.print(f"{made.service}: size {made.size}, root {made.root.hex()}", highlight=False)


@audit_app.command("export")
def export(directory: Path) -> None:
    """Write every checkpoint (and the public keys) as files an auditor keeps."""
    from dondoc_analytics.application.checkpoints import export as write

    parts = _parts()
    signer = parts.signer()
    with parts.engine.connect() as conn:
        written = write(conn, directory, signer.public_document() if signer else None)
    console.print(f"{len(written)} file(s) in {directory}")


@audit_app.command("keygen")
def keygen(private_file: Path) -> None:
    """Make a new Ed25519 checkpoint key (PEM, mode 0600); print its public half."""
    from dondoc_analytics.adapters.signing import generate

    signer = generate(private_file)
    print(json.dumps(signer.public_document(), indent=2))


# --------------------------------------------------------------------------- operations

analytics_app = typer.Typer(help="Read models of analytics: status, rebuild.", no_args_is_help=True)


@analytics_app.command("rebuild")
def rebuild() -> None:
    """Replay every topic from offset 0 into a new generation, then switch the views."""
    parts = _parts()
    report = asyncio.run(parts.projection.rebuild())
    console.print(f"generation {report.generation}: {report.events} events "
                  f"({report.rate:,.0f}/s), {report.caught_up_events} caught up while running, "
                  f"switched: {report.switched}", highlight=False)


@analytics_app.command("status")
def status() -> None:
    """The active generation and how many published events it has not applied yet."""
    parts = _parts()
    print(json.dumps({"generation": parts.projection.active(),
                      "lag_events": asyncio.run(parts.projection.lag())}))
