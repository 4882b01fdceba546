"""A run's images as tensors: every image decoded once into a uint8 cache, normalised per batch,
and augmented (random crop of a padded image + horizontal flip) on that tensor, on whichever
device the batch is (the training device: a GPU run does this work on the GPU, batched)."""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from playground.finetune.config import TrainingError
from playground.finetune.data import Dataset, DatasetError
from playground.finetune.result import Stopped
from playground.images import ImageError, load_image
from playground.models.preprocess import Preprocess

__all__ = ["MAX_CACHE_BYTES", "decode_all", "normalize", "augment", "crop_and_flip"]

# Decoded images are kept in memory as uint8 (N, 3, S, S); refuse sizes that would not fit comfortably.
MAX_CACHE_BYTES = 6 * 1024**3
# Augmentation pads by 1/8 of the image size before a random crop, and flips half the images.
_AUGMENT_PAD_DIVISOR = 8
_FLIP_PROBABILITY = 0.5


def decode_all(dataset: Dataset, preprocess: Preprocess, on_image: Callable[[int, int], None],
               should_stop: Callable[[], bool]) -> torch.Tensor:
    """Every image as it will be shown to the model, before normalising: uint8 (N, 3, S, S).

    ``on_image(done, total)`` is called after each image; Stopped is raised when ``should_stop()``.
    """
    import torchvision.transforms.functional as TF

    n, s = len(dataset.items), preprocess.crop
    if n * 3 * s * s > MAX_CACHE_BYTES:
        raise TrainingError(
            f"{n} images at {s} px need {n * 3 * s * s / 1024**2:,.0f} MB of memory (limit "
            f"{MAX_CACHE_BYTES / 1024**2:,.0f} MB); "
            f"use a smaller image size (at most {int(math.sqrt(MAX_CACHE_BYTES / (3 * n)))} px) or fewer images"
        )
    out = torch.empty((n, 3, s, s), dtype=torch.uint8)  # (N, 3, S, S)
    for i, item in enumerate(dataset.items):
        try:
            img = load_image(dataset.path(item), name=item.path)
        except ImageError as exc:  # the file changed since the dataset was checked
            raise DatasetError(str(exc)) from None
        out[i] = TF.pil_to_tensor(preprocess.crop_image(img))  # (3, S, S)
        if should_stop():
            raise Stopped()
        on_image(i + 1, n)
    return out


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, S, S) -> normalised float (B, 3, S, S), as Preprocess.__call__ does."""
    return (x.float().div_(255.0) - mean) / std


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop of the image padded by 1/8 of its size (reflect), then a random horizontal flip.

    The draws come from ``gen`` (a CPU generator) in the same order whatever ``x``'s device, so a
    seed gives the same crops and flips on a CPU and a GPU; the crops are one batched gather.
    """
    b, _, s, _ = x.shape  # (B, 3, S, S) float
    pad = max(1, s // _AUGMENT_PAD_DIVISOR)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")  # (B, 3, S+2p, S+2p)
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=gen)  # (B, 2): dy, dx
    flips = torch.rand(b, generator=gen) < _FLIP_PROBABILITY  # (B,)
    return crop_and_flip(padded, offsets.to(x.device), flips.to(x.device), s)


def crop_and_flip(padded: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, size: int) -> torch.Tensor:
    """Per image i, the ``size`` x ``size`` window of ``padded[i]`` at ``offsets[i]`` (dy, dx), mirrored
    left-right where ``flips[i]``: ``padded[i, :, dy:dy+size, dx:dx+size]`` (``.flip(-1)``), for the
    whole batch in two gathers instead of a Python loop over its images."""
    b, c, p, _ = padded.shape  # (B, C, P, P)
    steps = torch.arange(size, device=padded.device)  # (S,)
    rows = offsets[:, :1] + steps  # (B, S)
    # A mirrored window reads its columns right to left.
    cols = offsets[:, 1:] + torch.where(flips[:, None], size - 1 - steps, steps)  # (B, S)
    out = padded.gather(2, rows[:, None, :, None].expand(b, c, size, p))  # (B, C, S, P)
    return out.gather(3, cols[:, None, None, :].expand(b, c, size, size))  # (B, C, S, S)
