"""Pipelines held in memory: loaded lazily on first use of a language, at most
`max_loaded` at once (least recently used goes first), unloaded after `idle_seconds`.

A batch holds its own reference to the pipeline it got, so unloading between or even
during batches is safe: the next `get` simply loads it again.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from stream_segmenter.heap import return_freed_heap
from stream_segmenter.models.loader import LoadedPipeline, load_pipeline, pipeline_key

log = logging.getLogger(__name__)

Loader = Callable[[str, str | None], LoadedPipeline]
Clock = Callable[[], float]


@dataclass
class ModelStats:
    """What telemetry reports of one loaded pipeline (times are wall-clock epoch seconds)."""

    name: str
    version: str
    lang: str
    loaded_at: float
    last_used: float
    uses: int


@dataclass
class _Slot:
    pipeline: LoadedPipeline
    stats: ModelStats


class ModelPool:
    def __init__(
        self,
        pipelines: dict[str, str],
        max_loaded: int = 4,
        idle_seconds: float = 900.0,
        loader: Loader = load_pipeline,
        clock: Clock = time.time,
        warmup_chars: int = 0,
        recycle_lexemes: int = 0,
    ) -> None:
        if max_loaded < 1:
            raise ValueError("max_loaded must be at least 1")
        self._sources = dict(pipelines)
        self.max_loaded = max_loaded
        self.idle_seconds = idle_seconds
        self._loader = loader
        self._clock = clock
        self.warmup_chars = warmup_chars
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self.recycle_lexemes = recycle_lexemes
        self.loads = 0
        self.unloads = 0
        self.recycles = 0

    def get(self, lang: str) -> LoadedPipeline:
        """The pipeline serving `lang` (languages spaCy does not know share `xx`)."""
        lang = pipeline_key(lang, self._sources)
        now = self._clock()
        slot = self._slots.get(lang)
        if slot is not None and self._worn_out(slot.pipeline):
            log.info(
                "reloading %s: %d lexemes created since it loaded (VOCAB_RECYCLE_LEXEMES=%d)",
                lang, len(slot.pipeline.nlp.vocab), self.recycle_lexemes,
            )  # fmt: skip
            self._unload(lang)
            return_freed_heap()  # else the old index stays resident as freed heap
            slot = None
            self.recycles += 1
        if slot is None:
            slot = self._load(lang, now)
        self._slots.move_to_end(lang)
        slot.stats.last_used = now
        slot.stats.uses += 1
        return slot.pipeline

    def _worn_out(self, pipeline: LoadedPipeline) -> bool:
        """Whether the pipeline has created more lexemes than VOCAB_RECYCLE_LEXEMES.

        A memory zone frees its lexemes and strings, but spaCy's lexeme index (a preshed
        hash map) keeps a tombstone for each and, when tombstones fill it, doubles
        instead of compacting: the index grows by about 16-32 bytes per word ever seen
        (measured: +19 MB RSS over 140,000 unique documents). `len(vocab)` counts every
        lexeme ever created, so it measures that growth; a reload resets it.
        """
        return bool(self.recycle_lexemes) and len(pipeline.nlp.vocab) > self.recycle_lexemes

    def _load(self, lang: str, now: float) -> _Slot:
        while len(self._slots) >= self.max_loaded:
            oldest = next(iter(self._slots))
            log.info("unloading %s: pool holds at most %d", oldest, self.max_loaded)
            self._unload(oldest)
        started = time.perf_counter()
        pipeline = self._loader(lang, self._sources.get(lang))
        pipeline.warmup_chars_left = self.warmup_chars
        self.loads += 1
        info = pipeline.info
        log.info(
            "loaded pipeline %s %s for lang=%s in %.2fs",
            info.name, info.version, lang, time.perf_counter() - started,
        )  # fmt: skip
        slot = _Slot(pipeline, ModelStats(info.name, info.version, lang, now, now, 0))
        self._slots[lang] = slot
        return slot

    def _unload(self, lang: str) -> None:
        del self._slots[lang]
        self.unloads += 1

    def unload_idle(self) -> list[str]:
        """Unload every pipeline unused for `idle_seconds`; return their languages."""
        cutoff = self._clock() - self.idle_seconds
        idle = [lang for lang, slot in self._slots.items() if slot.stats.last_used <= cutoff]
        for lang in idle:
            self._unload(lang)
        return idle

    def unload_all(self) -> list[str]:
        unloaded = list(self._slots)
        for lang in unloaded:
            self._unload(lang)
        return unloaded

    @property
    def loaded_languages(self) -> list[str]:
        return list(self._slots)

    def stats(self) -> list[ModelStats]:
        return [slot.stats for slot in self._slots.values()]
