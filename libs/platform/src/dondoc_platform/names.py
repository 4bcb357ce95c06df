"""Names people type: Vietnamese text in NFC or NFD, odd capitals, extra spaces, dashes.

`name_key` is the form two names are compared in: "Ban Tuyên giáo" typed in NFD, in capitals
or with a double space is the same unit. `canonical_review_group` maps what people type to
one of the three canonical review groups of the review team (Tổ rà soát).
"""

from __future__ import annotations

import re
import unicodedata

from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from dondoc_contracts.base import ShortText
from dondoc_contracts.values import Decision

REVIEW_GROUPS: tuple[str, ...] = (
    "Kinh tế - xã hội",
    "Xây dựng Đảng, hệ thống chính trị, nội chính",
    "Mặt trận, đoàn thể",
)

_DASHES = re.compile(r"\s*[\u2010-\u2015\u2212-]\s*")
_SPACES = re.compile(r"\s+")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def clean(text: str) -> str:
    """NFC, single spaces, no leading or trailing space: the form a name is stored in."""
    return _SPACES.sub(" ", nfc(text)).strip()


def name_key(text: str) -> str:
    """The form two names are compared in: NFC, case-folded, one kind of dash, single spaces."""
    folded = nfc(nfc(text).casefold())
    return _SPACES.sub(" ", _DASHES.sub(" - ", folded)).strip()


_BY_KEY = {name_key(g): g for g in REVIEW_GROUPS}


def canonical_review_group(text: str | None) -> str | None:
    """The canonical name of a review group, or None if `text` names none of the three."""
    if text is None:
        return None
    return _BY_KEY.get(name_key(text))


def match_key(text: str | None) -> str | None:
    """`name_key` for optional values: None (or blank) stays None."""
    if text is None:
        return None
    return name_key(text) or None


def filled(text: str) -> str:
    """Refuses text of spaces only: a number, a name or a reason typed blank is missing, not
    given (a blank directive number would be stored as "")."""
    if not text.strip():
        raise PydanticCustomError("string_blank", "Value must not be blank")
    return text


Filled = AfterValidator(filled)
"""Annotate a request field with it: `Annotated[ShortText, Filled]`."""


class DecisionInput(Decision):
    """A decision as a request carries it: the event's `Decision`, its number and decider
    not blank (the events themselves keep accepting what they always did)."""

    number: Annotated[ShortText, Filled]
    decider: Annotated[ShortText, Filled] = Field(description="Who decided, e.g. 'Thường trực Tỉnh ủy'")

    @model_validator(mode="before")
    @classmethod
    def _from_event_value(cls, data: Any) -> Any:
        """A `Decision` built in code (a reaction, the importer) is taken as its fields."""
        return data.model_dump() if isinstance(data, Decision) else data
