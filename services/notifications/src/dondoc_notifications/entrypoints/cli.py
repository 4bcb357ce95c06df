"""`dondoc notifications …`: what was sent for a task, a report or a unit; one notice's
record; a resend; unit preferences; the manual clock of a demo. Talks to the service's API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Thông báo đã gửi, gửi lại / notifications sent, resend", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)

Url = Annotated[str, typer.Option("--url", envvar="DONDOC_NOTIFICATIONS_URL",
                                  help="the notifications service's API")]
Token = Annotated[str, typer.Option("--token", envvar="DONDOC_TOKEN",
                                    help="bearer token (dondoc dev token --role office)")]
AsJson = Annotated[bool, typer.Option("--json", help="print the API's JSON")]
DEFAULT_URL = "http://127.0.0.1:8104"


def _call(method: str, url: str, token: str, path: str, **kwargs: Any) -> Any:
    try:
        response = httpx.request(method, url.rstrip("/") + path, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}, **kwargs)
    except httpx.HTTPError as e:
        errors.print(f"[red]cannot reach {url}:[/] {e}")
        raise typer.Exit(1) from None
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            errors.print(f"[red]{response.status_code}[/] {error['message_vi']} / {error['message_en']}",
                         highlight=False)
        except (ValueError, KeyError):
            errors.print(f"[red]{response.status_code}[/] {response.text[:500]}", highlight=False)
        raise typer.Exit(1)
    return response.json()


def _table(items: list[dict[str, Any]]) -> Table:
    table = Table("due", "rule", "to", "channel", "about", "state", "sent at", "message id")
    for n in items:
        about = n.get("task_id") or n.get("report_id") or ""
        if n.get("directive_number"):
            about = f"{n['directive_number']} {about}"
        table.add_row(n["due_at"][:16], n["rule"], n["address"], n["channel"], about,
                      n["state"] + (f" ({n['attempts']})" if n["attempts"] > 1 else ""),
                      (n.get("sent_at") or n.get("failed_at") or "")[:19], n["message_id"])
    return table


@app.command("list")
def list_sent(
    url: Url = DEFAULT_URL, token: Token = "",
    task: Annotated[str | None, typer.Option(help="task id")] = None,
    report: Annotated[str | None, typer.Option(help="report id")] = None,
    unit: Annotated[str | None, typer.Option(help="recipient unit id")] = None,
    rule: Annotated[str | None, typer.Option()] = None,
    state: Annotated[str | None, typer.Option(help="pending, dispatched, sent, failed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    as_json: AsJson = False,
) -> None:
    """What was sent (or is waiting), for a task, a report or a unit."""
    params = {k: v for k, v in {"task_id": task, "report_id": report, "unit_id": unit, "rule": rule,
                                "state": state, "limit": limit}.items() if v is not None}
    page = _call("GET", url, token, "/notifications", params=params)
    if as_json:
        print(json.dumps(page, ensure_ascii=False, indent=2))
        return
    console.print(_table(page["items"]))
    if page.get("next_cursor"):
        console.print(f"… more: narrow the filter or raise --limit (cursor {page['next_cursor']})")


@app.command("show")
def show(notification_id: str, url: Url = DEFAULT_URL, token: Token = "", as_json: AsJson = False) -> None:
    """One notice: to whom, what it said, every recorded step."""
    detail = _call("GET", url, token, f"/notifications/{notification_id}")
    if as_json:
        print(json.dumps(detail, ensure_ascii=False, indent=2))
        return
    console.print(_table([detail]))
    console.print(f"[bold]{detail['subject']}[/]", highlight=False)
    console.print(detail["text"], highlight=False, markup=False)
    for step in detail["history"]:
        console.print(f"  {step['recorded_at'][:19]}  {step['event']}  {json.dumps(step['detail'], ensure_ascii=False)}",
                      highlight=False, markup=False)


@app.command("resend")
def resend(notification_id: str, url: Url = DEFAULT_URL, token: Token = "",
           key: Annotated[str | None, typer.Option(help="Idempotency-Key: the same key never resends twice")] = None
           ) -> None:
    """Send a notice again: a new, recorded message with the same text."""
    headers = {"Idempotency-Key": key} if key else {}
    notice = _call("POST", url, token, f"/notifications/{notification_id}/resend", headers=headers)
    console.print(f"resend recorded: {notice['notification_id']} ({notice['message_id']}) → {notice['address']}")


@app.command("preferences")
def preferences(unit_id: str, url: Url = DEFAULT_URL, token: Token = "",
                digest: Annotated[bool | None, typer.Option("--digest/--no-digest",
                                                            help="one daily digest instead of single mails")] = None,
                language: Annotated[str | None, typer.Option(help="vi or en")] = None) -> None:
    """A unit's choice of daily digest and language."""
    body = _call("PUT", url, token, f"/units/{unit_id}/preferences",
                 json={"daily_digest": digest, "language": language})
    console.print(body)


@app.command("clock")
def clock(url: Url = DEFAULT_URL, token: Token = "",
          set_to: Annotated[str | None, typer.Option("--set", help="ISO moment with offset")] = None,
          advance_days: Annotated[float | None, typer.Option("--advance-days")] = None) -> None:
    """Show the business clock, or move a manual one (demos: DONDOC_CLOCK=manual)."""
    if set_to is None and advance_days is None:
        state = _call("GET", url, token, "/admin/clock")
    else:
        body = {"set_to": set_to} if set_to else {"advance_seconds": advance_days * 86400}
        state = _call("POST", url, token, "/admin/clock", json=body)
    console.print(f"{state['now']} ({'manual' if state['manual'] else 'system'})")
