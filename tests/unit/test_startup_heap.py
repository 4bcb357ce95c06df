"""`dondoc serve` freezes what start-up built, so full collections stop walking it."""

from __future__ import annotations

import gc

import pytest

from dondoc_platform.runtime import freeze_startup_heap

pytestmark = pytest.mark.unit


def test_objects_built_at_start_up_leave_the_collectors_generations() -> None:
    built = [{"part": [n]} for n in range(1_000)]  # tracked containers, as bootstrap builds
    before = gc.get_freeze_count()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() >= before + len(built)
    finally:
        gc.unfreeze()
