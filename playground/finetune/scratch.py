"""Training a Designer design from scratch: :func:`train_design`.

The same loop as fine-tuning (:mod:`playground.finetune.loop`: images decoded once to uint8 at the
design's input size, normalised per batch on the device, prefetched, augmented there; batch and
epoch events with the time left; the best validation epoch kept when stopped), with what a network
of random weights needs instead of a pretrained one: every layer trains, BatchNorm layers learn
their statistics (train mode), the optimizer is AdamW or SGD with momentum, and the best epoch's
whole state (buffers too) is what a stop keeps. The result is the fine-tuning
:class:`~playground.finetune.result.TrainResult`, so the job page, the model folder and Predict
take it unchanged. Pictures are brought to the design's input: resized and centre-cropped to its
side, and for a 1-channel design turned grey inside the model (:class:`DesignClassifier`).
"""
from __future__ import annotations

import json
from typing import Any

import torch

from playground.finetune.config import TrainingError
from playground.finetune.data import Dataset, stratified_split
from playground.finetune.design_config import SGD_MOMENTUM, DesignConfig
from playground.finetune.device import configure_cuda_backends
from playground.finetune.eta import Costs, TimeLeft
from playground.finetune.head import require_head
from playground.finetune.loop import EventFn, StopFn, _check_labels, _decode_progress, _Run
from playground.finetune.pixels import decode_all
from playground.finetune.result import Stopped, TrainResult, finished_model, validation_report
from playground.finetune.runtime import Setup, _autocast_dtype, resolve_device, work_of
from playground.models.designed import design_entry

__all__ = ["train_design", "design_config"]


def design_config(design: dict[str, Any] | str | DesignConfig, *, epochs: int | None = None,
                  batch_size: int | None = None, lr: float | None = None, optimizer: str | None = None,
                  augment: bool | None = None, seed: int | None = None, device: str | None = None,
                  precision: str | None = None, val_fraction: float | None = None,
                  weight_decay: float | None = None) -> DesignConfig:
    """A DesignConfig for a spec (dict or JSON text) with the settings given (None: the default), or a
    given DesignConfig with them changed. TrainingError names a bad one."""
    given = {"epochs": epochs, "batch_size": batch_size, "lr_head": lr, "optimizer": optimizer,
             "augment": augment, "seed": seed, "device": device, "precision": precision,
             "val_fraction": val_fraction, "weight_decay": weight_decay}
    settings = {k: v for k, v in given.items() if v is not None}
    if isinstance(design, DesignConfig):
        return DesignConfig.from_dict(dict(design.to_dict(), **settings))
    if isinstance(design, str):
        try:
            spec = json.loads(design)
        except ValueError as exc:
            raise TrainingError(f"the design is not valid JSON ({exc})") from None
        return DesignConfig.of(spec, **settings)
    return DesignConfig.of(design, **settings)


def train_design(
    design: dict[str, Any] | str | DesignConfig,
    dataset: Dataset,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    optimizer: str | None = None,
    augment: bool | None = None,
    seed: int | None = None,
    device: str | None = None,
    precision: str | None = None,
    val_fraction: float | None = None,
    weight_decay: float | None = None,
    fix_head: bool = False,
    on_event: EventFn | None = None,
    should_stop: StopFn | None = None,
    prior: Costs | None = None,
) -> TrainResult:
    """Train the design ``design`` (a spec dict, its JSON, or a DesignConfig) from random weights on ``dataset``.

    Settings left None take :data:`~playground.finetune.design_config.DESIGN_DEFAULTS` (10 epochs,
    batch 64, AdamW at 3e-3) or TrainConfig's. When the design does not end in one value per class,
    TrainingError says so and what would fix it; ``fix_head=True`` applies that fix
    (:func:`~playground.finetune.head.check_head`), and ``result.config.spec`` is the design trained.
    ``on_event`` / ``should_stop`` / ``prior`` and the Stopped exception behave as in
    :func:`playground.finetune.loop.train`. Returns its TrainResult (``result.model`` is a
    :class:`~playground.models.designed.DesignClassifier`, CPU, eval mode).
    """
    cfg = design_config(design, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, augment=augment,
                        seed=seed, device=device, precision=precision, val_fraction=val_fraction,
                        weight_decay=weight_decay)
    spec = require_head(cfg.spec, len(dataset.classes), fix=fix_head)
    if spec is not cfg.spec:
        cfg = DesignConfig.from_dict(dict(cfg.to_dict(), design=spec))
    emit = on_event or (lambda _e: None)
    stop = should_stop or (lambda: False)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device cuda was asked for but PyTorch sees no CUDA GPU here; use auto or cpu")
    split = stratified_split(dataset, cfg.val_fraction, cfg.seed)
    _check_labels(dataset)
    entry = design_entry(cfg.spec, list(dataset.classes))
    where = resolve_device(cfg)
    setup = Setup(split, entry, entry.preprocess, where, _autocast_dtype(cfg, where))
    eta = TimeLeft(work_of(cfg, setup, len(dataset.items)), prior)
    if where.type == "cuda":
        configure_cuda_backends()

    emit({"event": "phase", "phase": "building the design", "done": 0, "total": 1})
    torch.manual_seed(cfg.seed)  # the initial weights (and dropout's draws)
    model = entry.builder()
    total = sum(p.numel() for p in model.parameters())
    images = decode_all(dataset, setup.preprocess, _decode_progress(eta, emit), stop)  # (N, 3, S, S) uint8
    labels = torch.tensor([it.label for it in dataset.items])  # (N,)
    common: dict[str, Any] = dict(entry=entry, preprocess=setup.preprocess, classes=list(dataset.classes),
                                  trainable_params=total, total_params=total, device=str(where),
                                  precision=setup.precision, train_count=len(split.train), val_count=len(split.val))
    run: _ScratchRun | None = None
    try:
        run = _ScratchRun(cfg, model, setup, [{"params": list(model.parameters()), "lr": cfg.lr}], emit, stop, eta)
        history, val_logits, seconds, ips = run.fit(images, labels, split)
    except Stopped:
        raise Stopped(run.kept(dataset, split, common) if run is not None else None) from None
    except torch.cuda.OutOfMemoryError:
        if where.type == "cuda":
            torch.cuda.empty_cache()
        raise TrainingError(f"the GPU ran out of memory (batch size {cfg.batch_size}, {cfg.image_size} px input); "
                            "try a smaller batch size or a narrower design") from None
    confusion, misclassified = validation_report(val_logits, split, dataset)
    return TrainResult(model=finished_model(model), config=cfg, history=history, confusion=confusion,
                       misclassified=misclassified, train_seconds=seconds, images_per_sec=ips,
                       timing=run.timing(), **common)


class _ScratchRun(_Run):
    """The fine-tuning loop with every layer learning: BatchNorm in train mode, AdamW or SGD, and the
    whole state (running statistics too) kept for the best epoch."""

    cfg: DesignConfig

    def _optimizer(self, groups: list[dict[str, Any]], cuda: bool) -> torch.optim.Optimizer:
        if self.cfg.optimizer == "sgd":
            return torch.optim.SGD(groups, momentum=SGD_MOMENTUM, weight_decay=self.cfg.weight_decay)
        return torch.optim.AdamW(groups, weight_decay=self.cfg.weight_decay, fused=cuda or None)

    def _train_modes(self) -> None:
        self.model.train()

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}

    def _restore(self, weights: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(weights)

