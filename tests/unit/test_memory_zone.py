"""The root cause: without memory_zone, every new word stays in the StringStore forever.

A pipeline that runs through spaCy (here: a saved blank pipeline with the sentencizer, as a
configured model would) relies on memory zones; the default pipeline (our rules alone) never
touches the vocabulary at all.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest
import spacy

from stream_segmenter.cache import ResultCache
from stream_segmenter.models.pool import ModelPool
from stream_segmenter.segment import Segmenter


def unseen_documents(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)

    def word() -> str:
        return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(6, 12)))

    return [
        " ".join(word() for _ in range(12)) + ". " + " ".join(word() for _ in range(8)) + "."
        for _ in range(count)
    ]


@pytest.fixture
def configured(tmp_path: Path) -> dict[str, str]:
    """SPACY_PIPELINES with an English pipeline that runs through spaCy's tokenizer."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "en_sentencizer")
    return {"en": str(tmp_path / "en_sentencizer")}


def test_the_default_pipeline_never_adds_to_the_string_store():
    segmenter = Segmenter(ModelPool({}, warmup_chars=10**9), ResultCache(0, 0))
    pipeline = segmenter.pool.get("en")
    assert pipeline.text_rules is not None
    before = len(pipeline.nlp.vocab.strings)
    results = segmenter.segment([("en", text) for text in unseen_documents(400, seed=7)])
    assert [len(result.spans) for result in results] == [2] * 400
    assert len(pipeline.nlp.vocab.strings) == before  # even with an unlimited warm-up


def test_string_store_stays_flat_inside_the_zone_and_grows_without_it(configured):
    segmenter = Segmenter(ModelPool(configured), ResultCache(0, 0))
    segmenter.segment([("en", "Warm up. Once.")])
    strings = segmenter.pool.get("en").nlp.vocab.strings
    before = len(strings)
    for round_number in range(5):
        segmenter.segment([("en", text) for text in unseen_documents(400, seed=round_number)])
    assert len(strings) == before  # 4,000 documents, 80,000 new words: nothing kept

    naive = spacy.blank("en")
    naive.add_pipe("sentencizer")
    naive_before = len(naive.vocab.strings)
    for text in unseen_documents(400, seed=99):
        naive(text)
    assert len(naive.vocab.strings) - naive_before >= 400 * 20  # every new word kept


def test_only_the_warm_up_grows_the_string_store(configured):
    pool = ModelPool(configured, warmup_chars=20_000)
    segmenter = Segmenter(pool, ResultCache(0, 0))
    warm_up = unseen_documents(200, seed=1000)  # about 30,000 characters: over the budget
    strings = pool.get("en").nlp.vocab.strings
    before = len(strings)
    segmenter.segment([("en", text) for text in warm_up])
    after_warm_up = len(strings)
    assert after_warm_up - before >= 200 * 20  # the warm-up's words are kept
    for round_number in range(5):
        segmenter.segment([("en", text) for text in unseen_documents(400, seed=round_number)])
    assert len(strings) == after_warm_up  # and nothing after it
