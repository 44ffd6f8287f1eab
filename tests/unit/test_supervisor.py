"""The supervisor applies the state machine to a consumer: a scripted RSS, a recording
consumer and producer stand in for psutil and Kafka (the real broker is in integration)."""

from __future__ import annotations

import json
import threading
import time

from confluent_kafka import TopicPartition

from stream_segmenter.cache import ResultCache
from stream_segmenter.governor.cleanup import Cleaner
from stream_segmenter.governor.state import MemoryStateMachine
from stream_segmenter.governor.supervisor import Counters, MemoryLimit, MemorySupervisor
from stream_segmenter.models.pool import ModelPool
from stream_segmenter.telemetry import TelemetryPublisher


class ScriptedMemory:
    """Returns the scripted readings in order, then repeats the last one."""

    def __init__(self, *readings: float) -> None:
        self.readings = list(readings)

    def __call__(self) -> float:
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]

    def then(self, *readings: float) -> None:
        self.readings = list(readings)


class RecordingConsumer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []

    def assign(self, partitions):
        self.calls.append(("assign", [tp.partition for tp in partitions]))

    def pause(self, partitions):
        self.calls.append(("pause", [tp.partition for tp in partitions]))

    def resume(self, partitions):
        self.calls.append(("resume", [tp.partition for tp in partitions]))


class RecordingProducer:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def produce(self, topic, key, value):
        self.events.append(json.loads(value))

    def poll(self, _):
        return 0

    def flush(self, _=None):
        return 0


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def make_supervisor(memory: ScriptedMemory):
    cache = ResultCache(100, 10**6)
    cache.put(b"k" * 16, ((0, 1),))
    pool = ModelPool({})
    pool.get("en")
    producer = RecordingProducer()
    clock = Clock()
    drains: list[int] = []
    supervisor = MemorySupervisor(
        MemoryStateMachine(100, 200, light_every=10, retry_every=5),
        Cleaner(cache, pool, memory),
        memory,
        MemoryLimit(512.0, "configured"),
        TelemetryPublisher(producer, "telemetry", "instance-1"),  # type: ignore[arg-type]
        "instance-1",
        Counters(),
        telemetry_interval=1000,
        gc_interval=0,
        clock=clock,
    )
    consumer = RecordingConsumer()
    supervisor.attach(consumer, drain=lambda: drains.append(1))  # type: ignore[arg-type]
    supervisor.on_assign(consumer, [TopicPartition("in", 0), TopicPartition("in", 1)])  # type: ignore[arg-type]
    consumer.calls.clear()
    return supervisor, consumer, producer, clock, drains


def test_critical_pauses_drains_cleans_and_resumes_below_low():
    memory = ScriptedMemory(250, 250, 90)  # tick reading, cleanup before, cleanup after
    supervisor, consumer, producer, _, drains = make_supervisor(memory)
    supervisor.tick()
    assert consumer.calls == [("pause", [0, 1]), ("resume", [0, 1])]
    assert drains == [1]
    assert len(supervisor.cache) == 0 and supervisor.pool.loaded_languages == []
    kinds = [(e["type"], e["state"]) for e in producer.events]
    assert kinds == [
        ("state_change", "critical"),
        ("cleanup", "critical"),
        ("state_change", "normal"),
    ]
    cleanup = producer.events[1]["cleanup"]
    assert (cleanup["rss_before_mb"], cleanup["rss_after_mb"], cleanup["freed_mb"]) == (
        250,
        90,
        160,
    )
    assert "cache_cleared:1" in cleanup["actions"] and "model_unloaded:en" in cleanup["actions"]
    assert producer.events[0]["partitions"]["paused"] == ["in[0]", "in[1]"]
    assert producer.events[2]["partitions"]["paused"] == []


