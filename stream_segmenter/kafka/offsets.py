"""Which offsets may be committed: only those whose output (or dead letter) was delivered.

Outputs are confirmed out of order across partitions and, after a retry, even within
one. A partition's committable position is one past the longest run of confirmed
offsets from the oldest message still tracked, so a commit never skips an
unconfirmed message.
"""

from __future__ import annotations

from collections import deque

TopicPartitionKey = tuple[str, int]


class OffsetTracker:
    def __init__(self) -> None:
        self._pending: dict[TopicPartitionKey, deque[int]] = {}
        self._done: dict[TopicPartitionKey, set[int]] = {}
        self._position: dict[TopicPartitionKey, int] = {}
        self._committed: dict[TopicPartitionKey, int] = {}

    def track(self, partition: TopicPartitionKey, offset: int) -> None:
        """Register a consumed message, in consumption order."""
        self._pending.setdefault(partition, deque()).append(offset)
        self._done.setdefault(partition, set())

    def confirm(self, partition: TopicPartitionKey, offset: int) -> None:
        """The message's output was delivered; ignored for partitions no longer owned."""
        done = self._done.get(partition)
        if done is None:
            return
        done.add(offset)
        pending = self._pending[partition]
        while pending and pending[0] in done:
            finished = pending.popleft()
            done.discard(finished)
            self._position[partition] = finished + 1

    def committable(self) -> dict[TopicPartitionKey, int]:
        """Positions that advanced since the last `mark_committed`."""
        return {
            partition: position
            for partition, position in self._position.items()
            if self._committed.get(partition) != position
        }

    def mark_committed(self, positions: dict[TopicPartitionKey, int]) -> None:
        self._committed.update(positions)

    def in_flight(self) -> int:
        return sum(len(pending) for pending in self._pending.values())

    def forget(self, partitions: list[TopicPartitionKey]) -> None:
        """Drop all state of partitions revoked from this consumer."""
        for partition in partitions:
            for table in (self._pending, self._done, self._position, self._committed):
                table.pop(partition, None)
