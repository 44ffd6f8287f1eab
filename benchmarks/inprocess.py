"""In-process measurements: the processing step alone, and the price of bounded memory.

Every strategy runs over the same unique documents, in alternation (A B C D A B C D), and
the best of its rounds counts, so that a noisy neighbour slows all alike.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

import spacy

from stream_segmenter.cache import ResultCache
from stream_segmenter.events import SourceRef
from stream_segmenter.models.loader import LoadedPipeline, load_pipeline
from stream_segmenter.models.pool import ModelPool
from stream_segmenter.process import DocumentProcessor, RawMessage
from stream_segmenter.segment import Segmenter, sentence_spans

BATCH = 256
RECYCLE_EVERY_DOCS = 10_000
RULES_ON_TEXT = "our rules on the text (the default: no tokenizer, no vocabulary)"


@dataclass
class StrategyResult:
    strategy: str
    docs_per_second: float
    strings_at_end: int


def _naive(source: str | None) -> Callable[[list[str]], int]:
    """`nlp(text)` per message, nothing bounded: the baseline."""

    def run(texts: list[str]) -> int:
        nlp = load_pipeline("en", source).nlp
        for text in texts:
            sentence_spans(nlp(text))
        return len(nlp.vocab.strings)

    return run


def through_spacy(lang: str, source: str | None) -> LoadedPipeline:
    """The pipeline as loaded, but always run through spaCy (tokenizer, components,
    doc.sents), as a configured pipeline would be, even when it is our rules alone."""
    pipeline = load_pipeline(lang, source)
    pipeline.text_rules = None
    return pipeline


def _segmenter(
    source: str | None, warmup_chars: int, text_path: bool = False
) -> Callable[[list[str]], int]:
    """Our Segmenter (cache off: every document is new anyway)."""

    def run(texts: list[str]) -> int:
        loader = load_pipeline if text_path else through_spacy
        pool = ModelPool({"en": source} if source else {}, warmup_chars=warmup_chars, loader=loader)
        segmenter = Segmenter(pool, ResultCache(0, 0))
        for start in range(0, len(texts), BATCH):
            segmenter.segment([("en", text) for text in texts[start : start + BATCH]])
        return len(pool.get("en").nlp.vocab.strings)

    return run


def _recycle(source: str | None) -> Callable[[list[str]], int]:
    """No zone; a fresh pipeline every RECYCLE_EVERY_DOCS documents bounds the vocabulary."""

    def run(texts: list[str]) -> int:
        nlp, since = load_pipeline("en", source).nlp, 0
        for start in range(0, len(texts), BATCH):
            if since >= RECYCLE_EVERY_DOCS:
                nlp, since = load_pipeline("en", source).nlp, 0
            for doc in nlp.pipe(texts[start : start + BATCH], batch_size=64):
                sentence_spans(doc)
            since += BATCH
        return len(nlp.vocab.strings)

    return run


def compare_strategies(
    source: str | None, texts: list[str], warmup_chars: int, rounds: int = 2
) -> list[StrategyResult]:
    strategies = {"naive nlp(text) loop": _naive(source)}
    if source is None:  # a pipeline of our rules alone: they run on the text, no spaCy
        strategies[RULES_ON_TEXT] = _segmenter(source, 0, text_path=True)
    strategies |= {
        "memory_zone every batch": _segmenter(source, 0),
        f"warm-up ({warmup_chars:,} chars) then memory_zone": _segmenter(source, warmup_chars),
        f"recycle pipeline every {RECYCLE_EVERY_DOCS:,} docs": _recycle(source),
    }
    best: dict[str, StrategyResult] = {}
    for round_number in range(rounds):
        for name, run in strategies.items():
            gc.collect()
            started = time.perf_counter()
            strings = run(texts)
            rate = len(texts) / (time.perf_counter() - started)
            print(f"    round {round_number + 1}: {name}: {rate:,.0f} docs/s, "
                  f"{strings:,} strings", flush=True)  # fmt: skip
            if name not in best or rate > best[name].docs_per_second:
                best[name] = StrategyResult(name, rate, strings)
    return list(best.values())


@dataclass
class StepResult:
    docs_per_second: float
    chars_per_second: float


def processing_step(events: list[tuple[bytes, bytes]], chars: int, warmup_chars: int) -> StepResult:
    """The Kafka-free step `run` performs per message: decode, segment, serialize."""
    pool = ModelPool({}, warmup_chars=warmup_chars)
    processor = DocumentProcessor(Segmenter(pool, ResultCache(10_000, 64 * 2**20)), "en", 10**6)
    messages = [
        RawMessage(key, value, SourceRef(topic="bench", partition=0, offset=number))
        for number, (key, value) in enumerate(events)
    ]
    processor.process(messages[:BATCH])  # load the pipeline outside the timing
    started = time.perf_counter()
    for start in range(BATCH, len(messages), BATCH):
        processor.process(messages[start : start + BATCH])
    elapsed = time.perf_counter() - started
    measured = len(messages) - BATCH
    return StepResult(measured / elapsed, chars * measured / len(messages) / elapsed)


def spacy_version() -> str:
    return spacy.__version__
