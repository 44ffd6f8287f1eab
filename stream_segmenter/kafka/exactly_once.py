"""Exactly-once: each batch is read, processed and written in one Kafka transaction.

The outputs and dead letters of a batch and the batch's input offsets (sent with the
consumer group's metadata) commit together or not at all. A failed transaction is
aborted and the batch read again from where it began; a fenced instance (another
instance with the same transactional id, or a zombie after a rebalance) exits 1.
Consumers of the output topic must read with `isolation.level=read_committed`.
Telemetry is sent by its own producer, outside the transactions.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from stream_segmenter.errors import InvalidMessage
from stream_segmenter.kafka.delivery import REJECTED, Delivery, dead_letter, without_value
from stream_segmenter.kafka.loop import FatalClientError, StreamLoop
from stream_segmenter.kafka.offsets import TopicPartitionKey
from stream_segmenter.process import Outcome, RawMessage

log = logging.getLogger(__name__)

TRANSACTION_TIMEOUT_SECONDS = 60.0
# A delivery refused for its size is remembered by input offset, so the batch's retry
# sends a dead letter (or one without its value) instead of failing the same way again.
Refusal = tuple[TopicPartitionKey, int]
FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


class ExactlyOnceLoop(StreamLoop):
    def __init__(self, *args: object, producer: Producer, **kwargs: object) -> None:
        self.producer = producer
        self._refused: dict[Refusal, str] = {}  # what to send instead: "dead_letter" | "no_value"
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        producer.init_transactions(TRANSACTION_TIMEOUT_SECONDS)

    def _consumer_config(self, config: dict[str, object]) -> dict[str, object]:
        # Offsets go with the transaction; input written by transactions is read committed.
        return {**config, "isolation.level": "read_committed"}

    def _handle(self, batch: list[RawMessage]) -> None:
        outcomes = self.processor.process(batch)
        sent = self._transact(batch, outcomes)
        if sent is None:
            self._rewind(batch)
            return
        for delivery in sent:
            self._count(delivery.outcome)

    def _transact(self, batch: list[RawMessage], outcomes: list[Outcome]) -> list[Delivery] | None:
        """Commit the batch's results and offsets in one transaction; what was sent, or
        None if the transaction was aborted."""
        failed: list[tuple[Delivery, KafkaError]] = []
        sent: list[Delivery] = []
        try:
            self.producer.begin_transaction()
            for outcome in outcomes:
                sent.append(self._produce(self._delivery_for(outcome), failed))
            self.producer.send_offsets_to_transaction(
                _next_positions(batch),
                self.consumer.consumer_group_metadata(),
                TRANSACTION_TIMEOUT_SECONDS,
            )
            self._commit_transaction()
            return sent
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal() or error.code() in FENCED:  # its producer is dead: exit
                raise FatalClientError(f"fenced: {error}") from None
            log.warning("transaction failed (%s): aborted, the batch will be read again", error)
            self._remember_refusals(failed)
            self._abort()
            return None

    def _commit_transaction(self) -> None:
        """Retriable failures of the commit itself are retried, as librdkafka asks."""
        for attempt in range(10):
            try:
                self.producer.commit_transaction(TRANSACTION_TIMEOUT_SECONDS)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if not error.retriable() or error.txn_requires_abort() or attempt == 9:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _rewind(self, batch: list[RawMessage]) -> None:
        """Read an aborted batch again: seek each partition back to where the batch began."""
        first: dict[TopicPartitionKey, int] = {}
        for message in batch:
            key = (message.source.topic, message.source.partition)
            first[key] = min(first.get(key, message.source.offset), message.source.offset)
        for (topic, partition), offset in first.items():
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # no longer ours: its new owner reads it
                log.info("not rewinding %s[%d]: %s", topic, partition, exc)
        time.sleep(0.5)  # whatever failed (a broker, a rebalance) gets a moment

    def _produce(self, delivery: Delivery, failed: list[tuple[Delivery, KafkaError]]) -> Delivery:
        """Send `delivery`, or what replaces it if refused locally; return what was sent."""

        def on_delivery(error: KafkaError | None, _: Message) -> None:
            if error is not None:
                failed.append((delivery, error))

        while True:
            try:
                self.producer.produce(
                    delivery.topic, key=delivery.key, value=delivery.value,
                    headers=delivery.headers or None, on_delivery=on_delivery,
                )  # fmt: skip
                return delivery
            except BufferError:
                self.producer.poll(0.1)
            except KafkaException as exc:  # refused locally (too large): decide now
                error = exc.args[0]
                if error.code() not in REJECTED:
                    raise
                self._remember_refusals([(delivery, error)])
                return self._produce(self._delivery_for(delivery.outcome), failed)

    def _delivery_for(self, outcome: Outcome) -> Delivery:
        """The output, or a dead letter: what an earlier refusal of this offset calls for."""
        message = outcome.message
        partition = (message.source.topic, message.source.partition)
        refusal = self._refused.get((partition, message.source.offset))
        dlq = self.settings.dlq_topic
        if outcome.error is not None or refusal is not None:
            error = outcome.error or InvalidMessage(
                "output_rejected", "broker refused the output as too large"
            )
            letter = dead_letter(partition, message, dlq, error)
            if refusal == "no_value":
                return without_value(letter, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
            return letter
        assert outcome.doc_id is not None and outcome.output is not None
        key = outcome.doc_id.encode("utf-8")
        return Delivery(partition, outcome, self.settings.output_topic, key, outcome.output, [])

    def _remember_refusals(self, failed: list[tuple[Delivery, KafkaError]]) -> None:
        for delivery, error in failed:
            if error.code() not in REJECTED:
                continue
            where = (delivery.partition, delivery.offset)
            refused_output = delivery.topic == self.settings.output_topic
            self._refused[where] = "dead_letter" if refused_output else "no_value"
            log.warning("%s refused as too large (%s)", delivery.topic, error)

    def _abort(self) -> None:
        try:
            self.producer.abort_transaction(TRANSACTION_TIMEOUT_SECONDS)
        except KafkaException as exc:
            if exc.args[0].fatal():
                raise FatalClientError(f"fenced: {exc.args[0]}") from None
            log.warning("abort failed: %s", exc)

    def _after_batch(self) -> None:
        self.producer.poll(0)

    def _drain(self) -> None:
        """Nothing is in flight between batches: every batch ends committed or aborted."""

    def _drain_for_cleanup(self) -> None:
        """As for _drain."""

    def _revoked(self, partitions: set[TopicPartitionKey]) -> None:
        self._refused = {k: v for k, v in self._refused.items() if k[0] not in partitions}


def _next_positions(batch: list[RawMessage]) -> list[TopicPartition]:
    positions: dict[TopicPartitionKey, int] = {}
    for message in batch:
        key = (message.source.topic, message.source.partition)
        positions[key] = max(positions.get(key, -1), message.source.offset + 1)
    return [TopicPartition(topic, part, offset) for (topic, part), offset in positions.items()]