def test_stays_paused_while_still_above_high_and_says_so():
    memory = ScriptedMemory(250, 250, 240)
    supervisor, consumer, producer, clock, _ = make_supervisor(memory)
    supervisor.tick()
    assert consumer.calls == [("pause", [0, 1])]
    assert producer.events[-1]["still_above_high"] is True
    clock.now = 2
    memory.then(150)  # below high, above low: still critical, no retry yet
    supervisor.tick()
    assert supervisor.state == "critical" and consumer.calls == [("pause", [0, 1])]
    # A rebalance while critical: the new assignment is paused at once.
    supervisor.on_revoke([TopicPartition("in", 0), TopicPartition("in", 1)])
    supervisor.on_assign(consumer, [TopicPartition("in", 2)])  # type: ignore[arg-type]
    assert consumer.calls[-2:] == [("assign", [2]), ("pause", [2])]
    clock.now = 6
    memory.then(150, 150, 95)  # retry due: aggressive again, now below low
    supervisor.tick()
    assert consumer.calls[-1] == ("resume", [2])
    assert supervisor.state == "normal" and supervisor.paused == set()


def test_elevated_runs_a_light_cleanup_without_pausing():
    memory = ScriptedMemory(150)
    supervisor, consumer, producer, _, drains = make_supervisor(memory)
    supervisor.tick()
    assert consumer.calls == [] and drains == []
    assert [e["type"] for e in producer.events] == ["state_change", "cleanup"]
    assert producer.events[1]["cleanup"]["kind"] == "light"
    assert supervisor.pool.loaded_languages == ["en"]  # not idle yet: kept


def test_manual_cleanup_from_another_thread_pauses_and_resumes():
    memory = ScriptedMemory(50)
    supervisor, consumer, producer, _, drains = make_supervisor(memory)
    reports = []
    caller = threading.Thread(target=lambda: reports.append(supervisor.request_cleanup(10)))
    caller.start()
    while not supervisor._manual:  # the admin thread has queued its request
        time.sleep(0.01)
    supervisor.tick()
    caller.join(10)
    assert [report.kind for report in reports] == ["manual"]
    assert consumer.calls == [("pause", [0, 1]), ("resume", [0, 1])]
    assert drains == [1] and producer.events[0]["cleanup"]["kind"] == "manual"


def test_idle_models_are_unloaded_in_any_state():
    memory = ScriptedMemory(50)
    supervisor, consumer, producer, clock, _ = make_supervisor(memory)
    supervisor.pool.idle_seconds = 0  # everything loaded counts as idle
    clock.now = 11  # the idle check is due
    supervisor.tick()
    assert supervisor.pool.loaded_languages == [] and supervisor.state == "normal"
    [event] = producer.events
    assert event["cleanup"]["kind"] == "idle_models"
    assert event["cleanup"]["actions"] == ["model_unloaded:en"]
    assert consumer.calls == []


def test_critical_mid_batch_pauses_now_and_cleans_up_at_the_batch_end():
    memory = ScriptedMemory(250)
    supervisor, consumer, producer, _, drains = make_supervisor(memory)
    supervisor.tick(mid_batch=True)
    assert consumer.calls == [("pause", [0, 1])] and drains == []
    assert [e["type"] for e in producer.events] == ["state_change"]
    assert producer.events[0]["still_above_high"] is False  # nothing cleaned yet
    memory.then(250, 250, 90)  # batch end: reading, cleanup before, after
    supervisor.tick()
    assert drains == [1] and consumer.calls[-1] == ("resume", [0, 1])
    assert [e["type"] for e in producer.events] == ["state_change", "cleanup", "state_change"]


def test_stuck_in_critical_gives_up_after_critical_exit_seconds():
    memory = ScriptedMemory(250)
    supervisor, _, producer, clock, _ = make_supervisor(memory)
    supervisor.critical_exit_seconds = 30
    gave_up = []
    supervisor.give_up = lambda: gave_up.append(clock.now)
    for now in (0, 10, 20, 29):
        clock.now = now
        supervisor.tick()
    assert gave_up == []
    clock.now = 31
    supervisor.tick()
    clock.now = 40
    supervisor.tick()
    assert gave_up == [31] and supervisor.gave_up
    [farewell] = [e for e in producer.events if "CRITICAL_EXIT_SECONDS=30" in (e["reason"] or "")]
    assert farewell["type"] == "state_change" and farewell["state"] == "critical"
