"""Nothing lost: SIGKILL at random moments, a broker restart, members joining and leaving,
SIGTERM mid-stream — each on the real broker with a stream of over 5,000 documents."""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from contextlib import contextmanager

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from stream_segmenter.corpus import read_conllu
from tests.integration.helpers import ProcessorProcess, TopicWatcher, doc_ids, produce_all

pytestmark = pytest.mark.integration

COPIES = 16  # 316 EWT documents × 16 = 5,056
# A killed member is noticed after the session timeout: 6 s (the broker's minimum) rather
# than librdkafka's 45 s keeps these tests short; it changes when, not what, is processed.
FAST_FAILOVER = {"KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "1000"}


def stream(ewt_test, copies: int = COPIES) -> list[tuple[bytes, bytes]]:
    events = []
    for copy in range(copies):
        for document in read_conllu(ewt_test):
            doc_id = f"{document.doc_id}#{copy}"
            events.append(
                (doc_id.encode(), json.dumps({"doc_id": doc_id, "text": document.text}).encode())
            )
    return events


@contextmanager
def published(kafka_bootstrap, topics, ewt_test, read_committed: bool = False, copies=COPIES):
    """The 5,056-document stream (by default) published, and a watcher of the output topic."""
    events = stream(ewt_test, copies)
    produce_all(kafka_bootstrap, topics["INPUT_TOPIC"], events)
    output = topics["OUTPUT_TOPIC"]
    watcher = TopicWatcher(kafka_bootstrap, [output], read_committed=read_committed)

    def reach(count: int) -> None:
        watcher.wait_for(lambda _: distinct_outputs(watcher, output) >= count, 180, f"{count}")

    try:
        yield events, output, watcher, reach
    finally:
        watcher.close()


def distinct_outputs(watcher: TopicWatcher, topic: str) -> int:
    return len(set(doc_ids(watcher.snapshot(topic), topic)))


def finish(watcher: TopicWatcher, topic: str, events, processor: ProcessorProcess) -> Counter:
    """Wait until every document has an output, a little longer for stragglers, then stop."""
    watcher.wait_for(lambda _: distinct_outputs(watcher, topic) >= len(events), 240, "every output")
    time.sleep(3)
    assert processor.stop() == 0, processor.output()
    return Counter(doc_ids(watcher.snapshot(topic), topic))


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_sigkill_at_random_moments(kafka_bootstrap, topics, ewt_test, guarantee):
    env = {"PROCESSING_GUARANTEE": guarantee, "BATCH_SIZE": "4", **FAST_FAILOVER,
           "TRANSACTIONAL_ID": f"{topics['GROUP_ID']}-tx", "ADMIN_ADDRESS": "off"}  # fmt: skip
    marks = sorted(random.Random(11).sample(range(300, 4000), 3))
    with published(kafka_bootstrap, topics, ewt_test, read_committed=True) as (
        events, output, watcher, reach,
    ):  # fmt: skip
        for mark in marks:
            with ProcessorProcess(kafka_bootstrap, topics, **env) as processor:
                reach(mark)
                processor.process.send_signal(signal.SIGKILL)
                processor.process.wait(30)
        with ProcessorProcess(kafka_bootstrap, topics, **env) as processor:
            counts = finish(watcher, output, events, processor)
    expected = Counter(key.decode() for key, _ in events)
    assert set(counts) == set(expected)  # every document has an output
    if guarantee == "exactly-once":
        assert counts == expected  # and exactly one committed output each
    print(f"{guarantee}: kills at {marks}; {sum(counts.values()) - len(expected)} duplicates")


def test_broker_restart_mid_stream(kafka_bootstrap, topics, ewt_test, local_broker):
    with (
        published(kafka_bootstrap, topics, ewt_test) as (events, output, watcher, reach),
        ProcessorProcess(kafka_bootstrap, topics, BATCH_SIZE="4", ADMIN_ADDRESS="off") as processor,
    ):
        reach(1000)
        local_broker.stop()
        time.sleep(5)
        assert processor.running(), processor.output()  # waits for the broker
        local_broker.start()
        counts = finish(watcher, output, events, processor)
    assert set(counts) == {key.decode() for key, _ in events}


def test_members_join_and_leave_mid_stream(kafka_bootstrap, topics, ewt_test):
    env = {"BATCH_SIZE": "4", "ADMIN_ADDRESS": "off", **FAST_FAILOVER}
    with (
        published(kafka_bootstrap, topics, ewt_test) as (events, output, watcher, reach),
        ProcessorProcess(kafka_bootstrap, topics, **env) as first,
    ):
        reach(800)
        with ProcessorProcess(kafka_bootstrap, topics, **env) as second:
            second.wait_ready()
            reach(1600)
            with ProcessorProcess(kafka_bootstrap, topics, **env) as third:
                third.wait_ready()
                reach(2400)
                assert second.stop() == 0, second.output()
                reach(3200)
                assert third.stop() == 0, third.output()
        counts = finish(watcher, output, events, first)
    assert set(counts) == {key.decode() for key, _ in events}


# SIGTERM must land while input is left: on a faster machine the processor finished all
# 5,056 documents between the 2,000th output and the signal, and the test failed (it
# would otherwise have checked an idle processor). 40,448 leave it many seconds of work.
SIGTERM_COPIES = 128


def test_sigterm_mid_stream_commits_what_it_did(kafka_bootstrap, topics, ewt_test):
    with published(kafka_bootstrap, topics, ewt_test, copies=SIGTERM_COPIES) as (
        events, output, watcher, reach,
    ):  # fmt: skip
        with ProcessorProcess(
            kafka_bootstrap, topics, BATCH_SIZE="4", ADMIN_ADDRESS="off"
        ) as processor:
            reach(2000)
            assert processor.stop() == 0, processor.output()
            stopped = processor.output()
        done = int(stopped.split("stopped: ")[1].split(" documents")[0])
        print(f"SIGTERM after 2,000 outputs: {done:,} of {len(events):,} documents done")
        assert 2000 <= done < len(events)
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        request = [TopicPartition(topics["INPUT_TOPIC"], p) for p in range(3)]
        future = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(topics["GROUP_ID"], request)]
        )[topics["GROUP_ID"]]
        committed = sum(max(tp.offset, 0) for tp in future.result().topic_partitions)
        assert committed == done  # everything processed up to the exit, and only that
        with ProcessorProcess(kafka_bootstrap, topics, ADMIN_ADDRESS="off") as processor:
            counts = finish(watcher, output, events, processor)
            assert f"stopped: {len(events) - done} documents" in processor.output()
    assert counts == Counter(key.decode() for key, _ in events)  # none lost, none twice


