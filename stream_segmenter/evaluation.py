"""Segmentation quality against gold data: boundary P/R/F1 per treebank, golden rules, speed.

The protocol is the one in ../shared/data/README.md, so our figures compare with the
reference figures measured there: documents rebuilt from CoNLL-U `# text` sentences
(space-joined, or paragraphs joined by a blank line), a boundary is where a gold sentence
ends counted in non-whitespace characters from the document start, the end of a document
is left out, and precision/recall/F1 are micro-averaged over all documents.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stream_segmenter.cache import Spans
from stream_segmenter.corpus import GoldDocument, read_conllu
from stream_segmenter.models.loader import LoadedPipeline, load_pipeline
from stream_segmenter.segment import pipeline_spans, sentence_spans, tokenizable


@dataclass(frozen=True)
class Treebank:
    """One evaluation set: a CoNLL-U file, its language and how documents are rebuilt."""

    name: str
    path: str  # relative to the data directory
    lang: str
    joining: str  # "space" or "paragraph"


TEST_SETS = (
    Treebank("EWT test, space-joined", "ud/UD_English-EWT/en_ewt-ud-test.conllu", "en", "space"),
    Treebank(
        "EWT test, paragraph-joined", "ud/UD_English-EWT/en_ewt-ud-test.conllu", "en", "paragraph"
    ),
    Treebank("Turkish BOUN test", "ud/UD_Turkish-BOUN/tr_boun-ud-test.conllu", "tr", "space"),
    Treebank("German GSD test", "ud/UD_German-GSD/de_gsd-ud-test.conllu", "de", "space"),
)
DEV_SETS = (
    Treebank("EWT dev, space-joined", "ud/UD_English-EWT/en_ewt-ud-dev.conllu", "en", "space"),
    Treebank(
        "EWT dev, paragraph-joined", "ud/UD_English-EWT/en_ewt-ud-dev.conllu", "en", "paragraph"
    ),
)
GOLDEN_RULES = "golden_rules_en.jsonl"


@dataclass(frozen=True)
class Score:
    true_positives: int
    predicted: int
    gold: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Miss:
    """A boundary one side has and the other lacks, with its context, for error analysis."""

    kind: str  # "missed" (gold only) or "spurious" (predicted only)
    context: str


def documents(data: Path, treebank: Treebank) -> list[GoldDocument]:
    """The treebank's documents, rebuilt the way `treebank.joining` says."""
    rebuilt = read_conllu(data / treebank.path)  # paragraphs joined by a blank line
    if treebank.joining == "paragraph":
        return list(rebuilt)
    return [GoldDocument(d.doc_id, " ".join(d.sentences), d.sentences) for d in rebuilt]


def gold_boundaries(sentences: Sequence[str]) -> set[int]:
    """Non-whitespace offsets where each sentence but the last ends."""
    offsets, total = set(), 0
    for sentence in sentences[:-1]:
        total += sum(1 for char in sentence if not char.isspace())
        offsets.add(total)
    return offsets


def predicted_boundaries(text: str, spans: Spans) -> set[int]:
    """Non-whitespace offsets where each predicted sentence ends, the document's end left out."""
    ends = sorted({end for _, end in spans})
    offsets, total, position = set(), 0, 0
    for end in ends:
        total += sum(1 for char in text[position:end] if not char.isspace())
        position = end
        offsets.add(total)
    offsets.discard(sum(1 for char in text if not char.isspace()))
    return offsets


def segment_texts(pipeline: LoadedPipeline, texts: Sequence[str]) -> list[Spans]:
    """Sentence offsets of each text, by the function the processor uses."""
    return pipeline_spans(pipeline, texts)


def segment_with_spacy(pipeline: LoadedPipeline, texts: Sequence[str]) -> list[Spans]:
    """The same through spaCy: tokenizer, every component, `doc.sents`."""
    nlp = pipeline.nlp
    return [sentence_spans(doc) for doc in nlp.pipe(tokenizable(nlp, t) for t in texts)]


def score_treebank(
    pipeline: LoadedPipeline, docs: Sequence[GoldDocument], misses: list[Miss] | None = None
) -> Score:
    tp = predicted_count = gold_count = 0
    for doc, spans in zip(docs, segment_texts(pipeline, [d.text for d in docs]), strict=True):
        gold = gold_boundaries(doc.sentences)
        predicted = predicted_boundaries(doc.text, spans)
        tp += len(gold & predicted)
        predicted_count += len(predicted)
        gold_count += len(gold)
        if misses is not None:
            misses.extend(_misses(doc.text, gold, predicted))
    return Score(tp, predicted_count, gold_count)


def _misses(text: str, gold: set[int], predicted: set[int]) -> Iterable[Miss]:
    char_at: dict[int, int] = {}  # non-whitespace offset -> character offset
    count = 0
    for position, char in enumerate(text):
        if not char.isspace():
            count += 1
            char_at[count] = position + 1
    for kind, offsets in (("missed", gold - predicted), ("spurious", predicted - gold)):
        for offset in sorted(offsets):
            at = char_at[offset]
            yield Miss(kind, f"{text[max(0, at - 60) : at]}‖{text[at : at + 40]}")


