"""Telemetry events (snapshot, state change, cleanup) and the producer that publishes them.

Telemetry has its own producer, outside the output path, so that it is published while
partitions are paused and would stay outside any output transaction.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from datetime import datetime
from typing import Any, Literal

from confluent_kafka import Producer
from pydantic import BaseModel, Field

from stream_segmenter.cache import CacheStats

log = logging.getLogger(__name__)

EventType = Literal["snapshot", "state_change", "cleanup"]


class Thresholds(BaseModel):
    memory_mb: float = Field(description="MEMORY_THRESHOLD_MB resolved to MB (elevated above)")
    high_memory_mb: float = Field(description="HIGH_MEMORY_THRESHOLD_MB in MB (critical above)")


class ModelTelemetry(BaseModel):
    name: str
    version: str
    lang: str
    loaded_at: datetime
    last_used: datetime
    uses: int


class PartitionTelemetry(BaseModel):
    assigned: list[str] = Field(description="topic[partition] owned by this instance")
    paused: list[str]


class LatencyTelemetry(BaseModel):
    """Milliseconds from the input's timestamp to the output's delivery, recent window."""

    p50: float | None
    p95: float | None
    p99: float | None


class CleanupTelemetry(BaseModel):
    kind: str
    rss_before_mb: float
    rss_after_mb: float
    freed_mb: float
    duration_ms: float
    actions: list[str]


class TelemetryEvent(BaseModel):
    """One telemetry message, key = instance id."""

    type: EventType
    instance_id: str
    at: datetime
    state: Literal["normal", "elevated", "critical"]
    previous_state: str | None = None
    reason: str | None = Field(None, description="why the state changed or a cleanup ran")
    still_above_high: bool = Field(
        False, description="critical, cleaned up, and RSS is still above the high threshold"
    )
    rss_mb: float
    memory_limit_mb: float | None
    memory_limit_source: Literal["cgroup", "configured"] | None
    thresholds: Thresholds
    cache: CacheStats
    models: list[ModelTelemetry]
    partitions: PartitionTelemetry
    documents: int
    dead_letters: int
    docs_per_second: float
    latency_ms: LatencyTelemetry
    cleanup: CleanupTelemetry | None = None


class LatencyWindow:
    """The last `size` latencies, for percentiles without unbounded memory."""

    def __init__(self, size: int = 2048) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, milliseconds: float) -> None:
        self._values.append(milliseconds)

    def percentiles(self) -> LatencyTelemetry:
        if not self._values:
            return LatencyTelemetry(p50=None, p95=None, p99=None)
        ordered = sorted(self._values)

        def at(share: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)

        return LatencyTelemetry(p50=at(0.50), p95=at(0.95), p99=at(0.99))


class TelemetryPublisher:
    """Publishes events to the telemetry topic and keeps the latest for the admin server."""

    def __init__(self, producer: Producer | None, topic: str, key: str) -> None:
        self._producer = producer
        self._topic = topic
        self._key = key.encode()
        self._lock = threading.Lock()
        self._latest: dict[str, Any] | None = None

    def publish(self, event: TelemetryEvent, send: bool = True) -> None:
        """Send the event; a snapshot also becomes the admin server's view (`send=False`:
        only that)."""
        payload = event.model_dump(mode="json")
        if event.type == "snapshot":
            with self._lock:
                self._latest = payload
        if self._producer is None or not send:
            return
        try:
            self._producer.produce(self._topic, key=self._key, value=json.dumps(payload).encode())
        except BufferError:  # telemetry must never hold up the stream; it is dropped and said
            log.warning("telemetry queue full: %s event dropped", event.type)
        self._producer.poll(0)

    def latest(self) -> dict[str, Any] | None:
        with self._lock:
            return self._latest

    def flush(self, timeout: float = 10.0) -> None:
        if self._producer is not None:
            self._producer.flush(timeout)
