"""Matching text as offices type it: NFC, case, stray spaces, en dashes."""

from __future__ import annotations

import re
import unicodedata

REVIEW_GROUPS = (
    "Kinh tế - xã hội",
    "Xây dựng Đảng, hệ thống chính trị, nội chính",
    "Mặt trận, đoàn thể",
)

_DASHES = re.compile(r"\s*[-‐‑‒–—−]\s*")
_SPACES = re.compile(r"\s+")


def clean(value: str) -> str:
    """NFC, trimmed, inner runs of whitespace collapsed: the text as it should be stored."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def key(value: str) -> str:
    """A matching key: clean, case-folded, dashes unified, trailing '*' / ':' dropped."""
    text = clean(value).casefold().rstrip("*: ").strip()
    return _DASHES.sub(" - ", text)


def canonical_review_group(value: str) -> str | None:
    wanted = key(value)
    for name in REVIEW_GROUPS:
        if key(name) == wanted:
            return name
    return None
