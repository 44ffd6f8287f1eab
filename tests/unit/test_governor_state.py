from __future__ import annotations

import pytest

from stream_segmenter.governor.state import MemoryState, MemoryStateMachine

N, E, C = MemoryState.NORMAL, MemoryState.ELEVATED, MemoryState.CRITICAL


def run(script: list[tuple[float, float]]) -> list[tuple[MemoryState, str | None]]:
    machine = MemoryStateMachine(low_mb=100, high_mb=200, light_every=10, retry_every=5)
    return [
        (decision.state, decision.action)
        for decision in (machine.observe(rss, now) for now, rss in script)
    ]


def test_hysteresis_through_all_states():
    script = [
        (0, 90),  # normal
        (1, 150),  # above low: elevated, light cleanup
        (2, 160),  # still elevated, light cleanup not yet due
        (12, 170),  # 10 s later: light cleanup again
        (13, 250),  # above high: critical, aggressive
        (14, 150),  # below high but above low: stays critical, no action yet
        (19, 150),  # retry interval passed: aggressive again
        (20, 100),  # at low: normal (resume)
        (21, 120),  # elevated again
        (22, 95),  # back to normal without passing critical
    ]
    assert run(script) == [
        (N, None), (E, "light"), (E, None), (E, "light"), (C, "aggressive"),
        (C, None), (C, "aggressive"), (N, None), (E, "light"), (N, None),
    ]  # fmt: skip


def test_straight_from_normal_to_critical():
    assert run([(0, 50), (1, 500)]) == [(N, None), (C, "aggressive")]


def test_critical_stays_while_above_high():
    assert run([(0, 300), (3, 300), (5, 300), (6, 300), (10, 300)]) == [
        (C, "aggressive"), (C, None), (C, "aggressive"), (C, None), (C, "aggressive"),
    ]  # fmt: skip


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="low"):
        MemoryStateMachine(low_mb=200, high_mb=200, light_every=1, retry_every=1)
