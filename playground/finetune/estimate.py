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

The estimate is asked for by the form, before Start, on any settings a student types: it must not
let them train in the server. So the memory of the job and of the probe are measured first
(:func:`playground.finetune.memory.memory_estimate`, on the meta device: nothing is allocated):
a CPU job that cannot fit in this machine's free memory is refused with the figure, a probe is
timed at a smaller batch when its own would be over :data:`PROBE_MEMORY`, and the probe runs in a
separate process (:func:`playground.sandbox.run_limited`) under a memory and CPU-time limit, so
whatever it allocates goes when it ends.
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

from playground._format import human_bytes
from playground.finetune import calibration
from playground.finetune.config import TrainConfig, TrainingError
from playground.finetune.data import Dataset, DatasetItem
from playground.finetune.device import server_device
from playground.finetune.eta import Costs, work_seconds
from playground.finetune.runtime import Setup, autocast, cpu_threads, prepare, resolve_device, work_of
from playground.finetune.runtime import _autocast_dtype as autocast_dtype
from playground.finetune.strategy import apply_strategy, headless, parameter_counts, set_modes
from playground.images import load_image
from playground.models.registry import MODELS, ModelEntry, replace_head

__all__ = ["Estimate", "estimate", "probe_costs", "probe_batch", "PROBE_IMAGES", "PROBE_BATCH", "PROBE_SECONDS",
           "PROBE_MEMORY"]

# Images decoded for the decoding cost (after one untimed warm-up image), and the largest probe batch.
PROBE_IMAGES = 6
PROBE_BATCH = 16
# A probe repeats each timed pass (the fastest counts: other load only ever adds time) until it has
# _PROBE_REPEATS of them or has spent PROBE_SECONDS on that pass, whichever comes first.
PROBE_SECONDS = 1.0
_PROBE_REPEATS = 3
# What a probe may train with (parameters, gradients, AdamW state, saved activations, as measured by
# memory_estimate): a smaller probe batch is timed when the job's own would need more.
PROBE_MEMORY = 768 * 2**20
# The probe process's limit over its start size: the measured figure leaves out the allocator's slack,
# the backward pass's temporaries and the backbone's transient activations.
_PROBE_LIMIT = 3 * PROBE_MEMORY
_PROBE_CPU_S = 120
_SMALLEST_PROBE = 32  # px: a probe too big at the job's size is timed at a smaller one, scaled by area
_PROBE_WALL_S = 180.0
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
             probe_images: int = PROBE_IMAGES, alive: Callable[[], bool] | None = None) -> Estimate:
    """Estimate a run's parameters and whole duration on this machine.

    Times a real probe of the settings only when neither a job nor an earlier probe of them
    is remembered in ``home``'s calibration file (then remembers it). The model of a probe has
    random weights: speed does not depend on them. Other jobs running at the same time slow
    a run down; the estimate is for the job alone. A probe runs on the server's own device
    (:func:`~playground.finetune.device.server_device`): a server that leaves the GPU to the jobs
    times a GPU job's probe on its CPU, and says so, until a GPU job of the settings has run.

    A CPU job that will not fit in the free memory raises :class:`TrainingError` with the figures
    before anything is timed; the probe runs in a limited child process (``alive`` returning False
    stops it: the session that asked has gone).
    """
    job_device = resolve_device(cfg)
    setup = prepare(cfg, dataset, _probe_device(job_device))
    with torch.device("meta"):  # counting only: no weights are allocated in the server
        model = replace_head(setup.entry.builder(), setup.entry, len(dataset.classes))
    apply_strategy(model, setup.entry, cfg)
    trainable, total = parameter_counts(model)
    _check_job_memory(cfg, len(dataset.classes), job_device)
    data = calibration.load(home)
    known = calibration.costs_for(calibration.calibration_key(cfg, job_device.type), data=data)
    if known is None:
        key = calibration.calibration_key(cfg, setup.device.type)
        known = calibration.costs_for(key, data=data)
        if known is None:
            probe = _probe_elsewhere(cfg, dataset, setup.device, alive)
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


def _training_memory(cfg: TrainConfig, classes: int, batch: int) -> Any:
    """memory_estimate of ``cfg``'s model and strategy at ``batch`` (fp32: autocast only ever saves less)."""
    from playground.finetune.memory import MemoryEstimateError, memory_estimate

    try:
        return memory_estimate(cfg.model, batch, cfg.strategy, input_shape=(3, cfg.image_size, cfg.image_size),
                               num_classes=classes)
    except MemoryEstimateError as exc:
        raise TrainingError(str(exc)) from None


