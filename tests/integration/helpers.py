"""Drive the real processor process and read its topics back, for integration tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, Message, Producer


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    timestamp_ms: int = 0

    @classmethod
    def of(cls, message: Message) -> Record:
        return cls(
            message.topic(),
            message.partition(),
            message.offset(),
            message.key(),
            message.value(),
            dict(message.headers() or []),
            message.timestamp()[1],
        )


def produce_all(
    bootstrap: str, topic: str, events: Iterable[tuple[bytes | None, bytes | None]]
) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 10})
    count = 0
    for key, value in events:
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
        count += 1
    assert producer.flush(60) == 0, "not every test document was delivered"
    return count


def read_topics(
    bootstrap: str,
    topic_names: list[str],
    done: Callable[[list[Record]], bool],
    timeout: float = 120.0,
    settle: float = 0.0,
) -> list[Record]:
    """Read the topics from the beginning until `done(records)`, then `settle` seconds more
    (to catch duplicates that would arrive late), or until `timeout`."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(topic_names)
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if settle_until is None and done(records):
                settle_until = time.monotonic() + settle
            if settle_until is not None and time.monotonic() >= settle_until:
                break
            for message in consumer.consume(num_messages=500, timeout=0.5):
                if message.error():
                    continue
                records.append(Record.of(message))
    finally:
        consumer.close()
    return records


def _catches(pid: int, signum: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


class ProcessorProcess:
    """`stream-segmenter run` as a child process, with its log kept for failure messages."""

    def __init__(self, bootstrap: str, topics: dict[str, str], *args: str, **env: str) -> None:
        log_fd, self.log_path = tempfile.mkstemp(prefix="processor-", suffix=".log")
        full_env = {
            **os.environ,
            **topics,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "COMMIT_INTERVAL_SECONDS": "0.2",
            **env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stream_segmenter", "run", *args],
            env=full_env,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
        )
        os.close(log_fd)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until it has subscribed (its log says "consuming")."""
        deadline = time.monotonic() + timeout
        while "consuming " not in self.output():
            assert self.running(), self.output()
            assert time.monotonic() < deadline, "processor did not start: " + self.output()
            time.sleep(0.1)

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_catching_sigterm(self, timeout: float = 30.0) -> None:
        """Until the process has installed its SIGTERM handler (Linux: SigCgt in
        /proc/PID/status). Before that, the interpreter is still starting and a SIGTERM
        kills it like any process: a test that signals 'during start-up' waits for this."""
        deadline = time.monotonic() + timeout
        while not _catches(self.process.pid, signal.SIGTERM):
            assert self.running(), self.output()
            assert time.monotonic() < deadline, "no SIGTERM handler: " + self.output()
            time.sleep(0.01)

    def stop(self, timeout: float = 60.0) -> int:
        if self.running():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def output(self) -> str:
        with open(self.log_path, errors="replace") as log:
            return log.read()

    def __enter__(self) -> ProcessorProcess:
        return self

    def __exit__(self, *_: object) -> None:
        if self.running():
            self.process.kill()
            self.process.wait()


class TopicWatcher:
    """Reads topics from the beginning in a background thread; tests wait on predicates."""

    def __init__(
        self, bootstrap: str, topic_names: list[str], read_committed: bool = False
    ) -> None:
        self.records: list[Record] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"watcher-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "topic.metadata.refresh.interval.ms": 1000,
                "isolation.level": "read_committed" if read_committed else "read_uncommitted",
            }
        )
        self._consumer.subscribe(topic_names)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(num_messages=500, timeout=0.2):
                if message.error():
                    continue
                record = Record.of(message)
                with self._lock:
                    self.records.append(record)
        self._consumer.close()

    def snapshot(self, topic: str | None = None) -> list[Record]:
        with self._lock:
            return [r for r in self.records if topic is None or r.topic == topic]

    def wait_for(
        self, predicate: Callable[[list[Record]], bool], timeout: float, what: str
    ) -> list[Record]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            records = self.snapshot()
            if predicate(records):
                return records
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def doc_ids(records: list[Record], topic: str) -> list[str]:
    return [json.loads(r.value)["doc_id"] for r in records if r.topic == topic]
