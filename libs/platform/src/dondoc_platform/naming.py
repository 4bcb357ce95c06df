"""Matching people's spelling of names: review groups are typed with other capitals, an en
dash for the hyphen, extra spaces; Vietnamese text arrives as NFC or NFD."""

from __future__ import annotations

import re
import unicodedata

_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2012": "-", "\u2212": "-", "\u2010": "-"})
_SPACES = re.compile(r"\s+")


def match_key(name: str | None) -> str | None:
    """The key under which two spellings of one name compare equal ("Kinh tế – xã hội" and
    "kinh tế - xã  hội" give one key); None stays None."""
    if name is None:
        return None
    text = unicodedata.normalize("NFC", name).translate(_DASHES).casefold()
    text = _SPACES.sub(" ", text.replace(" - ", "-").replace("- ", "-").replace(" -", "-"))
    return unicodedata.normalize("NFC", text.strip()) or None
