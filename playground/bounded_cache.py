"""A thread-safe least-recently-used cache bounded in bytes, not entries.

``st.cache_data(max_entries=256)`` bounds how many results are kept, not how big they are: 256
results of a few hundred MB each is a server out of memory. Each value here is sized by its pickle
(what ``st.cache_data`` would store too); a value over the per-entry limit is not kept at all, and
the oldest entries go when the total passes the budget.
"""
from __future__ import annotations

import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["BoundedCache"]

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """``get_or_compute(key, compute)``: the cached value, or ``compute()``'s, kept within ``max_bytes``."""

    def __init__(self, max_bytes: int, max_entry_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes if max_entry_bytes is not None else max_bytes // 8
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes held now (pickled sizes)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The value for ``key``; computed outside the lock (a slow computation blocks no other key)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = compute()
        size = len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        if size > self.max_entry_bytes:
            return value  # too big to keep: a repeat asks again rather than holding it for good
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                _, (_, old) = self._items.popitem(last=False)
                self._bytes -= old
        return value

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._bytes = 0
