"""Split texts into sentence offsets with the pool's pipelines, through the result cache."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spacy.language import Language
from spacy.tokens import Doc

from stream_segmenter.cache import ResultCache, Spans, cache_key
from stream_segmenter.events import ModelInfo, Segment
from stream_segmenter.models.loader import LoadedPipeline
from stream_segmenter.models.pool import ModelPool
from stream_segmenter.sentences.rules import CJK_STOPS, sentence_starts

PIPE_BATCH_SIZE = 64
# spaCy's tokenizer splits prefixes and suffixes off a whitespace-free run one character at
# a time, copying the rest each time: quadratic in the run's length. 30,000 emoji in a row
# took 115 s. Runs this long are tokenized in chunks of CHUNK_CHARS instead (linear).
LONG_RUN_CHARS = 256
CHUNK_CHARS = 64
_LONG_RUN = re.compile(rf"\S{{{LONG_RUN_CHARS},}}")
# A run that starts like a URL is matched whole by spaCy's url_match (linear): never cut.
_URL_START = re.compile(r"\(?(https?://|ftp://|www\.)", re.IGNORECASE)
_CJK_STOP = re.compile(rf"[{CJK_STOPS}]+[」』）〕】”’]*(?=\S)")


@dataclass(frozen=True)
class SegmentResult:
    model: ModelInfo
    spans: Spans
    cache_hit: bool


def sentence_spans(doc: Doc) -> Spans:
    """Offsets of each sentence with surrounding whitespace trimmed; blank sentences dropped."""
    return _trimmed(doc.text, ((sent.start_char, sent.end_char) for sent in doc.sents))


def text_spans(text: str, starts: Iterable[int]) -> Spans:
    """Offsets of the sentences that begin at 0 and at each of `starts`, trimmed like
    `sentence_spans`, so both give the same result for the same sentence starts."""
    return _trimmed(text, itertools.pairwise([0, *starts, len(text)]))


def _trimmed(text: str, spans: Iterable[tuple[int, int]]) -> Spans:
    trimmed = []
    for start, end in spans:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            trimmed.append((start, end))
    return tuple(trimmed)


def pipeline_spans(pipeline: LoadedPipeline, texts: Sequence[str]) -> list[Spans]:
    """Sentence offsets of each text. A pipeline of our rules alone skips spaCy's tokenizer
    (two thirds of the time) and leaves the vocabulary untouched; any other pipeline runs."""
    if pipeline.text_rules is not None:
        rules = pipeline.text_rules
        return [text_spans(text, sentence_starts(text, rules)) for text in texts]
    nlp = pipeline.nlp
    inputs = [tokenizable(nlp, text) for text in texts]
    return [sentence_spans(doc) for doc in nlp.pipe(inputs, batch_size=PIPE_BATCH_SIZE)]


def tokenizable(nlp: Language, text: str) -> str | Doc:
    """The text itself, or a Doc tokenized piece by piece (its text is still exactly
    `text`, so offsets hold) when the text has a run of LONG_RUN_CHARS non-space characters
    (cut into CHUNK_CHARS pieces) or a CJK full stop with text right after it (cut there,
    so no token straddles a sentence start: splitting tokens afterwards costs spaCy time
    proportional to the whole document, per split)."""
    cuts = set()
    for run in _LONG_RUN.finditer(text):
        if not _URL_START.match(run.group()):
            cuts.update(range(run.start(), run.end(), CHUNK_CHARS))
            cuts.add(run.end())
    if not text.isascii():
        cuts.update(stop.end() for stop in _CJK_STOP.finditer(text))
    cuts = sorted(cut for cut in cuts if 0 < cut < len(text))
    if not cuts:
        return text
    pieces = [text[start:end] for start, end in itertools.pairwise([0, *cuts, len(text)])]
    tokens = [token for piece in pieces for token in nlp.make_doc(piece)]
    words = [token.text for token in tokens]
    spaces = [bool(token.whitespace_) for token in tokens]
    return Doc(nlp.vocab, words=words, spaces=spaces)  # no sentence starts set yet


def to_segments(text: str, spans: Iterable[tuple[int, int]]) -> list[Segment]:
    return [
        Segment(index=i, text=text[start:end], start=start, end=end)
        for i, (start, end) in enumerate(spans)
    ]


class Segmenter:
    """Segments batches of (lang, text); one `nlp.pipe` per language in a batch."""

    def __init__(self, pool: ModelPool, cache: ResultCache) -> None:
        self.pool = pool
        self.cache = cache

    def segment(self, docs: Sequence[tuple[str, str]]) -> list[SegmentResult]:
        """Results in the order of `docs`. Raises only if a pipeline cannot be loaded."""
        results: list[SegmentResult | None] = [None] * len(docs)
        by_lang: dict[str, list[int]] = defaultdict(list)
        for position, (lang, _) in enumerate(docs):
            by_lang[lang].append(position)
        for lang, positions in by_lang.items():
            pipeline = self.pool.get(lang)
            misses: list[tuple[int, bytes]] = []
            for position in positions:
                text = docs[position][1]
                # No hashing at all when the cache is off (every document new anyway).
                key = cache_key(pipeline.cache_namespace, lang, text) if self.cache.enabled else b""
                spans = self.cache.get(key)
                if spans is None:
                    misses.append((position, key))
                else:
                    results[position] = SegmentResult(pipeline.info, spans, cache_hit=True)
            if not misses:
                continue
            texts = [docs[position][1] for position, _ in misses]
            computed = self._segment_texts(pipeline, texts)
            for (position, key), spans in zip(misses, computed, strict=True):
                self.cache.put(key, spans)
                results[position] = SegmentResult(pipeline.info, spans, cache_hit=False)
        return [result for result in results if result is not None]

    @staticmethod
    def _segment_texts(pipeline: LoadedPipeline, texts: list[str]) -> list[Spans]:
        """Sentence offsets of each text; only plain tuples of ints leave this function.

        A memory zone frees, when it closes, every string and lexeme the batch added to the
        vocabulary, so the vocabulary cannot grow with the stream. But inside a zone nothing
        new is cached either: every word is looked up and split again in every batch, which
        made segmenting unseen text about three times slower. So the first
        `warmup_chars_left` characters after a load run outside the zone: the words they
        bring (the frequent ones, by Zipf's law) become permanent and their tokenizations
        cached, and every later batch runs inside a zone at close to full speed. Permanent
        growth is bounded by that warm-up, not by the stream.
        """
        if pipeline.text_rules is not None:  # the vocabulary is never touched
            return pipeline_spans(pipeline, texts)
        if pipeline.warmup_chars_left > 0:
            pipeline.warmup_chars_left -= sum(map(len, texts))
            return pipeline_spans(pipeline, texts)
        with pipeline.nlp.memory_zone():
            return pipeline_spans(pipeline, texts)
