"""How big and how long a fine-tuning run will be, before it starts, from costs measured on this machine.

The duration is the job's whole wall time: its fixed seconds (start a worker, import torch,
load the weights, save the model) plus the counted work of
:func:`playground.finetune.eta.work_seconds` (decode every image, extract features once or
train every epoch, validate after each) at per-image costs that come, best first, from

1. the last real job of the same settings on this machine (what its own steps measured),
2. a probe: a few real steps timed here once per model / strategy / image size / batch /
   device (remembered in :mod:`playground.finetune.calibration`, so the figure no longer
   changes with whatever else the machine is doing at the moment the page asks), scaled by
   how far probes and real jobs of other settings have disagreed here.

Decoding is timed on a few of the dataset's own images each time (it depends on the files).
"""
from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from playground.finetune import calibration
from playground.finetune.config import TrainConfig, TrainingError
from playground.finetune.data import Dataset, DatasetItem
from playground.finetune.device import server_device
from playground.finetune.eta import Costs, work_seconds
from playground.finetune.runtime import Setup, autocast, prepare, resolve_device, work_of
from playground.finetune.strategy import apply_strategy, headless, parameter_counts, set_modes
from playground.images import load_image
from playground.models.registry import replace_head

__all__ = ["Estimate", "estimate", "probe_costs", "PROBE_IMAGES", "PROBE_BATCH", "PROBE_SECONDS"]

# Images decoded for the decoding cost (after one untimed warm-up image), and the largest probe batch.
PROBE_IMAGES = 6
PROBE_BATCH = 16
# A probe repeats each timed pass (the fastest counts: other load only ever adds time) until it has
# _PROBE_REPEATS of them or has spent PROBE_SECONDS on that pass, whichever comes first.
PROBE_SECONDS = 1.0
_PROBE_REPEATS = 3
_SOURCES = {
    "run": "per-image costs measured by the last job with these settings on this machine",
    "probe": "per-image costs from a few training steps timed on this machine",
    "probe, corrected": "per-image costs from a few training steps timed on this machine, scaled by how "
                        "earlier jobs here compared with their own timing",
    "server cpu": "per-image costs of a few training steps timed on this server's CPU: the job runs on a GPU, "
                  "which the server leaves to the jobs, so this is an upper bound until a GPU job with these "
                  "settings has finished here",
}


@dataclass(frozen=True)
class Estimate:
    """How big and how long a run will be, from costs measured on this machine."""

    trainable_params: int
    total_params: int
    seconds: float  # the whole job: overhead + decode + compute
    decode_seconds: float
    compute_seconds: float  # features / training / validation
    device: str
    method: str = ""
    overhead_seconds: float = 0.0  # start, imports, weights, saving
    source: str = ""  # "run", "probe" or "probe, corrected"
    costs: dict[str, float | None] = dataclasses.field(default_factory=dict)  # seconds per image

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


def estimate(cfg: TrainConfig, dataset: Dataset, *, home: str | Path | None = None,
             probe_images: int = PROBE_IMAGES) -> Estimate:
    """Estimate a run's parameters and whole duration on this machine.

    Times a real probe of the settings only when neither a job nor an earlier probe of them
    is remembered in ``home``'s calibration file (then remembers it). The model of a probe has
    random weights: speed does not depend on them. Other jobs running at the same time slow
    a run down; the estimate is for the job alone. A probe runs on the server's own device
    (:func:`~playground.finetune.device.server_device`): a server that leaves the GPU to the jobs
    times a GPU job's probe on its CPU, and says so, until a GPU job of the settings has run.
    """
    job_device = resolve_device(cfg)
    setup = prepare(cfg, dataset, _probe_device(job_device))
    model = replace_head(setup.entry.builder(), setup.entry, len(dataset.classes))
    groups = apply_strategy(model, setup.entry, cfg)
    trainable, total = parameter_counts(model)
    data = calibration.load(home)
    known = calibration.costs_for(calibration.calibration_key(cfg, job_device.type), data=data)
    if known is None:
        key = calibration.calibration_key(cfg, setup.device.type)
        known = calibration.costs_for(key, data=data)
        if known is None:
            probe = probe_costs(cfg, setup, model, groups)
            calibration.record_probe(key, probe, home)
            # Read back: a fresh probe gets the same correction from earlier jobs as a remembered one.
            known = calibration.costs_for(key, data=calibration.load(home)) or (probe, "probe")
        if setup.device.type != job_device.type:
            known = (known[0], "server cpu")
    costs, source = known
    decode = _time_decoding(dataset, setup, dataset.items[: max(2, probe_images + 1)])
    phases = work_seconds(work_of(cfg, setup, len(dataset.items)), dataclasses.replace(costs, decode=decode))
    overhead, overhead_measured = calibration.overhead_seconds(data=data)
    compute = phases["extract"] + phases["train"] + phases["evaluate"]
    how = ("one pass over every image to extract backbone features, then the head alone" if cfg.uses_feature_cache
           else f"{cfg.epochs} epoch(s) of training steps on {len(setup.split.train)} images and validation on "
                f"{len(setup.split.val)}")
    fixed = ("the median of this server's last jobs" if overhead_measured
             else "a typical figure until a job has finished here")
    return Estimate(
        trainable_params=trainable, total_params=total, seconds=overhead + phases["decode"] + compute,
        decode_seconds=phases["decode"], compute_seconds=compute, device=str(job_device),
        method=f"{_SOURCES[source]} ({cfg.image_size} px, {setup.device}); {how}; plus "
               f"~{overhead:.0f} s to start a worker, load the weights and save the model ({fixed})",
        overhead_seconds=overhead, source=source, costs=dataclasses.replace(costs, decode=decode).to_dict(),
    )


