"""The `dondoc` command line."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dondoc.dev import Stack, StackConfig, StackError
from dondoc.dev.stack import COMPONENTS, INFRASTRUCTURE
from dondoc_notifications.entrypoints.cli import app as notifications_cli

app = typer.Typer(help="dondoc: theo dõi, đôn đốc thực hiện chỉ đạo / directive tracking",
                  no_args_is_help=True, pretty_exceptions_enable=False)
dev = typer.Typer(help="The local stack: real Kafka, PostgreSQL and Prometheus, no Docker.",
                  no_args_is_help=True)
app.add_typer(dev, name="dev")
app.add_typer(notifications_cli, name="notifications")


def _add_analytics_commands() -> None:
    from dondoc_analytics.entrypoints import cli as analytics

    app.add_typer(analytics.scorecard_app, name="scorecard")
    # a command, not a group: its options may follow the task id (`history T --lang en`)
    app.command("history")(analytics.history)
    app.add_typer(analytics.audit_app, name="audit")
    app.add_typer(analytics.analytics_app, name="analytics")


_add_analytics_commands()

console = Console()
errors = Console(stderr=True)


def _stack() -> Stack:
    return Stack(StackConfig.from_env())


def _fail(error: StackError) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {error.what}", highlight=False)
    if error.hint:
        errors.print(f"[yellow]what to do:[/] {error.hint}", highlight=False)
    if error.detail:
        errors.print(error.detail, highlight=False, markup=False)
    return typer.Exit(1)


ComponentsArg = Annotated[
    list[str] | None,
    typer.Argument(help=f"Components ({', '.join(COMPONENTS)}). Omitted: `up` starts the "
                        f"infrastructure ({', '.join(INFRASTRUCTURE)}), `down` and `status` "
                        "cover all."),
]


@dev.command("up")
def dev_up(components: ComponentsArg = None) -> None:
    """Start the stack (idempotent) and wait until each part really works."""
    stack = _stack()
    try:
        stack.up(components, report=lambda line: console.print(line, highlight=False))
    except StackError as e:
        raise _fail(e) from None
    for key, value in stack.environment().items():
        console.print(f"export {key}={value}", highlight=False)


@dev.command("down")
def dev_down(components: ComponentsArg = None) -> None:
    """Stop the stack; with no component named, no process of it is left behind."""
    stack = _stack()
    try:
        stack.down(components, report=lambda line: console.print(line, highlight=False))
    except StackError as e:
        raise _fail(e) from None
    left = stack.running() if not components else []
    if left:
        errors.print(f"[red]still running:[/] {left}")
        raise typer.Exit(1)


@dev.command("status")
def dev_status() -> None:
    """Which parts of the stack run, and where."""
    stack = _stack()
    table = Table("component", "state", "address")
    for row in stack.status():
        table.add_row(*row)
    console.print(table)


@dev.command("env")
def dev_env() -> None:
    """Print the environment a service needs to reach the stack (for `eval`)."""
    for key, value in _stack().environment().items():
        print(f"export {key}={value}")


@dev.command("logs")
def dev_logs(
    component: Annotated[str, typer.Argument(help=", ".join(COMPONENTS))] = "kafka",
    lines: Annotated[int, typer.Option("-n", "--lines")] = 50,
    follow: Annotated[bool, typer.Option("-f", "--follow")] = False,
) -> None:
    """Show the end of a component's log."""
    from dondoc.dev.process import tail

    stack = _stack()
    try:
        (chosen,) = stack.select([component])
    except StackError as e:
        raise _fail(e) from None
    paths = [p for p in chosen.log_files() if p.exists()]
    if not paths:
        errors.print(f"{component}: no log yet")
        raise typer.Exit(1)
    for path in paths:
        print(tail(path, lines))
    if follow:
        path = paths[0]
        with path.open("rb") as f:
            f.seek(0, 2)
            try:
                while True:
                    chunk = f.read()
                    if chunk:
                        sys.stdout.write(chunk.decode("utf-8", "replace"))
                        sys.stdout.flush()
                    else:
                        time.sleep(0.5)
            except KeyboardInterrupt:
                pass


SERVICE_NAMES = ("directives", "tasks", "reports", "notifications", "analytics")


