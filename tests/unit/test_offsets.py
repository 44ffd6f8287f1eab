from stream_segmenter.kafka.offsets import OffsetTracker

P0, P1 = ("t", 0), ("t", 1)


def test_position_waits_for_the_oldest_unconfirmed_offset():
    tracker = OffsetTracker()
    for offset in (10, 11, 12, 13):
        tracker.track(P0, offset)
    tracker.confirm(P0, 12)
    tracker.confirm(P0, 11)
    assert tracker.committable() == {}
    tracker.confirm(P0, 10)
    assert tracker.committable() == {P0: 13}  # 13 is still unconfirmed
    assert tracker.in_flight() == 1
    tracker.confirm(P0, 13)
    assert tracker.committable() == {P0: 14}


def test_committed_positions_are_not_offered_again():
    tracker = OffsetTracker()
    tracker.track(P0, 0)
    tracker.track(P1, 5)
    tracker.confirm(P0, 0)
    tracker.confirm(P1, 5)
    assert tracker.committable() == {P0: 1, P1: 6}
    tracker.mark_committed({P0: 1})
    assert tracker.committable() == {P1: 6}


def test_forgotten_partitions_ignore_late_confirmations():
    tracker = OffsetTracker()
    tracker.track(P0, 3)
    tracker.forget([P0])
    tracker.confirm(P0, 3)
    assert tracker.committable() == {}
    assert tracker.in_flight() == 0


def test_batches_are_cut_by_bytes_and_never_empty():
    from stream_segmenter.events import SourceRef
    from stream_segmenter.kafka.loop import chunks, uses_incremental_rebalancing
    from stream_segmenter.process import RawMessage

    def message(size: int) -> RawMessage:
        return RawMessage(None, b"x" * size, SourceRef(topic="t", partition=0, offset=0))

    sizes = [
        [len(m.value) for m in chunk]
        for chunk in chunks([message(n) for n in (4, 4, 9, 1, 30, 2)], 10)
    ]
    assert sizes == [[4, 4], [9, 1], [30], [2]]
    assert chunks([], 10) == []
    assert uses_incremental_rebalancing({"partition.assignment.strategy": "cooperative-sticky"})
    assert uses_incremental_rebalancing({"group.protocol": "consumer"})
    assert not uses_incremental_rebalancing({"partition.assignment.strategy": "range"})
