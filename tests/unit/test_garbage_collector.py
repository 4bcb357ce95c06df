"""`dondoc serve` sets up the garbage collector for a long-running service: what start-up
built is frozen out of its reach, and young collections wait for more new objects."""

from __future__ import annotations

import gc

import pytest

from dondoc_platform.runtime import YOUNG_GENERATION_THRESHOLD, tune_garbage_collector

pytestmark = pytest.mark.unit


def test_start_up_objects_are_frozen_and_young_collections_wait_longer() -> None:
    built = [{"part": [n]} for n in range(1_000)]  # tracked containers, as bootstrap builds
    before, thresholds = gc.get_freeze_count(), gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_freeze_count() >= before + len(built)
        assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
