"""What fine-tuning costs on this machine, remembered: per-image costs and a job's fixed seconds.

One JSON file in the data directory (:data:`CALIBRATION_FILE`) holds, for each
:func:`calibration_key` (model, strategy, image size, batch size, device, precision and
input path; for a design trained from scratch, the design itself instead of a model name),
the per-image :class:`~playground.finetune.eta.Costs` of

- a **probe**: a few real steps timed in the server before a first run of those settings
  (:func:`playground.finetune.estimate.estimate` writes it), and
- a **run**: what the last real job of those settings measured on its own steps
  (the job manager records it when a job ends),

and the fixed seconds of the last few jobs (start a worker, import torch, load the weights,
save the model: everything but the counted work). :func:`costs_for` prefers a run's figure;
a probe-only key is scaled by how far probes and runs of other keys disagree on this
machine (a probe runs a smaller batch, in the server, with other sessions about), so one
real job improves every later estimate. A cache: a lost or broken file only means a new
probe. No torch here.
"""
from __future__ import annotations

import hashlib
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from playground._fileio import write_json_atomic
from playground.finetune.config import TrainConfig
from playground.finetune.eta import Costs
from playground.paths import home_dir

__all__ = ["CALIBRATION_FILE", "DEFAULT_OVERHEAD_SECONDS", "MAX_KEYS", "calibration_key", "design_fingerprint",
           "costs_for", "record_probe", "record_run", "probe_memory", "overhead_seconds", "calibration_stamp", "load"]

CALIBRATION_FILE = "finetune-calibration.json"
# A job's fixed seconds before this server has finished one: a fresh interpreter importing torch
# and torchvision, the pretrained weights loaded, the model folder written (measured 6-12 s on a
# 2-core machine). Replaced by the median of the last jobs' own figure as soon as there is one.
DEFAULT_OVERHEAD_SECONDS = 8.0
MAX_KEYS = 200  # settings remembered (the oldest are dropped)
_OVERHEADS = 8  # the last jobs' fixed seconds kept
_COST_FIELDS = ("forward", "step", "evaluate")
_LOCK = threading.Lock()  # one read-modify-write at a time in this process (sessions, the manager's thread)


def design_fingerprint(design: str) -> str:
    """A short, stable name of a design (its canonical spec JSON text): the same layers, the same name."""
    return "design:" + hashlib.sha256(design.encode()).hexdigest()[:16]


def calibration_key(cfg: TrainConfig, device: str) -> str:
    """What a run's per-image costs depend on: model, strategy, size, batch, device, precision, input path.

    A zoo model's name says its whole structure. A design trained from scratch is keyed by its own
    layers (:func:`design_fingerprint` of the canonical spec), not by its size or its MACs: two designs
    of equal MACs run at very different speeds (a depthwise or 1x1 convolution does little arithmetic
    per byte it moves, a wide 3x3 much; BatchNorm and pooling cost time and no MACs; a large early
    feature map costs memory traffic a late one does not), so one design's measured seconds per image
    handed to another would make its estimate, and the class limit's refusal, wrong. The canonical text
    (sorted keys, defaults filled in by :class:`~playground.finetune.design_config.DesignConfig`) makes a
    design written two ways one key."""
    path = "features" if cfg.uses_feature_cache else "augment" if cfg.augment else "pixels"
    design = getattr(cfg, "design", "")
    model = design_fingerprint(design) if cfg.model == "design" and design else cfg.model
    return f"{model}|{cfg.strategy}|{cfg.image_size}px|b{cfg.batch_size}|{device}|{cfg.precision}|{path}"


def _file(home: str | Path | None) -> Path:
    return Path(home or home_dir()) / CALIBRATION_FILE


def load(home: str | Path | None = None) -> dict[str, Any]:
    """The calibration file's content ({"keys": {...}, "overheads": [...]}); empty when missing or broken."""
    try:
        data = json.loads(_file(home).read_text())
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        return {"keys": {}, "overheads": []}
    if not isinstance(data.get("overheads"), list):
        data["overheads"] = []
    return data


def calibration_stamp(home: str | Path | None = None) -> int:
    """Changes whenever the file does (a cache key for estimates made from it); 0 when there is none."""
    try:
        return _file(home).stat().st_mtime_ns
    except OSError:
        return 0


def _update(home: str | Path | None, change: Any) -> None:
    with _LOCK:
        data = load(home)
        change(data)
        keys = data["keys"]
        if len(keys) > MAX_KEYS:  # drop the settings used longest ago
            for old in sorted(keys, key=lambda k: keys[k].get("at", 0))[: len(keys) - MAX_KEYS]:
                del keys[old]
        path = _file(home)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, data)
        except OSError:
            pass  # a read-only data folder: estimates are then re-measured, nothing breaks


