"""One long-lived thread for every PyTorch computation of the app server.

The server runs one PyTorch computation at a time (see :mod:`playground.models.serving`). It used
to take a lock and compute on the caller's thread: a Streamlit script thread (a new one for every
page run) or a model's batching thread. That costs far more than the lock suggests. GNU OpenMP,
which PyTorch's CPU kernels use, gives each thread that runs a parallel op its own team of worker
threads, and once the teams hold more threads than there are cores it stops spinning between ops:
every small op (an add, a batch norm, a pad) then waits for its workers to be woken. Measured on the
2-core machine: EfficientNet-Lite0's forward pass took 53 ms from a second thread against 28 ms
when one thread does all the work, and a 96x56x56 add 148 us against 29 us. So every computation
is handed to this one thread, and it alone runs parallel ops: built with ``threads``, it sets that
intra-op thread count for itself and then one for every other thread (PyTorch's setting is taken up
by each new thread), so a page's own small torch work runs single-threaded beside it instead of
starting a second team. Measured with ``python bench/bench_classroom.py --predict-uploads --pages
Predict-upload`` (30 students, each uploading a photo of their own, 2-core machine), the lock on
the caller's thread before, this thread after (with one intra-op thread here, as
``serving.server_threads`` gives): server CPU per page run 0.070-0.072 s -> 0.049-0.054 s, first
prediction p95 5.3 s -> 3.8-4.1 s, server RSS after the phase 1,676 -> about 1,000 MiB.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import torch

__all__ = ["ComputeThread"]

T = TypeVar("T")


class ComputeThread:
    """Runs functions one at a time on its own thread (started at once when ``threads`` is given,
    else on first use; at interpreter exit the computation under way finishes first)."""

    def __init__(self, name: str = "torch-compute", threads: int | None = None) -> None:
        """``threads``: PyTorch's intra-op thread count for this thread, and 1 for every thread
        started after it (None: leave PyTorch's setting alone, as tests and libraries want)."""
        setup = None if threads is None else functools.partial(_own_thread_count, threads)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=setup)
        self._local = threading.local()
        if threads is not None:
            self._pool.submit(lambda: None).result()  # start the thread now, with its own setting ...
            torch.set_num_threads(1)  # ... then every later thread (Streamlit's script threads) runs alone

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the compute thread; its result, or its exception re-raised.

        Called from the compute thread itself (a computation that needs another), it runs inline:
        waiting for the one worker from that worker would never end."""
        if getattr(self._local, "inside", False):
            return fn(*args, **kwargs)
        return self._pool.submit(self._call, fn, args, kwargs).result()

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        self._local.inside = True
        try:
            return fn(*args, **kwargs)
        finally:
            self._local.inside = False

    def close(self) -> None:
        """Finish what was submitted, then stop the thread."""
        self._pool.shutdown(wait=True)


def _own_thread_count(threads: int) -> None:
    # Set the count, then run one op big enough to be split across the threads: that makes this
    # thread's OpenMP setting its own, so the process-wide count set afterwards (1, for the other
    # threads) leaves it alone. Without the op the thread took up the later count (tested).
    torch.set_num_threads(threads)
    torch.ones(1 << 18).add_(1)
