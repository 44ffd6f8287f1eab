from __future__ import annotations

from stream_segmenter.cache import ResultCache


def spans(count: int) -> tuple[tuple[int, int], ...]:
    return tuple((i * 10, i * 10 + 9) for i in range(count))


def test_entries_are_never_above_max_entries():
    cache = ResultCache(max_entries=10, max_bytes=10**9)
    for i in range(100):
        cache.put(i.to_bytes(16, "big"), spans(3))
        assert len(cache) <= 10
    stats = cache.stats()
    assert (stats.entries, stats.evictions) == (10, 90)
    assert cache.get((99).to_bytes(16, "big")) == spans(3)
    assert cache.get((0).to_bytes(16, "big")) is None
    assert (cache.hits, cache.misses) == (1, 1)


def test_bytes_are_never_above_max_bytes():
    cache = ResultCache(max_entries=10**6, max_bytes=20_000)
    for i in range(500):
        cache.put(i.to_bytes(16, "big"), spans(1 + i % 50))
        assert cache.bytes <= 20_000
    assert 0 < len(cache) < 500
    assert cache.stats().evictions == 500 - len(cache)


def test_values_are_packed_offsets_not_text():
    cache = ResultCache(max_entries=10, max_bytes=10**6)
    cache.put(b"k" * 16, spans(100))
    # 100 spans = 200 32-bit offsets, plus fixed overhead; a tuple of tuples is ~4x this.
    assert cache.bytes < 200 * 4 + 400


def test_trim_and_clear():
    cache = ResultCache(max_entries=100, max_bytes=10**6)
    for i in range(40):
        cache.put(i.to_bytes(16, "big"), spans(2))
    full = cache.bytes
    assert cache.trim(0.5) == 20
    assert cache.bytes <= full / 2
    assert cache.get((39).to_bytes(16, "big")) is not None  # the most recent stay
    assert cache.clear() == 20
    assert len(cache) == 0 and cache.bytes == 0


def test_an_entry_larger_than_the_cache_is_not_stored():
    cache = ResultCache(max_entries=10, max_bytes=500)
    cache.put(b"a" * 16, spans(1000))
    assert len(cache) == 0
