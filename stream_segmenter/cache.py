"""Bounded LRU cache of segmentation results, keyed by a hash of pipeline and text.

Values are the segment offsets only, never copies of the text: the text is in the
message being processed, and `text[start:end]` rebuilds every segment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cachetools import LRUCache

Spans = tuple[tuple[int, int], ...]


def cache_key(namespace: str, lang: str, text: str) -> bytes:
    """16-byte digest of pipeline, language and text: small, and collisions are negligible."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(namespace.encode())
    digest.update(b"\0")
    digest.update(lang.encode())
    digest.update(b"\0")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.digest()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0


class ResultCache:
    """LRU of at most `max_entries` results; `max_entries=0` turns caching off."""

    def __init__(self, max_entries: int) -> None:
        self._entries: LRUCache[bytes, Spans] | None = (
            LRUCache(maxsize=max_entries) if max_entries > 0 else None
        )
        self.stats = CacheStats()

    def get(self, key: bytes) -> Spans | None:
        found = self._entries.get(key) if self._entries is not None else None
        if found is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return found

    def put(self, key: bytes, spans: Spans) -> None:
        if self._entries is not None:
            self._entries[key] = spans

    def __len__(self) -> int:
        return len(self._entries) if self._entries is not None else 0
