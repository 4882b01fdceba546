"""A run's images as tensors: every image decoded once into a uint8 cache, normalised per batch,
and augmented (random crop of a padded image + horizontal flip) on that tensor."""
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

__all__ = ["MAX_CACHE_BYTES", "decode_all", "normalize", "augment"]

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
    """Random crop of the image padded by 1/8 of its size (reflect), then a random horizontal flip."""
    b, _, s, _ = x.shape  # (B, 3, S, S) float
    pad = max(1, s // _AUGMENT_PAD_DIVISOR)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")  # (B, 3, S+2p, S+2p)
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=gen)
    flips = torch.rand(b, generator=gen) < _FLIP_PROBABILITY
    out = torch.empty_like(x)
    for i in range(b):
        dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
        crop = padded[i, :, dy : dy + s, dx : dx + s]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out