def record_probe(key: str, costs: Costs, home: str | Path | None = None, *,
                 memory_bytes: int | None = None) -> None:
    """Remember the probe's costs for ``key`` (a run's figures, if any, stay preferred), and the training
    memory the probe estimated (``memory_bytes``; a design's probe measures it, see :func:`probe_memory`)."""
    def change(data: dict[str, Any]) -> None:
        entry = data["keys"].setdefault(key, {})
        entry.update(probe=costs.to_dict(), at=time.time())
        if memory_bytes is not None:
            entry["memory_bytes"] = int(memory_bytes)

    _update(home, change)


def probe_memory(key: str, home: str | Path | None = None,
                 data: dict[str, Any] | None = None) -> tuple[bool, int | None]:
    """(whether ``key`` was probed here, the training memory its probe estimated or None)."""
    data = data if data is not None else load(home)
    entry = data["keys"].get(key)
    if not isinstance(entry, dict) or not isinstance(entry.get("probe"), dict):
        return False, None
    memory = entry.get("memory_bytes")
    ok = isinstance(memory, int) and not isinstance(memory, bool) and memory > 0
    return True, memory if ok else None


def record_run(key: str, costs: Costs, overhead: float | None, home: str | Path | None = None) -> None:
    """Remember what a real job of ``key`` measured, and its fixed seconds (None: not known)."""
    def change(data: dict[str, Any]) -> None:
        entry = data["keys"].setdefault(key, {})
        old = Costs.from_dict(entry.get("run")) or Costs()
        # A run that stopped early may lack a figure (no validation yet): keep the last known one.
        merged = {k: v if v is not None else getattr(old, k) for k, v in costs.to_dict().items()}
        entry.update(run=merged, at=time.time())
        if overhead is not None and overhead >= 0:
            data["overheads"] = (data["overheads"] + [round(overhead, 3)])[-_OVERHEADS:]

    _update(home, change)


def _probe_to_run_ratios(keys: dict[str, Any], path: str | None) -> dict[str, float]:
    """Per cost kind, the median of run / probe over the keys of input ``path`` (None: any) that have
    both (this machine's bias). Like with like: a head step on cached features is a different thing."""
    ratios: dict[str, list[float]] = {f: [] for f in _COST_FIELDS}
    for key, entry in keys.items():
        if (path is not None and key.rsplit("|", 1)[-1] != path) or not isinstance(entry, dict):
            continue
        run, probe = Costs.from_dict(entry.get("run")), Costs.from_dict(entry.get("probe"))
        if run is None or probe is None:
            continue
        for f in _COST_FIELDS:
            mine, theirs = getattr(run, f), getattr(probe, f)
            if mine and theirs:
                ratios[f].append(mine / theirs)
    return {f: statistics.median(v) for f, v in ratios.items() if v}


def costs_for(key: str, home: str | Path | None = None, data: dict[str, Any] | None = None
              ) -> tuple[Costs, str] | None:
    """The remembered costs of ``key`` and where they come from ("run", "probe", "probe, corrected"),
    or None when these settings were never measured here."""
    data = data if data is not None else load(home)
    entry = data["keys"].get(key)
    if not isinstance(entry, dict):
        return None
    run, probe = Costs.from_dict(entry.get("run")), Costs.from_dict(entry.get("probe"))
    if run is not None and run.step is not None:
        if probe is None:
            return run, "run"
        filled = {k: v if v is not None else getattr(probe, k) for k, v in run.to_dict().items()}
        return Costs(**filled), "run"
    if probe is None:
        return None
    ratios = _probe_to_run_ratios(data["keys"], key.rsplit("|", 1)[-1])
    # Without runs of this input path, the backbone's forward pass (the same work on every path) says
    # how probes and jobs differ on this machine: it scales every cost.
    machine = _probe_to_run_ratios(data["keys"], None).get("forward")
    if not ratios and machine is None:
        return probe, "probe"
    corrected = {k: (v * ratios.get(k, machine or 1.0) if v is not None else None)
                 for k, v in probe.to_dict().items()}
    return Costs(**corrected), "probe, corrected"


def overhead_seconds(home: str | Path | None = None, data: dict[str, Any] | None = None) -> tuple[float, bool]:
    """A job's fixed seconds here: (the median of the last jobs', True), or (the default, False)."""
    data = data if data is not None else load(home)
    values = [v for v in data["overheads"] if isinstance(v, int | float) and v >= 0]
    return (statistics.median(values), True) if values else (DEFAULT_OVERHEAD_SECONDS, False)
