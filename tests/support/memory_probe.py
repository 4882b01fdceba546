"""The oracle for training-memory tests: the bytes of the tensors autograd saves for backward, measured."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["saved_bytes"]


def saved_bytes(model: nn.Module, x: torch.Tensor, *, backward: bool = True) -> int:
    """Bytes of the non-parameter storages autograd saved in ``model(x)``, deduplicated by data pointer.

    ``backward``: run the step's backward too (what was saved was really needed); off for a model whose
    output may not require grad (a frozen backbone)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    found: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        found[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    if backward:
        out.float().sum().backward()
    del out
    return sum(n for ptr, n in found.items() if ptr not in params)
