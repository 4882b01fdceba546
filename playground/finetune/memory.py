"""Training memory of a fine-tuning model under each strategy, measured as the fine-tuning loop would train it.

The measurement itself is the designer's (:mod:`playground.design.memory`: the real autograd graph on
the meta device); this module adds what only fine-tuning knows: a zoo model by name, its new head, and
a strategy's frozen layers and train/eval modes, applied by the same code the loop uses
(:mod:`playground.finetune.strategy`). :func:`memory_estimate` takes everything the designer's does too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from playground.design import memory as design_memory
from playground.design.memory import (
    Factory,
    MemoryEstimate,
    MemoryEstimateError,
    Prepare,
    check_settings,
    input_shape_of,
    measure_memory,
)
from playground.finetune.config import STRATEGIES, TrainConfig

__all__ = ["memory_estimate", "memory_by_strategy", "MemoryEstimate", "MemoryEstimateError"]


def memory_estimate(spec_or_module: Any, batch: int = 1, strategy: str | None = None, optimizer: str = "adamw",
                    precision: str = "fp32", input_shape: tuple[int, int, int] | None = None,
                    num_classes: int | None = None) -> MemoryEstimate:
    """Memory to train ``spec_or_module`` at ``batch``: a layer spec (dict, JSON, path, Spec), an ``nn.Module``
    (with ``input_shape``), or a fine-tuning model name (``"resnet18"``; then ``strategy`` is
    ``head``/``last-block``/``full``, applied exactly as the fine-tuning loop does, default ``full``).

    Parameters, gradients and optimizer state are counted exactly; the activations come from the real
    autograd graph (see :mod:`playground.design.memory`). Raises :class:`MemoryEstimateError` or ``SpecError``.
    """
    if not _is_model_name(spec_or_module):
        return design_memory.memory_estimate(spec_or_module, batch, strategy, optimizer, precision, input_shape)
    check_settings(batch, optimizer, precision)
    factory, shape, prepare = _zoo_model(spec_or_module, strategy, input_shape, num_classes)
    return measure_memory(factory, spec_or_module, shape, batch, prepare=prepare, strategy=strategy,
                          optimizer=optimizer, precision=precision)


def memory_by_strategy(model_name: str, batch: int, optimizer: str = "adamw", precision: str = "fp32",
                       image_size: int | None = None, num_classes: int | None = None) -> dict[str, MemoryEstimate]:
    """:func:`memory_estimate` of a fine-tuning model for each strategy (head, last-block, full)."""
    shape = (3, image_size, image_size) if image_size else None
    return {s: memory_estimate(model_name, batch, s, optimizer, precision, shape, num_classes) for s in STRATEGIES}


def _is_model_name(obj: Any) -> bool:
    """A bare word such as ``resnet18``: not JSON text and not a spec file's path (those have a suffix)."""
    return isinstance(obj, str) and not obj.lstrip().startswith("{") and not Path(obj).suffix


def _zoo_model(name: str, strategy: str | None, input_shape: tuple[int, int, int] | None,
               num_classes: int | None) -> tuple[Factory, tuple[int, int, int], Prepare]:
    """(build on a device, input shape, the strategy's preparation) for a zoo model by name."""
    import torch

    from playground.finetune.strategy import apply_strategy, set_modes
    from playground.models.registry import MODELS, replace_head  # imports torch: only for a model by name

    entry = MODELS.get(name)
    if entry is None:
        raise MemoryEstimateError(
            f"unknown model {name!r}; choose one of {', '.join(MODELS)} (or pass a spec or module)")
    cfg = TrainConfig(model=name, strategy=strategy or "full")

    def build(device: str) -> Any:
        with torch.device(device):
            model = entry.builder()
            return replace_head(model, entry, num_classes) if num_classes else model

    def prepare(model: Any) -> None:  # the fine-tuning loop's freezing and train/eval modes, reused
        apply_strategy(model, entry, cfg)
        set_modes(model, cfg)

    shape = input_shape_of(input_shape) if input_shape else (3, entry.preprocess.crop, entry.preprocess.crop)
    return build, shape, prepare
