"""Names people type: Vietnamese text in NFC or NFD, odd capitals, extra spaces, dashes.

`name_key` is the form two names are compared in: "Ban Tuyên giáo" typed in NFD, in capitals
or with a double space is the same unit. `canonical_review_group` maps what people type to
one of the three canonical review groups of the review team (Tổ rà soát).
"""

from __future__ import annotations

import re
import unicodedata

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
