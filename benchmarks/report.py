"""docs/BENCHMARKS.md and its plots, from one run's results, with each target checked."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import confluent_kafka
import matplotlib
import spacy

from benchmarks.inprocess import RULES_ON_TEXT, StepResult, StrategyResult
from benchmarks.kafka_runs import LatencySample, RunResult
from stream_segmenter.provenance import commit, machine

matplotlib.use("Agg")
import matplotlib.pyplot as plt

WARM_UP_SHARE = 0.2  # RSS growth is measured after the first 20% of the soak
CORES = os.cpu_count() or 1
# Fewer RSS samples than this (a soak shorter than half a minute) show no trend.
MIN_SOAK_SAMPLES = 30


@dataclass
class Results:
    mode: str
    sizes: dict[str, int]
    workload: str = ""
    step: StepResult | None = None
    step_ewt: StepResult | None = None
    blank: list[StrategyResult] = field(default_factory=list)
    trained: list[StrategyResult] = field(default_factory=list)
    one: RunResult | None = None
    eos: RunResult | None = None
    two: RunResult | None = None
    latency: RunResult | None = None
    latency_samples: list[LatencySample] = field(default_factory=list)
    lead_in_samples: list[LatencySample] = field(default_factory=list)
    soak: RunResult | None = None
    naive: RunResult | None = None
    thresholds: tuple[int, int] = (0, 0)
    # (step, 1 worker, 2 workers) docs/s, per round
    rounds: list[tuple[float, float, float]] = field(default_factory=list)
    round_runs: list[tuple[RunResult, RunResult]] = field(default_factory=list)  # 1, 2 workers
    broker_where: str = "the Kafka broker ran elsewhere"
    elapsed_seconds: float = 0.0


def growth(samples: list[tuple[float, float]]) -> tuple[float, float, float]:
    """(RSS after warm-up, RSS at the end, growth): medians of the 20-30% and last-10% windows."""
    values = [mb for _, mb in samples]
    n = len(values)
    after_warm_up = statistics.median(
        values[int(n * WARM_UP_SHARE) : max(int(n * 0.3), int(n * WARM_UP_SHARE) + 1)]
    )
    end = statistics.median(values[int(n * 0.9) :])
    return after_warm_up, end, end / after_warm_up - 1


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (nan for no values)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def plot_memory(results: Results, path: Path) -> None:
    assert results.soak and results.naive
    low, high = results.thresholds
    figure, axes = plt.subplots(figsize=(9, 4.5))
    for run, label in (
        (results.soak, "stream-segmenter"),
        (results.naive, "naive nlp(text) + dict cache"),
    ):
        axes.plot([t for t, _ in run.rss], [mb for _, mb in run.rss], label=label)
    axes.axhline(low, color="orange", linestyle="--", label=f"MEMORY_THRESHOLD_MB = {low}")
    axes.axhline(high, color="red", linestyle="--", label=f"HIGH_MEMORY_THRESHOLD_MB = {high}")
    axes.set_xlabel("seconds since start")
    axes.set_ylabel("RSS (MB)")
    axes.set_title(f"Memory over {results.soak.documents:,} unique documents")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_throughput(results: Results, path: Path) -> None:
    assert results.step and results.one and results.two
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = ["in-process step", "broker, 1 worker", "broker, 2 workers"]
    rates = [results.step.docs_per_second, results.one.docs_per_second, results.two.docs_per_second]
    left.bar(names, rates, color=["#888", "#3a7", "#27a"])
    left.set_ylabel("documents / s")
    left.set_title("Throughput, unique documents")
    order = [s.strategy for s in results.blank]  # every strategy; trained has all but one
    for kind, strategies, offset in (
        ("blank", results.blank, -0.2),
        ("trained", results.trained, 0.2),
    ):
        naive = strategies[0].docs_per_second
        right.bar([order.index(s.strategy) + offset for s in strategies],
                  [s.docs_per_second / naive for s in strategies], width=0.4, label=kind)  # fmt: skip
    right.set_xticks(range(len(order)))
    right.set_xticklabels([_short(name) for name in order], fontsize=8)
    right.axhline(0.9, color="red", linestyle="--", label="target 0.9")
    right.set_ylabel("throughput / naive loop")
    right.set_title("Price of bounded memory")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_latency(
    samples: list[LatencySample], lead_in: list[LatencySample], rate: float, path: Path
) -> None:
    """Every document's latency against its send time: bursts show as spikes."""
    figure, axes = plt.subplots(figsize=(9, 4))
    for points, total_label, colour in ((lead_in, "lead-in (reported apart)", "#999"),
                                        (samples, "send → output appended", "#27a")):  # fmt: skip
        axes.scatter([s.sent_s for s in points], [s.total_ms for s in points], s=2,
                     label=total_label, color=colour)  # fmt: skip
    # A log axis cannot show 0 ms: those are drawn at 0.5 ms.
    everything = [*lead_in, *samples]
    axes.scatter([s.sent_s for s in everything], [max(s.to_broker_ms, 0.5) for s in everything],
                 s=2, label="of which send → input appended (0 drawn at 0.5)", color="#e80")  # fmt: skip
    p99 = percentile([s.total_ms for s in samples], 0.99)
    axes.axhline(p99, color="#27a", linestyle=":", label=f"p99 after the lead-in = {p99:.0f} ms")
    axes.axhline(100, color="red", linestyle="--", label="target p99 < 100 ms")
    axes.set_yscale("log")
    axes.set_xlabel("seconds since the paced stream began")
    axes.set_ylabel("latency (ms, log scale)")
    axes.set_title(f"Latency at a fixed {rate:,.0f} documents/s, 1 worker")
    axes.legend(loc="upper right", fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _short(strategy: str) -> str:
    for prefix, label in (("naive", "naive"), ("our rules", "rules on text"),
                          ("memory_zone", "zone"), ("warm-up", "warm-up + zone"),
                          ("recycle", "recycle")):  # fmt: skip
        if strategy.startswith(prefix):
            return label
    return strategy


def _cores(run: RunResult) -> list[str]:
    """(processor, broker, other, idle) cores as table cells."""
    use = run.cores
    if use is None:
        return ["–"] * 4
    broker = "–" if use.broker is None else f"{use.broker:.2f}"
    return [f"{use.processor:.2f}", broker, f"{use.other:.2f}", f"{use.idle:.2f}"]


def _cores_table(results: Results) -> list[str]:
    runs: list[tuple[str, RunResult]] = []
    for number, (one, two) in enumerate(results.round_runs, start=1):
        runs += [(f"round {number}, 1 worker", one), (f"round {number}, 2 workers", two)]
    assert results.eos and results.soak and results.naive
    runs += [("2b, exactly-once, 1 worker", results.eos), ("5, soak, 1 worker", results.soak),
             ("5, naive loop", results.naive)]  # fmt: skip
    rows = [
        "| run | docs/s | processor | broker | other | idle |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, run in runs:
        rows.append(f"| {name} | {run.docs_per_second:,.0f} | " + " | ".join(_cores(run)) + " |")
    return rows


def _strategy_table(strategies: list[StrategyResult]) -> list[str]:
    naive = strategies[0].docs_per_second
    rows = [
        "| strategy | docs/s | × naive | strings in the store at the end |",
        "|---|---:|---:|---:|",
    ]
    rows += [f"| {s.strategy} | {s.docs_per_second:,.0f} | {s.docs_per_second / naive:.2f} | "
             f"{s.strings_at_end:,} |" for s in strategies]  # fmt: skip
    return rows


def write(results: Results, out: Path) -> list[Path]:
    assert results.step and results.step_ewt and results.one and results.two and results.eos
    assert results.latency and results.soak and results.naive
    out.mkdir(parents=True, exist_ok=True)
    memory_png, throughput_png = out / "bench-memory.png", out / "bench-throughput.png"
    plot_memory(results, memory_png)
    plot_throughput(results, throughput_png)
    latency_png = out / "bench-latency.png"
    plot_latency(
        results.latency_samples,
        results.lead_in_samples,
        results.latency.docs_per_second,
        latency_png,
    )

    # Each round's ratio compares runs made minutes apart; the median of those ratios
    # counts (the ratio of two medians could pair runs from different rounds).
    e2e_ratio = statistics.median(one / step for step, one, _ in results.rounds)
    scaling = statistics.median(two / one for _, one, two in results.rounds)
    lat = results.latency.latencies_ms
    p50, p95, p99 = (percentile(lat, q) for q in (0.5, 0.95, 0.99))
    to_broker = [sample.to_broker_ms for sample in results.latency_samples]
    broker_p50, broker_p99 = (percentile(to_broker, q) for q in (0.5, 0.99))
    lead_in = [sample.total_ms for sample in results.lead_in_samples]
    low, high = results.thresholds
    after, end, soak_growth = growth(results.soak.rss)
    naive_after, naive_end, naive_growth = growth(results.naive.rss)
    peak = max(mb for _, mb in results.soak.rss)
    growth_verdict = (
        verdict(soak_growth < 0.05)
        if len(results.soak.rss) >= MIN_SOAK_SAMPLES
        else f"not judged: {len(results.soak.rss)} samples"
    )
    naive_peak = max(mb for _, mb in results.naive.rss)
    default_blank = next(s for s in results.blank if s.strategy == RULES_ON_TEXT)
    warm_trained = next(s for s in results.trained if s.strategy.startswith("warm-up"))
    blank_ratio = default_blank.docs_per_second / results.blank[0].docs_per_second
    trained_ratio = warm_trained.docs_per_second / results.trained[0].docs_per_second

    minutes = round(results.elapsed_seconds / 60)
    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {results.mode} mode, commit {commit()}, "
        f"in one run of {minutes} minute{'' if minutes == 1 else 's'}; every figure below comes "
        "from that run.",
        "",
        f"- Machine: {machine()}; {results.broker_where}.",
        f"- Versions: Python {platform.python_version()}, spaCy {spacy.__version__}, "
        f"confluent-kafka {version('confluent-kafka')}, librdkafka {confluent_kafka.libversion()[0]}.",
        f"- Workload: {results.workload}. Each unique document is 3-8 random real sentences "
        "with 4 words given 3 new letters and a unique ticket id, so no document repeats and "
        "the vocabulary keeps growing (the worst case for caches and vocabularies).",
        "- Reproduce: `make bench` (quick) or `make bench-long`.",
        "- (1), (2) and (3) come from "
        f"{len(results.rounds)} alternating rounds over the same "
        f"{results.sizes['throughput_docs']:,} unique documents; the rates shown are each measure's "
        "median, and the ratios judged are the medians of the per-round ratios (step, 1 "
        "worker, 2 workers; docs/s, with (2)/(1) and 2 workers / 1): "
        + "; ".join(
            f"{s:,.0f}, {o:,.0f}, {t:,.0f} ({o / s:.2f}, {t / o:.2f}×)"
            for s, o, t in results.rounds
        )
        + ".",
        "- Throughput through the broker is the steady rate: outputs between the 10th and "
        "the 90th percentile of their timestamps (start-up, group join, the rebalance when "
        "the second worker joins, and the tail left out).",
        "- Latency runs from the send time to the output's append at the broker, when a "
        "downstream consumer could first read it (the processor's own 5 ms linger "
        "included). The source produces like a default librdkafka producer (5 ms linger; "
        "the send time is stamped before the linger, so latency includes it) in one steady "
        "stream. Its first second is a lead-in, reported apart because a source that has "
        "just begun pays for its first connection and requests: "
        f"{len(lead_in):,} documents, p99 {percentile(lead_in, 0.99):.0f} ms, max "
        f"{max(lead_in, default=float('nan')):.0f} ms. Both topics stamp records with the "
        "broker's append time, which splits each latency in two: send → input appended "
        f"p50 {broker_p50:.0f} ms, p99 {broker_p99:.0f} ms; the rest is the processor "
        "(fetch, segment, produce, linger) and the output's append.",
        "",
        "## Targets",
        "",
        "| # | measure | figure | target | |",
        "|---|---|---:|---|---|",
        f"| 1 | in-process processing step (decode, segment, serialize), unique documents | "
        f"{results.step.docs_per_second:,.0f} docs/s, {results.step.chars_per_second / 1e6:.2f} M chars/s | | |",
        f"| 1 | same, UD English EWT test documents | {results.step_ewt.docs_per_second:,.0f} docs/s, "
        f"{results.step_ewt.chars_per_second / 1e6:.2f} M chars/s | | |",
        f"| 2 | through the broker, 1 worker | {results.one.docs_per_second:,.0f} docs/s; "
        f"{e2e_ratio:.2f} × (1) per round (median) | ≥ 0.85 × (1) | {verdict(e2e_ratio >= 0.85)} |",
        f"| 2b | through the broker, 1 worker, exactly-once (a transaction per batch) | "
        f"{results.eos.docs_per_second:,.0f} docs/s = {results.eos.docs_per_second / results.one.docs_per_second:.2f} × at-least-once | | |",
        f"| 3 | through the broker, 2 workers | {results.two.docs_per_second:,.0f} docs/s; "
        f"{scaling:.2f} × 1 worker per round (median) | ≥ 1.5× | {verdict(scaling >= 1.5)} |",
        f"| 4 | latency at {results.latency.docs_per_second:,.0f} docs/s (half of (2)), broker settled 30 s first, "
        f"{len(lat):,} documents | p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms | "
        f"p99 < 100 ms | {verdict(p99 < 100)} |",
        f"| 5 | soak, {results.soak.documents:,} unique documents: RSS growth after warm-up | "
        f"{after:.0f} → {end:.0f} MB = {soak_growth:+.1%} | < 5% | {growth_verdict} |",
        f"| 5 | soak: peak RSS against the high threshold ({high} MB) | {peak:.0f} MB | "
        f"≤ {high * 1.1:.0f} MB | {verdict(peak <= high * 1.1)} |",
        f"| 5 | naive baseline, same documents, same harness | {naive_after:.0f} → {naive_end:.0f} MB = "
        f"{naive_growth:+.1%}, peak {naive_peak:.0f} MB, {results.naive.docs_per_second:,.0f} docs/s | "
        "shown beside | |",
        f"| – | bounded memory vs naive loop, blank pipeline (our rules on the text) | "
        f"{blank_ratio:.2f} × | ≥ 0.9 × | {verdict(blank_ratio >= 0.9)} |",
        f"| – | bounded memory vs naive loop, trained pipeline (warm-up then zones) | "
        f"{trained_ratio:.2f} × | ≥ 0.9 × | {verdict(trained_ratio >= 0.9)} |",
        "",
        "![Memory over the soak](bench-memory.png)",
        "",
        "![Throughput](bench-throughput.png)",
        "",
        "![Latency over time](bench-latency.png)",
        "",
        "## The price of bounded memory",
        "",
        "Each strategy over the same unique documents, in alternation, best of three rounds "
        "(cache off: every document is new). The store keeps every string the pipeline has "
        "seen; what it holds at the end is what stays in memory.",
        "",
        f"**Blank pipeline** (spaCy blank `en` + our `sentence_rules`, the default), "
        f"{results.sizes['strategy_docs']:,} documents:",
        "",
        *_strategy_table(results.blank),
        "",
        f"**Trained pipeline** (spaCy `senter`, tok2vec + tagger model, trained on EWT dev by the "
        f"benchmark), {results.sizes['trained_docs']:,} documents:",
        "",
        *_strategy_table(results.trained),
        "",
        "Choice, per kind. Blank (the default): our rules read characters, not tokens, so "
        "the processor applies them to the text and never runs spaCy's tokenizer: nothing "
        "enters the vocabulary, and it is the fastest row by far. The other blank rows run "
        "the same pipeline through spaCy, as any pipeline with more components would. "
        "Trained: the first 1,000,000 characters after a pipeline "
        "loads run outside any memory zone (`VOCAB_WARMUP_CHARS`), then every batch runs "
        "inside one. Zones alone are slow because inside a zone nothing new is cached: "
        "every word is looked up and split again in every batch. After the warm-up the "
        "frequent words are permanent and their tokenizations cached, so zones cost little, "
        "and the store stops growing. Recycling the pipeline also bounds the store, but by a "
        "window of documents, pays the warm-up again after every reload, and for a trained "
        "pipeline a reload from disk as well.",
        "",
        "## Where the cores went",
        "",
        "Cores used on average in each run's steady window (the one its rate is measured "
        "over), from CPU times sampled every second: the processor (all its workers), the "
        "broker (the process listening on the bootstrap port; – if none on this machine), "
        "everything else that ran (the harness, the system, any other program), and what "
        f"was idle; {CORES} cores in all (less any time the hypervisor stole, counted in "
        "neither). One worker is one Python process whose main "
        "thread decodes, segments and produces: it cannot use much more than one core "
        "(librdkafka's threads add a little), so (2) is bounded by the share of that thread "
        "the segmentation takes. Two workers share the cores with the broker and whatever "
        "else runs; idle cores are what they left unused. – for the whole row: the window "
        "was shorter than the samples (a smoke run) or a worker came or went inside it.",
        "",
        *_cores_table(results),
        "",
        "## Soak details",
        "",
        f"Thresholds for the soak: `MEMORY_THRESHOLD_MB={low}`, `HIGH_MEMORY_THRESHOLD_MB={high}` "
        f"(the naive loop has no governor; the lines show where it would stand). RSS sampled "
        f"every second: {len(results.soak.rss)} samples for this processor, "
        f"{len(results.naive.rss)} for the naive loop. Growth compares the median of the "
        "samples between 20% and 30% of the run with the median of the last 10%. "
        f"Throughput over the soak: this processor {results.soak.docs_per_second:,.0f} docs/s, "
        f"the naive loop {results.naive.docs_per_second:,.0f} docs/s.",
        "",
    ]
    path = out / "BENCHMARKS.md"
    path.write_text("\n".join(lines))
    return [path, memory_png, throughput_png, latency_png]
