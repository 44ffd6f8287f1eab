"""A document the broker accepted, whose output and even dead letter it refuses as too large:
the input is still accounted for (a dead letter without its value) and the partition moves on."""

from __future__ import annotations

import hashlib
import json
import random

import pytest
from confluent_kafka import Producer

from stream_segmenter.kafka.clients import ensure_topics
from tests.integration.helpers import ProcessorProcess, read_topics

pytestmark = pytest.mark.integration

LIMIT = 500_000  # max.message.bytes of the output and dead-letter topics


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_a_dead_letter_too_large_for_the_broker_is_sent_without_its_value(
    kafka_bootstrap, topics, guarantee
):
    small = {"max.message.bytes": str(LIMIT)}
    topics = {**topics, "OUTPUT_TOPIC": topics["OUTPUT_TOPIC"] + ".small",
              "DLQ_TOPIC": topics["DLQ_TOPIC"] + ".small"}  # fmt: skip
    ensure_topics(
        kafka_bootstrap, [topics["OUTPUT_TOPIC"], topics["DLQ_TOPIC"]], 1, topic_config=small
    )
    rng = random.Random(5)  # random CJK characters: nothing for compression to find
    text = "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(230_000)) + "。"
    value = json.dumps({"doc_id": "huge", "text": text}, ensure_ascii=False).encode()
    assert LIMIT < len(value) < 1_000_000  # the input topic takes it
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "compression.type": "none"})
    producer.produce(topics["INPUT_TOPIC"], key=b"huge", value=value, partition=0)
    after = json.dumps({"doc_id": "after", "text": "Still here."}).encode()
    producer.produce(topics["INPUT_TOPIC"], key=b"after", value=after, partition=0)
    assert producer.flush(30) == 0

    with ProcessorProcess(kafka_bootstrap, topics, PROCESSING_GUARANTEE=guarantee) as processor:
        records = read_topics(
            kafka_bootstrap, [topics["OUTPUT_TOPIC"], topics["DLQ_TOPIC"]],
            done=lambda got: len(got) >= 2, timeout=120, settle=2,
        )  # fmt: skip
        assert processor.stop(timeout=60) == 0, processor.output()
        assert "stopped: 1 documents, 1 segments, 1 dead letters" in processor.output()

    [letter] = [r for r in records if r.topic == topics["DLQ_TOPIC"]]
    assert letter.key == b"huge" and letter.value is None
    assert letter.headers["error.kind"] == b"output_rejected"
    assert letter.headers["error.value_dropped"].startswith(f"{len(value)} bytes".encode())
    assert letter.headers["error.value_sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert [r.key for r in records if r.topic == topics["OUTPUT_TOPIC"]] == [b"after"]
