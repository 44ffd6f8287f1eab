"""Pipelines held in memory, loaded lazily on first use of a language."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from stream_segmenter.models.loader import LoadedPipeline, load_pipeline

log = logging.getLogger(__name__)

Loader = Callable[[str, str | None], LoadedPipeline]


class ModelPool:
    """Gives the pipeline for a language, loading it the first time it is asked for."""

    def __init__(self, pipelines: dict[str, str], loader: Loader = load_pipeline) -> None:
        self._sources = dict(pipelines)
        self._loader = loader
        self._loaded: dict[str, LoadedPipeline] = {}

    def get(self, lang: str) -> LoadedPipeline:
        pipeline = self._loaded.get(lang)
        if pipeline is None:
            started = time.perf_counter()
            pipeline = self._loader(lang, self._sources.get(lang))
            self._loaded[lang] = pipeline
            log.info(
                "loaded pipeline %s %s for lang=%s in %.2fs",
                pipeline.info.name,
                pipeline.info.version,
                lang,
                time.perf_counter() - started,
            )
        return pipeline

    @property
    def loaded_languages(self) -> list[str]:
        return list(self._loaded)
