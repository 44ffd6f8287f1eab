"""The nasty corpus through the real broker: every bad payload in the dead-letter topic
with its reason, every good one segmented exactly, and the processor still running."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Producer

from stream_segmenter.kafka.clients import ensure_topics
from tests.hostile import OK, nasty_corpus
from tests.integration.helpers import ProcessorProcess, read_topics

pytestmark = pytest.mark.integration

BIG = {"max.message.bytes": str(12 * 2**20)}  # the input topic takes the 10 MB value


def test_nasty_payloads_through_the_broker(kafka_bootstrap, topics):
    topics = {**topics, "INPUT_TOPIC": topics["INPUT_TOPIC"] + ".big"}
    ensure_topics(kafka_bootstrap, [topics["INPUT_TOPIC"]], 3, topic_config=BIG)
    corpus = nasty_corpus()
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.max.bytes": 12 * 2**20})
    for key, value, _ in corpus:
        producer.produce(topics["INPUT_TOPIC"], key=key, value=value)
    assert producer.flush(60) == 0

    with ProcessorProcess(kafka_bootstrap, topics) as processor:
        records = read_topics(
            kafka_bootstrap, [topics["OUTPUT_TOPIC"], topics["DLQ_TOPIC"]],
            done=lambda got: len(got) >= len(corpus), timeout=300, settle=2,
        )  # fmt: skip
        assert processor.running(), processor.output()
        assert processor.stop() == 0, processor.output()

    outputs = {json.loads(r.value)["doc_id"]: json.loads(r.value) for r in records
               if r.topic == topics["OUTPUT_TOPIC"]}  # fmt: skip
    letters = {r.key: r for r in records if r.topic == topics["DLQ_TOPIC"]}
    assert len(outputs) + len(letters) == len(corpus) == len(records)
    for key, value, expected in corpus:
        if expected == OK:
            output = outputs[key.decode()]
            text = json.loads(value.decode("utf-8-sig"))["text"]
            assert all(text[s["start"] : s["end"]] == s["text"] for s in output["segments"])
            assert output["segments"]
        else:
            letter = letters[key]
            assert letter.headers["error.kind"].decode() == expected, key
            assert letter.headers["error.reason"]
            if len(value) < 2**20:
                assert letter.value == value
            else:  # larger than the dead-letter topic takes: accounted for without its value
                assert letter.value is None and letter.headers["error.value_dropped"]