def golden_rules(pipeline: LoadedPipeline, path: Path) -> tuple[int, list[dict[str, object]]]:
    """How many rules give exactly the expected sentences, and the rules that do not."""
    rules = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    failed = []
    texts = [rule["text"] for rule in rules]
    for rule, spans in zip(rules, segment_texts(pipeline, texts), strict=True):
        got = [rule["text"][start:end].strip() for start, end in spans]
        got = [sentence for sentence in got if sentence]
        if got != rule["expected"]:
            failed.append({"id": rule["id"], "name": rule["name"], "got": got})
    return len(rules) - len(failed), failed


def chars_per_second(
    load: Callable[[], LoadedPipeline],
    texts: Sequence[str],
    rounds: int = 3,
    segment: Callable[[LoadedPipeline, Sequence[str]], list[Spans]] = segment_texts,
) -> float:
    """Best of `rounds`, each with a freshly loaded pipeline, so every text is unseen."""
    best = 0.0
    total = sum(map(len, texts))
    for _ in range(rounds):
        pipeline = load()
        started = time.perf_counter()
        segment(pipeline, texts)
        best = max(best, total / (time.perf_counter() - started))
    return best


def sentencizer_pipeline(lang: str) -> LoadedPipeline:
    """spaCy's blank pipeline with its own rule-based `sentencizer`: the reference."""
    pipeline = load_pipeline(lang, None)
    nlp = pipeline.nlp
    for name in list(nlp.pipe_names):
        nlp.remove_pipe(name)
    nlp.add_pipe("sentencizer")
    pipeline.text_rules = None
    return pipeline


@dataclass(frozen=True)
class TreebankResult:
    treebank: Treebank
    reference: Score  # spaCy's sentencizer
    ours: Score  # the pipeline the processor would load for this language


@dataclass(frozen=True)
class Speed:
    """Characters per second on unseen text, each way measured in the same run."""

    reference: float  # spaCy blank + sentencizer, through spaCy
    ours: float  # ours, as the processor runs it
    ours_through_spacy: float  # ours, through spaCy's tokenizer and doc.sents
    chars: int


@dataclass(frozen=True)
class Evaluation:
    split: str
    results: list[TreebankResult]
    golden_reference: int
    golden_ours: int
    golden_total: int
    golden_failed: list[dict[str, object]]
    speed: Speed
    pipelines: dict[str, str]  # configured sources (SPACY_PIPELINES); empty: the defaults


def evaluate(
    data: Path,
    split: str = "test",
    configured: dict[str, str] | None = None,
    rounds: int = 3,
    progress: Callable[[str], None] = print,
) -> Evaluation:
    """Every treebank of `split` with spaCy's sentencizer and with our pipeline, the golden
    rules, and the speed of both on unseen text."""
    configured = configured or {}
    treebanks = TEST_SETS if split == "test" else DEV_SETS

    def ours(lang: str) -> LoadedPipeline:
        return load_pipeline(lang, configured.get(lang))

    results = []
    texts_by_lang: dict[str, dict[str, None]] = {}  # distinct texts, in order, for the speed
    for treebank in treebanks:
        docs = documents(data, treebank)
        texts_by_lang.setdefault(treebank.lang, {}).update(dict.fromkeys(d.text for d in docs))
        progress(f"{treebank.name}: {len(docs):,} document{'s' if len(docs) != 1 else ''}")
        reference = score_treebank(sentencizer_pipeline(treebank.lang), docs)
        results.append(
            TreebankResult(treebank, reference, score_treebank(ours(treebank.lang), docs))
        )
    rules_path = data / GOLDEN_RULES
    progress(f"golden rules: {rules_path.name}")
    golden_reference, _ = golden_rules(sentencizer_pipeline("en"), rules_path)
    golden_ours, failed = golden_rules(ours("en"), rules_path)
    texts = {lang: list(distinct) for lang, distinct in texts_by_lang.items()}
    speed = measure_speed(texts, ours, rounds, progress)
    return Evaluation(
        split, results, golden_reference, golden_ours, golden_ours + len(failed), failed, speed,
        dict(configured),
    )  # fmt: skip


def measure_speed(
    by_lang: dict[str, list[str]],
    ours: Callable[[str], LoadedPipeline],
    rounds: int,
    progress: Callable[[str], None],
) -> Speed:
    """Characters per second over the distinct documents of each language, with a fresh
    pipeline in each round (best of `rounds`), so no text has been seen."""
    chars = sum(len(text) for texts in by_lang.values() for text in texts)
    progress(f"speed: {chars:,} characters, best of {rounds} rounds")

    def rate(load: Callable[[str], LoadedPipeline], segment: Callable[..., list[Spans]]) -> float:
        seconds = 0.0
        for lang, texts in by_lang.items():
            fresh = functools.partial(load, lang)
            seconds += sum(map(len, texts)) / chars_per_second(fresh, texts, rounds, segment)
        return chars / seconds

    return Speed(
        reference=rate(sentencizer_pipeline, segment_with_spacy),
        ours=rate(ours, segment_texts),
        ours_through_spacy=rate(ours, segment_with_spacy),
        chars=chars,
    )


def print_errors(data: Path, split: str, configured: dict[str, str], count: int) -> None:
    """The first `count` missed and spurious boundaries of each set, for tuning on dev."""
    for treebank in TEST_SETS if split == "test" else DEV_SETS:
        misses: list[Miss] = []
        pipeline = load_pipeline(treebank.lang, configured.get(treebank.lang))
        score_treebank(pipeline, documents(data, treebank), misses)
        print(f"\n{treebank.name}")
        for kind in ("missed", "spurious"):
            for miss in [m for m in misses if m.kind == kind][:count]:
                print(f"  {kind:8} {miss.context!r}")
