"""Batches of a run's cached tensors on the device, the next batch already on its way while this one computes.

On a CUDA device each batch is gathered on the CPU into one of two pinned (page-locked) buffers
and copied to the GPU on a side stream: a copy from pinned memory runs asynchronously, in parallel
with the step the GPU is computing, whereas ``non_blocking=True`` from ordinary memory is a
synchronous copy. The batch stays uint8 until it is on the device (a quarter of fp32's bytes);
normalising and augmenting happen there. On a CPU there is nothing to overlap: :class:`Prefetcher`
just gathers each batch, so CPU runs compute exactly what they computed before.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch

__all__ = ["Prefetcher"]

_BUFFERS = 2  # one batch being consumed, one being copied


class Prefetcher:
    """Rows of ``sources`` (CPU tensors sharing their first dimension) on ``device``, batch by batch:
    ``prefetcher.batches(list_of_index_tensors)``. Its pinned buffers and side stream last for the
    whole run (pinning memory is slow), so one prefetcher serves every epoch and validation pass."""

    def __init__(self, sources: Sequence[torch.Tensor], device: torch.device | str) -> None:
        self.sources = tuple(sources)
        self.device = torch.device(device)
        self.pinned = self.device.type == "cuda"
        self._buffers: list[tuple[torch.Tensor, ...]] = []  # pinned staging, allocated for the first batch
        self._copied: list[torch.cuda.Event | None] = [None] * _BUFFERS  # each buffer's last copy
        self._stream = torch.cuda.Stream(self.device) if self.pinned else None

    def batches(self, batches: Iterable[torch.Tensor]) -> Iterator[tuple[torch.Tensor, ...]]:
        """For each index tensor, the sources' rows on the device (on CUDA: batch k+1 is gathered
        and its copy started before batch k is handed out)."""
        if not self.pinned:
            for idx in batches:
                yield tuple(src[idx] for src in self.sources)
            return
        ahead: tuple[tuple[torch.Tensor, ...], torch.cuda.Event] | None = None
        for k, idx in enumerate(batches):
            staged = self._send(idx, k % _BUFFERS)  # this batch's copy starts now ...
            if ahead is not None:
                yield self._receive(*ahead)  # ... while the previous one is computed
            ahead = staged
        if ahead is not None:
            yield self._receive(*ahead)

    def _send(self, idx: torch.Tensor, slot: int) -> tuple[tuple[torch.Tensor, ...], torch.cuda.Event]:
        """Gather rows ``idx`` into pinned buffer ``slot`` and start their copy on the side stream."""
        assert self._stream is not None
        n = len(idx)
        if not self._buffers or n > len(self._buffers[0][0]):
            self._allocate(n)
        previous = self._copied[slot]
        if previous is not None:
            previous.synchronize()  # the buffer's last copy (two batches ago) has left it
        staged = []
        for src, buf in zip(self.sources, self._buffers[slot]):
            out = buf[:n]  # (n, ...) pinned
            torch.index_select(src, 0, idx, out=out)
            staged.append(out)
        with torch.cuda.stream(self._stream):
            moved = tuple(t.to(self.device, non_blocking=True) for t in staged)
            copied = torch.cuda.Event()
            copied.record(self._stream)
        self._copied[slot] = copied
        return moved, copied

    def _receive(self, moved: tuple[torch.Tensor, ...], copied: torch.cuda.Event) -> tuple[torch.Tensor, ...]:
        """The batch, usable on the current stream: that stream waits for this copy alone (not for the
        next batch's, already queued behind it), and the allocator learns that the current stream uses
        memory the side stream allocated, so it is not reused before the step is done with it."""
        current = torch.cuda.current_stream(self.device)
        current.wait_event(copied)
        for t in moved:
            t.record_stream(current)
        return moved

    def _allocate(self, rows: int) -> None:
        """``_BUFFERS`` pinned buffers of ``rows`` rows of every source."""
        for event in self._copied:
            if event is not None:
                event.synchronize()
        self._copied = [None] * _BUFFERS
        self._buffers = [tuple(torch.empty((rows, *src.shape[1:]), dtype=src.dtype).pin_memory()
                               for src in self.sources) for _ in range(_BUFFERS)]
