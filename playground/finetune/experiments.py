"""One-click experiments: two small designs that differ in one point, trained on the bundled shapes.

Each :class:`Experiment` answers a question of the Concepts page by training both variants with the
same data, seed and settings (:func:`start_experiment`, through the ordinary design jobs: owners, the
class's limits and the fair queue apply, and both are checked before either is queued), then
comparing their runs (:mod:`playground.finetune.runs_compare`). The designs are defined here once:

- **stride vs pooling** (the primer's question): three conv-BN-ReLU stages that halve the picture
  either with a 2x2 max-pool after a stride-1 conv, or with the conv's own stride of 2;
- **skip connections** (the Concepts lesson): a stem, then eight residual blocks (torchvision's
  BasicBlock, ``x + F(x)``), or exactly the same convolutions and batch norms without the ``+ x``.

Which jobs are an experiment's runs is read from the job store (the owner's latest design jobs with
exactly those specs), so a reload or another tab finds them again. No torch here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from playground.finetune.design_config import DesignConfig

if TYPE_CHECKING:
    from playground.finetune.jobs.manager import JobManager
    from playground.finetune.jobs.store import Job

__all__ = ["Experiment", "EXPERIMENTS", "STRIDE_VS_POOLING", "SKIP_CONNECTIONS", "start_experiment",
           "experiment_runs", "EXPERIMENT_DATA"]

EXPERIMENT_DATA = "shapes"  # the bundled set both variants train on: 5 classes, 32 px, 4,000 + 1,000 images
_SHAPES_INPUT = [3, 32, 32]
_CLASSES = 5


def _conv(out: int, stride: int = 1) -> dict[str, Any]:
    return {"type": "conv2d", "out_channels": out, "kernel_size": 3, "stride": stride, "padding": 1, "bias": False}


def _stage(out: int, downsample: str) -> list[dict[str, Any]]:
    """conv3x3-BN-ReLU that halves the picture: by a 2x2 max-pool after it, or by the conv's stride."""
    if downsample == "pool":
        return [_conv(out), {"type": "batchnorm2d"}, {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2}]
    return [_conv(out, stride=2), {"type": "batchnorm2d"}, {"type": "relu"}]


def _stride_vs_pool(downsample: str) -> dict[str, Any]:
    layers = _stage(16, downsample) + _stage(32, downsample) + _stage(32, downsample)
    return {"input": _SHAPES_INPUT, "layers": [*layers, {"type": "flatten"},
                                               {"type": "linear", "out_features": _CLASSES}]}


_STEM = [_conv(16), {"type": "batchnorm2d"}, {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2}]
_HEAD = [{"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"}, {"type": "linear", "out_features": _CLASSES}]
# Eight blocks (16 convolutions after the stem): deep enough that the plain stack does not start learning within the
# 4 epochs while the residual one does. Measured on shapes (seed 0, 2 threads), validation accuracy after 4 epochs:
# 8 blocks 21% (chance: 20%) without skips, 57% with; 4 blocks 41% and 47%, too close to show the point. A
# global-pool head learned more slowly for both (4 blocks: 20% and 38%), so this head flattens an 8x8 map, as the
# stride experiment's does.
_BLOCKS = 8


def _skips(with_skips: bool) -> dict[str, Any]:
    if with_skips:
        body = [{"type": "residual", "out_channels": 16, "stride": 1} for _ in range(_BLOCKS)]
    else:  # a BasicBlock's layers without its "+ x": conv-BN-ReLU, conv-BN, ReLU
        body = []
        for _ in range(_BLOCKS):
            body += [_conv(16), {"type": "batchnorm2d"}, {"type": "relu"}, _conv(16), {"type": "batchnorm2d"},
                     {"type": "relu"}]
    return {"input": _SHAPES_INPUT, "layers": [*_STEM, *body, *_HEAD]}


@dataclass(frozen=True)
class Experiment:
    """Two designs that differ in one point, and the settings both train with."""

    key: str
    title: str
    question: str
    variants: tuple[tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]  # (name, spec), A then B
    settings: dict[str, Any] = field(default_factory=lambda: {"epochs": 4, "batch_size": 64, "lr": 3e-3,
                                                               "optimizer": "adamw", "seed": 0})

    def configs(self) -> list[DesignConfig]:
        """Both variants' training settings (A, B)."""
        return [DesignConfig.of(spec, **self.settings) for _, spec in self.variants]


STRIDE_VS_POOLING = Experiment(
    "stride-vs-pooling", "Stride vs pooling",
    "Does a network learn as well when its convolutions downsample with a stride of 2 (learned) as when a "
    "2x2 max-pool does it (fixed)?",
    (("max-pool after each conv", _stride_vs_pool("pool")), ("stride-2 convs", _stride_vs_pool("stride"))))
SKIP_CONNECTIONS = Experiment(
    "skip-connections", "With and without skip connections",
    "Do the same sixteen convolutions learn faster with skip connections (x + F(x)) than without?",
    (("without skips", _skips(False)), ("with skips (residual blocks)", _skips(True))))
EXPERIMENTS: dict[str, Experiment] = {e.key: e for e in (STRIDE_VS_POOLING, SKIP_CONNECTIONS)}


def start_experiment(manager: JobManager, experiment: Experiment, *, owner: str | None = None,
                     owner_name: str | None = None, client: str | None = None) -> list[Job]:
    """Queue both variants on the bundled shapes (generated on first use); both are checked against the
    class's limits first and neither is queued unless both fit. Raises PlaygroundError saying why."""
    from playground.finetune.data import bundled
    from playground.finetune.jobs.design_jobs import submit_designs

    return submit_designs(manager, bundled(EXPERIMENT_DATA), experiment.configs(), owner=owner,
                          owner_name=owner_name, client=client)


def _spec_of(job: Job) -> str | None:
    train = job.config.get("train")
    if not isinstance(train, dict) or train.get("model") != "design" or not isinstance(train.get("design"), dict):
        return None
    return json.dumps(train["design"], sort_keys=True)


def experiment_runs(jobs: list[Job], experiment: Experiment, owner: str | None) -> tuple[Job, Job] | None:
    """The owner's latest run of each variant (``jobs`` newest first, as the store lists them), when both
    exist; ``owner`` None: anyone's (a single-user install)."""
    wanted = [cfg.design for cfg in experiment.configs()]
    found: list[Job | None] = [None, None]
    for job in jobs:
        if owner is not None and job.owner != owner:
            continue
        spec = _spec_of(job)
        if spec is None or job.dataset.name is None or not job.dataset.name.startswith(EXPERIMENT_DATA):
            continue
        for i, design in enumerate(wanted):
            if found[i] is None and spec == design:
                found[i] = job
    a, b = found
    return (a, b) if a is not None and b is not None else None
