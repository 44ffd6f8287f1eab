from __future__ import annotations

import json

import spacy

from stream_segmenter.cache import ResultCache
from stream_segmenter.corpus import read_conllu
from stream_segmenter.models.loader import load_pipeline
from stream_segmenter.models.pool import ModelPool
from stream_segmenter.segment import Segmenter
from tests.conftest import GOLDEN_RULES, require


def make_segmenter(pipelines: dict[str, str] | None = None, cache_size: int = 100) -> Segmenter:
    return Segmenter(ModelPool(pipelines or {}), ResultCache(cache_size, 2**20))


def test_offsets_slice_every_ewt_document_exactly(ewt_test):
    documents = list(read_conllu(ewt_test))
    results = make_segmenter().segment([("en", d.text) for d in documents])
    assert len(results) == len(documents)
    for document, result in zip(documents, results, strict=True):
        assert result.spans, document.doc_id
        previous_end = 0
        for start, end in result.spans:
            piece = document.text[start:end]
            assert piece and piece == piece.strip()
            assert start >= previous_end
            previous_end = end
        # Nothing but whitespace is left out between segments.
        covered = "".join(document.text[s:e] for s, e in result.spans)
        assert "".join(covered.split()) == "".join(document.text.split())


def test_golden_rule_one_and_unicode_offsets():
    require(GOLDEN_RULES)
    rule = json.loads(GOLDEN_RULES.read_text().splitlines()[0])
    text = rule["text"]
    [result] = make_segmenter().segment([("en", text)])
    assert [text[s:e] for s, e in result.spans] == rule["expected"]
    emoji = "Ça va 😀. Très bien! 日本語です。"
    [result] = make_segmenter().segment([("fr", emoji)])
    assert [emoji[s:e] for s, e in result.spans] == ["Ça va 😀.", "Très bien!", "日本語です。"]


def test_whitespace_only_sentences_are_dropped():
    text = "First one.\n\n\n   \n\nSecond one.   "
    [result] = make_segmenter().segment([("en", text)])
    assert [text[s:e] for s, e in result.spans] == ["First one.", "Second one."]


def test_second_time_is_a_cache_hit_with_the_same_spans():
    segmenter = make_segmenter()
    [first] = segmenter.segment([("en", "One. Two.")])
    [second] = segmenter.segment([("en", "One. Two.")])
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert first.spans == second.spans == ((0, 4), (5, 9))
    assert (segmenter.cache.hits, segmenter.cache.misses) == (1, 1)


def test_cache_of_size_zero_never_hits():
    segmenter = make_segmenter(cache_size=0)
    segmenter.segment([("en", "One. Two.")])
    [again] = segmenter.segment([("en", "One. Two.")])
    assert not again.cache_hit and len(segmenter.cache) == 0


def test_cache_holds_at_most_its_size():
    segmenter = make_segmenter(cache_size=5)
    segmenter.segment([("en", f"Sentence number {i}. Another.") for i in range(20)])
    assert len(segmenter.cache) == 5


def test_unknown_language_falls_back_to_the_multilingual_blank():
    [result] = make_segmenter().segment([("zz", "Uno. Dos.")])
    assert result.model.name == "blank_xx"
    assert result.spans == ((0, 4), (5, 9))


def test_a_pipeline_saved_to_disk_is_loaded_and_gets_our_sentence_component(tmp_path):
    nlp = spacy.blank("de")  # saved without any sentence-boundary component
    nlp.meta["name"] = "custom"
    nlp.meta["version"] = "1.2.3"
    nlp.to_disk(tmp_path / "de_custom")
    pipeline = load_pipeline("de", str(tmp_path / "de_custom"))
    assert pipeline.nlp.pipe_names == ["sentence_rules"]
    assert (pipeline.info.name, pipeline.info.version) == ("de_custom", "1.2.3")
    segmenter = make_segmenter({"de": str(tmp_path / "de_custom")})
    [result] = segmenter.segment([("de", "Am 3. Juni kam er. Dann ging er.")])
    assert result.model.name == "de_custom"
    assert result.spans[-1] == (19, 32)


def test_pool_loads_each_language_once_and_only_when_asked():
    calls: list[str] = []

    def loader(lang: str, source: str | None):
        calls.append(lang)
        return load_pipeline(lang, source)

    pool = ModelPool({}, loader=loader)
    assert pool.loaded_languages == []
    segmenter = Segmenter(pool, ResultCache(10, 2**20))
    segmenter.segment([("en", "A. B."), ("de", "C. D."), ("en", "E. F.")])
    segmenter.segment([("en", "G. H.")])
    assert calls == ["en", "de"]