def test_a_fenced_static_member_exits_and_the_other_finishes(kafka_bootstrap, topics, ewt_test):
    """Found in review: a member fenced by another with its group.instance.id got a
    consume error of code _FATAL (fatal() False), logged it as a warning and idled on,
    holding nothing, for good. It must exit, so that whatever runs it notices."""
    env = {"BATCH_SIZE": "4", "ADMIN_ADDRESS": "off", "KAFKA_GROUP_INSTANCE_ID": "same-id"}
    with (
        published(kafka_bootstrap, topics, ewt_test) as (events, output, watcher, reach),
        ProcessorProcess(kafka_bootstrap, topics, **env) as first,
    ):
        reach(500)
        with ProcessorProcess(kafka_bootstrap, topics, **env) as second:
            assert first.process.wait(60) == 1, first.output()
            assert "fatal client error, stopping" in first.output()
            counts = finish(watcher, output, events, second)
    assert set(counts) == {key.decode() for key, _ in events}


def test_a_fenced_transactional_instance_exits_and_the_other_finishes_exactly_once(
    kafka_bootstrap, topics, ewt_test
):
    """Found in review: under exactly-once, a producer fenced by another instance with its
    TRANSACTIONAL_ID went on to the batch's next chunk and died of the fatal error in a
    traceback. It must leave with one line and exit 1; the other writes each document
    exactly once."""
    env = {"BATCH_SIZE": "4", "ADMIN_ADDRESS": "off", "PROCESSING_GUARANTEE": "exactly-once",
           "TRANSACTIONAL_ID": f"{topics['GROUP_ID']}-same"}  # fmt: skip
    with (
        published(kafka_bootstrap, topics, ewt_test, read_committed=True) as (
            events, output, watcher, reach,
        ),
        ProcessorProcess(kafka_bootstrap, topics, **env) as first,
    ):  # fmt: skip
        reach(300)
        with ProcessorProcess(kafka_bootstrap, topics, **env) as second:
            assert first.process.wait(60) == 1, first.output()
            assert "fatal client error, stopping: fenced" in first.output()
            assert "Traceback" not in first.output()
            counts = finish(watcher, output, events, second)
    assert counts == Counter(key.decode() for key, _ in events)
