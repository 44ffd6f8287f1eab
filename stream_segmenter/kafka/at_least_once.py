"""At-least-once: an input offset is committed only after its output event, or its dead
letter, was acknowledged by the broker.

A failed delivery is sent again after a backoff; if the broker refuses the output itself,
the input goes to the dead-letter topic, so no message is lost. On revocation and on
shutdown, in-flight output is flushed and committed first. A crash can repeat documents
whose output was delivered but whose offset was not yet committed.
"""

from __future__ import annotations

import logging
import time
from functools import partial

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from stream_segmenter.errors import InvalidMessage
from stream_segmenter.kafka.delivery import (
    REJECTED,
    Delivery,
    RetryQueue,
    dead_letter,
    without_value,
)
from stream_segmenter.kafka.loop import StreamLoop
from stream_segmenter.kafka.offsets import OffsetTracker, TopicPartitionKey
from stream_segmenter.process import Outcome, RawMessage

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_SECONDS = 30.0


class AtLeastOnceLoop(StreamLoop):
    def __init__(self, *args: object, producer: Producer, **kwargs: object) -> None:
        self.producer = producer
        self.offsets = OffsetTracker()
        self._retry = RetryQueue()
        self._drained = False
        self._last_failure_log = float("-inf")
        self._last_commit = time.monotonic()
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def _consumer_config(self, config: dict[str, object]) -> dict[str, object]:
        # Offsets count as committed only when the broker says so (see _on_commit).
        return {**config, "on_commit": self._on_commit}

    def _handle(self, batch: list[RawMessage]) -> None:
        for message in batch:
            self.offsets.track(
                (message.source.topic, message.source.partition), message.source.offset
            )
        for outcome in self.processor.process(batch):
            self._publish(outcome)

    def _after_batch(self) -> None:
        self._resend_failed()
        self.producer.poll(0)
        if time.monotonic() - self._last_commit >= self.settings.commit_interval_seconds:
            self._commit(asynchronous=True)

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
        on_delivery = partial(self._on_delivery, delivery)  # called (error, message)
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

    def _on_delivery(
        self, delivery: Delivery, error: KafkaError | None, _: Message | None = None
    ) -> None:
        outcome = delivery.outcome
        if error is None:
            self.offsets.confirm(delivery.partition, delivery.offset)
            self._count(outcome)
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

    def _drain_for_cleanup(self) -> None:
        self._flush_and_commit()

    def _lost(self, partitions: set[TopicPartitionKey]) -> None:
        self.offsets.forget(list(partitions))  # not ours to commit any more

    def _revoked(self, partitions: set[TopicPartitionKey]) -> None:
        try:
            # On shutdown the drain has already waited for deliveries; do not wait twice.
            self._flush_and_commit(
                only=partitions, timeout=0 if self._drained else FLUSH_TIMEOUT_SECONDS
            )
        finally:
            self.offsets.forget(list(partitions))
