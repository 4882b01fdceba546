"""What training a design from scratch will cost, before Start: minutes and memory, and the class's limit.

The work is counted from the analysis: one training image costs about 3x the design's
multiply-accumulates (forward, then a backward pass of about twice that), a validation image 1x.
Time is that work over a MAC rate measured on this machine for this design: a few training steps
of it, timed in a limited child process (:func:`playground.sandbox.run_limited`; never in the
server process, whatever the design's size), remembered in this machine's calibration file
(:mod:`playground.finetune.calibration`) under the design's own key, where a finished job of the
same design and settings then replaces the probe's figure with what it measured (and probes are
corrected by how far probes and runs disagree here, as for fine-tuning). Memory is
:func:`playground.design.memory.memory_estimate`, run by the same probe. :func:`check_cost` refuses
a run over the class's minutes per job (the Teacher page's setting), saying what would bring it
under, and a run whose training memory is more than this machine has.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.classroom import ClassroomError, load_settings
from playground.design.analysis import analyze
from playground.finetune.design_config import DesignConfig

__all__ = ["DesignCost", "design_cost", "check_cost", "probe_macs_per_second", "machine_memory_bytes",
           "FALLBACK_MACS_PER_SECOND", "TRAIN_PASSES"]

TRAIN_PASSES = 3  # a training image: forward (1x the MACs) + backward (about 2x)
# When the probe cannot run (the sandbox refused, or it failed): a deliberately low CPU rate, so the
# estimate errs long. One core of a 2020s laptop sustains 5-20 GMAC/s on small convolutions.
FALLBACK_MACS_PER_SECOND = 1e9
_PROBE_BATCH = 16  # the probe's batch: enough to be representative, small enough to be quick
_PROBE_STEPS = 3  # timed steps after one untimed warm-up step
_PROBE_MEMORY = 2 * 1024**3
_PROBE_CPU_SECONDS = 30
_RATES: dict[str, tuple[float, int | None]] = {}  # (design, batch) -> (MACs/s, memory bytes), this process
_RATES_LOCK = threading.Lock()


@dataclass(frozen=True)
class DesignCost:
    """A from-scratch run's cost before it starts: the work counted, the rate, the time and the memory."""

    macs_per_image: int
    train_images: int
    val_images: int
    epochs: int
    macs_per_second: float
    measured: bool  # the rate was measured on this machine (False: the conservative fallback)
    memory_bytes: int | None  # training memory at this batch size (None: not estimated)
    source: str = "probe"  # where the rate comes from: "probe", "probe, corrected", "run" (a finished job) or "given"

    @property
    def total_macs(self) -> float:
        """Multiply-accumulates of the whole run: training passes plus validation passes, every epoch."""
        return self.macs_per_image * self.epochs * (TRAIN_PASSES * self.train_images + self.val_images)

    @property
    def seconds(self) -> float:
        """Estimated training time (decoding and start-up left out)."""
        return self.total_macs / self.macs_per_second

    @property
    def minutes(self) -> float:
        return self.seconds / 60

    def describe(self) -> str:
        """One line: the work, the rate and the time."""
        rate = ("a cautious default; the probe could not run" if not self.measured
                else "what a finished run of this design measured here" if self.source == "run"
                else "measured here")
        return (f"{self.macs_per_image / 1e6:,.1f} M MACs per image x {self.epochs} epoch(s) x ({TRAIN_PASSES} x "
                f"{self.train_images:,} training images (forward + backward) + {self.val_images:,} validation "
                f"images) = {self.total_macs / 1e9:,.1f} G MACs; at {self.macs_per_second / 1e9:,.1f} G MACs/s "
                f"({rate}) about {_duration(self.seconds)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers."""
        return {"macs_per_image": self.macs_per_image, "train_images": self.train_images,
                "val_images": self.val_images, "epochs": self.epochs, "total_macs": self.total_macs,
                "macs_per_second": self.macs_per_second, "measured": self.measured, "seconds": self.seconds,
                "memory_bytes": self.memory_bytes, "source": self.source}


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _key(cfg: DesignConfig) -> str:
    return hashlib.sha256(f"{cfg.design}|{min(cfg.batch_size, _PROBE_BATCH)}".encode()).hexdigest()[:16]


def _probe(design: str, batch: int, macs: int, optimizer: str, full_batch: int) -> tuple[float, int | None]:
    """In the limited child: a few training steps of the design on random pictures; returns (MACs/s, the
    training memory at the full batch size, or None when it cannot be estimated)."""
    import torch

    from playground.design.memory import memory_estimate
    from playground.models.designed import design_entry

    try:
        memory: int | None = memory_estimate(json.loads(design), full_batch, optimizer=optimizer).training_bytes
    except Exception:  # the estimate is a help; the timing below is what the check needs
        memory = None

    torch.manual_seed(0)
    model = design_entry(json.loads(design), ["x"]).builder().train()
    out = model(torch.zeros(1, 3, *json.loads(design)["input"][1:])).shape[-1]
    opt = torch.optim.AdamW(model.parameters())
    x = torch.randn(batch, 3, *json.loads(design)["input"][1:])  # (B, 3, S, S)
    y = torch.randint(0, out, (batch,))
    started = 0.0
    for step in range(_PROBE_STEPS + 1):
        if step == 1:
            started = time.perf_counter()  # after the warm-up step (allocations, kernel choice)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return TRAIN_PASSES * macs * batch * _PROBE_STEPS / max(time.perf_counter() - started, 1e-9), memory


def probe_macs_per_second(cfg: DesignConfig) -> tuple[float, bool, int | None]:
    """(MACs/s of training this design here, measured?, training memory in bytes or None): a few steps in the
    sandbox, once per design and batch size in this process; the fallback rate (and False) when the sandbox
    refuses or fails."""
    from playground.errors import PlaygroundError
    from playground.sandbox import run_limited

    key = _key(cfg)
    with _RATES_LOCK:
        if key in _RATES:
            rate, memory = _RATES[key]
            return rate, True, memory
    macs = analyze(cfg.spec).total_macs
    try:
        rate, memory = run_limited(_probe, cfg.design, min(cfg.batch_size, _PROBE_BATCH), macs, cfg.optimizer,
                                   cfg.batch_size, memory_bytes=_PROBE_MEMORY, cpu_seconds=_PROBE_CPU_SECONDS,
                                   wall_seconds=2 * _PROBE_CPU_SECONDS,
                                   what="timing a few training steps of this design")
    except PlaygroundError:
        return FALLBACK_MACS_PER_SECOND, False, None
    with _RATES_LOCK:
        _RATES[key] = (rate, memory)
    return rate, True, memory


def _device(cfg: DesignConfig) -> str:
    """The device type a job of ``cfg`` would train on here (what its calibration key names)."""
    from playground.finetune.runtime import resolve_device  # imports torch: only when a cost is asked for

    return resolve_device(cfg).type


def design_cost(cfg: DesignConfig, train_images: int, val_images: int, *,
                macs_per_second: float | None = None, home: str | Path | None = None) -> DesignCost:
    """The cost of ``cfg`` on a split of ``train_images`` / ``val_images``. ``macs_per_second`` given: that
    rate (e.g. a test's) and no memory figure. Else the rate remembered for this design in ``home``'s
    calibration (a finished run's seconds per image, else an earlier probe's, corrected for this machine);
    a design never probed here is probed first (:func:`probe_macs_per_second`), which also gives the memory."""
    from playground.finetune import calibration
    from playground.finetune.eta import Costs

    macs = analyze(cfg.spec).total_macs
    if macs_per_second is not None:
        return DesignCost(macs, train_images, val_images, cfg.epochs, macs_per_second, True, None, "given")
    key = calibration.calibration_key(cfg, _device(cfg))
    probed, memory_bytes = calibration.probe_memory(key, home)
    if not probed:
        rate, measured, memory_bytes = probe_macs_per_second(cfg)
        if not measured:  # nothing measured: nothing to remember
            return DesignCost(macs, train_images, val_images, cfg.epochs, rate, False, None, "fallback")
        seconds = TRAIN_PASSES * max(macs, 1) / rate  # one training image, forward + backward
        calibration.record_probe(key, Costs(step=seconds, evaluate=seconds / TRAIN_PASSES), home,
                                 memory_bytes=memory_bytes)
    known = calibration.costs_for(key, home)
    if known is None or not known[0].step:  # the file could not be written (a read-only data folder)
        rate, measured, memory_bytes = probe_macs_per_second(cfg)
        return DesignCost(macs, train_images, val_images, cfg.epochs, rate, measured, memory_bytes,
                          "probe" if measured else "fallback")
    costs, source = known
    rate = TRAIN_PASSES * max(macs, 1) / costs.step  # type: ignore[operator]  # checked just above
    return DesignCost(macs, train_images, val_images, cfg.epochs, rate, True, memory_bytes, source)


def machine_memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_cost(cost: DesignCost, home: str | Path | None = None, *, max_minutes: float | None = None,
               max_memory_bytes: int | None = None) -> None:
    """Raise ClassroomError when the run would take longer than the class's minutes per job (or ``max_minutes``),
    with the estimate and what would bring it under: fewer epochs, a smaller input, a narrower design; or when
    its training memory (when estimated) is more than ``max_memory_bytes`` (default: this machine's memory)."""
    from playground._format import human_bytes

    limit_bytes = max_memory_bytes if max_memory_bytes is not None else machine_memory_bytes()
    if cost.memory_bytes is not None and limit_bytes is not None and cost.memory_bytes > limit_bytes:
        where = " (this machine's memory)" if max_memory_bytes is None else ""
        raise ClassroomError(
            f"training this design at this batch size needs about {human_bytes(cost.memory_bytes)} of memory "
            f"(memory_estimate), more than {human_bytes(limit_bytes)}{where}; to fit: a smaller "
            "batch size, a smaller input, or a narrower design")
    limit = max_minutes if max_minutes is not None else load_settings(home).max_job_minutes
    if cost.minutes <= limit:
        return
    share = limit / cost.minutes
    epochs = math.floor(cost.epochs * share)
    fewer = f"at most {epochs} epoch(s)" if epochs >= 1 else "a single epoch is already too long"
    side = math.sqrt(share)  # MACs of a conv net scale with the input's area
    raise ClassroomError(
        f"this run would take about {_duration(cost.seconds)}, over this class's limit of {limit:g} min per job "
        f"({cost.describe()}); to fit: {fewer}, or an input about {side:.0%} as wide, "
        f"or about {share:.0%} of the design's multiply-accumulates (fewer channels or layers)")
