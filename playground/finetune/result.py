"""What a training run gives back: :class:`TrainResult` (a finished run, or the best epoch of a
stopped one) and :class:`Stopped`, raised when a run is asked to stop."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from playground.finetune.config import TrainConfig
from playground.finetune.data import Dataset, Split
from playground.models.preprocess import Preprocess
from playground.models.registry import ModelEntry

__all__ = ["TrainResult", "Stopped", "validation_report", "finished_model"]


@dataclass
class TrainResult:
    """A finished run: the model (CPU, eval mode) and everything measured on the validation set.

    When the run was stopped early, ``kept_epoch`` is the epoch whose weights these are (the
    best validation accuracy so far), ``config.epochs`` the epochs that model trained for, and
    ``stopped`` says where the run was when it stopped.
    """

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
    timing: dict[str, Any] | None = None  # per-image costs this run measured (for later estimates)
    kept_epoch: int | None = None
    stopped: dict[str, Any] | None = None  # {"epoch", "epochs", "step", "steps_per_epoch"} of a stopped run

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
        kept = self.history[self.kept_epoch - 1] if self.kept_epoch else last
        return {
            "val_accuracy": self.val_accuracy,
            "val_loss": kept.get("val_loss"),
            "train_accuracy": kept.get("train_accuracy"),
            "train_loss": kept.get("train_loss"),
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
            "timing": self.timing,
            "kept_epoch": self.kept_epoch,
            "stopped": self.stopped,
        }


class Stopped(Exception):
    """Raised inside :func:`~playground.finetune.loop.train` when ``should_stop()`` returned True
    (checked every batch). ``result``: the best epoch so far as a usable model, or None when no
    epoch had finished."""

    def __init__(self, result: TrainResult | None = None) -> None:
        super().__init__("stopped")
        self.result = result


def validation_report(val_logits: torch.Tensor, split: Split, dataset: Dataset
                      ) -> tuple[list[list[int]], list[dict[str, Any]]]:
    """(confusion matrix, misclassified images, most confident mistakes first) from a validation pass."""
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


def finished_model(model: nn.Module) -> nn.Module:
    """The trained model as predict uses it: CPU, fp32, contiguous, eval mode, frozen."""
    # memory_format is a documented argument of Module.to that its typing overloads leave out
    model = model.to("cpu", memory_format=torch.contiguous_format).float().eval()  # type: ignore[call-overload]
    for p in model.parameters():
        p.requires_grad_(False)
    return model