@app.command("serve")
def serve(
    service: Annotated[str, typer.Argument(help=", ".join(SERVICE_NAMES))],
    role: Annotated[str | None, typer.Option(help="api, worker or all (default: DONDOC_ROLE)")] = None,
) -> None:
    """Run one service (its HTTP API, its workers, or both) until SIGTERM / Ctrl-C."""
    import importlib

    from dondoc_platform.logs import configure_logging
    from dondoc_platform.runtime import run, tune_garbage_collector

    if service not in SERVICE_NAMES:
        errors.print(f"[red]unknown service {service}[/]; choose among {', '.join(SERVICE_NAMES)}")
        raise typer.Exit(2)
    if role not in (None, "api", "worker", "all"):
        errors.print("[red]--role must be api, worker or all[/]")
        raise typer.Exit(2)
    module = importlib.import_module(f"dondoc_{service}.bootstrap")
    settings = module.Settings()
    configure_logging(settings.log_level, settings.log_json, service)
    service_parts = module.bootstrap(settings)
    tune_garbage_collector()
    run(service_parts, role)


@dev.command("token")
def dev_token(
    role: Annotated[list[str], typer.Option("--role", help="office, unit, reviewer, leader, auditor, admin")],
    unit: Annotated[str | None, typer.Option(help="unit id (for the unit role)")] = None,
    review_group: Annotated[str | None, typer.Option(help="review group (for the reviewer role)")] = None,
    clearance: Annotated[str, typer.Option(help="thuong, mat, toi_mat, tuyet_mat")] = "thuong",
    subject: Annotated[str, typer.Option(help="the person's id")] = "dev.user",
    name: Annotated[str | None, typer.Option()] = None,
    ttl: Annotated[int, typer.Option(help="seconds")] = 8 * 3600,
) -> None:
    """Print a bearer token signed by the local stack's development key."""
    from dondoc_platform.auth import DevSigner

    signer = DevSigner(_stack().jwks_file)
    print(signer.token(subject=subject, roles=role, unit_id=unit, review_group=review_group,
                       clearance=clearance, name=name, ttl_seconds=ttl))


@app.command("import")
def import_files(
    files: Annotated[list[Path], typer.Argument(help="xlsx workbooks and/or csv files (docs/IMPORT.md)",
                                                exists=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and count; write nothing.")] = False,
    token: Annotated[str | None, typer.Option(
        envvar="DONDOC_TOKEN", help="An office bearer token (default: signed by the local stack's "
                                    "development key, if there is one)")] = None,
    directives_url: Annotated[str | None, typer.Option(help="default: DONDOC_DIRECTIVES_URL")] = None,
    tasks_url: Annotated[str | None, typer.Option(help="default: DONDOC_TASKS_URL")] = None,
    reports_url: Annotated[str | None, typer.Option(help="default: DONDOC_REPORTS_URL")] = None,
    wait: Annotated[float, typer.Option(help="longest wait, in seconds, for the services to "
                                             "catch up with one another")] = 300.0,
) -> None:
    """Import an office's spreadsheets (units, tasks, report obligations) through the services'
    APIs, with the business dates of the rows. Re-importing changes nothing; an interrupted
    import resumes; with any problem (each located by sheet, row and column) nothing is written."""
    from dondoc.importer.client import Suite, service_urls
    from dondoc.importer.run import run_import

    urls = service_urls({"directives": directives_url, "tasks": tasks_url, "reports": reports_url})
    with Suite(urls, token or _office_token()) as suite:
        outcome = run_import(suite, files, dry_run=dry_run, console=console, wait_seconds=wait)
    raise typer.Exit(outcome.code)


def _office_token() -> str:
    """A token of the local stack's development issuer (what `dondoc dev token` signs)."""
    from dondoc_platform.auth import DevSigner

    jwks = _stack().jwks_file
    if not jwks.exists():
        errors.print("[red]no token:[/] give --token (or DONDOC_TOKEN), or start the local stack "
                     "(dondoc dev up kafka services) whose development key signs one")
        raise typer.Exit(2)
    return DevSigner(jwks).token(subject="vptu.nhaplieu", roles=["office"],
                                 name="Nhập liệu từ sổ theo dõi", ttl_seconds=12 * 3600)


@app.command("review-report")
def review_report(
    year: Annotated[int, typer.Option("--year", help="the year reviewed")],
    fmt: Annotated[list[str] | None, typer.Option(
        "--format", help="md, xlsx, json or both (md and xlsx); repeatable")] = None,
    out: Annotated[Path, typer.Option("--out", help="the folder the report is written in")] = Path("."),
    lang: Annotated[str, typer.Option("--lang", help="vi (default) or en")] = "vi",
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD (end of day) or an ISO "
                                               "moment; default: the end of the year, or now")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="first wait for every event published "
                                        "before this call")] = False,
) -> None:
    """The annual review report (the shape of the office's review of 2018), every figure from
    the analytics read models (DONDOC_STORE_URL of analytics), with its definition and as-of."""
    from dondoc import review_report as report
    from dondoc_analytics.domain.timeliness import AsOfBeforeYear
    from dondoc_analytics.entrypoints.cli import _moment, _parts, _wait

    formats = [f for given in (fmt or ["both"]) for f in (("md", "xlsx") if given == "both" else (given,))]
    unknown = [f for f in formats if f not in report.FORMATS]
    if unknown or lang not in ("vi", "en"):
        errors.print(f"[red]--format takes md, xlsx, json or both; --lang vi or en[/] (got {unknown or lang})")
        raise typer.Exit(2)
    parts = _parts()
    if wait:
        _wait(parts)
    try:
        review = parts.reading.annual_review(year, as_of=_moment(as_of))
    except AsOfBeforeYear as e:
        errors.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    for path in report.write(review, out, formats, lang):
        console.print(f"{path}", highlight=False)


