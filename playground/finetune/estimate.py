"""How big and how long a fine-tuning run will be, measured on this machine before it starts."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from playground.finetune.config import TrainConfig, TrainingError
from playground.finetune.data import Dataset
from playground.finetune.runtime import Setup, autocast, prepare
from playground.finetune.strategy import apply_strategy, parameter_counts, set_modes
from playground.images import load_image
from playground.models.registry import replace_head

__all__ = ["Estimate", "estimate", "PROBE_IMAGES", "PROBE_BATCH"]

# Images decoded, and the largest batch timed: enough to time, small enough to be quick.
PROBE_IMAGES = 4
PROBE_BATCH = 8


@dataclass(frozen=True)
class Estimate:
    """How big and how long a run will be, measured on this machine before it starts."""

    trainable_params: int
    total_params: int
    seconds: float
    decode_seconds: float
    compute_seconds: float
    device: str
    method: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


def estimate(cfg: TrainConfig, dataset: Dataset, *, probe_images: int = PROBE_IMAGES) -> Estimate:
    """Estimate a run's duration by timing a few real steps here, then scaling up.

    Times decoding ``probe_images`` of the dataset's images, and one forward
    (plus backward, for training) pass of a small batch at the chosen image
    size with the strategy's trainable parameters, after one warm-up pass. The
    model has random weights (speed does not depend on them). It is an
    estimate: larger batches run faster per image, and other load on the
    machine changes everything.
    """
    setup = prepare(cfg, dataset)
    probe = dataset.items[: max(1, probe_images)]
    decode = _time_decoding(dataset, setup, probe) * len(dataset.items)
    model = replace_head(setup.entry.builder(), setup.entry, len(dataset.classes))
    groups = apply_strategy(model, setup.entry, cfg)
    trainable, total = parameter_counts(model)
    batch = min(cfg.batch_size, PROBE_BATCH)
    per_eval, per_train = _time_steps(cfg, setup, model, groups, batch)
    n_all, n_train, n_val = len(dataset.items), len(setup.split.train), len(setup.split.val)
    if cfg.uses_feature_cache:
        compute = per_eval * n_all  # features once; the head's steps cost next to nothing
        how = "one forward pass over every image (backbone features), then the head alone"
    else:
        compute = cfg.epochs * (n_train * per_train + n_val * per_eval)
        how = f"{cfg.epochs} epoch(s) of forward+backward on {n_train} images and a forward pass on {n_val}"
    return Estimate(
        trainable_params=trainable, total_params=total, seconds=decode + compute, decode_seconds=decode,
        compute_seconds=compute, device=str(setup.device),
        method=f"timed {len(probe)} image decodes and a batch of {batch} at {cfg.image_size} px on "
               f"{setup.device}; {how}",
    )


def _time_decoding(dataset: Dataset, setup: Setup, probe: list) -> float:
    """Seconds to decode and crop one image, averaged over ``probe``."""
    start = time.perf_counter()
    for item in probe:
        setup.preprocess.crop_image(load_image(dataset.path(item), name=item.path))
    return (time.perf_counter() - start) / len(probe)


def _time_steps(cfg: TrainConfig, setup: Setup, model: nn.Module, groups: list[dict[str, Any]],
                batch: int) -> tuple[float, float]:
    """Seconds per image of (an eval forward pass, a training step; 0 with cached features)."""
    device, amp_dtype = setup.device, setup.amp_dtype

    def timed(fn: Callable[[], None]) -> float:
        fn()  # warm-up (allocations, kernel selection)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / batch

    def forward() -> None:
        model.eval()
        with torch.no_grad(), autocast(device, amp_dtype):
            model(x)

    def step() -> None:
        set_modes(model, cfg)
        with autocast(device, amp_dtype):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad()
        loss.backward()

    try:
        # Same memory format as the real run (channels_last on CUDA), so the timing is its timing.
        fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        model.to(device, memory_format=fmt)  # type: ignore[call-overload]  # documented, missing from the stubs
        x = torch.randn(batch, 3, cfg.image_size, cfg.image_size, device=device)  # (b, 3, S, S)
        x = x.contiguous(memory_format=fmt)
        y = torch.zeros(batch, dtype=torch.long, device=device)
        opt = torch.optim.AdamW(groups)  # after the move, as PyTorch advises
        return timed(forward), 0.0 if cfg.uses_feature_cache else timed(step)
    except torch.cuda.OutOfMemoryError:
        raise TrainingError(
            f"the GPU ran out of memory timing a batch of {batch} at {cfg.image_size} px; "
            "try a smaller image size"
        ) from None
    finally:
        if device.type == "cuda":
            # This runs in the app's server process: hand the probe model's memory (weights, grads)
            # back, so the training workers and the Predict page's models get it.
            model.to("cpu")
            torch.cuda.empty_cache()