def _probe_device(job_device: torch.device) -> torch.device:
    """Where this process may time a probe of a job on ``job_device``: there, unless that is a GPU
    and the server keeps off the GPU (then its CPU: it never creates a CUDA context for a probe)."""
    if job_device.type == "cpu":
        return job_device
    here = torch.device(server_device())
    return here if here.type == "cuda" else torch.device("cpu")


def _time_decoding(dataset: Dataset, setup: Setup, probe: list[DatasetItem]) -> float:
    """Seconds to decode and crop one image: the median over ``probe`` after its first (a warm-up:
    the first decode pays for imports and caches, and would make the figure several times too high)."""
    def once(item: DatasetItem) -> float:
        start = time.perf_counter()
        setup.preprocess.crop_image(load_image(dataset.path(item), name=item.path))
        return time.perf_counter() - start

    times = [once(item) for item in probe]
    return statistics.median(times[1:] or times)


def probe_costs(cfg: TrainConfig, setup: Setup, model: nn.Module, groups: list[dict[str, Any]]) -> Costs:
    """Per-image costs of ``cfg``'s work, timed on a batch of random images with ``model`` frozen
    for the strategy: the eval forward pass, the training step, the validation pass."""
    device, amp_dtype = setup.device, setup.amp_dtype
    batch = min(cfg.batch_size, PROBE_BATCH)

    def timed(fn: Callable[[], object]) -> float:
        fn()  # warm-up (allocations, kernel selection)
        times: list[float] = []
        while len(times) < _PROBE_REPEATS and sum(times) < PROBE_SECONDS:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return min(times) / batch

    def forward(net: nn.Module, inputs: torch.Tensor) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            model.eval()
            with torch.no_grad(), autocast(device, amp_dtype):
                return net(inputs)
        return run

    def step(net: nn.Module, inputs: torch.Tensor) -> Callable[[], None]:
        def run() -> None:
            set_modes(model, cfg)
            with autocast(device, amp_dtype):
                loss = F.cross_entropy(net(inputs).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return run

    try:
        # Same memory format as the real run (channels_last on CUDA), so the timing is its timing.
        fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        model.to(device, memory_format=fmt)  # type: ignore[call-overload]  # documented, missing from the stubs
        x = torch.randn(batch, 3, cfg.image_size, cfg.image_size, device=device)  # (b, 3, S, S)
        x = x.contiguous(memory_format=fmt)
        y = torch.zeros(batch, dtype=torch.long, device=device)
        # After the move, as PyTorch advises; fused on a GPU, as the real run's.
        opt = torch.optim.AdamW(groups, fused=device.type == "cuda" or None)
        if not cfg.uses_feature_cache:
            per_forward = timed(forward(model, x))
            return Costs(forward=per_forward, step=timed(step(model, x)), evaluate=per_forward)
        # Cached features: the backbone runs once per image; then every step and validation is the head alone.
        with headless(model, setup.entry) as backbone:
            per_forward = timed(forward(backbone, x))
            feats = forward(backbone, x)().float()  # (b, F)
        head = model.get_submodule(setup.entry.head)
        return Costs(forward=per_forward, step=timed(step(head, feats)), evaluate=timed(forward(head, feats)))
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