@app.command("synthetic")
def synthetic(
    output: Annotated[Path, typer.Option("--output", "-o", help="the JSON lines file to write")],
    provinces: Annotated[int, typer.Option(min=1, help="how many provinces")] = 1,
    first: Annotated[int, typer.Option("--from", help="the first year")] = 2016,
    last: Annotated[int, typer.Option("--to", help="the last year")] = 2024,
    units: Annotated[int, typer.Option(min=1, help="units per province")] = 40,
    tasks: Annotated[int, typer.Option(min=1, help="tasks per unit and year")] = 70,
    seed: Annotated[int, typer.Option(help="the same seed gives the same events")] = 20181231,
) -> None:
    """A seeded synthetic history of any number of provinces and years (the benchmarks' own
    generator), written as contract events, one JSON line each: service, type, subject, payload."""
    from dondoc.synthetic import History

    if last < first:
        raise typer.BadParameter("--to must not be before --from", param_hint="--to")
    history = History(seed, provinces=provinces, years=range(first, last + 1), units_per_province=units,
                      tasks_per_unit_year=tasks)
    count = 0
    with output.open("w", encoding="utf-8") as out:
        for event in history.events():
            out.write(f'{{"service":"{event.service}","type":"{event.ce_type}","subject":"{event.subject}",'
                      f'"payload":{event.payload}}}\n')
            count += 1
    console.print(f"{count:,} events of {provinces} province(s), {first}–{last}: {output}", highlight=False)


@app.command("demo")
def demo(
    wait: Annotated[bool, typer.Option("--wait/--no-wait",
                                       help="Keep running until Ctrl-C (default) or end at once.")] = True,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start from a clean slate even if the data "
                                                        "loaded earlier fits.")] = False,
) -> None:
    """The main job on the embedded defaults: one province from 2016 to today through the real
    import and APIs, the 2018 scorecard, the trend, the annual review report; Ctrl-C stops it."""
    from dondoc import demo as demo_module

    try:
        code = demo_module.run(_stack(), wait=wait, fresh=fresh, console=console,
                               say=lambda line: console.print(line, highlight=False, soft_wrap=True))
    except StackError as e:
        raise _fail(e) from None
    except demo_module.DemoFailed as e:
        errors.print(f"[bold red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


grafana = typer.Typer(help="Grafana: the dashboards and data sources of dondoc.",
                      no_args_is_help=True)
app.add_typer(grafana, name="grafana")


@grafana.command("push")
def grafana_push(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would change.")] = False,
    reset_secrets: Annotated[bool, typer.Option(
        "--reset-secrets", help="Send the analytics password again to an existing data source.")] = False,
) -> None:
    """Create or update the `dondoc` folder, the data sources and the dashboards on a running
    Grafana (DONDOC_GRAFANA_URL, DONDOC_GRAFANA_TOKEN or _USER/_PASSWORD, and where the data
    sources point: DONDOC_GRAFANA_PROMETHEUS_URL, DONDOC_GRAFANA_ANALYTICS_HOST, …).
    Idempotent: what is already as shipped is left alone."""
    from dondoc.grafana import GrafanaSettings, push

    settings = GrafanaSettings()
    if settings.analytics_password is None:
        errors.print("[yellow]DONDOC_GRAFANA_ANALYTICS_PASSWORD is not set:[/] a new analytics "
                     "data source is created without its password", highlight=False)
    try:
        steps = push(settings, dry_run=dry_run, reset_secrets=reset_secrets,
                     report=lambda step: console.print(str(step), highlight=False, markup=False))
    except Exception as e:  # noqa: BLE001 - Grafana's answer, said plainly
        errors.print(f"[bold red]error:[/] Grafana at {settings.url}: {e}", highlight=False)
        raise typer.Exit(1) from None
    changed = [s for s in steps if s.action != "unchanged"]
    verb = "would change" if dry_run else "changed"
    console.print(f"{len(changed)} of {len(steps)} {verb}", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
