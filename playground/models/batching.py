"""Batched forward passes for many callers: one worker thread and queue per model.

Top-k requests for one model that arrive within :data:`BATCH_WINDOW_S` of each other go through
one forward pass of up to :data:`MAX_BATCH` images; each caller waits on a future. In eval mode
every image of a batch is computed independently, so the result equals one-by-one prediction up
to float rounding. Used by :mod:`playground.models.serving`.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from time import monotonic
from typing import Any

import torch

from playground.models.registry import LoadedModel

__all__ = ["Batcher", "BATCH_WINDOW_S", "MAX_BATCH"]

BATCH_WINDOW_S = 0.005  # how long the worker waits for more requests after the first of a batch
MAX_BATCH = 16  # images per forward pass: enough for a class clicking at once, small enough to stay fast


@dataclass
class _Request:
    x: torch.Tensor  # (3, crop, crop), preprocessed on the caller's thread
    loaded: LoadedModel  # the request keeps its model alive; the batcher only holds a weak reference
    future: Future


class Batcher:
    """One worker thread per model: softmax probabilities for many callers' images, batched.

    :meth:`probabilities` blocks until the batch holding its image has run. ``forwards`` counts
    forward passes and ``batch_sizes`` their sizes (for tests and the bench). The worker stops when
    the model is garbage-collected (evicted from the app's model cache) or :meth:`close` is called.
    """

    def __init__(self, loaded: LoadedModel, compute: Callable[..., Any],
                 window_s: float = BATCH_WINDOW_S, max_batch: int = MAX_BATCH) -> None:
        self.window_s, self.max_batch = window_s, max_batch
        self.forwards = 0
        self.batch_sizes: list[int] = []
        self._compute = compute  # runs the forward pass (the server's one compute thread)
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"batcher-{loaded.name}", daemon=True)
        self._thread.start()

    def probabilities(self, loaded: LoadedModel, x: torch.Tensor) -> torch.Tensor:
        """Softmax over the classes for one preprocessed image (3, crop, crop) -> (K,) on the CPU."""
        request = _Request(x, loaded, Future())
        self._queue.put(request)
        return request.future.result()

    def close(self) -> None:
        """Stop the worker after the requests already queued."""
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop, item = [first], False, None
            deadline = monotonic() + self.window_s
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._forward(batch)
            del batch, first, item  # hold no model between batches: an evicted model must be collectable
            if stop:
                return

    def _forward(self, batch: list[_Request]) -> None:
        # Group by input shape: one model has one crop size, but nothing here relies on that.
        groups: dict[tuple[int, ...], list[_Request]] = {}
        for r in batch:
            groups.setdefault(tuple(r.x.shape), []).append(r)
        for group in groups.values():
            loaded = group[0].loaded
            try:
                x = torch.stack([r.x for r in group]).to(loaded.device)  # (B, 3, crop, crop)
                probs = self._compute(_probabilities, loaded, x)  # (B, K), on the compute thread
                self.forwards += 1
                self.batch_sizes.append(len(group))
            except Exception as exc:  # the callers see the error; the worker keeps serving
                for r in group:
                    r.future.set_exception(exc)
                continue
            for i, r in enumerate(group):
                r.future.set_result(probs[i])


def _probabilities(loaded: LoadedModel, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return loaded.model(x).float().softmax(dim=1).cpu()
