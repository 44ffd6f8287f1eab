"""Real text through a real broker: one output per document, offsets that slice the input,
the same segments as the in-process segmenter, and clean commits across a restart."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from stream_segmenter.app import build_document_processor
from stream_segmenter.config import Settings
from stream_segmenter.corpus import read_events
from stream_segmenter.events import SourceRef
from stream_segmenter.process import RawMessage
from tests.integration.helpers import ProcessorProcess, produce_all, read_topics

pytestmark = pytest.mark.integration


def in_process_spans(events: list[tuple[bytes, bytes]]) -> dict[str, list[tuple[int, int]]]:
    processor = build_document_processor(Settings())  # type: ignore[call-arg]
    batch = [RawMessage(k, v, SourceRef(topic="local", partition=0, offset=i))
             for i, (k, v) in enumerate(events)]  # fmt: skip
    spans = {}
    for outcome in processor.process(batch):
        assert outcome.output is not None, outcome.error
        event = json.loads(outcome.output)
        spans[event["doc_id"]] = [(s["start"], s["end"]) for s in event["segments"]]
    return spans


def test_every_ewt_document_comes_out_once_with_exact_offsets(kafka_bootstrap, topics, ewt_test):
    events = list(read_events(ewt_test))
    texts = {json.loads(value)["doc_id"]: json.loads(value)["text"] for _, value in events}
    assert len(texts) == len(events) == 316
    produce_all(kafka_bootstrap, topics["INPUT_TOPIC"], events)

    with ProcessorProcess(kafka_bootstrap, topics) as processor:
        records = read_topics(
            kafka_bootstrap,
            [topics["OUTPUT_TOPIC"], topics["DLQ_TOPIC"]],
            done=lambda got: len(got) >= len(events),
            timeout=180,
            settle=3,
        )
        assert processor.running(), processor.output()
        assert processor.stop() == 0, processor.output()

    assert [r for r in records if r.topic == topics["DLQ_TOPIC"]] == []
    outputs = [json.loads(r.value) for r in records]
    assert Counter(o["doc_id"] for o in outputs) == Counter(list(texts))  # each exactly once
    assert all(r.key == json.loads(r.value)["doc_id"].encode() for r in records)
    assert sorted((o["source"]["partition"], o["source"]["offset"]) for o in outputs) == sorted(
        {(o["source"]["partition"], o["source"]["offset"]) for o in outputs}
    )

    expected = in_process_spans(events)
    total_segments = 0
    for output in outputs:
        text = texts[output["doc_id"]]
        assert output["lang"] == "en" and output["model"]["name"] == "blank_en"
        assert output["source"]["topic"] == topics["INPUT_TOPIC"]
        for index, segment in enumerate(output["segments"]):
            assert segment["index"] == index
            assert text[segment["start"] : segment["end"]] == segment["text"]
            assert segment["text"].strip() == segment["text"] != ""
        assert [(s["start"], s["end"]) for s in output["segments"]] == expected[output["doc_id"]]
        total_segments += len(output["segments"])
    assert total_segments > len(outputs)


def test_restart_after_sigterm_resumes_from_the_commit(kafka_bootstrap, topics, ewt_test):
    """SIGTERM flushes and commits: a second start processes only what came after."""
    events = list(read_events(ewt_test))
    first, second = events[:200], events[200:]
    produce_all(kafka_bootstrap, topics["INPUT_TOPIC"], first)
    output_topics = [topics["OUTPUT_TOPIC"], topics["DLQ_TOPIC"]]

    with ProcessorProcess(kafka_bootstrap, topics) as processor:
        read_topics(kafka_bootstrap, output_topics, lambda got: len(got) >= len(first), 180)
        assert processor.stop() == 0, processor.output()
        assert "stopped: 200 documents" in processor.output()

    produce_all(kafka_bootstrap, topics["INPUT_TOPIC"], second)
    with ProcessorProcess(kafka_bootstrap, topics) as processor:
        records = read_topics(
            kafka_bootstrap, output_topics, lambda got: len(got) >= len(events), 180, settle=3
        )
        assert processor.stop() == 0, processor.output()
        assert f"stopped: {len(second)} documents" in processor.output()

    doc_ids = Counter(json.loads(r.value)["doc_id"] for r in records)
    assert doc_ids == Counter(json.loads(value)["doc_id"] for _, value in events)


def test_two_workers_share_the_partitions_and_stop_together(kafka_bootstrap, topics, ewt_test):
    events = list(read_events(ewt_test))
    produce_all(kafka_bootstrap, topics["INPUT_TOPIC"], events)
    watched = [topics["OUTPUT_TOPIC"], topics["TELEMETRY_TOPIC"]]
    with ProcessorProcess(
        kafka_bootstrap, topics, "--workers", "2", TELEMETRY_INTERVAL="0.5",
        ADMIN_ADDRESS="off", INSTANCE_ID="pair",
        # Static membership: each worker needs its own id, or one fences the other.
        KAFKA_GROUP_INSTANCE_ID="pair-static",
    ) as processor:  # fmt: skip

        def both_busy(records) -> bool:
            outputs = [r for r in records if r.topic == topics["OUTPUT_TOPIC"]]
            owners = {
                json.loads(r.value)["instance_id"]
                for r in records
                if r.topic == topics["TELEMETRY_TOPIC"]
                and json.loads(r.value)["partitions"]["assigned"]
            }
            return len(outputs) >= len(events) and owners == {"pair-w0", "pair-w1"}

        records = read_topics(kafka_bootstrap, watched, both_busy, timeout=180, settle=2)
        assert processor.stop() == 0, processor.output()
        assert processor.output().count("stopped: ") == 2

    outputs = [json.loads(r.value) for r in records if r.topic == topics["OUTPUT_TOPIC"]]
    assert Counter(o["doc_id"] for o in outputs) == Counter(
        json.loads(value)["doc_id"] for _, value in events
    )


def test_sigterm_during_start_up_is_a_clean_exit(kafka_bootstrap, topics):
    # From the moment the handler is installed (~60 ms in); before that the interpreter is
    # still starting, nothing can catch a signal, and nothing is consumed. A fixed 0.3 s
    # after spawning was once not enough on a loaded machine (the process died of it).
    for delay in (0.0, 0.3, 1.0, 2.0):
        with ProcessorProcess(kafka_bootstrap, topics, ADMIN_ADDRESS="off") as processor:
            processor.wait_catching_sigterm()
            time.sleep(delay)
            assert processor.stop() == 0, processor.output()
