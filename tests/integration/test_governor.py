"""The memory governor on a real broker, with a real RSS probe.

The processor runs in this test's process (in a thread), so a ballast that the test
allocates raises the very RSS the governor reads: crossing the high threshold is real,
and so are the pause, the cleanup, and the resume once the ballast is released.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from confluent_kafka import Consumer

from stream_segmenter.app import App, build_app
from stream_segmenter.config import load_settings
from stream_segmenter.corpus import read_conllu
from stream_segmenter.governor.probe import MemoryProbe
from tests.integration.helpers import Record, TopicWatcher, produce_all

pytestmark = pytest.mark.integration

BALLAST_MB = 400


def documents(ewt_test, copies: int, tag: str) -> list[tuple[bytes, bytes]]:
    """EWT documents, each copy with its own doc_id so every output can be counted."""
    base = list(read_conllu(ewt_test))
    events = []
    for copy in range(copies):
        for document in base:
            doc_id = f"{document.doc_id}#{tag}{copy}"
            events.append(
                (doc_id.encode(), json.dumps({"doc_id": doc_id, "text": document.text}).encode())
            )
    return events


def telemetry(watcher: TopicWatcher, topic: str) -> list[dict]:
    return [json.loads(r.value) for r in watcher.snapshot(topic)]


def state_changes(events: list[dict], to: str) -> list[dict]:
    return [e for e in events if e["type"] == "state_change" and e["state"] == to]


def epoch_ms(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp() * 1000


@contextmanager
def running_app(monkeypatch, kafka_bootstrap: str, topics: dict[str, str]) -> Iterator[App]:
    baseline = MemoryProbe().rss_mb()
    env = {
        **topics,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "MEMORY_THRESHOLD_MB": f"{baseline + 150:.0f}",
        "HIGH_MEMORY_THRESHOLD_MB": f"{baseline + 250:.0f}",
        "TELEMETRY_INTERVAL": "0.5",
        "CRITICAL_RETRY_SECONDS": "0.5",
        "COMMIT_INTERVAL_SECONDS": "0.2",
        "BATCH_SIZE": "16",
        "ADMIN_ADDRESS": "127.0.0.1:0",
        "INSTANCE_ID": "governor-test",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = build_app(load_settings())
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        app.loop.stop()
        thread.join(60)
        assert not thread.is_alive(), "processor did not stop"


def allocate_ballast() -> bytearray:
    ballast = bytearray(BALLAST_MB * 2**20)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # touch every page
    return ballast


def http(app: App, path: str, method: str = "GET") -> tuple[int, bytes]:
    assert app.admin is not None
    request = urllib.request.Request(f"http://{app.admin.address}{path}", method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.read()


def assert_each_exactly_once(outputs: list[Record], events: list[tuple[bytes, bytes]]) -> None:
    counts = Counter(json.loads(r.value)["doc_id"] for r in outputs)
    expected = Counter(key.decode() for key, _ in events)
    assert counts == expected, (
        f"missing {sorted(expected - counts)[:5]}, duplicated {sorted(counts - expected)[:5]}"
    )


def test_critical_pauses_cleans_up_and_resumes_losing_nothing(
    monkeypatch, kafka_bootstrap, topics, ewt_test
):
    first, second = documents(ewt_test, 3, "a"), documents(ewt_test, 3, "b")
    watcher = TopicWatcher(kafka_bootstrap, [topics["OUTPUT_TOPIC"], topics["TELEMETRY_TOPIC"]])
    output_topic, telemetry_topic = topics["OUTPUT_TOPIC"], topics["TELEMETRY_TOPIC"]
    try:
        produce_all(kafka_bootstrap, topics["INPUT_TOPIC"], first)
        with running_app(monkeypatch, kafka_bootstrap, topics) as app:
            watcher.wait_for(lambda r: len([x for x in r if x.topic == output_topic]) >= 200,
                             60, "first outputs")  # fmt: skip
            ballast = allocate_ballast()  # documents are still streaming
            watcher.wait_for(
                lambda _: state_changes(telemetry(watcher, telemetry_topic), "critical"),
                30, "the critical state change",
            )  # fmt: skip
            produce_all(kafka_bootstrap, topics["INPUT_TOPIC"], second)  # arrives while paused
            watcher.wait_for(
                lambda _: any(e["still_above_high"] for e in telemetry(watcher, telemetry_topic)),
                30, "a snapshot saying it is still above the high threshold",
            )  # fmt: skip
            status, body = http(app, "/memory-stats")
            stats = json.loads(body)
            assert status == 200 and stats["state"] == "critical"
            assert stats["partitions"]["paused"] == stats["partitions"]["assigned"] != []
            status, metrics = http(app, "/metrics")
            assert b'segmenter_memory_state{state="critical"} 1.0' in metrics
            outputs_while_paused = len(watcher.snapshot(output_topic))
            del ballast
            watcher.wait_for(
                lambda r: sum(x.topic == output_topic for x in r) >= len(first) + len(second),
                120, "every output after the resume",
            )  # fmt: skip
            status, body = http(app, "/optimize-memory", method="POST")
            assert status == 200 and json.loads(body)["kind"] == "manual"
        events = telemetry(watcher, telemetry_topic)
    finally:
        watcher.close()

    assert outputs_while_paused < len(first) + len(second)
    critical = state_changes(events, "critical")[0]
    normal = next(e for e in state_changes(events, "normal") if e["at"] > critical["at"])
    cleanups = [e["cleanup"] for e in events if e["type"] == "cleanup"]
    aggressive = [c for c in cleanups if c["kind"] == "aggressive"]
    assert aggressive and all(c["rss_before_mb"] > 0 and c["rss_after_mb"] > 0 for c in aggressive)
    assert aggressive[0]["rss_after_mb"] > critical["thresholds"]["high_memory_mb"]  # ballast held
    assert normal["rss_mb"] <= critical["thresholds"]["memory_mb"]  # resumed only below low
    assert any(a.startswith("cache_cleared") for a in aggressive[0]["actions"])
    assert any(c["kind"] == "manual" for c in cleanups)
    # Nothing came out between the pause and the resume.
    outputs = watcher.snapshot(output_topic)
    paused_from, paused_to = epoch_ms(critical["at"]), epoch_ms(normal["at"])
    assert [r for r in outputs if paused_from < r.timestamp_ms < paused_to] == []
    assert_each_exactly_once(outputs, first + second)


def test_a_rebalance_during_critical_keeps_every_owned_partition_paused(
    monkeypatch, kafka_bootstrap, topics, ewt_test
):
    events_in = documents(ewt_test, 4, "r")
    output_topic, telemetry_topic = topics["OUTPUT_TOPIC"], topics["TELEMETRY_TOPIC"]
    watcher = TopicWatcher(kafka_bootstrap, [output_topic, telemetry_topic])
    try:
        produce_all(kafka_bootstrap, topics["INPUT_TOPIC"], events_in)
        with running_app(monkeypatch, kafka_bootstrap, topics):
            watcher.wait_for(lambda r: len(r) > 100, 60, "first outputs")
            ballast = allocate_ballast()
            watcher.wait_for(
                lambda _: state_changes(telemetry(watcher, telemetry_topic), "critical"),
                30, "the critical state change",
            )  # fmt: skip
            # A second member joins the group: partitions move, ours must stay paused.
            joiner = Consumer(
                {
                    "bootstrap.servers": kafka_bootstrap,
                    "group.id": topics["GROUP_ID"],
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                }
            )
            joiner.subscribe([topics["INPUT_TOPIC"]])
            stop_joiner = threading.Event()

            def keep_polling() -> None:
                while not stop_joiner.is_set():
                    joiner.poll(0.2)  # stays in the group, commits nothing

            polling = threading.Thread(target=keep_polling, daemon=True)
            polling.start()

            def rebalanced_and_paused(_: list[Record]) -> bool:
                snapshots = [
                    e for e in telemetry(watcher, telemetry_topic) if e["type"] == "snapshot"
                ]
                latest = snapshots[-1] if snapshots else None
                return bool(
                    latest
                    and 0 < len(latest["partitions"]["assigned"]) < 3
                    and latest["partitions"]["paused"] == latest["partitions"]["assigned"]
                )

            watcher.wait_for(rebalanced_and_paused, 60, "a smaller assignment, all paused")
            outputs_before = len(watcher.snapshot(output_topic))
            stop_joiner.set()
            polling.join(10)
            joiner.close()  # leaves: everything comes back to us, still paused

            def all_back_and_paused(_: list[Record]) -> bool:
                snapshots = [
                    e for e in telemetry(watcher, telemetry_topic) if e["type"] == "snapshot"
                ]
                partitions = snapshots[-1]["partitions"] if snapshots else {"assigned": []}
                return (
                    len(partitions["assigned"]) == 3
                    and partitions["paused"] == partitions["assigned"]
                )

            watcher.wait_for(all_back_and_paused, 60, "all three partitions back, all paused")
            assert len(watcher.snapshot(output_topic)) == outputs_before  # nothing while paused
            del ballast
            watcher.wait_for(
                lambda r: len([x for x in r if x.topic == output_topic]) >= len(events_in),
                120, "every output after recovery",
            )  # fmt: skip
    finally:
        watcher.close()
    assert_each_exactly_once(watcher.snapshot(output_topic), events_in)
