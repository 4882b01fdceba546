"""Fine-tuning a pretrained zoo model on a small image dataset: the training loop.

:func:`train` checks the settings and labels, loads the model with a new head,
freezes it for the strategy (playground.finetune.strategy), decodes every image
once, and runs :meth:`_Run.fit`: epochs of AdamW steps, each followed by a
validation pass. With ``head`` and no augmentation the backbone's output for
each image never changes, so it is computed once and the head trains on the
cached features: the same arithmetic as the plain loop, at a fraction of the cost.

Images are decoded once, resized and centre-cropped exactly as at prediction
time (the model's :class:`~playground.models.preprocess.Preprocess` at the chosen
size), and kept as a uint8 tensor; augmentation (random crop of a padded image +
horizontal flip) works on that tensor.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from playground.finetune.config import TrainConfig, TrainingError
from playground.finetune.data import Dataset, DatasetError, Split
from playground.finetune.runtime import Setup, autocast, prepare
from playground.finetune.strategy import apply_strategy, headless, parameter_counts, set_modes
from playground.images import ImageError, load_image
from playground.models.preprocess import Preprocess
from playground.models.registry import ModelEntry, load_model, replace_head

__all__ = ["Stopped", "TrainResult", "train", "MAX_CACHE_BYTES", "PHASE_EVENT_SECONDS"]

# Decoded images are kept in memory as uint8 (N, 3, S, S); refuse sizes that would not fit comfortably.
MAX_CACHE_BYTES = 6 * 1024**3
# The decoding phase reports its progress at most this often.
PHASE_EVENT_SECONDS = 0.25
# Augmentation pads by 1/8 of the image size before a random crop, and flips half the images.
_AUGMENT_PAD_DIVISOR = 8
_FLIP_PROBABILITY = 0.5
EventFn = Callable[[dict[str, Any]], None]
StopFn = Callable[[], bool]
BatchFn = Callable[[torch.Tensor, bool], torch.Tensor]  # (indices, training?) -> model input


class Stopped(Exception):
    """Raised inside :func:`train` when ``should_stop()`` returned True (checked every batch)."""


# --------------------------------------------------------------------------- results


@dataclass
class TrainResult:
    """A finished run: the model (CPU, eval mode) and everything measured on the validation set."""

    model: nn.Module
    entry: ModelEntry
    preprocess: Preprocess
    classes: list[str]
    config: TrainConfig
    history: list[dict[str, Any]]
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    misclassified: list[dict[str, Any]]  # {"path", "true", "predicted", "confidence"}
    train_seconds: float
    images_per_sec: float
    trainable_params: int
    total_params: int
    device: str
    precision: str
    train_count: int
    val_count: int

    @property
    def val_accuracy(self) -> float:
        """Share of validation images classified correctly."""
        total = sum(map(sum, self.confusion))
        return sum(self.confusion[i][i] for i in range(len(self.confusion))) / max(total, 1)

    @property
    def per_class_accuracy(self) -> dict[str, float]:
        """Class name -> share of its validation images classified correctly."""
        return {c: (row[i] / sum(row) if sum(row) else 0.0)
                for i, (c, row) in enumerate(zip(self.classes, self.confusion, strict=True))}

    def metrics(self) -> dict[str, Any]:
        """Everything but the model, JSON-ready."""
        last = self.history[-1] if self.history else {}
        return {
            "val_accuracy": self.val_accuracy,
            "val_loss": last.get("val_loss"),
            "train_accuracy": last.get("train_accuracy"),
            "train_loss": last.get("train_loss"),
            "per_class_accuracy": self.per_class_accuracy,
            "confusion": self.confusion,
            "misclassified": self.misclassified,
            "history": self.history,
            "epochs": self.config.epochs,
            "train_seconds": self.train_seconds,
            "images_per_sec": self.images_per_sec,
            "trainable_params": self.trainable_params,
            "total_params": self.total_params,
            "train_images": self.train_count,
            "val_images": self.val_count,
            "device": self.device,
            "precision": self.precision,
            "feature_cache": self.config.uses_feature_cache,
        }


# --------------------------------------------------------------------------- train


def train(
    cfg: TrainConfig,
    dataset: Dataset,
    *,
    on_event: EventFn | None = None,
    should_stop: StopFn | None = None,
) -> TrainResult:
    """Fine-tune ``cfg.model`` on ``dataset``; returns the trained model and validation results.

    ``on_event`` receives dicts: ``{"event": "phase", ...}`` while decoding and
    extracting features, ``{"event": "batch", ...}`` after every training step
    and ``{"event": "epoch", ...}`` after each validation pass.
    ``should_stop`` is polled every batch; when it returns True, :class:`Stopped`
    is raised. Raises TrainingError / DatasetError / ModelUnavailable with a
    one-line message for anything the user can fix.
    """
    emit = on_event or (lambda _e: None)
    stop = should_stop or (lambda: False)
    # The split and the labels are checked before the model or any GPU is touched.
    setup = prepare(cfg, dataset)
    _check_labels(dataset)

    emit({"event": "phase", "phase": "loading model", "done": 0, "total": 1})
    model = load_model(cfg.model).model  # pretrained, eval mode, CPU; a fresh copy per call
    torch.manual_seed(cfg.seed)  # the new head's initial weights
    replace_head(model, setup.entry, len(dataset.classes))
    groups = apply_strategy(model, setup.entry, cfg)
    trainable, total = parameter_counts(model)

    images = _decode_all(dataset, setup.preprocess, emit, stop)  # (N, 3, S, S) uint8
    labels = torch.tensor([it.label for it in dataset.items])  # (N,)
    try:  # moving the model to the GPU can run out of memory too, not just a batch
        run = _Run(cfg, model, setup, groups, emit, stop)
        history, val_logits, seconds, ips = run.fit(images, labels, setup.split)
    except torch.cuda.OutOfMemoryError:
        if setup.device.type == "cuda":
            torch.cuda.empty_cache()
        raise TrainingError(
            f"the GPU ran out of memory (batch size {cfg.batch_size}, {cfg.image_size} px, strategy {cfg.strategy}); "
            "try a smaller batch size or image size"
        ) from None

    confusion, misclassified = _validation_report(val_logits, setup.split, dataset)
    return TrainResult(
        model=_finished(model), entry=setup.entry, preprocess=setup.preprocess, classes=list(dataset.classes),
        config=cfg, history=history, confusion=confusion, misclassified=misclassified, train_seconds=seconds,
        images_per_sec=ips, trainable_params=trainable, total_params=total, device=str(setup.device),
        precision=setup.precision, train_count=len(setup.split.train), val_count=len(setup.split.val),
    )


def _check_labels(dataset: Dataset) -> None:
    num_classes = len(dataset.classes)
    bad = [it.path for it in dataset.items if not 0 <= it.label < num_classes]
    if bad:
        raise DatasetError(f"{bad[0]} has a label outside the {num_classes} classes; re-check the dataset")


def _validation_report(val_logits: torch.Tensor, split: Split, dataset: Dataset
                       ) -> tuple[list[list[int]], list[dict[str, Any]]]:
    """(confusion matrix, misclassified images, most confident mistakes first) from the last validation."""
    num_classes = len(dataset.classes)
    preds = val_logits.argmax(1)  # (V,)
    probs = val_logits.softmax(1)  # (V, C)
    confusion = [[0] * num_classes for _ in range(num_classes)]
    misclassified: list[dict[str, Any]] = []
    for j, i in enumerate(split.val):
        t, p = dataset.items[i].label, int(preds[j])
        confusion[t][p] += 1
        if t != p:
            misclassified.append({"path": dataset.items[i].path, "true": dataset.classes[t],
                                  "predicted": dataset.classes[p], "confidence": float(probs[j, p])})
    misclassified.sort(key=lambda m: -m["confidence"])  # the most confident mistakes teach the most
    return confusion, misclassified


def _finished(model: nn.Module) -> nn.Module:
    """The trained model as predict uses it: CPU, fp32, contiguous, eval mode, frozen."""
    # memory_format is a documented argument of Module.to that its typing overloads leave out
    model = model.to("cpu", memory_format=torch.contiguous_format).float().eval()  # type: ignore[call-overload]
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# --------------------------------------------------------------------------- data


def _decode_all(dataset: Dataset, preprocess: Preprocess, on_event: EventFn, should_stop: StopFn) -> torch.Tensor:
    """Every image as it will be shown to the model, before normalising: uint8 (N, 3, S, S)."""
    import torchvision.transforms.functional as TF

    n, s = len(dataset.items), preprocess.crop
    if n * 3 * s * s > MAX_CACHE_BYTES:
        raise TrainingError(
            f"{n} images at {s} px need {n * 3 * s * s / 1024**2:,.0f} MB of memory (limit "
            f"{MAX_CACHE_BYTES / 1024**2:,.0f} MB); "
            f"use a smaller image size (at most {int(math.sqrt(MAX_CACHE_BYTES / (3 * n)))} px) or fewer images"
        )
    out = torch.empty((n, 3, s, s), dtype=torch.uint8)  # (N, 3, S, S)
    last = time.monotonic()
    for i, item in enumerate(dataset.items):
        try:
            img = load_image(dataset.path(item), name=item.path)
        except ImageError as exc:  # the file changed since the dataset was checked
            raise DatasetError(str(exc)) from None
        out[i] = TF.pil_to_tensor(preprocess.crop_image(img))  # (3, S, S)
        if should_stop():
            raise Stopped()
        if time.monotonic() - last > PHASE_EVENT_SECONDS or i + 1 == n:
            last = time.monotonic()
            on_event({"event": "phase", "phase": "decoding images", "done": i + 1, "total": n})
    return out


def _normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, S, S) -> normalised float (B, 3, S, S), as Preprocess.__call__ does."""
    return (x.float().div_(255.0) - mean) / std


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
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


