"""make bench: every figure measured in one run, side by side, written to docs/BENCHMARKS.md.

    python -m benchmarks [--long] [--bootstrap HOST:PORT]

Quick (default, 10 to 20 minutes on 2 cores) or long (a 3,000,000-document soak). Needs a
broker: --bootstrap, else KAFKA_BOOTSTRAP_SERVERS, else the local one (make bench starts it).
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from benchmarks import inprocess, kafka_runs, report, workloads
from benchmarks.trained import build_trained_pipeline

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stream-segmenter"
WARMUP_CHARS = 1_000_000
LOW_MB, HIGH_MB = 300, 400  # the soak's thresholds, drawn on the memory plot
BROKER_SETTLE_SECONDS = 30
ROUNDS = 3
# The latency run's paced stream begins with this many seconds, reported apart: the
# source's own start-up (first connection and requests) lasts about half a second.
LEAD_IN_SECONDS = 1


def _median(results: list[T], key: Callable[[T], float]) -> T:
    return sorted(results, key=key)[len(results) // 2]


@dataclass(frozen=True)
class Sizes:
    strategy_docs: int
    trained_docs: int
    throughput_docs: int
    latency_seconds: int
    soak_docs: int


# Throughput runs are long enough that start-up stays outside the steady window: with
# 150,000 documents, two workers were done in 6 s, their window still held the second
# worker's start-up (1.69 of 2 cores used, 1.43x one worker); with 400,000, 1.91 cores
# and 1.77x.
# The soak, too, is sized to last: at about 17,000 documents/s, 200,000 were 11 RSS
# samples; 1,000,000 are about a minute (the naive loop takes five).
QUICK = Sizes(strategy_docs=30_000, trained_docs=6_000, throughput_docs=400_000,
              latency_seconds=30, soak_docs=1_000_000)  # fmt: skip
SMOKE = Sizes(strategy_docs=500, trained_docs=300, throughput_docs=1_000,
               latency_seconds=3, soak_docs=3_000)  # fmt: skip
LONG = Sizes(strategy_docs=100_000, trained_docs=20_000, throughput_docs=1_000_000,
             latency_seconds=120, soak_docs=3_000_000)  # fmt: skip


def broker_where(bootstrap: str) -> str:
    """Whether the broker shares this machine's cores: the report's machine line."""
    broker = kafka_runs.local_broker(bootstrap)
    if broker is None:
        return f"the Kafka broker ({bootstrap}) is not a process of this machine"
    found = re.search(r"kafka-(\d+\.\d+\.\d+)", " ".join(broker.cmdline()))
    kafka = f"Apache Kafka {found.group(1)}" if found else "Apache Kafka"
    return f"the Kafka broker ({kafka}, pid {broker.pid}) ran on the same machine"


def step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="3,000,000-document soak")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness")
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs")
    args = parser.parse_args()
    sizes = LONG if args.long else SMOKE if args.smoke else QUICK
    mode = "long" if args.long else "smoke" if args.smoke else "quick"
    results = report.Results(
        mode=mode, sizes=vars(sizes), broker_where=broker_where(args.bootstrap)
    )
    rounds = 1 if args.smoke else ROUNDS
    began = time.monotonic()

    sentences = workloads.english_sentences(args.data)
    unique = list(workloads.unique_documents(sentences, sizes.throughput_docs, seed=1))
    unique_events = workloads.as_events(unique, "u")
    chars = sum(map(len, unique))
    results.workload = (f"{len(sentences):,} EWT test+dev sentences; unique documents of "
                        f"{chars / len(unique):,.0f} characters on average")  # fmt: skip

    # (1), (2) and (3) alternate, three rounds, and the medians count: on this shared
    # 2-core machine single runs gave (2)/(1) from 0.54 to 0.85 and (3) from 1.36 to 1.99.
    step(f"1, 2 and 3. the processing step alone, then end to end with 1 and 2 workers, "
         f"{rounds} rounds")  # fmt: skip
    steps, ones, twos = [], [], []
    for round_number in range(1, rounds + 1):
        steps.append(inprocess.processing_step(unique_events, chars, WARMUP_CHARS))
        ones.append(kafka_runs.throughput_run(
            args.bootstrap, f"w1r{round_number}", unique_events, ["stream_segmenter", "run"]
        ))  # fmt: skip
        twos.append(kafka_runs.throughput_run(
            args.bootstrap, f"w2r{round_number}", unique_events,
            ["stream_segmenter", "run", "--workers", "2"],
        ))  # fmt: skip
        print(f"    round {round_number}: step {steps[-1].docs_per_second:,.0f} docs/s, "
              f"1 worker {ones[-1].docs_per_second:,.0f} docs/s, "
              f"2 workers {twos[-1].docs_per_second:,.0f} docs/s", flush=True)  # fmt: skip
    results.step = _median(steps, lambda result: result.docs_per_second)
    results.one = _median(ones, lambda result: result.docs_per_second)
    results.two = _median(twos, lambda result: result.docs_per_second)
    results.rounds = [
        (s.docs_per_second, o.docs_per_second, t.docs_per_second)
        for s, o, t in zip(steps, ones, twos, strict=True)
    ]
    results.round_runs = list(zip(ones, twos, strict=True))
    ewt = workloads.ewt_documents(args.data)
    ewt_events = workloads.as_events(ewt, "ewt")
    results.step_ewt = inprocess.processing_step(
        ewt_events * 20, sum(map(len, ewt)) * 20, WARMUP_CHARS
    )
    print(f"    unique: {results.step.docs_per_second:,.0f} docs/s; EWT: "
          f"{results.step_ewt.docs_per_second:,.0f} docs/s", flush=True)  # fmt: skip

    step("price of bounded memory: blank pipeline (spaCy blank en + sentence_rules)")
    strategy_texts = unique[: sizes.strategy_docs]
    results.blank = inprocess.compare_strategies(None, strategy_texts, WARMUP_CHARS, rounds=3)
    step("price of bounded memory: trained pipeline (senter trained on EWT dev)")
    trained = build_trained_pipeline(
        args.data / workloads.EWT / "en_ewt-ud-dev.conllu", CACHE / "bench-pipelines" / "senter_ewt"
    )
    results.trained = inprocess.compare_strategies(
        str(trained), unique[: sizes.trained_docs], WARMUP_CHARS
    )

    step("2b. end to end, 1 worker, PROCESSING_GUARANTEE=exactly-once")
    results.eos = kafka_runs.throughput_run(
        args.bootstrap, "eos", unique_events, ["stream_segmenter", "run"],
        {"PROCESSING_GUARANTEE": "exactly-once"},
    )  # fmt: skip
    rate = results.one.docs_per_second / 2
    step(f"4. latency at a fixed {rate:,.0f} docs/s (half the 1-worker maximum)")
    # The broker shares the two cores; after the throughput runs it keeps busy for a while
    # (segments, cleaning, GC). Latency is measured once it has settled.
    print(f"    letting the broker settle for {BROKER_SETTLE_SECONDS} s", flush=True)
    time.sleep(BROKER_SETTLE_SECONDS)
    count = int(rate * sizes.latency_seconds)
    paced = list(workloads.unique_documents(sentences, count, seed=4))
    warm = list(workloads.unique_documents(sentences, 3_000, seed=5))
    lead_in = list(workloads.unique_documents(sentences, int(rate * LEAD_IN_SECONDS), seed=7))
    latency = kafka_runs.latency_run(
        args.bootstrap, workloads.as_events(paced, "p", stamp=True), rate,
        workloads.as_events(warm, "pw"), workloads.as_events(lead_in, "pl", stamp=True),
    )  # fmt: skip
    results.latency, results.latency_samples = latency.result, latency.samples
    results.lead_in_samples = latency.lead_in
    latencies = results.latency.latencies_ms
    print(f"    p50 {report.percentile(latencies, 0.5):.1f} ms, p99 "
          f"{report.percentile(latencies, 0.99):.1f} ms", flush=True)  # fmt: skip

    step(f"5. memory soak: {sizes.soak_docs:,} unique documents, this processor and the naive loop")
    soak = workloads.as_events(
        list(workloads.unique_documents(sentences, sizes.soak_docs, seed=6)), "s"
    )
    thresholds = {"MEMORY_THRESHOLD_MB": str(LOW_MB), "HIGH_MEMORY_THRESHOLD_MB": str(HIGH_MB)}
    results.soak = kafka_runs.throughput_run(
        args.bootstrap, "soak", soak, ["stream_segmenter", "run"], thresholds, timeout=4 * 3600
    )
    results.naive = kafka_runs.throughput_run(
        args.bootstrap, "naive", soak, ["benchmarks.naive_consumer"], timeout=4 * 3600
    )
    results.thresholds = (LOW_MB, HIGH_MB)
    results.elapsed_seconds = time.monotonic() - began
    written = report.write(results, args.out)
    print(f"\nwrote {', '.join(str(p) for p in written)}", flush=True)


if __name__ == "__main__":
    main()
