"""Applies the memory state machine to the running consumer, once per loop iteration.

Entering critical: pause every assigned partition, flush in-flight output and commit,
then the aggressive cleanup. Partitions stay paused (the loop keeps polling, so the
instance stays in its group) until RSS is back at or below the low threshold; a
partition assigned during critical is paused as soon as it is assigned. Every state
change and every cleanup is a telemetry event; a snapshot goes out every interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import Consumer, TopicPartition

from stream_segmenter.cache import ResultCache
from stream_segmenter.governor.cleanup import Cleaner, CleanupKind, CleanupReport
from stream_segmenter.governor.state import MemoryState, MemoryStateMachine
from stream_segmenter.models.pool import ModelPool
from stream_segmenter.telemetry import (
    CleanupTelemetry,
    EventType,
    LatencyWindow,
    ModelTelemetry,
    PartitionTelemetry,
    TelemetryEvent,
    TelemetryPublisher,
    Thresholds,
)

log = logging.getLogger(__name__)

# How often the admin server's view is refreshed (cheap, but not every iteration).
LIVE_VIEW_EVERY_SECONDS = 1.0
# Exit code when critical for too long (see _give_up_if_stuck): "restart me".
GIVE_UP_EXIT_CODE = 3
# How often pipelines idle for MODEL_IDLE_SECONDS are looked for, in any state.
IDLE_CHECK_EVERY_SECONDS = 10.0


@dataclass
class Counters:
    """Running totals the loop keeps; the supervisor reads them for telemetry."""

    documents: int = 0
    segments: int = 0
    dead_letters: int = 0
    cache_hits: int = 0
    latency: LatencyWindow = field(default_factory=LatencyWindow)


@dataclass
class MemoryLimit:
    limit_mb: float | None
    source: str | None


class _ManualRequest:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.report: CleanupReport | None = None


class MemorySupervisor:
    def __init__(
        self,
        machine: MemoryStateMachine,
        cleaner: Cleaner,
        rss_mb: Callable[[], float],
        limit: MemoryLimit,
        publisher: TelemetryPublisher,
        instance_id: str,
        counters: Counters,
        telemetry_interval: float,
        gc_interval: float,
        clock: Callable[[], float] = time.monotonic,
        critical_exit_seconds: float = 0.0,
    ) -> None:
        self.machine = machine
        self.cleaner = cleaner
        self.rss_mb = rss_mb
        self.limit = limit
        self.publisher = publisher
        self.instance_id = instance_id
        self.counters = counters
        self.telemetry_interval = telemetry_interval
        self.gc_interval = gc_interval
        self.clock = clock
        self.consumer: Consumer | None = None
        self.drain: Callable[[], None] = lambda: None
        self.assigned: set[tuple[str, int]] = set()
        self.paused: set[tuple[str, int]] = set()
        self._last_rss = 0.0
        now = clock()
        self._last_snapshot = now
        self._last_gc = now
        self._last_idle_check = now
        self._last_view = float("-inf")
        self._rate_mark = (now, 0)
        self._docs_per_second = 0.0
        self._manual: list[_ManualRequest] = []
        self.critical_exit_seconds = critical_exit_seconds
        self.gave_up = False
        self.give_up: Callable[[], None] = lambda: None
        self._critical_since: float | None = None
        self._cleanup_due = False  # critical was entered mid-batch; clean up at its end
        self._cleaned_since_critical = False
        self._manual_lock = threading.Lock()

    @property
    def cache(self) -> ResultCache:
        return self.cleaner.cache

    @property
    def pool(self) -> ModelPool:
        return self.cleaner.pool

    @property
    def state(self) -> MemoryState:
        return self.machine.state

    def attach(self, consumer: Consumer, drain: Callable[[], None]) -> None:
        """`drain` flushes in-flight output and commits; the loop provides it."""
        self.consumer = consumer
        self.drain = drain

    # -- called by the loop -------------------------------------------------------------

    def tick(self, mid_batch: bool = False) -> None:
        """Once per loop iteration, and between the chunks of a large batch (`mid_batch`):
        then a critical state pauses at once, but the cleanup waits for the batch's end,
        since the messages already fetched are in-flight work to finish first."""
        now = self.clock()
        rss = self._last_rss = self.rss_mb()
        decision = self.machine.observe(rss, now)
        if decision.changed and decision.state == MemoryState.CRITICAL:
            self._pause_all()
            self._cleaned_since_critical = False
            self._emit_state_change(decision.previous, f"rss {rss:.0f} MB above high")
        if decision.state == MemoryState.CRITICAL and (decision.action or self._cleanup_due):
            self._cleanup_due = mid_batch
            if not mid_batch:
                self._aggressive("aggressive")
        elif decision.action == "light":
            if decision.changed:
                self._emit_state_change(decision.previous, f"rss {rss:.0f} MB above low")
            self._emit_cleanup(self.cleaner.light(), "light cleanup while elevated")
        elif decision.changed and decision.state != MemoryState.CRITICAL:
            self._cleanup_due = False
            self._leave(decision.previous, rss)
        if not mid_batch:
            self._serve_manual_requests()
            self._housekeeping(now)
            self._give_up_if_stuck(now)
        self._publish_due_telemetry(now)

    def _give_up_if_stuck(self, now: float) -> None:
        """Critical for CRITICAL_EXIT_SECONDS and cleanup cannot bring RSS down: holding the
        partitions paused stalls them for the whole group. Leave instead: the others take
        the partitions, and the orchestrator restarts this process with fresh memory."""
        if self.state != MemoryState.CRITICAL:
            self._critical_since = None
            return
        if self._critical_since is None:
            self._critical_since = now
        stuck = now - self._critical_since
        if self.critical_exit_seconds and stuck >= self.critical_exit_seconds and not self.gave_up:
            self.gave_up = True
            reason = (
                f"critical for {stuck:.0f} s (CRITICAL_EXIT_SECONDS="
                f"{self.critical_exit_seconds:g}): leaving the group and exiting with code "
                f"{GIVE_UP_EXIT_CODE} to restart fresh"
            )
            log.error(reason)
            self.publisher.publish(self._event("state_change", previous=self.state, reason=reason))
            self.give_up()

    def _housekeeping(self, now: float) -> None:
        if now - self._last_idle_check >= IDLE_CHECK_EVERY_SECONDS:
            self._last_idle_check = now
            report = self.cleaner.unload_idle_models()
            if report.actions:
                self._emit_cleanup(report, f"idle for MODEL_IDLE_SECONDS={self.pool.idle_seconds}")
        if self.gc_interval and now - self._last_gc >= self.gc_interval:
            self._last_gc = now
            self._emit_cleanup(self.cleaner.periodic_gc(), f"every GC_INTERVAL={self.gc_interval}s")

    def _publish_due_telemetry(self, now: float) -> None:
        if now - self._last_snapshot >= self.telemetry_interval:
            self._last_snapshot = now
            self._update_rate(now)
            self.publisher.publish(self._event("snapshot"))
        elif now - self._last_view >= LIVE_VIEW_EVERY_SECONDS:
            self._refresh_view()

    def on_assign(
        self, consumer: Consumer, partitions: list[TopicPartition], incremental: bool = False
    ) -> None:
        """Assign now (pause needs assigned partitions), then pause them if critical."""
        if incremental:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self.assigned |= keys
        if self.state == MemoryState.CRITICAL and partitions:
            consumer.pause(partitions)
            self.paused |= keys
            log.info("critical: newly assigned partitions paused too")
        elif partitions:
            consumer.resume(partitions)  # librdkafka may keep an old pause across a rebalance

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self.assigned -= keys
        self.paused -= keys

    def request_cleanup(self, timeout: float = 60.0) -> CleanupReport | None:
        """From another thread (the admin server): run an aggressive cleanup in the loop."""
        request = _ManualRequest()
        with self._manual_lock:
            self._manual.append(request)
        request.done.wait(timeout)
        return request.report

    # -- internals ----------------------------------------------------------------------

    def _serve_manual_requests(self) -> None:
        with self._manual_lock:
            requests, self._manual = self._manual, []
        if not requests:
            return
        was_critical = self.state == MemoryState.CRITICAL
        self._pause_all()
        report = self._aggressive("manual", reason="POST /optimize-memory")
        if not was_critical and self.state != MemoryState.CRITICAL:
            self._resume_all()
        for request in requests:
            request.report = report
            request.done.set()

    def _aggressive(self, kind: CleanupKind, reason: str = "critical") -> CleanupReport:
        self.drain()
        report = self.cleaner.aggressive(kind)
        self._cleaned_since_critical = True
        self._last_rss = report.rss_after_mb
        self._emit_cleanup(report, reason)
        if self.state == MemoryState.CRITICAL:
            after = self.machine.observe(report.rss_after_mb, self.clock())
            if after.changed:
                self._leave(after.previous, report.rss_after_mb)
            elif report.rss_after_mb > self.machine.high_mb:
                log.warning(
                    "still %.0f MB after cleanup, above the high threshold: staying paused",
                    report.rss_after_mb,
                )
        return report

    def _leave(self, previous: MemoryState, rss: float) -> None:
        if previous == MemoryState.CRITICAL:
            self._resume_all()
        self._emit_state_change(previous, f"rss {rss:.0f} MB at or below low")

    def _pause_all(self) -> None:
        if self.consumer is None or not self.assigned:
            return
        self.consumer.pause([TopicPartition(t, p) for t, p in sorted(self.assigned)])
        self.paused |= self.assigned
        log.warning("paused %d partitions", len(self.assigned))

    def _resume_all(self) -> None:
        if self.consumer is None or not self.paused:
            return
        self.consumer.resume([TopicPartition(t, p) for t, p in sorted(self.paused)])
        log.info("resumed %d partitions", len(self.paused))
        self.paused.clear()

    def _emit_state_change(self, previous: MemoryState, reason: str) -> None:
        log.warning("memory state %s -> %s: %s", previous, self.state, reason)
        self.publisher.publish(self._event("state_change", previous=previous, reason=reason))
        self._refresh_view()

    def _emit_cleanup(self, report: CleanupReport, reason: str) -> None:
        log.info(
            "%s cleanup: %.0f -> %.0f MB in %.0f ms (%s)",
            report.kind, report.rss_before_mb, report.rss_after_mb, report.duration_ms,
            ", ".join(report.actions),
        )  # fmt: skip
        self.publisher.publish(self._event("cleanup", reason=reason, cleanup=report))
        self._refresh_view()

    def _refresh_view(self) -> None:
        """The admin server's view follows every change at once, not at the next second."""
        self._last_view = self.clock()
        self.publisher.publish(self._event("snapshot"), send=False)

    def _update_rate(self, now: float) -> None:
        then, documents = self._rate_mark
        if now > then:
            self._docs_per_second = (self.counters.documents - documents) / (now - then)
        self._rate_mark = (now, self.counters.documents)

    def _event(
        self,
        kind: EventType,
        previous: MemoryState | None = None,
        reason: str | None = None,
        cleanup: CleanupReport | None = None,
    ) -> TelemetryEvent:
        cache = self.cache.stats()
        return TelemetryEvent(
            type=kind,
            instance_id=self.instance_id,
            at=datetime.now(UTC),
            state=self.state.value,
            previous_state=previous.value if previous else None,
            reason=reason,
            still_above_high=self.state == MemoryState.CRITICAL
            and self._cleaned_since_critical
            and self._last_rss > self.machine.high_mb,
            rss_mb=round(self._last_rss, 1),
            memory_limit_mb=self.limit.limit_mb,
            memory_limit_source=self.limit.source,  # type: ignore[arg-type]
            thresholds=Thresholds(
                memory_mb=self.machine.low_mb, high_memory_mb=self.machine.high_mb
            ),
            cache=cache,
            models=[
                ModelTelemetry(
                    name=m.name,
                    version=m.version,
                    lang=m.lang,
                    loaded_at=datetime.fromtimestamp(m.loaded_at, UTC),
                    last_used=datetime.fromtimestamp(m.last_used, UTC),
                    uses=m.uses,
                )
                for m in self.pool.stats()
            ],
            partitions=PartitionTelemetry(
                assigned=[f"{t}[{p}]" for t, p in sorted(self.assigned)],
                paused=[f"{t}[{p}]" for t, p in sorted(self.paused)],
            ),
            documents=self.counters.documents,
            dead_letters=self.counters.dead_letters,
            docs_per_second=round(self._docs_per_second, 1),
            latency_ms=self.counters.latency.percentiles(),
            cleanup=None
            if cleanup is None
            else CleanupTelemetry(
                kind=cleanup.kind,
                rss_before_mb=round(cleanup.rss_before_mb, 1),
                rss_after_mb=round(cleanup.rss_after_mb, 1),
                freed_mb=round(cleanup.freed_mb, 1),
                duration_ms=round(cleanup.duration_ms, 1),
                actions=cleanup.actions,
            ),
        )
