"""The cache of the Designer's effective-field results is bounded in bytes, not entries."""
from __future__ import annotations

import pickle

from playground.bounded_cache import BoundedCache


def test_total_and_entry_bytes_are_bounded() -> None:
    cache: BoundedCache[bytes] = BoundedCache(max_bytes=10_000, max_entry_bytes=3_000)
    calls: list[int] = []

    def make(i: int, size: int) -> bytes:
        calls.append(i)
        return bytes(size)

    for i in range(20):  # 20 × ~2 KB into 10 KB: only the newest few stay
        cache.get_or_compute(i, lambda i=i: make(i, 2_000))
    assert cache.nbytes <= 10_000 and 3 <= len(cache) <= 5
    assert cache.get_or_compute(19, lambda: make(-1, 1)) == bytes(2_000) and calls[-1] == 19  # a hit
    cache.get_or_compute(0, lambda: make(0, 2_000))
    assert calls[-1] == 0  # the oldest had gone: computed again
    big = cache.get_or_compute("big", lambda: make(99, 50_000))  # over the per-entry limit: returned, not kept
    assert len(big) == 50_000 and cache.nbytes <= 10_000
    cache.get_or_compute("big", lambda: make(100, 50_000))
    assert calls[-1] == 100
    assert cache.nbytes == sum(len(pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL))
                               for v, _ in cache._items.values())
