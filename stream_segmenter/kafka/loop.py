"""The consume → process → produce → commit loop (at-least-once).

An input offset is committed only after its output event, or its dead letter, was
acknowledged by the broker. A failed delivery is sent again (or, if the broker rejects
the output itself, the input goes to the dead-letter topic), so no message is lost.
On revocation and on shutdown, in-flight output is flushed and committed first.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from stream_segmenter.admin import LoopHeartbeat
from stream_segmenter.config import Settings
from stream_segmenter.errors import InvalidMessage
from stream_segmenter.events import SourceRef
from stream_segmenter.governor.supervisor import Counters, MemorySupervisor
from stream_segmenter.kafka.dlq import dead_letter_headers
from stream_segmenter.kafka.offsets import OffsetTracker, TopicPartitionKey
from stream_segmenter.process import DocumentProcessor, Outcome, RawMessage

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_SECONDS = 30.0
PROGRESS_EVERY_SECONDS = 10.0
# Errors where the broker will never accept this output: the input goes to the DLQ instead.
_REJECTED = {
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.INVALID_RECORD,
    KafkaError.RECORD_LIST_TOO_LARGE,
}


@dataclass(frozen=True)
class _Pending:
    """What to send again if a delivery fails."""

    partition: TopicPartitionKey
    outcome: Outcome
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


class StreamProcessor:
    """Owns the consumer and producer; `run()` returns after `stop()` or a fatal error."""

    def __init__(
        self,
        settings: Settings,
        consumer: Consumer,
        producer: Producer,
        processor: DocumentProcessor,
        supervisor: MemorySupervisor,
        heartbeat: LoopHeartbeat | None = None,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.producer = producer
        self.processor = processor
        self.supervisor = supervisor
        self.stats: Counters = supervisor.counters
        self.heartbeat = heartbeat or LoopHeartbeat()
        self.offsets = OffsetTracker()
        self._started = time.monotonic()
        supervisor.attach(consumer, drain=self._flush_and_commit)
        self._stop = threading.Event()
        self._retry: list[_Pending] = []
        self._last_commit = time.monotonic()
        self._last_progress = time.monotonic()

    def stop(self) -> None:
        """Ask the loop to finish its batch, flush, commit and leave (signal-handler safe)."""
        self._stop.set()

    def run(self) -> Counters:
        self.consumer.subscribe(
            [self.settings.input_topic], on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        log.info("consuming %s as group %s", self.settings.input_topic, self.settings.group_id)
        try:
            while not self._stop.is_set():
                self.heartbeat.beat()
                self._run_once()
                self.supervisor.tick()
            self.heartbeat.stopping = True
            self._drain()
        finally:
            self.consumer.close()  # leaves the group so partitions move at once
        log.info(
            "stopped: %d documents, %d segments, %d dead letters, %.1f docs/s",
            self.stats.documents,
            self.stats.segments,
            self.stats.dead_letters,
            self._rate(),
        )
        return self.stats

    def _rate(self) -> float:
        return self.stats.documents / max(time.monotonic() - self._started, 1e-9)

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

    def _run_once(self) -> None:
        messages = self._fetch()
        batch = [raw for raw in map(self._read, messages) if raw is not None]
        if batch:
            for outcome in self.processor.process(batch):
                self._publish(outcome)
        self._resend_failed()
        self.producer.poll(0)
        now = time.monotonic()
        if now - self._last_commit >= self.settings.commit_interval_seconds:
            self._commit(asynchronous=True)
        if now - self._last_progress >= PROGRESS_EVERY_SECONDS:
            self._last_progress = now
            log.info(
                "progress: %d documents, %d dead letters, %.1f docs/s, %d in flight",
                self.stats.documents,
                self.stats.dead_letters,
                self._rate(),
                self.offsets.in_flight(),
            )

    def _read(self, message: Message) -> RawMessage | None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            log.warning("consume error: %s", error)
            return None
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        self.offsets.track((topic, partition), offset)
        kind, stamp = message.timestamp()
        return RawMessage(
            key=message.key(),
            value=message.value(),
            source=SourceRef(topic=topic, partition=partition, offset=offset),
            headers=list(message.headers() or []),
            timestamp_ms=stamp if kind != TIMESTAMP_NOT_AVAILABLE else None,
        )

    def _publish(self, outcome: Outcome) -> None:
        message = outcome.message
        partition = (message.source.topic, message.source.partition)
        if outcome.error is None:
            pending = _Pending(
                partition, outcome, self.settings.output_topic, message.key, outcome.output, []
            )
        else:
            log.info(
                "dead letter %s[%d]@%d: %s",
                message.source.topic,
                message.source.partition,
                message.source.offset,
                outcome.error,
            )
            pending = _dead_letter(partition, outcome, self.settings.dlq_topic, outcome.error)
        self._send(pending)

    def _send(self, pending: _Pending) -> None:
        def on_delivery(error: KafkaError | None, _: Message) -> None:
            self._on_delivery(pending, error)

        while True:
            try:
                self.producer.produce(
                    pending.topic,
                    key=pending.key,
                    value=pending.value,
                    headers=pending.headers or None,
                    on_delivery=on_delivery,
                )
                return
            except BufferError:  # local queue full: let deliveries drain, then try again
                self.producer.poll(0.1)
            except KafkaException as exc:  # refused before sending, e.g. larger than allowed
                self._on_delivery(pending, exc.args[0])
                return

    def _on_delivery(self, pending: _Pending, error: KafkaError | None) -> None:
        outcome = pending.outcome
        if error is None:
            self.offsets.confirm(pending.partition, outcome.message.source.offset)
            if outcome.error is None:
                self.stats.documents += 1
                self.stats.segments += outcome.segment_count
                self.stats.cache_hits += int(outcome.cache_hit)
                if outcome.message.timestamp_ms is not None:
                    self.stats.latency.add(time.time() * 1000 - outcome.message.timestamp_ms)
            else:
                self.stats.dead_letters += 1
            return
        if pending.topic == self.settings.output_topic and error.code() in _REJECTED:
            rejected = InvalidMessage("output_rejected", f"broker refused the output: {error}")
            log.warning("output for offset %d rejected: %s", outcome.message.source.offset, error)
            self._retry.append(
                _dead_letter(pending.partition, outcome, self.settings.dlq_topic, rejected)
            )
            return
        log.warning("delivery to %s failed (%s); sending again", pending.topic, error)
        self._retry.append(pending)

    def _resend_failed(self) -> None:
        retry, self._retry = self._retry, []
        for pending in retry:
            self._send(pending)

    def _commit(self, asynchronous: bool, only: set[TopicPartitionKey] | None = None) -> None:
        self._last_commit = time.monotonic()
        positions = {
            partition: position
            for partition, position in self.offsets.committable().items()
            if only is None or partition in only
        }
        if not positions:
            return
        offsets = [TopicPartition(topic, part, pos) for (topic, part), pos in positions.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except KafkaException as exc:  # e.g. a rebalance in progress: commit again later
            log.warning("commit failed: %s", exc)
            return
        self.offsets.mark_committed(positions)

    def _flush_and_commit(self, only: set[TopicPartitionKey] | None = None) -> None:
        """Wait for every in-flight delivery (resending failures), then commit synchronously."""
        deadline = time.monotonic() + FLUSH_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self._resend_failed()
            self.producer.flush(max(0.0, min(5.0, deadline - time.monotonic())))
            if not self._retry and len(self.producer) == 0:
                break
        self._commit(asynchronous=False, only=only)

    def _drain(self) -> None:
        log.info("stopping: flushing %d in-flight messages", self.offsets.in_flight())
        self._flush_and_commit()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", _names(partitions))
        self.supervisor.on_assign(consumer, partitions)

    def _on_revoke(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        log.info("revoked %s", _names(partitions))
        try:
            self._flush_and_commit(only=revoked)
        finally:
            self.offsets.forget(list(revoked))
            self.supervisor.on_revoke(partitions)


def _dead_letter(
    partition: TopicPartitionKey, outcome: Outcome, topic: str, error: InvalidMessage
) -> _Pending:
    message = outcome.message
    headers = dead_letter_headers(error, message.source, message.headers)
    dead = Outcome(message=message, error=error)
    return _Pending(partition, dead, topic, message.key, message.value, headers)


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
