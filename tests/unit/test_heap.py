"""Start-up objects frozen out of the GC, so that a full collection stops being a pause."""

from __future__ import annotations

import gc

from stream_segmenter.heap import freeze_startup_objects
from stream_segmenter.models.loader import load_pipeline


def test_freezing_leaves_a_full_collection_little_to_walk():
    load_pipeline("en", None)  # imports spaCy and its registries, as start-up does
    before = len(gc.get_objects())
    try:
        frozen = freeze_startup_objects()
        assert frozen == gc.get_freeze_count() > 10_000
        assert len(gc.get_objects()) < before / 10  # what a full collection still walks
        load_pipeline("en", None)  # a pipeline loaded afterwards, as the pool does
        gc.collect()
        assert gc.get_freeze_count() == frozen  # later objects stay in the GC's reach
    finally:
        gc.unfreeze()
