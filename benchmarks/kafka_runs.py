"""Runs through the real broker: throughput with 1 and N workers, latency at a fixed rate,
and the memory soak of this processor and of the naive baseline, RSS sampled every second."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil
from confluent_kafka import (
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    Message,
    Producer,
    TopicPartition,
)

from stream_segmenter.kafka.clients import ensure_topics

PROGRESS_EVERY_SECONDS = 5.0
# The paced source batches like a real upstream producer: librdkafka's default linger
# (5 ms). With 0, each document is a request of its own and the broker, sharing the two
# cores, spent 0.85 of a core at 2,500 documents/s on them (0.42 at 3,000 with 5 ms).
# The send time is stamped before the linger, so latency includes it.
SOURCE_LINGER_MS = 5


def fresh_topics(
    bootstrap: str, label: str, topic_config: dict[str, str] | None = None
) -> dict[str, str]:
    run = f"bench-{label}-{uuid.uuid4().hex[:6]}"
    topics = {
        "INPUT_TOPIC": f"{run}.documents",
        "OUTPUT_TOPIC": f"{run}.segments",
        "DLQ_TOPIC": f"{run}.dlq",
        "TELEMETRY_TOPIC": f"{run}.telemetry",
    }
    ensure_topics(bootstrap, topics.values(), partitions=4, topic_config=topic_config)
    return {**topics, "GROUP_ID": run}


def publish(bootstrap: str, topic: str, events: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 50, "compression.type": "lz4"}
    )
    last = time.monotonic()
    for number, (key, value) in enumerate(events, start=1):
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.1)
        if time.monotonic() - last > PROGRESS_EVERY_SECONDS:
            last = time.monotonic()
            print(f"    published {number:,}/{len(events):,}", flush=True)
    assert producer.flush(120) == 0


def local_broker(bootstrap: str) -> psutil.Process | None:
    """The Kafka broker process listening on the bootstrap port on this machine, if any
    (None for a remote broker): its CPU is reported beside the workers', since on one
    machine they share the cores."""
    host, _, port_text = bootstrap.split(",")[0].strip().rpartition(":")
    host, port = (host, int(port_text)) if port_text.isdigit() else (port_text, 9092)
    if not is_this_machine(host.strip("[]")):
        return None
    for process in psutil.process_iter(["cmdline"]):
        if "kafka.Kafka" not in (process.info["cmdline"] or []):
            continue
        try:
            listening = {
                c.laddr.port for c in process.net_connections("tcp") if c.status == "LISTEN"
            }
        except psutil.Error:
            continue
        if port in listening:
            return process
    return None


def is_this_machine(host: str) -> bool:
    """Whether `host` names this machine: loopback, its hostname or one of its addresses."""
    if host in ("localhost", socket.gethostname()) or host.startswith("127.") or host == "::1":
        return True
    addresses = {a.address for nic in psutil.net_if_addrs().values() for a in nic}
    return host in addresses


def cpu_seconds(processes: list[psutil.Process]) -> float | None:
    """User + system CPU seconds of `processes`; None if one of them has gone."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return None
        total += times.user + times.system
    return total


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot. Guest time is already in
    user time, and steal time (the hypervisor's) was never this machine's to use."""
    times = psutil.cpu_times()
    extra = {name: getattr(times, name, 0.0) for name in ("iowait", "guest", "guest_nice", "steal")}
    idle = times.idle + extra["iowait"]
    return sum(times) - idle - extra["guest"] - extra["guest_nice"] - extra["steal"], idle


@dataclass(frozen=True)
class CpuSample:
    at: float  # epoch seconds
    pids: frozenset[int]  # the processor's process tree
    processor: float | None  # CPU seconds so far (None: a process had gone)
    broker: float | None
    busy: float  # the whole machine's busy and idle CPU seconds so far
    idle: float


@dataclass(frozen=True)
class CoreUse:
    """Cores used on average over a window; `other` is everything else that ran (the
    harness, the system, other programs), `idle` what nobody used."""

    processor: float
    broker: float | None  # None: no broker on this machine listens on the bootstrap port
    other: float
    idle: float


class RssSampler(threading.Thread):
    """RSS of a process and its children (workers), once a second; with it the CPU
    seconds they, the local broker and the whole machine have used, to tell who used the
    cores when."""

    def __init__(self, pid: int, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.broker = local_broker(bootstrap)
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MB)
        self.cpu: list[CpuSample] = []
        self.done = threading.Event()
        self.started = time.monotonic()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                processes = [self.process, *self.process.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in processes if p.is_running())
            except psutil.Error:
                return
            busy, idle = machine_cpu_seconds()
            self.cpu.append(CpuSample(
                time.time(), frozenset(p.pid for p in processes), cpu_seconds(processes),
                cpu_seconds([self.broker]) if self.broker else None, busy, idle,
            ))  # fmt: skip
            self.samples.append((time.monotonic() - self.started, rss / 2**20))
            self.done.wait(1.0)

    def cores(self, begin: float, end: float) -> CoreUse | None:
        """Cores used on average between two epoch times; None where the samples do not
        cover the window (to within 1.5 s at each end) or the processor's processes
        changed inside it (a worker that exits takes its CPU seconds with it)."""
        inside = [sample for sample in self.cpu if begin <= sample.at <= end]
        if len(inside) < 2 or inside[0].at > begin + 1.5 or inside[-1].at < end - 1.5:
            return None
        first, last = inside[0], inside[-1]
        if first.pids != last.pids or first.processor is None or last.processor is None:
            return None
        seconds = last.at - first.at
        processor = (last.processor - first.processor) / seconds
        broker = (
            (last.broker - first.broker) / seconds
            if first.broker is not None and last.broker is not None
            else None
        )
        busy = (last.busy - first.busy) / seconds
        return CoreUse(
            processor, broker, max(0.0, busy - processor - (broker or 0.0)),
            (last.idle - first.idle) / seconds,
        )  # fmt: skip


@dataclass
class RunResult:
    documents: int
    docs_per_second: float
    rss: list[tuple[float, float]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    exit_code: int | None = None
    # Cores used in the steady window; None if the samples do not cover it.
    cores: CoreUse | None = None


def start(
    command: list[str], bootstrap: str, topics: dict[str, str], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    full_env = {
        **os.environ, **topics, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ADMIN_ADDRESS": "off",
        "LOG_LEVEL": "WARNING", **env,
    }  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", *command], env=full_env)


def read_topic(
    bootstrap: str, topic: str, expected: int, timeout: float, label: str,
    rss: RssSampler | None = None,
) -> Iterator[Message]:  # fmt: skip
    """Each record of `topic` from the start, once per key (a repeat is skipped), until
    `expected` keys were read; raises if fewer arrive within `timeout`."""
    consumer = reader(bootstrap, topic)
    seen: set[bytes | None] = set()
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                if message.error() or message.key() in seen:
                    continue
                seen.add(message.key())
                yield message
            if time.monotonic() - last > PROGRESS_EVERY_SECONDS:
                last = time.monotonic()
                memory = f", RSS {rss.samples[-1][1]:,.0f} MB" if rss and rss.samples else ""
                print(f"    {label}: {len(seen):,}/{expected:,} records{memory}", flush=True)
    finally:
        consumer.close()
    if len(seen) < expected:
        raise RuntimeError(f"{label}: only {len(seen)} of {expected} records in {timeout}s")


def collect_outputs(
    bootstrap: str, topic: str, expected: int, timeout: float, label: str,
    rss: RssSampler | None = None, append_time: bool = False,
) -> tuple[list[int], dict[bytes, tuple[int, int]]]:  # fmt: skip
    """Output timestamps (ms) of each document once; key -> (send time, output timestamp)
    where metadata.sent_ms is set. With `append_time`, a record with a send time must
    carry the broker's append time, else the run is invalid."""
    stamps: list[int] = []
    sent_and_output: dict[bytes, tuple[int, int]] = {}
    for message in read_topic(bootstrap, topic, expected, timeout, label, rss):
        kind, stamp = message.timestamp()
        stamps.append(stamp)
        value = message.value()
        if b'"sent_ms"' in value:
            if append_time and kind != TIMESTAMP_LOG_APPEND_TIME:
                raise RuntimeError(f"{label}: {message.key()!r} has no broker append time")
            sent_and_output[message.key()] = (json.loads(value)["metadata"]["sent_ms"], stamp)
    return stamps, sent_and_output


def stop(process: subprocess.Popen[bytes]) -> int | None:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        return None


def throughput_run(
    bootstrap: str, label: str, events: list[tuple[bytes, bytes]], command: list[str],
    env: dict[str, str] | None = None, timeout: float = 1800,
) -> RunResult:  # fmt: skip
    """Publish everything first, then start the processor; rate from its output timestamps.

    While it runs, the harness only watches the output topic's end offsets, which costs
    next to nothing: reading every output as it came (as this harness first did) took
    CPU, its own and the broker's, from two workers that share the two cores with the
    broker. Outputs are read and checked once the count is reached.
    """
    topics = fresh_topics(bootstrap, label)
    publish(bootstrap, topics["INPUT_TOPIC"], events)
    process = start(command, bootstrap, topics, env or {})
    rss = RssSampler(process.pid, bootstrap)
    rss.start()
    try:
        wait_for_records(
            bootstrap, topics["OUTPUT_TOPIC"], len(events), timeout, label, rss, process
        )
        rss.done.set()  # memory while processing, not while idle or stopping
        # Still running: a transaction's markers count in the end offsets too, so under
        # exactly-once a few outputs may still be on their way when the count is reached.
        stamps, _ = collect_outputs(
            bootstrap, topics["OUTPUT_TOPIC"], len(events), 300, f"{label} read back"
        )
    finally:
        rss.done.set()
        code = stop(process)
    begin, end = steady_window(stamps)
    return RunResult(
        len(stamps), steady_rate(stamps), rss.samples, exit_code=code,
        cores=rss.cores(begin / 1000, end / 1000),
    )  # fmt: skip


def wait_for_records(
    bootstrap: str, topic: str, expected: int, timeout: float, label: str,
    rss: RssSampler | None = None, process: subprocess.Popen[bytes] | None = None,
) -> None:  # fmt: skip
    """Until `topic` holds at least `expected` records (the sum of its partitions' end
    offsets), looking twice a second; raises after `timeout`, or at once if `process`
    (the processor) has exited. A repeated record counts here too: the read-back
    afterwards counts each key once and waits for any missing."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while True:
            records = sum(
                consumer.get_watermark_offsets(TopicPartition(topic, number), timeout=10)[1]
                for number in partitions
            )
            if records >= expected:
                return
            if process is not None and process.poll() is not None:
                raise RuntimeError(
                    f"{label}: the processor exited with {process.returncode} "
                    f"after {records} of {expected} records"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: only {records} of {expected} records in {timeout}s")
            if time.monotonic() - last > PROGRESS_EVERY_SECONDS:
                last = time.monotonic()
                memory = f", RSS {rss.samples[-1][1]:,.0f} MB" if rss and rss.samples else ""
                print(f"    {label}: {records:,}/{expected:,} records{memory}", flush=True)
            time.sleep(0.5)
    finally:
        consumer.close()


def steady_rate(stamps: list[int]) -> float:
    """Documents per second between the 10th and the 90th percentile of the output times:
    start-up (pipeline load, group join, the rebalance when a second worker joins) and the
    tail are left out, so runs of different lengths and worker counts compare."""
    ordered = sorted(stamps)
    low, high = _window(ordered)
    return (high - low) / max((ordered[high] - ordered[low]) / 1000, 1e-3)


def _window(ordered: list[int]) -> tuple[int, int]:
    """Indexes of the 10th and 90th percentile output, or of the first and last where
    that would leave too little."""
    low, high = len(ordered) // 10, len(ordered) * 9 // 10
    if high - low < 10 or ordered[high] == ordered[low]:
        return 0, len(ordered) - 1
    return low, high


def steady_window(stamps: list[int]) -> tuple[int, int]:
    """The output times (ms) of the 10th and the 90th percentile: steady_rate's window."""
    ordered = sorted(stamps)
    low, high = _window(ordered)
    return ordered[low], ordered[high]


@dataclass
class LatencySample:
    """One document: when it was sent (s since the paced stream began), its latency
    (send to the output's append at the broker), and the part of it spent before the
    broker had appended the input."""

    sent_s: float
    total_ms: float
    to_broker_ms: float


@dataclass
class LatencyRun:
    result: RunResult
    samples: list[LatencySample]  # the measured window
    lead_in: list[LatencySample]  # the stream's first moments, reported apart


def latency_run(
    bootstrap: str, events: list[tuple[bytes, bytes]], rate: float,
    warm: list[tuple[bytes, bytes]], lead_in: list[tuple[bytes, bytes]],
    env: dict[str, str] | None = None,
) -> LatencyRun:  # fmt: skip
    """A running processor fed at a fixed rate; latency = output append - send time.

    `warm` goes first, in bulk, until its outputs are back (pipeline loaded, group joined).
    Then one steady stream at `rate`: `lead_in`, then `events`, each stamped with its send
    time. The lead-in is reported apart: a source that has just begun to send pays for
    its own first connection and requests. Both topics stamp records with the broker's
    append time, so latency ends where a downstream consumer could first read the output
    (the processor's linger included), and splits at the input's append.
    """
    topics = fresh_topics(bootstrap, "latency", {"message.timestamp.type": "LogAppendTime"})
    process = start(["stream_segmenter", "run"], bootstrap, topics, env or {})
    try:
        publish(bootstrap, topics["INPUT_TOPIC"], warm)
        collect_outputs(bootstrap, topics["OUTPUT_TOPIC"], len(warm), 300, "latency warm-up")
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": SOURCE_LINGER_MS})
        interval = 1.0 / rate
        began = time.monotonic()
        for number, (key, value) in enumerate([*lead_in, *events]):
            target = began + number * interval
            pause = target - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            stamped = value.replace(
                b'"sent_ms": 0', f'"sent_ms": {int(time.time() * 1000)}'.encode()
            )
            producer.produce(topics["INPUT_TOPIC"], key=key, value=stamped)
            producer.poll(0)
        producer.flush(60)
        total = len(warm) + len(lead_in) + len(events)
        _, measured = collect_outputs(
            bootstrap, topics["OUTPUT_TOPIC"], total, 300, "latency", append_time=True
        )
        appended = append_times(bootstrap, topics["INPUT_TOPIC"], total)
    finally:
        code = stop(process)
    first = min((sent for sent, _ in measured.values()), default=0)
    samples: dict[bytes, LatencySample] = {}
    for key, (sent, output) in measured.items():
        kind, append = appended[key]
        if kind != TIMESTAMP_LOG_APPEND_TIME:
            raise RuntimeError(f"input {key!r} has no broker append time")
        samples[key] = LatencySample((sent - first) / 1000, output - sent, append - sent)
    window = sorted((samples[key] for key, _ in events), key=lambda sample: sample.sent_s)
    start_up = sorted((samples[key] for key, _ in lead_in), key=lambda sample: sample.sent_s)
    result = RunResult(len(events), rate, latencies_ms=[s.total_ms for s in window], exit_code=code)
    return LatencyRun(result, window, start_up)


def append_times(bootstrap: str, topic: str, expected: int) -> dict[bytes, tuple[int, int]]:
    """Key -> (timestamp type, timestamp) of every record in `topic`."""
    records = read_topic(bootstrap, topic, expected, 120, f"{topic} read back")
    return {message.key(): message.timestamp() for message in records}


def reader(bootstrap: str, topic: str) -> Consumer:
    """A consumer of a whole topic, in a group of its own."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    return consumer
