from __future__ import annotations

from stream_segmenter.models.loader import load_pipeline
from stream_segmenter.models.pool import ModelPool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_pool(max_loaded: int = 2, idle: float = 60.0) -> tuple[ModelPool, list[str], Clock]:
    loads: list[str] = []
    clock = Clock()

    def loader(lang: str, source: str | None):
        loads.append(lang)
        return load_pipeline(lang, source)

    return ModelPool({}, max_loaded, idle, loader=loader, clock=clock), loads, clock


def test_loads_lazily_and_counts_uses():
    pool, loads, clock = make_pool()
    assert loads == [] and pool.stats() == []
    pool.get("en")
    clock.now += 5
    pool.get("en")
    assert loads == ["en"]
    [stats] = pool.stats()
    assert (stats.name, stats.lang, stats.uses) == ("blank_en", "en", 2)
    assert (stats.loaded_at, stats.last_used) == (1000.0, 1005.0)


def test_least_recently_used_goes_first():
    pool, loads, _ = make_pool(max_loaded=2)
    pool.get("en")
    pool.get("de")
    pool.get("en")  # de is now the least recently used
    pool.get("tr")
    assert pool.loaded_languages == ["en", "tr"]
    pool.get("de")
    assert pool.loaded_languages == ["tr", "de"]
    assert loads == ["en", "de", "tr", "de"]
    assert (pool.loads, pool.unloads) == (4, 2)


def test_idle_models_are_unloaded_and_come_back_on_use():
    pool, loads, clock = make_pool(max_loaded=3, idle=60)
    pool.get("en")
    clock.now += 30
    pool.get("de")
    clock.now += 31  # en idle for 61 s, de for 31 s
    assert pool.unload_idle() == ["en"]
    assert pool.loaded_languages == ["de"]
    held = pool.get("de")
    assert pool.unload_all() == ["de"]
    # A batch that still holds a pipeline can finish with it after an unload.
    assert [s.text for s in held.nlp("Eins. Zwei.").sents] == ["Eins.", "Zwei."]
    pool.get("en")
    assert loads == ["en", "de", "en"]


def test_languages_spacy_does_not_know_share_one_pipeline():
    pool, loads, _ = make_pool(max_loaded=4)
    for code in ("zz", "qq", "zzz", "abc"):
        assert pool.get(code).info.name == "blank_xx"
    assert loads == ["xx"] and pool.loaded_languages == ["xx"]


def test_a_pipeline_that_created_too_many_lexemes_is_reloaded():
    loads: list[str] = []

    def loader(lang: str, source: str | None):
        loads.append(lang)
        return load_pipeline(lang, source)

    pool = ModelPool({}, loader=loader, recycle_lexemes=1_000)
    first = pool.get("en")
    first.nlp(" ".join(f"word{i}" for i in range(1_200)))  # 1,200 new lexemes
    assert len(first.nlp.vocab) > 1_000
    second = pool.get("en")
    assert second is not first and loads == ["en", "en"] and pool.recycles == 1
    assert pool.get("en") is second  # fresh: kept
