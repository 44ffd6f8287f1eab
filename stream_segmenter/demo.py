"""The main job, end to end on a real broker: publish a real corpus, run the processor as
its own process (the real `stream-segmenter run`), read every result back, print a summary.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from confluent_kafka import Consumer, Producer
from tqdm import tqdm

from stream_segmenter.config import Settings
from stream_segmenter.kafka.clients import ensure_topics
from stream_segmenter.publish import corpus_events, publish

REPO_ROOT = Path(__file__).resolve().parent.parent
EWT_TEST = Path("ud/UD_English-EWT/en_ewt-ud-test.conllu")
# Real English text that Debian/Ubuntu machines carry, for machines without ../shared/data.
FALLBACK_CORPUS = Path("/usr/share/common-licenses")


def find_data() -> Path | None:
    """The shared gold data: $SHARED_DATA, else ../shared/data beside the repo or the cwd."""
    candidates = [REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    if os.environ.get("SHARED_DATA"):
        candidates.insert(0, Path(os.environ["SHARED_DATA"]))
    return next((data for data in candidates if (data / EWT_TEST).exists()), None)


def find_corpus() -> Path:
    """UD English EWT test from ../shared/data when present, else the system's licence texts."""
    if (data := find_data()) is not None:
        return data / EWT_TEST
    if FALLBACK_CORPUS.is_dir():
        return FALLBACK_CORPUS
    raise SystemExit("no corpus found: pass --corpus PATH (a .conllu, .jsonl or text files)")


@dataclass
class Summary:
    corpus: Path
    published: int
    outputs: int
    distinct_outputs: int
    segments: int
    dead_letters: int
    docs_per_second: float
    peak_rss_mb: float
    exit_code: int | None

    def render(self) -> str:
        lines = [
            f"corpus            {self.corpus}",
            f"published         {self.published} documents",
            f"segmented         {self.outputs} output events "
            f"({self.distinct_outputs} distinct doc_ids)",
            f"segments          {self.segments}",
            f"dead letters      {self.dead_letters}",
            f"throughput        {self.docs_per_second:.0f} docs/s (first to last output)",
            f"peak RSS          {self.peak_rss_mb:.0f} MB (processor process)",
            f"processor exit    {self.exit_code} after SIGTERM",
        ]
        return "\n".join(lines)


class _PeakRss(threading.Thread):
    """Samples a process's RSS every 100 ms and keeps the maximum."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return


def run_demo(settings: Settings, corpus: Path | None, limit: int | None, timeout: float) -> Summary:
    corpus = corpus or find_corpus()
    run_id = time.strftime("%Y%m%d-%H%M%S")
    topics = {
        "INPUT_TOPIC": f"demo-{run_id}.documents",
        "OUTPUT_TOPIC": f"demo-{run_id}.segments",
        "DLQ_TOPIC": f"demo-{run_id}.documents.dlq",
        "TELEMETRY_TOPIC": f"demo-{run_id}.telemetry",
    }
    bootstrap = settings.kafka_bootstrap_servers
    ensure_topics(bootstrap, topics.values(), partitions=3)
    events = corpus_events([corpus], lang=None, limit=limit)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    published = publish(producer, topics["INPUT_TOPIC"], events, total=len(events))

    env = {
        **os.environ,
        **topics,
        "GROUP_ID": f"demo-{run_id}",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
    }
    processor = subprocess.Popen(
        [sys.executable, "-m", "stream_segmenter", "run"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    log_lines: list[str] = []
    threading.Thread(target=_collect, args=(processor, log_lines), daemon=True).start()
    rss = _PeakRss(processor.pid)
    rss.start()
    try:
        counts = _read_results(bootstrap, topics, published, timeout, run_id)
    finally:
        processor.send_signal(signal.SIGTERM)
        try:
            exit_code: int | None = processor.wait(timeout=60)
        except subprocess.TimeoutExpired:
            processor.kill()
            exit_code = None
        rss.done.set()
    if exit_code != 0 or counts["outputs"] + counts["dead_letters"] < published:
        sys.stderr.write("processor log (last lines):\n" + "".join(log_lines[-30:]))
    return Summary(
        corpus=corpus,
        published=published,
        outputs=counts["outputs"],
        distinct_outputs=counts["distinct"],
        segments=counts["segments"],
        dead_letters=counts["dead_letters"],
        docs_per_second=counts["rate"],
        peak_rss_mb=rss.peak / 2**20,
        exit_code=exit_code,
    )


def _collect(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)


def _read_results(
    bootstrap: str, topics: dict[str, str], expected: int, timeout: float, run_id: str
) -> dict[str, float]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"demo-reader-{run_id}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topics["OUTPUT_TOPIC"], topics["DLQ_TOPIC"]])
    doc_ids: set[str] = set()
    outputs = segments = dead_letters = 0
    first = last = 0.0
    deadline = time.monotonic() + timeout
    with tqdm(total=expected, unit="doc", desc="segmented") as bar:
        while outputs + dead_letters < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=0.5):
                if message.error():
                    continue
                if message.topic() == topics["DLQ_TOPIC"]:
                    dead_letters += 1
                else:
                    event = json.loads(message.value())
                    outputs += 1
                    doc_ids.add(event["doc_id"])
                    segments += len(event["segments"])
                    stamp = message.timestamp()[1] / 1000
                    first = stamp if not first else min(first, stamp)
                    last = max(last, stamp)
                bar.update(1)
    consumer.close()
    rate = (outputs - 1) / (last - first) if outputs > 1 and last > first else 0.0
    return {
        "outputs": outputs,
        "distinct": len(doc_ids),
        "segments": segments,
        "dead_letters": dead_letters,
        "rate": rate,
    }
