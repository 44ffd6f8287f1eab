"""The cleanup actions, light and aggressive, each reported with RSS before and after."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from stream_segmenter.cache import ResultCache
from stream_segmenter.heap import return_freed_heap
from stream_segmenter.models.pool import ModelPool

CleanupKind = Literal["light", "aggressive", "manual", "periodic_gc", "idle_models"]
# Light cleanup keeps this share of the cache's bytes (least recently used go first).
LIGHT_CACHE_KEEP = 0.5


@dataclass(frozen=True)
class CleanupReport:
    kind: CleanupKind
    rss_before_mb: float
    rss_after_mb: float
    duration_ms: float
    actions: list[str]

    @property
    def freed_mb(self) -> float:
        return self.rss_before_mb - self.rss_after_mb


class Cleaner:
    def __init__(self, cache: ResultCache, pool: ModelPool, rss_mb: Callable[[], float]) -> None:
        self.cache = cache
        self.pool = pool
        self.rss_mb = rss_mb

    def light(self) -> CleanupReport:
        """Trim the cache, unload idle models, one young-generation GC pass: cheap, no pause."""

        def act() -> list[str]:
            actions = [f"cache_trimmed:{self.cache.trim(LIGHT_CACHE_KEEP)}"]
            actions += [f"model_unloaded:{lang}" for lang in self.pool.unload_idle()]
            actions.append(f"gc_gen1_collected:{gc.collect(1)}")
            return actions

        return self._run("light", act)

    def aggressive(self, kind: CleanupKind = "aggressive") -> CleanupReport:
        """Everything that can go: cache, all models, full GC, heap returned to the OS."""

        def act() -> list[str]:
            actions = [f"cache_cleared:{self.cache.clear()}"]
            actions += [f"model_unloaded:{lang}" for lang in self.pool.unload_all()]
            return actions + return_freed_heap()

        return self._run(kind, act)

    def unload_idle_models(self) -> CleanupReport:
        return self._run(
            "idle_models", lambda: [f"model_unloaded:{lang}" for lang in self.pool.unload_idle()]
        )

    def periodic_gc(self) -> CleanupReport:
        return self._run("periodic_gc", lambda: [f"gc_full_collected:{gc.collect()}"])

    def _run(self, kind: CleanupKind, act: Callable[[], list[str]]) -> CleanupReport:
        before = self.rss_mb()
        started = time.perf_counter()
        actions = act()
        duration_ms = (time.perf_counter() - started) * 1000
        return CleanupReport(kind, before, self.rss_mb(), duration_ms, actions)
