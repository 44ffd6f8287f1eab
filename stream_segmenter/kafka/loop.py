"""The consume loop shared by both processing guarantees.

It fetches batches, turns messages into RawMessages, keeps the governor ticking and the
heartbeat beating, and leaves the group on stop. What happens to a batch's results, and
when offsets are committed, is the guarantee's business: at_least_once.py and
exactly_once.py.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from stream_segmenter.admin import LoopHeartbeat
from stream_segmenter.config import Settings
from stream_segmenter.events import SourceRef
from stream_segmenter.governor.supervisor import GIVE_UP_EXIT_CODE, Counters, MemorySupervisor
from stream_segmenter.process import DocumentProcessor, Outcome, RawMessage

log = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 10.0
# The consumer cannot go on (say, fenced by another member with its group.instance.id):
# the process exits with this code so that whatever runs it starts it again or alerts.
FATAL_CLIENT_EXIT_CODE = 1


class FatalClientError(Exception):
    """A client error librdkafka will not recover from, or a fenced instance."""


def is_fatal(error: object) -> bool:
    """A fenced static member comes as code _FATAL with fatal() False."""
    return isinstance(error, KafkaError) and (error.fatal() or error.code() == KafkaError._FATAL)


class StreamLoop(ABC):
    """Owns the consumer; `run()` returns after `stop()` or a fatal error."""

    def __init__(
        self,
        settings: Settings,
        consumer_config: dict[str, object],
        processor: DocumentProcessor,
        supervisor: MemorySupervisor,
        heartbeat: LoopHeartbeat | None = None,
    ) -> None:
        self.settings = settings
        self.incremental = uses_incremental_rebalancing(consumer_config)
        self.consumer = Consumer(self._consumer_config(consumer_config))
        self.processor = processor
        self.supervisor = supervisor
        self.stats: Counters = supervisor.counters
        self.heartbeat = heartbeat or LoopHeartbeat()
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._last_progress = time.monotonic()
        supervisor.attach(self.consumer, drain=self._drain_for_cleanup)
        supervisor.give_up = self.stop
        self.exit_code = 0

    def _consumer_config(self, config: dict[str, object]) -> dict[str, object]:
        return config

    def stop(self) -> None:
        """Ask the loop to finish its batch, flush, commit and leave (signal-handler safe)."""
        self._stop.set()

    def run(self) -> Counters:
        self.consumer.subscribe(
            [self.settings.input_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log.info(
            "consuming %s as group %s (%s)",
            self.settings.input_topic, self.settings.group_id,
            self.settings.processing_guarantee,
        )  # fmt: skip
        try:
            self._consume()
            self.heartbeat.stopping = True
            self._drain()
            if self.supervisor.gave_up:
                self.exit_code = GIVE_UP_EXIT_CODE
        except (FatalClientError, KafkaException) as exc:  # nothing more can be committed
            if isinstance(exc, KafkaException) and not is_fatal(exc.args[0] if exc.args else None):
                raise
            log.critical("fatal client error, stopping: %s", exc)
            self.exit_code = FATAL_CLIENT_EXIT_CODE
        finally:
            # Leaves the group so partitions move at once (a static member's wait for it
            # to come back, until session.timeout.ms).
            self.consumer.close()
        log.info(
            "stopped: %d documents, %d segments, %d dead letters, %.1f docs/s",
            self.stats.documents, self.stats.segments, self.stats.dead_letters, self._rate(),
        )  # fmt: skip
        return self.stats

    def _consume(self) -> None:
        """Batch after batch until stopped."""
        while not self._stop.is_set():
            self.heartbeat.beat()
            messages = self._fetch()
            batch = [raw for raw in map(self._read, messages) if raw is not None]
            parts = chunks(batch, self.settings.batch_max_bytes)
            for number, chunk in enumerate(parts, start=1):
                self._handle(chunk)
                if number < len(parts):
                    # The governor looks between chunks, so one batch of large documents
                    # cannot grow memory (or silence telemetry) for long unseen.
                    self.supervisor.tick(mid_batch=True)
            self._after_batch()
            self.supervisor.tick()
            self._log_progress()

    @abstractmethod
    def _handle(self, batch: list[RawMessage]) -> None:
        """Process a batch and send its results."""

    @abstractmethod
    def _after_batch(self) -> None:
        """Work between batches (deliveries, commits)."""

    @abstractmethod
    def _drain(self) -> None:
        """On stop: everything in flight delivered and committed."""

    @abstractmethod
    def _drain_for_cleanup(self) -> None:
        """Before an aggressive cleanup: everything in flight delivered and committed."""

    @abstractmethod
    def _revoked(self, partitions: set[tuple[str, int]]) -> None:
        """Partitions are about to go: settle what belongs to them."""

    def _rate(self) -> float:
        return self.stats.documents / max(time.monotonic() - self._started, 1e-9)

    def _count(self, outcome: Outcome) -> None:
        """A result is final (delivered, or committed in a transaction)."""
        if outcome.error is not None:
            self.stats.dead_letters += 1
            return
        self.stats.documents += 1
        self.stats.segments += outcome.segment_count
        self.stats.cache_hits += int(outcome.cache_hit)
        if outcome.message.timestamp_ms is not None:
            self.stats.latency.add(time.time() * 1000 - outcome.message.timestamp_ms)

    def _log_progress(self) -> None:
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_EVERY_SECONDS:
            self._last_progress = now
            log.info(
                "progress: %d documents, %d dead letters, %.1f docs/s",
                self.stats.documents, self.stats.dead_letters, self._rate(),
            )  # fmt: skip

    def _fetch(self) -> list[Message]:
        """Whatever is already fetched, up to a batch; if nothing, wait for one message.

        `consume(n, timeout)` may wait for a full batch until the timeout (the behaviour
        differs between client versions), which would add up to the timeout to every
        document's latency at low rates. This returns as soon as anything is there.
        """
        batch_size = self.settings.batch_size
        messages = self.consumer.consume(num_messages=batch_size, timeout=0)
        if messages:
            return messages
        first = self.consumer.poll(self.settings.poll_timeout_seconds)
        if first is None:
            return []
        return [first, *self.consumer.consume(num_messages=batch_size - 1, timeout=0)]

    def _read(self, message: Message) -> RawMessage | None:
        error = message.error()
        if error is not None:
            if is_fatal(error):
                raise FatalClientError(str(error))
            log.warning("consume error: %s", error)
            return None
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if (topic, partition) not in self.supervisor.assigned:
            # Fetched before a revoke that came within the same fetch: its new owner reads it.
            return None
        kind, stamp = message.timestamp()
        return RawMessage(
            key=message.key(),
            value=message.value(),
            # Validating librdkafka's own values costs 1.6 µs; model_construct, which skips
            # validation, costs 3.5 µs (it is written in Python).
            source=SourceRef(topic=topic, partition=partition, offset=offset),
            headers=list(message.headers() or []),
            timestamp_ms=stamp if kind != TIMESTAMP_NOT_AVAILABLE else None,
        )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", _names(partitions))
        self.heartbeat.joined = True
        self.supervisor.on_assign(consumer, partitions, self.incremental)

    def _on_revoke(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("revoked %s", _names(partitions))
        try:
            self._revoked({(tp.topic, tp.partition) for tp in partitions})
        finally:
            self.supervisor.on_revoke(partitions)

    def _on_lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        """Taken away without a revoke (the session expired): others own them now, so
        nothing of theirs may be committed from here."""
        log.warning("lost %s", _names(partitions))
        try:
            self._lost({(tp.topic, tp.partition) for tp in partitions})
        finally:
            self.supervisor.on_revoke(partitions)

    def _lost(self, partitions: set[tuple[str, int]]) -> None:
        """Forget what belongs to lost partitions (default: as for a revoke)."""
        self._revoked(partitions)


def chunks(batch: list[RawMessage], max_bytes: int) -> list[list[RawMessage]]:
    """Consecutive runs of messages of at most `max_bytes` of values (at least one each)."""
    result: list[list[RawMessage]] = []
    size = 0
    for message in batch:
        length = len(message.value or b"")
        if not result or size + length > max_bytes:
            result.append([])
            size = 0
        result[-1].append(message)
        size += length
    return result


def uses_incremental_rebalancing(config: dict[str, object]) -> bool:
    """cooperative-sticky and the KIP-848 protocol assign incrementally (incremental_assign)."""
    strategy = str(config.get("partition.assignment.strategy", ""))
    return "cooperative" in strategy or str(config.get("group.protocol", "")) == "consumer"


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