# --------------------------------------------------------------------------- the loop


@dataclass
class _Progress:
    """Counters across the whole run: what the batch events and the throughput are made of."""

    total_steps: int
    started: float  # the run (feature extraction included)
    loop_started: float = 0.0  # time left is extrapolated from the loop alone
    step: int = 0
    seen: int = 0  # training images through the optimiser
    step_seconds: float = 0.0  # time in optimiser steps alone


class _Run:
    """One training run's moving parts; :meth:`fit` is the loop."""

    def __init__(self, cfg: TrainConfig, model: nn.Module, setup: Setup, groups: list[dict[str, Any]],
                 emit: EventFn, stop: StopFn) -> None:
        self.cfg, self.model, self.entry = cfg, model, setup.entry
        self.device, self.amp_dtype = setup.device, setup.amp_dtype
        self.emit, self.stop = emit, stop
        self.mean = torch.tensor(setup.preprocess.mean).view(1, 3, 1, 1)
        self.std = torch.tensor(setup.preprocess.std).view(1, 3, 1, 1)
        self.channels_last = self.device.type == "cuda"
        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        model.to(self.device, memory_format=fmt)  # type: ignore[call-overload]  # memory_format: see _finished
        self.optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        # fp16 needs loss scaling against underflowing gradients; bf16 has fp32's range and does not.
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.shuffle = torch.Generator().manual_seed(cfg.seed)
        self.aug_gen = torch.Generator().manual_seed(cfg.seed + 1)

    def fit(self, images: torch.Tensor, labels: torch.Tensor, split: Split
            ) -> tuple[list[dict[str, Any]], torch.Tensor, float, float]:
        """Train for cfg.epochs; return (epoch history, final val logits, train seconds, images/s)."""
        cfg = self.cfg
        train_idx, val_idx = torch.tensor(split.train), torch.tensor(split.val)
        steps_per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
        progress = _Progress(total_steps=steps_per_epoch * cfg.epochs, started=time.monotonic())
        net, batch_fn = self._inputs(images)
        labels_dev = labels.to(self.device)
        progress.loop_started = time.monotonic()
        history: list[dict[str, Any]] = []
        val_logits = torch.empty(0)
        for epoch in range(1, cfg.epochs + 1):
            epoch_start = time.monotonic()
            loss_sum, correct = self._train_epoch(epoch, net, batch_fn, labels_dev, train_idx, progress)
            val_logits = self._evaluate(net, batch_fn, val_idx)
            record = {"event": "epoch", "epoch": epoch, "epochs": cfg.epochs,
                      "train_loss": loss_sum / len(train_idx), "train_accuracy": correct / len(train_idx),
                      "val_loss": float(F.cross_entropy(val_logits, labels[val_idx])),
                      "val_accuracy": float((val_logits.argmax(1) == labels[val_idx]).float().mean()),
                      "seconds": time.monotonic() - epoch_start}
            history.append(record)
            self.emit(record)
        ips = progress.seen / progress.step_seconds if progress.step_seconds > 0 else 0.0
        return history, val_logits, time.monotonic() - progress.started, ips

    def _inputs(self, images: torch.Tensor) -> tuple[nn.Module, BatchFn]:
        """(the network a batch goes through, how a batch of indices becomes its input)."""
        if not self.cfg.uses_feature_cache:
            def batch(idx: torch.Tensor, training: bool) -> torch.Tensor:
                return self._batch(images, idx, augment=training and self.cfg.augment)  # (B, 3, S, S)

            return self.model, batch
        # The frozen backbone in eval mode maps each image to a fixed vector: compute it once.
        self.model.eval()
        with headless(self.model, self.entry) as backbone:
            feats = self._forward_all(backbone, images, "extracting features").to(self.device)  # (N, F)

        def cached(idx: torch.Tensor, training: bool) -> torch.Tensor:
            return feats[idx.to(self.device)]  # (B, F)

        return self.model.get_submodule(self.entry.head), cached

    def _train_epoch(self, epoch: int, net: nn.Module, batch_fn: BatchFn, labels: torch.Tensor,
                     train_idx: torch.Tensor, progress: _Progress) -> tuple[float, int]:
        """One pass over the shuffled training images; returns (summed loss, correct predictions)."""
        cfg = self.cfg
        set_modes(self.model, cfg)
        order = train_idx[torch.randperm(len(train_idx), generator=self.shuffle)]
        steps_per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
        loss_sum, correct = 0.0, 0
        for k in range(steps_per_epoch):
            t0 = time.monotonic()
            idx = order[k * cfg.batch_size : (k + 1) * cfg.batch_size]
            batch_loss, batch_correct = self._step(net, batch_fn(idx, True), labels[idx.to(self.device)])
            dt = time.monotonic() - t0
            progress.step += 1
            progress.seen += len(idx)
            progress.step_seconds += dt
            loss_sum += batch_loss * len(idx)
            correct += batch_correct
            self.emit({
                "event": "batch", "epoch": epoch, "epochs": cfg.epochs, "step": k + 1,
                "steps_per_epoch": steps_per_epoch, "global_step": progress.step,
                "total_steps": progress.total_steps, "loss": batch_loss, "accuracy": batch_correct / len(idx),
                "images_per_sec": len(idx) / dt if dt > 0 else None,
                "elapsed": time.monotonic() - progress.started,
                "eta_seconds": (time.monotonic() - progress.loop_started) / progress.step
                               * (progress.total_steps - progress.step),
            })
            if self.stop():
                raise Stopped()
        return loss_sum, correct

    def _step(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        """One AdamW step on a batch; returns (its loss, its correct predictions)."""
        with autocast(self.device, self.amp_dtype):
            logits = net(x)  # (B, C)
            loss = F.cross_entropy(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        # float() syncs with the device, so the step's timing is real.
        return float(loss.detach()), int((logits.argmax(1) == y).sum())

    def _batch(self, images: torch.Tensor, idx: torch.Tensor, augment: bool) -> torch.Tensor:
        x = _normalize(images[idx], self.mean, self.std)  # (B, 3, S, S)
        if augment:
            x = _augment(x, self.aug_gen)
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.no_grad()
    def _forward_all(self, net: nn.Module, images: torch.Tensor, phase: str) -> torch.Tensor:
        """``net`` over every image in batches, in fp32 on the CPU at the end: (N, D)."""
        outs = []
        bs, n = self.cfg.batch_size, len(images)
        for k in range(0, n, bs):
            x = self._batch(images, torch.arange(k, min(k + bs, n)), augment=False)
            with autocast(self.device, self.amp_dtype):
                outs.append(net(x).float().cpu())  # (B, D)
            if self.stop():
                raise Stopped()
            self.emit({"event": "phase", "phase": phase, "done": min(k + bs, n), "total": n})
        return torch.cat(outs)

    @torch.no_grad()
    def _evaluate(self, net: nn.Module, batch_fn: BatchFn, val_idx: torch.Tensor) -> torch.Tensor:
        """Logits (V, C) for the validation images, everything in eval mode."""
        self.model.eval()
        outs = []
        for k in range(0, len(val_idx), self.cfg.batch_size):
            x = batch_fn(val_idx[k : k + self.cfg.batch_size], False)
            with autocast(self.device, self.amp_dtype):
                outs.append(net(x).float().cpu())  # (B, C)
            if self.stop():
                raise Stopped()
        return torch.cat(outs)
