"""Matching names as people type them: "kinh tế – xã hội" is "Kinh tế - xã hội"."""

from __future__ import annotations

import re
import unicodedata

_DASHES = re.compile(r"\s*[\u2010-\u2015\u2212-]\s*")
_SPACES = re.compile(r"\s+")


def match_key(text: str) -> str:
    """NFC, case-folded, one kind of hyphen, single spaces: the key two spellings share."""
    value = unicodedata.normalize("NFC", text).strip()
    value = _DASHES.sub(" - ", value)
    value = _SPACES.sub(" ", value)
    return unicodedata.normalize("NFC", value.casefold())
