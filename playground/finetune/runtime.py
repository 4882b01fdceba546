"""Where and how a run computes: device, mixed precision, CPU threads, the input pipeline's size.

Shared by the training loop and its time estimate, so both measure the same thing.
"""
from __future__ import annotations

import dataclasses
import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from playground.finetune.config import DEFAULTS, TrainConfig, TrainingError
from playground.finetune.data import BUNDLED, Dataset, Split, stratified_split
from playground.finetune.device import MIN_CORES_TO_SPARE_ONE, cuda_bf16_native, mixed_precision_dtype, worker_threads
from playground.finetune.eta import Work
from playground.models.preprocess import Preprocess
from playground.models.registry import MODELS, ModelEntry, default_device

__all__ = ["Setup", "prepare", "resolve_device", "work_of", "autocast", "configure_cpu_threads", "training_preprocess",
           "suggested_image_size", "MIN_CORES_TO_SPARE_ONE", "cpu_threads"]



@dataclass(frozen=True)
class Setup:
    """What a run and its estimate both start from (nothing loaded yet)."""

    split: Split
    entry: ModelEntry
    preprocess: Preprocess  # the model's preprocessing at the chosen image size
    device: torch.device
    amp_dtype: torch.dtype | None  # None: plain fp32

    @property
    def precision(self) -> str:
        """"fp32", "bfloat16" or "float16"."""
        return str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "fp32"


def prepare(cfg: TrainConfig, dataset: Dataset, device: torch.device | None = None) -> Setup:
    """The split, the model's entry and scaled preprocessing, the device and the autocast dtype.

    ``device``: where this process computes, when that is not the run's own device (the server
    timing a probe on its CPU while the job will run on a GPU); default :func:`resolve_device`.
    """
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device cuda was asked for but PyTorch sees no CUDA GPU here; use auto or cpu")
    split = stratified_split(dataset, cfg.val_fraction, cfg.seed)
    entry = MODELS[cfg.model]
    device = resolve_device(cfg) if device is None else device
    return Setup(split, entry, training_preprocess(entry, cfg.image_size), device, _autocast_dtype(cfg, device))


def work_of(cfg: TrainConfig, setup: Setup, images: int) -> Work:
    """What a run of ``cfg`` on ``images`` images does, counted (for its time estimates)."""
    return Work(images=images, extract=images if cfg.uses_feature_cache else 0, epochs=cfg.epochs,
                train_images=len(setup.split.train), val_images=len(setup.split.val), batch_size=cfg.batch_size)


def resolve_device(cfg: TrainConfig) -> torch.device:
    """The device a run of ``cfg`` uses here ("auto": a CUDA GPU when there is one)."""
    return torch.device(default_device() if cfg.device == "auto" else cfg.device)


def _autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain fp32. Mixed precision: bf16 where the GPU computes it
    natively (compute capability 8.0+), else fp16 (T4, V100: bf16 there is emulated, and slow)."""
    mixed = cfg.precision == "mixed" or (cfg.precision == "auto" and device.type == "cuda")
    if not mixed:
        return None
    native = device.type == "cuda" and cuda_bf16_native(device.index)
    return getattr(torch, mixed_precision_dtype(device.type, native))


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    """torch.autocast for ``dtype``, or nothing for fp32."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def cpu_threads(workers: int = 1) -> int:
    """PyTorch threads for one of ``workers`` concurrent computations: all cores but one on 4+ cores
    (one is left to the app), shared out among the workers (:func:`~playground.finetune.device.worker_threads`)."""
    return worker_threads(os.cpu_count() or 1, workers)


def configure_cpu_threads(workers: int = 1) -> int:
    """Set PyTorch's thread count to :func:`cpu_threads` (a worker or the CLI); returns the count."""
    threads = cpu_threads(workers)
    torch.set_num_threads(threads)
    return threads


def training_preprocess(entry: ModelEntry, image_size: int) -> Preprocess:
    """The model's preprocessing scaled to ``image_size``: same resize/crop ratio, mean, std."""
    base = entry.preprocess
    resize = max(image_size, round(image_size * base.resize / base.crop))
    return dataclasses.replace(base, crop=image_size, resize=resize)


def suggested_image_size(data: str, model: str) -> int:
    """The image size to start from: a bundled set's own (digits are tiny), else the model's input
    size (the default config's for a name the zoo does not know; TrainConfig reports that name)."""
    if data in BUNDLED:
        return BUNDLED[data].image_size
    return MODELS[model].preprocess.crop if model in MODELS else DEFAULTS["image_size"]
