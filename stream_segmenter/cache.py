"""Bounded LRU cache of segmentation results, keyed by a hash of pipeline and text.

Bounded twice: by entries (`MAX_CACHE_SIZE`) and by bytes (`MAX_CACHE_MB`, measured
with a size function). Values are the segment offsets packed into an array of 32-bit
integers, never copies of the text: the text is in the message being processed, and
`text[start:end]` rebuilds every segment.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from itertools import chain

from cachetools import LRUCache
from pydantic import BaseModel

Spans = tuple[tuple[int, int], ...]

# Bytes a dict slot and the LRU bookkeeping cost per entry, beyond key and value objects.
ENTRY_OVERHEAD_BYTES = 120


def cache_key(namespace: str, lang: str, text: str) -> bytes:
    """16-byte digest of pipeline, language and text: small, and collisions are negligible."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(namespace.encode())
    digest.update(b"\0")
    digest.update(lang.encode())
    digest.update(b"\0")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.digest()


def _entry_size(value: array) -> int:
    return sys.getsizeof(value) + sys.getsizeof(b"\0" * 16) + ENTRY_OVERHEAD_BYTES


class CacheStats(BaseModel):
    """What telemetry reports of the cache (a part of every telemetry event)."""

    entries: int
    bytes: int
    max_entries: int
    max_bytes: int
    hits: int
    misses: int
    evictions: int


class _CountingLRU(LRUCache[bytes, array]):
    """An LRUCache that counts what it evicts to stay within its byte bound."""

    evictions = 0

    def popitem(self) -> tuple[bytes, array]:
        self.evictions += 1
        return super().popitem()


class ResultCache:
    """LRU of segment offsets; `max_entries=0` or `max_bytes=0` turns caching off."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries = _CountingLRU(maxsize=max(max_bytes, 1), getsizeof=_entry_size)
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0

    def get(self, key: bytes) -> Spans | None:
        packed = self._entries.get(key)
        if packed is None:
            self.misses += 1
            return None
        self.hits += 1
        return tuple(zip(packed[::2], packed[1::2], strict=True))

    def put(self, key: bytes, spans: Spans) -> None:
        if not self.enabled:
            return
        packed = array("I", chain.from_iterable(spans))
        if _entry_size(packed) > self.max_bytes:
            return  # larger than the whole cache: not worth evicting everything for
        self._entries[key] = packed
        while len(self._entries) > self.max_entries:
            self._entries.popitem()

    def trim(self, keep_fraction: float) -> int:
        """Evict least recently used entries until at most `keep_fraction` of bytes remain."""
        target = self._entries.currsize * keep_fraction
        evicted = 0
        while self._entries and self._entries.currsize > target:
            self._entries.popitem()
            evicted += 1
        return evicted

    def clear(self) -> int:
        cleared = len(self._entries)
        self._entries.clear()
        return cleared

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return int(self._entries.currsize)

    def stats(self) -> CacheStats:
        return CacheStats(
            entries=len(self._entries),
            bytes=self.bytes,
            max_entries=self.max_entries,
            max_bytes=self.max_bytes,
            hits=self.hits,
            misses=self.misses,
            evictions=self._entries.evictions,
        )