def _check_job_memory(cfg: TrainConfig, classes: int, job_device: torch.device) -> None:
    """Refuse a CPU job whose training memory is over this machine's free memory (a GPU's is the job's to
    check: the server keeps off the GPU)."""
    from playground.design.memory import available_memory

    if job_device.type != "cpu":
        return
    need, free = _training_memory(cfg, classes, cfg.batch_size).training_bytes, available_memory("cpu")
    if free is not None and need > free:
        raise TrainingError(
            f"training {cfg.model} ({cfg.strategy}) at {cfg.image_size} px, batch {cfg.batch_size} needs about "
            f"{human_bytes(need)} of memory and this machine has {human_bytes(free)} free; lower the batch size "
            "or the image size, or choose the head strategy")


def probe_batch(cfg: TrainConfig, classes: int, limit: int | None = None) -> int:
    """The batch a probe of ``cfg`` times: the job's, at most PROBE_BATCH, made smaller until its training
    memory is under ``limit`` (default PROBE_MEMORY); :class:`TrainingError` when one image is over it."""
    limit = PROBE_MEMORY if limit is None else limit
    batch = min(cfg.batch_size, PROBE_BATCH)
    one = _training_memory(cfg, classes, 1)
    per_image = max(1, one.activations_bytes + one.transient_bytes)  # activations scale exactly with the batch
    fixed = one.parameters_bytes + one.gradients_bytes + one.optimizer_bytes
    fits = (limit - fixed) // per_image
    if fits < 1:
        raise TrainingError(
            f"timing {cfg.model} ({cfg.strategy}) at {cfg.image_size} px needs about {human_bytes(fixed + per_image)} "
            f"for a single image, over the {human_bytes(limit)} this server spends on timing a configuration; "
            "choose a smaller image size or the head strategy")
    return int(min(batch, fits))


def _probe_elsewhere(cfg: TrainConfig, dataset: Dataset, device: torch.device,
                     alive: Callable[[], bool] | None) -> Costs:
    """:func:`probe_costs` in a limited child process, at a batch whose memory fits :data:`PROBE_MEMORY`."""
    from playground.sandbox import SandboxError, run_limited

    timed, batch = _probe_settings(cfg, len(dataset.classes))
    try:
        # The job's threads (a worker's count), not this process's: the server's script threads run on one.
        costs = run_limited(_probe_child, timed.to_dict(), len(dataset.classes), str(device), batch, cpu_threads(),
                            memory_bytes=_PROBE_LIMIT, cpu_seconds=_PROBE_CPU_S, wall_seconds=_PROBE_WALL_S,
                            alive=alive, what=f"timing a few training steps of {cfg.model}",
                            limit_address_space=device.type != "cuda")
    except SandboxError as exc:
        raise TrainingError(f"{exc}; choose a smaller image size or batch size") from None
    area = (cfg.image_size / timed.image_size) ** 2  # a network's work grows with the image's area
    return Costs(**{k: (v * area if v is not None else None) for k, v in costs.to_dict().items()})


def _probe_settings(cfg: TrainConfig, classes: int) -> tuple[TrainConfig, int]:
    """(the settings a probe times, its batch): ``cfg`` at a batch under PROBE_MEMORY; when even one image
    is over it (a big model at a big size, maybe for a GPU job), the largest smaller image size that fits,
    whose costs the caller scales up by area. TrainingError when not even 32 px fits."""
    size = cfg.image_size
    while True:
        timed = dataclasses.replace(cfg, image_size=size)
        try:
            return timed, probe_batch(timed, classes)
        except TrainingError:
            if size <= _SMALLEST_PROBE:
                raise
            size = max(_SMALLEST_PROBE, size * 3 // 4)


@dataclass(frozen=True)
class ProbeTarget:
    """What a probe needs of a run's :class:`Setup`: the model's entry, the device and the autocast dtype
    (the child gets these, not the dataset: nothing of the user's files crosses into it)."""

    entry: ModelEntry
    device: torch.device
    amp_dtype: torch.dtype | None


def _probe_child(cfg_data: dict[str, Any], classes: int, device: str, batch: int, threads: int) -> Costs:
    """In the limited child: build the model for the strategy and time it (random weights: speed does not
    depend on them)."""
    torch.set_num_threads(threads)  # the job's own thread count, so the timing is its timing
    cfg = TrainConfig.from_dict(cfg_data)
    entry, where = MODELS[cfg.model], torch.device(device)
    model = replace_head(entry.builder(), entry, classes)
    groups = apply_strategy(model, entry, cfg)
    return probe_costs(cfg, ProbeTarget(entry, where, autocast_dtype(cfg, where)), model, groups, batch=batch)


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


def probe_costs(cfg: TrainConfig, setup: Setup | ProbeTarget, model: nn.Module, groups: list[dict[str, Any]],
                batch: int | None = None) -> Costs:
    """Per-image costs of ``cfg``'s work, timed on a batch of random images with ``model`` frozen
    for the strategy: the eval forward pass, the training step, the validation pass. ``batch``:
    default the job's, at most PROBE_BATCH. Runs where it is called: :func:`estimate` calls it in a
    limited child process."""
    device, amp_dtype = setup.device, setup.amp_dtype
    batch = min(cfg.batch_size, PROBE_BATCH) if batch is None else batch

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
