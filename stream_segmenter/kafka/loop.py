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
from stream_segmenter.kafka.delivery import (
    REJECTED,
    Delivery,
    RetryQueue,
    dead_letter,
    without_value,
)
from stream_segmenter.kafka.offsets import OffsetTracker, TopicPartitionKey
from stream_segmenter.process import DocumentProcessor, Outcome, RawMessage

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_SECONDS = 30.0
PROGRESS_EVERY_SECONDS = 10.0


class StreamProcessor:
    """Owns the consumer and producer; `run()` returns after `stop()` or a fatal error."""

    def __init__(
        self,
        settings: Settings,
        consumer_config: dict[str, object],
        producer: Producer,
        processor: DocumentProcessor,
        supervisor: MemorySupervisor,
        heartbeat: LoopHeartbeat | None = None,
    ) -> None:
        self.settings = settings
        # Offsets count as committed only when the broker says so (see _on_commit).
        self.consumer = Consumer({**consumer_config, "on_commit": self._on_commit})
        self.producer = producer
        self.processor = processor
        self.supervisor = supervisor
        self.stats: Counters = supervisor.counters
        self.heartbeat = heartbeat or LoopHeartbeat()
        self.offsets = OffsetTracker()
        self._started = time.monotonic()
        supervisor.attach(self.consumer, drain=self._flush_and_commit)
        self._stop = threading.Event()
        self._retry = RetryQueue()
        self._drained = False
        self._last_failure_log = float("-inf")
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
            assert outcome.doc_id is not None and outcome.output is not None
            key = outcome.doc_id.encode("utf-8")  # output key = doc_id, whatever the input key
            self._send(
                Delivery(partition, outcome, self.settings.output_topic, key, outcome.output, [])
            )
            return
        log.info("dead letter %s: %s", message.source, outcome.error)
        self._send(dead_letter(partition, message, self.settings.dlq_topic, outcome.error))

    def _send(self, delivery: Delivery) -> None:
        def on_delivery(error: KafkaError | None, _: Message) -> None:
            self._on_delivery(delivery, error)

        while True:
            try:
                self.producer.produce(
                    delivery.topic,
                    key=delivery.key,
                    value=delivery.value,
                    headers=delivery.headers or None,
                    on_delivery=on_delivery,
                )
                return
            except BufferError:  # local queue full: let deliveries drain, then try again
                self.producer.poll(0.1)
            except KafkaException as exc:  # refused before sending, e.g. larger than allowed
                self._on_delivery(delivery, exc.args[0])
                return

    def _on_delivery(self, delivery: Delivery, error: KafkaError | None) -> None:
        outcome = delivery.outcome
        if error is None:
            self.offsets.confirm(delivery.partition, delivery.offset)
            if outcome.error is None:
                self.stats.documents += 1
                self.stats.segments += outcome.segment_count
                self.stats.cache_hits += int(outcome.cache_hit)
                if outcome.message.timestamp_ms is not None:
                    self.stats.latency.add(time.time() * 1000 - outcome.message.timestamp_ms)
            else:
                self.stats.dead_letters += 1
            return
        if error.code() in REJECTED:
            if delivery.topic == self.settings.output_topic:
                reason = f"broker refused the output: {error}"
                rejected = InvalidMessage("output_rejected", reason)
                log.warning("output for %s rejected: %s", outcome.message.source, error)
                self._retry.add(
                    dead_letter(
                        delivery.partition, outcome.message, self.settings.dlq_topic, rejected
                    )
                )
                return
            if delivery.value is not None:  # the dead letter itself is too large
                log.error(
                    "dead letter for %s too large, sent without value", outcome.message.source
                )
                self._retry.add(without_value(delivery, error))
                return
        now = time.monotonic()
        if now - self._last_failure_log >= 5.0:  # one line every 5 s, not one per message
            self._last_failure_log = now
            log.warning(
                "delivery to %s failed (%s); %d waiting to be sent again",
                delivery.topic, error, len(self._retry) + 1,
            )  # fmt: skip
        self._retry.add(delivery)

    def _resend_failed(self) -> None:
        for delivery in self._retry.due():
            self._send(delivery)

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
            result = self.consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except KafkaException as exc:  # e.g. a rebalance in progress: commit again later
            log.warning("commit failed: %s", exc)
            return
        if not asynchronous:
            self._on_commit(None, result or [])

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """Record what the broker confirmed; anything else is committed again next time."""
        if error is not None and error.code() != KafkaError._NO_OFFSET:
            log.warning("commit failed: %s", error)
        confirmed = {
            (tp.topic, tp.partition): tp.offset
            for tp in partitions
            if tp.error is None and tp.offset >= 0
        }
        self.offsets.mark_committed(confirmed)

    def _flush_and_commit(
        self, only: set[TopicPartitionKey] | None = None, timeout: float = FLUSH_TIMEOUT_SECONDS
    ) -> None:
        """Wait for every in-flight delivery (resending failures), then commit synchronously."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._resend_failed()
            self.producer.flush(max(0.0, min(5.0, deadline - time.monotonic())))
            if not len(self._retry) and len(self.producer) == 0:
                break
            time.sleep(0.1)
        self._commit(asynchronous=False, only=only)

    def _drain(self) -> None:
        log.info("stopping: flushing %d in-flight messages", self.offsets.in_flight())
        self._flush_and_commit()
        self._drained = True

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", _names(partitions))
        self.supervisor.on_assign(consumer, partitions)

    def _on_revoke(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        log.info("revoked %s", _names(partitions))
        try:
            # On shutdown the drain has already waited for deliveries; do not wait twice.
            self._flush_and_commit(
                only=revoked, timeout=0 if self._drained else FLUSH_TIMEOUT_SECONDS
            )
        finally:
            self.offsets.forget(list(revoked))
            self.supervisor.on_revoke(partitions)


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
