"""Matching text as offices type it (the platform's rules), plus header cells."""

from __future__ import annotations

from dondoc_platform.names import REVIEW_GROUPS, canonical_review_group, clean, name_key

__all__ = ["REVIEW_GROUPS", "canonical_review_group", "clean", "key"]


def key(value: str) -> str:
    """A matching key for cells and headers: the platform's name key, without the trailing
    '*' or ':' that templates put after a header."""
    return name_key(clean(value).rstrip("*: "))
