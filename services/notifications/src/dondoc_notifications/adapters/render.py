"""Message text from Jinja2 templates (Vietnamese first, English available).

Each template `templates/<language>/<rule family>.j2` has three blocks: `subject`, `body`
(the e-mail text) and `line` (one line of a daily digest). Text is NFC-normalised so
diacritics arrive intact whatever form the facts came in.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import jinja2

LANGUAGES = ("vi", "en")
_VI_WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _day(value: date | str | None) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def vn_date(value: date | str | None) -> str:
    day = _day(value)
    return day.strftime("%d/%m/%Y") if day else ""


def en_date(value: date | str | None) -> str:
    day = _day(value)
    return f"{day.day} {day:%B %Y}" if day else ""


def vn_weekday(value: date | str | None) -> str:
    day = _day(value)
    return _VI_WEEKDAYS[day.weekday()] if day else ""


def en_weekday(value: date | str | None) -> str:
    day = _day(value)
    return _EN_WEEKDAYS[day.weekday()] if day else ""


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    line: str


class Templates:
    """`strict=True` (tests) turns a value missing from the context into an error; in service
    a missing optional value renders empty rather than stopping the notice."""

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict

    @cached_property
    def env(self) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("dondoc_notifications", "adapters/templates"),
            autoescape=False,  # plain-text mail; webhooks carry JSON
            undefined=jinja2.StrictUndefined if self.strict else jinja2.ChainableUndefined, keep_trailing_newline=True,
            trim_blocks=False, lstrip_blocks=False,
        )
        env.filters.update(vn_date=vn_date, en_date=en_date, vn_weekday=vn_weekday,
                           en_weekday=en_weekday)
        return env

    def render(self, family: str, language: str, context: dict[str, Any]) -> Rendered:
        language = language if language in LANGUAGES else "vi"
        template = self.env.get_template(f"{language}/{family}.j2")
        parts = {}
        for block in ("subject", "body", "line"):
            render_block = template.blocks.get(block)
            parts[block] = "" if render_block is None else "".join(
                render_block(template.new_context(dict(context))))
        subject = " ".join(nfc(parts["subject"]).split())
        return Rendered(subject=subject, text=nfc(parts["body"]).strip() + "\n",
                        line=" ".join(nfc(parts["line"]).split()))
