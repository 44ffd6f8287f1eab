"""What is being sent, and sending it again after a failed delivery, with backoff."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace

from confluent_kafka import KafkaError

from stream_segmenter.errors import InvalidMessage
from stream_segmenter.kafka.dlq import dead_letter_headers
from stream_segmenter.kafka.offsets import TopicPartitionKey
from stream_segmenter.process import Outcome, RawMessage

# The broker will never accept this record as it is; waiting does not help.
REJECTED = {
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.INVALID_RECORD,
    KafkaError.RECORD_LIST_TOO_LARGE,
}
MAX_BACKOFF_SECONDS = 30.0


@dataclass(slots=True)
class Delivery:
    """One record to send for one input message; its offset is confirmed when it lands.

    Treated as immutable (a retry is a `replace`); not frozen, as RawMessage is not."""

    partition: TopicPartitionKey
    outcome: Outcome
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    attempts: int = 0

    @property
    def offset(self) -> int:
        return self.outcome.message.source.offset


def dead_letter(
    partition: TopicPartitionKey, message: RawMessage, topic: str, error: InvalidMessage
) -> Delivery:
    """The input message, unchanged, with headers that say why and whence."""
    headers = dead_letter_headers(error, message.source, message.headers)
    outcome = Outcome(message=message, error=error)
    return Delivery(partition, outcome, topic, message.key, message.value, headers)


def without_value(delivery: Delivery, refusal: KafkaError) -> Delivery:
    """A dead letter the broker refused as too large: keep headers and key, drop the value,
    and say what it was (size and SHA-256), so the record is still accounted for."""
    value = delivery.value or b""
    headers = [
        *delivery.headers,
        ("error.value_dropped", f"{len(value)} bytes refused by the broker: {refusal}".encode()),
        ("error.value_sha256", hashlib.sha256(value).hexdigest().encode()),
    ]
    return replace(delivery, value=None, headers=headers, attempts=0)


class RetryQueue:
    """Deliveries to send again, each after an exponential backoff (0.1 s doubling, ≤ 30 s)."""

    def __init__(self) -> None:
        self._waiting: list[tuple[float, Delivery]] = []

    def add(self, delivery: Delivery, now: float | None = None) -> None:
        delay = min(MAX_BACKOFF_SECONDS, 0.1 * 2**delivery.attempts)
        due = (time.monotonic() if now is None else now) + (delay if delivery.attempts else 0)
        self._waiting.append((due, replace(delivery, attempts=delivery.attempts + 1)))

    def due(self, now: float | None = None) -> list[Delivery]:
        now = time.monotonic() if now is None else now
        ready = [delivery for due, delivery in self._waiting if due <= now]
        self._waiting = [(due, delivery) for due, delivery in self._waiting if due > now]
        return ready

    def __len__(self) -> int:
        return len(self._waiting)
