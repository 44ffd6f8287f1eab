"""The governor's state machine: pure, `(rss_mb, now) -> Decision`, hysteresis inside.

normal ──rss > low──► elevated ──rss > high──► critical (pause, aggressive cleanup)
   ▲                     │                        │
   └────rss <= low───────┘◄───────────────────────┘ only once rss <= low

While elevated, light cleanups repeat at most every `light_every` seconds; while
critical and still above low, aggressive cleanups repeat every `retry_every` seconds
(and partitions stay paused).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Action = Literal["light", "aggressive"]


class MemoryState(StrEnum):
    NORMAL = "normal"
    ELEVATED = "elevated"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Decision:
    previous: MemoryState
    state: MemoryState
    action: Action | None

    @property
    def changed(self) -> bool:
        return self.previous != self.state


class MemoryStateMachine:
    def __init__(
        self, low_mb: float, high_mb: float, light_every: float, retry_every: float
    ) -> None:
        if not 0 < low_mb < high_mb:
            raise ValueError(f"need 0 < low ({low_mb}) < high ({high_mb})")
        self.low_mb = low_mb
        self.high_mb = high_mb
        self.light_every = light_every
        self.retry_every = retry_every
        self.state = MemoryState.NORMAL
        self._last_cleanup = float("-inf")

    def observe(self, rss_mb: float, now: float) -> Decision:
        previous = self.state
        action: Action | None = None
        if rss_mb > self.high_mb and previous != MemoryState.CRITICAL:
            self.state, action = MemoryState.CRITICAL, "aggressive"
        elif previous == MemoryState.CRITICAL:
            if rss_mb <= self.low_mb:
                self.state = MemoryState.NORMAL
            elif now - self._last_cleanup >= self.retry_every:
                action = "aggressive"
        elif rss_mb > self.low_mb:
            self.state = MemoryState.ELEVATED
            if previous != MemoryState.ELEVATED or now - self._last_cleanup >= self.light_every:
                action = "light"
        else:
            self.state = MemoryState.NORMAL
        if action is not None:
            self._last_cleanup = now
        return Decision(previous, self.state, action)
