"""When an occasion on the schedule comes due: check the rule against today's facts, find
the recipients, write the text, and record one Notification per recipient and channel
(or a line of the unit's daily digest, when the unit prefers it)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, OperationalError

from dondoc_platform.calendar import WorkingCalendar, overdue_moment
from dondoc_platform.clock import VN_TZ, Clock

from dondoc_notifications.adapters.render import Rendered, Templates
from dondoc_notifications.adapters.tables import digest_items, reports, schedule, tasks, units, upsert
from dondoc_notifications.application import metrics
from dondoc_notifications.application.facts import put_on_schedule
from dondoc_notifications.domain import rules as r
from dondoc_notifications.domain.notification import Notification, notification_id

log = logging.getLogger(__name__)

_ROLE = {"vi": {r.LEAD_UNIT: "đơn vị chủ trì", r.COOPERATING_UNIT: "đơn vị phối hợp"},
         "en": {r.LEAD_UNIT: "lead unit", r.COOPERATING_UNIT: "cooperating unit"}}
_KIND = {"vi": {"extend": "gia hạn", "stretch": "giãn tiến độ", "withdraw": "rút"},
         "en": {"extend": "extend", "stretch": "stretch", "withdraw": "withdraw"}}
_SECRET = {"vi": "(Nhiệm vụ có độ mật: xem nội dung trên hệ thống)",
           "en": "(A classified task: read it in the system)"}


@dataclass(frozen=True)
class Office:
    unit_id: str
    name: str
    emails: tuple[str, ...]
    language: str = "vi"


@dataclass(frozen=True)
class Addressee:
    kind: str
    unit_id: str | None
    unit_name: str
    channel: str  # email | webhook
    address: str
    language: str
    digest: bool = False  # goes into the unit's daily digest instead


@dataclass(frozen=True)
class PlanningSettings:
    public_base_url: str
    mail_domain: str
    default_language: str = "vi"
    digest_by_default: bool = False
    batch: int = 200


class Planner:
    def __init__(self, app: Application, engine: sa.Engine, clock: Clock, calendar: WorkingCalendar,
                 rule_settings: Callable[[], r.RuleSettings], templates: Templates, office: Office,
                 settings: PlanningSettings) -> None:
        self.app = app
        self.engine = engine
        self.clock = clock
        self.calendar = calendar
        self.rule_settings = rule_settings
        self.templates = templates
        self.office = office
        self.settings = settings

    # -- the schedule ----------------------------------------------------------------------

    def run_once(self) -> int:
        """Fire the occasions due now (oldest first); returns how many were settled."""
        now = self.clock.now()
        with self.engine.connect() as conn:
            due = conn.execute(
                sa.select(schedule).where(schedule.c.state == "pending", schedule.c.fire_at <= now)
                .order_by(schedule.c.fire_at, schedule.c.key).limit(self.settings.batch)
            ).mappings().all()
        for row in due:
            try:
                self.fire(dict(row), now)
            except (sa.exc.OperationalError, OperationalError):
                raise  # the database is away: the occasion stays pending and comes again
            except Exception as e:  # noqa: BLE001 - one bad occasion must not stop the schedule
                log.exception("occasion %s could not be fired", row["key"])
                metrics.OCCASION_ERRORS.labels(row["rule"]).inc()
                self._settle(r.Occasion(row["rule"], row["subject_kind"], row["subject_id"], row["deadline"],
                                        row["fire_at"], row["occurrence"]), "error",
                             f"{type(e).__name__}: {e}", now)
        return len(due)

    def next_moment(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(schedule.c.fire_at))
                                .where(schedule.c.state == "pending")).scalar()

    def fire(self, row: dict[str, Any], now: datetime) -> None:
        rules = self.rule_settings()
        occasion = r.Occasion(row["rule"], row["subject_kind"], row["subject_id"], row["deadline"],
                              row["fire_at"], row["occurrence"], row["payload"] or {})
        if occasion.subject_kind != "digest" and not rules.enabled(occasion.rule):
            return self._settle(occasion, "skipped", "rule switched off", now)
        if r.is_stale(occasion.fire_at, now, rules):
            with self.engine.begin() as conn:
                for follow_up in self._overdue_follow_ups(conn, occasion, rules):
                    put_on_schedule(conn, follow_up)  # the weekly chain goes on after an outage
                self._settle_in(conn, occasion, "expired", "found too late to be news", now)
            return None
        with self.engine.connect() as conn:
            outcome = self._notices(conn, occasion, rules, now)
        if isinstance(outcome, str):
            return self._settle(occasion, "skipped", outcome, now)
        notices, digest_lines, follow_ups = outcome
        self._record(notices)
        with self.engine.begin() as conn:
            for line in digest_lines:
                upsert(conn, digest_items, line, ["key"], update=False)
                put_on_schedule(conn, r.digest_occasion(line["unit_id"], line["digest_day"], rules))
            for follow_up in follow_ups:
                put_on_schedule(conn, follow_up)
            self._settle_in(conn, occasion, "fired",
                            f"{len(notices)} notice(s), {len(digest_lines)} digest line(s)", now)
        for notice in notices:
            metrics.PLANNED.labels(notice.channel, notice.rule).inc()

    def _settle(self, occasion: r.Occasion, state: str, outcome: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            self._settle_in(conn, occasion, state, outcome, now)

    @staticmethod
    def _settle_in(conn: sa.Connection, occasion: r.Occasion, state: str, outcome: str,
                   now: datetime) -> None:
        conn.execute(schedule.update().where(schedule.c.key == occasion.key,
                                             schedule.c.state == "pending")
                     .values(state=state, outcome=outcome[:500], settled_at=now))

    def _record(self, notices: list[Notification]) -> None:
        """Save the notices; any recorded before (a replay, a restart) stay as they are."""
        if not notices:
            return
        try:
            self.app.save(*notices)
        except IntegrityError:
            for notice in notices:
                try:
                    self.app.save(notice)
                except IntegrityError:
                    pass

    # -- the rules against the facts --------------------------------------------------------

    def _notices(self, conn: sa.Connection, occasion: r.Occasion, rules: r.RuleSettings,
                 now: datetime) -> tuple[list[Notification], list[dict], list[r.Occasion]] | str:
        kind = occasion.subject_kind
        follow_ups: list[r.Occasion] = []
        if kind == "digest":
            return self._digest(conn, occasion, now)
        if kind == "task":
            task = _one(conn, tasks, tasks.c.task_id, occasion.subject_id)
            if task is None:
                return "unknown task"
            if task["status"] != "open":
                return f"task {task['status']}"
            if task["due_on"] != occasion.deadline:
                return "the deadline changed"
            family = r.family(occasion.rule)
            if family == r.DEADLINE_APPROACHING and now >= overdue_moment(task["due_on"]):
                return "already overdue"
            follow_ups += self._overdue_follow_ups(conn, occasion, rules)
            context = self._task_context(conn, task, occasion)
            addressees = self._task_addressees(conn, task, occasion.rule)
            about = {"task_id": task["task_id"], "directive_number": task["directive_number"],
                     "due_on": _iso(task["due_on"])}
            link = f"{self.settings.public_base_url}/tasks/{task['task_id']}"
        elif kind == "report":
            report = _one(conn, reports, reports.c.report_id, occasion.subject_id)
            if report is None:
                return "unknown report"
            if occasion.rule != r.REPORT_RETURNED:
                if report["status"] != "requested":
                    return f"report {report['status']}"
                if report["due_on"] != occasion.deadline:
                    return "the due day changed"
            context = self._report_context(conn, report, occasion)
            addressees = self._unit_addressees(conn, report["unit_id"], r.UNIT)
            about = {"report_id": report["report_id"], "due_on": _iso(report["due_on"])}
            link = f"{self.settings.public_base_url}/reports/{report['report_id']}"
        elif kind == "request":
            payload = occasion.payload
            task = _one(conn, tasks, tasks.c.task_id, payload["task_id"]) or {
                "task_id": payload["task_id"], "directive_number": None, "paragraph": None,
                "content": None, "due_on": None, "secrecy": "thuong", "lead_unit_id": payload["unit_id"]}
            context = self._task_context(conn, task, occasion)
            addressees = self._unit_addressees(conn, payload["unit_id"], r.LEAD_UNIT)
            about = {"task_id": task["task_id"], "directive_number": task["directive_number"],
                     "due_on": payload.get("due_on") or _iso(task["due_on"])}
            link = f"{self.settings.public_base_url}/tasks/{task['task_id']}"
        else:
            return f"unknown subject kind {kind}"
        if not addressees:
            metrics.UNADDRESSABLE.labels(occasion.rule).inc()
            return "no recipient with an address"
        notices, lines = [], []
        for addressee in addressees:
            key = f"{occasion.key}|{addressee.channel}|{addressee.address}"
            rendered = self._render(occasion.rule, addressee, context, link,
                                    str(notification_id(key))[:8])
            if addressee.digest:
                lines.append(self._digest_line(occasion, addressee, about, rendered, link, now, rules))
            else:
                notices.append(self._notice(key, occasion, addressee, about, rendered, link, now))
        return notices, lines, follow_ups

    def _overdue_follow_ups(self, conn: sa.Connection, occasion: r.Occasion,
                            rules: r.RuleSettings) -> list[r.Occasion]:
        if r.family(occasion.rule) not in (r.TASK_OVERDUE, r.TASK_OVERDUE_WEEKLY):
            return []
        task = _one(conn, tasks, tasks.c.task_id, occasion.subject_id)
        if task is None or task["status"] != "open" or task["due_on"] != occasion.deadline:
            return []
        following = r.weekly_overdue(task["task_id"], task["due_on"], occasion.occurrence + 1,
                                     self.calendar, rules)
        return [following] if following is not None else []

    def _render(self, rule: str, addressee: Addressee, context: dict[str, Any], link: str,
                short_id: str) -> Rendered:
        language = addressee.language
        full = dict(context, unit_name=addressee.unit_name, link=link, notification_key_short=short_id,
                    role_label=_ROLE[language].get(addressee.kind, ""),
                    kind_label=_KIND[language].get(context.get("payload", {}).get("kind", ""), ""),
                    office_name=self.office.name if language == "vi" else
                    "The Provincial Party Committee Office")
        task = context.get("task")
        if task is not None and task.get("secret"):
            full["task"] = dict(task, title=_SECRET[language])
        return self.templates.render(r.family(rule), language, full)

    def _notice(self, key: str, occasion: r.Occasion, addressee: Addressee, about: dict,
                rendered: Rendered, link: str, now: datetime, *, covers: list[dict] | None = None,
                resend_of: str | None = None) -> Notification:
        ident = notification_id(key)
        return Notification(
            key=key, rule=occasion.rule, channel=addressee.channel,
            recipient={"unit_id": addressee.unit_id, "kind": addressee.kind, "address": addressee.address},
            about={k: v for k, v in about.items() if v is not None},
            message_id=self.message_id(ident, addressee.channel), due_at=occasion.fire_at,
            language=addressee.language,
            content={"subject": rendered.subject, "text": rendered.text, "line": rendered.line,
                     "link": link},
            planned_at=now, covers=covers or [], resend_of=resend_of)

    def message_id(self, ident: uuid.UUID, channel: str) -> str:
        """Decided before any send: the SMTP Message-ID, or the webhook delivery id."""
        return f"<{ident}@{self.settings.mail_domain}>" if channel == "email" else str(ident)

    # -- recipients --------------------------------------------------------------------------

    def _task_addressees(self, conn: sa.Connection, task: dict, rule: str) -> list[Addressee]:
        found: list[Addressee] = []
        for kind in r.audience(rule):
            if kind == r.LEAD_UNIT:
                found += self._unit_addressees(conn, task["lead_unit_id"], kind)
            elif kind == r.COOPERATING_UNIT:
                for unit_id in task["cooperating_unit_ids"] or []:
                    found += self._unit_addressees(conn, unit_id, kind)
            elif kind == r.OFFICE:
                found += [Addressee(r.OFFICE, self.office.unit_id, self.office.name, "email", address,
                                    self.office.language) for address in self.office.emails]
            elif kind == r.LEADERSHIP:
                unit = _one(conn, units, units.c.unit_id, task["lead_unit_id"])
                if unit is not None and unit["active"]:
                    found += [Addressee(r.LEADERSHIP, unit["unit_id"], unit["name"], "email", address,
                                        self._language(unit))
                              for address in unit["leadership_emails"] or []]
        return found

    def _unit_addressees(self, conn: sa.Connection, unit_id: str, kind: str) -> list[Addressee]:
        unit = _one(conn, units, units.c.unit_id, unit_id)
        if unit is None or not unit["active"]:
            return []
        language = self._language(unit)
        digest = unit["digest_override"] if unit["digest_override"] is not None else (
            unit["daily_digest"] if unit["daily_digest"] is not None else self.settings.digest_by_default)
        found = [Addressee(kind, unit_id, unit["name"], "email", address, language, bool(digest))
                 for address in unit["emails"] or []]
        if unit["webhook_url"]:
            found.append(Addressee(kind, unit_id, unit["name"], "webhook", unit["webhook_url"], language))
        return found

    def _language(self, unit: dict) -> str:
        return unit["language"] or self.settings.default_language

    # -- contexts ----------------------------------------------------------------------------

    def _task_context(self, conn: sa.Connection, task: dict, occasion: r.Occasion) -> dict[str, Any]:
        fire_day = occasion.fire_at.astimezone(VN_TZ).date()
        due = task["due_on"]
        lead = _one(conn, units, units.c.unit_id, task["lead_unit_id"])
        days_before = occasion.rule.rsplit("_", 1)[-1] if occasion.rule.startswith(
            r.DEADLINE_APPROACHING) else ""
        return {
            "task": {"directive_number": task["directive_number"] or "", "paragraph": task["paragraph"],
                     "title": _title(task["content"]), "due_on": due,
                     "overdue_from": due + timedelta(days=1) if due else None,
                     "secret": (task["secrecy"] or "thuong") != "thuong"},
            "days_before": days_before,
            "days_overdue": (fire_day - due).days if due else 0,
            "lead_unit_name": lead["name"] if lead else task["lead_unit_id"],
            "payload": occasion.payload,
            "report": {}, "returned_lines": [],
        }

    def _report_context(self, conn: sa.Connection, report: dict, occasion: r.Occasion) -> dict[str, Any]:
        returned = []
        for line in occasion.payload.get("lines", []):
            task = _one(conn, tasks, tasks.c.task_id, line["task_id"])
            title = _title(task["content"]) if task else line["task_id"]
            if task and (task["secrecy"] or "thuong") != "thuong":
                title = task["directive_number"] or line["task_id"]
            returned.append({"title": title, "comment": line.get("comment")})
        days_before = occasion.rule.rsplit("_", 1)[-1] if occasion.rule.startswith(r.REPORT_DUE_SOON) else ""
        return {"report": {"period_label": report["period_label"] or "", "due_on": report["due_on"]},
                "days_before": days_before, "payload": occasion.payload, "returned_lines": returned,
                "task": None}

    # -- daily digests ----------------------------------------------------------------------

    def _digest_line(self, occasion: r.Occasion, addressee: Addressee, about: dict,
                     rendered: Rendered, link: str, now: datetime, rules: r.RuleSettings) -> dict:
        return {"key": f"{occasion.key}|digest|{addressee.unit_id}|{addressee.kind}",
                "unit_id": addressee.unit_id, "digest_day": rules.digest_day_for(max(now, occasion.fire_at)),
                "rule": occasion.rule, "about": {k: v for k, v in about.items() if v is not None},
                "line": {"text": rendered.line, "link": link}, "added_at": now}

    def _digest(self, conn: sa.Connection, occasion: r.Occasion, now: datetime):
        unit_id, day = occasion.subject_id, occasion.deadline
        items = conn.execute(sa.select(digest_items).where(
            digest_items.c.unit_id == unit_id, digest_items.c.digest_day == day,
        ).order_by(digest_items.c.added_at, digest_items.c.key)).mappings().all()
        if not items:
            return "nothing to digest"
        unit = _one(conn, units, units.c.unit_id, unit_id)
        if unit is None or not unit["active"] or not unit["emails"]:
            metrics.UNADDRESSABLE.labels(occasion.rule).inc()
            return "no recipient with an address"
        language = self._language(unit)
        lines = [dict(item["line"]) for item in items]
        rendered = self.templates.render(r.DAILY_DIGEST, language, {
            "unit_name": unit["name"], "day": day, "lines": lines,
            "office_name": self.office.name if language == "vi" else "The Provincial Party Committee Office",
            "notification_key_short": ""})
        covers = [{"rule": item["rule"], "about": dict(item["about"])} for item in items]
        notices = [self._notice(f"{occasion.key}|email|{address}", occasion,
                                Addressee(r.UNIT, unit_id, unit["name"], "email", address, language),
                                {}, rendered, f"{self.settings.public_base_url}/units/{unit_id}", now,
                                covers=covers)
                   for address in unit["emails"]]
        return notices, [], []

    # -- a deliberate resend -------------------------------------------------------------------

    def resend(self, original: Notification, now: datetime) -> Notification:
        key = f"resend|{original.id}|{uuid.uuid4()}"
        ident = notification_id(key)
        notice = Notification(key=key, rule=original.rule, channel=original.channel,
                              recipient=dict(original.recipient), about=dict(original.about),
                              message_id=self.message_id(ident, original.channel), due_at=now,
                              language=original.language, content=dict(original.content),
                              planned_at=now, covers=list(original.covers),
                              resend_of=str(original.id))
        self.app.save(notice)
        metrics.PLANNED.labels(notice.channel, notice.rule).inc()
        return notice


def _one(conn: sa.Connection, table: sa.Table, column: sa.Column, value: Any) -> dict | None:
    row = conn.execute(sa.select(table).where(column == value)).mappings().first()
    return dict(row) if row is not None else None


def _title(content: str | None, limit: int = 300) -> str:
    text = " ".join((content or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


__all__ = ["Addressee", "Office", "Planner", "PlanningSettings"]
