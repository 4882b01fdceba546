"""Fine-tuning a pretrained zoo model on a small image dataset.

Three strategies, from cheapest to most flexible (the primer's transfer-learning
recipe):

- ``head``: freeze the whole backbone, train a new final Linear layer.
- ``last-block``: also unfreeze the last feature block (and whatever sits
  between it and the head), at a lower learning rate: AdamW parameter groups.
- ``full``: train every weight; the backbone at the lower learning rate.

With ``head`` and no augmentation the backbone's output for each image never
changes, so it is computed once and the head trains on the cached features:
the same arithmetic as the plain loop, at a fraction of the cost.

Frozen parts always run in eval mode, so dropout before the head is off while
only the head learns. BatchNorm layers run in eval mode under every strategy:
their running statistics stay the pretrained ones (their scale and shift still
train where the strategy unfreezes them); see ``_set_modes``.

Images are decoded once, resized and centre-cropped exactly as at prediction
time (the model's :class:`~playground.models.registry.Preprocess` at the chosen size), and
kept as a uint8 tensor; augmentation (random crop of a padded image + horizontal
flip) works on that tensor.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from playground.finetune.data import BUNDLED, Dataset, DatasetError, Split, stratified_split
from playground.errors import PlaygroundError
from playground.images import ImageError, load_image
from playground.models.registry import (DEFAULT_MODEL, FINETUNED_FORMAT, MODELS, ModelEntry, Preprocess, default_device, load_model,
                            replace_head)

__all__ = [
    "STRATEGIES",
    "TrainConfig",
    "TrainingError",
    "Stopped",
    "TrainResult",
    "Estimate",
    "train",
    "estimate",
    "count_parameters",
    "save_finetuned",
    "training_preprocess",
    "suggested_image_size",
    "configure_cpu_threads",
    "MAX_CACHE_BYTES",
]

# Strategy name -> one line for the page and --help.
STRATEGIES: dict[str, str] = {
    "head": "freeze the pretrained backbone, train only a new final layer (fastest; best for small datasets)",
    "last-block": "also fine-tune the last feature block at a lower learning rate (AdamW parameter groups)",
    "full": "train every layer; the backbone at the lower learning rate (slowest; needs the most data)",
}
# Decoded images are kept in memory as uint8 (N, 3, S, S); refuse sizes that would not fit comfortably.
MAX_CACHE_BYTES = 6 * 1024**3
_LIMITS = {"epochs": (1, 500), "batch_size": (1, 1024), "image_size": (32, 640)}
EventFn = Callable[[dict[str, Any]], None]
StopFn = Callable[[], bool]


class TrainingError(PlaygroundError):
    """A training setting or run that cannot work, with what to change."""


class Stopped(Exception):
    """Raised inside :func:`train` when ``should_stop()`` returned True (checked every batch)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a fine-tuning run depends on; a run is a pure function of this and the data."""

    model: str = DEFAULT_MODEL
    strategy: str = "head"
    epochs: int = 5
    batch_size: int = 32
    image_size: int = 224
    lr_head: float = 1e-3
    lr_backbone: float = 1e-4  # last block (last-block) or every pretrained layer (full)
    weight_decay: float = 0.01  # AdamW's default
    augment: bool = False
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (mixed on CUDA, fp32 on CPU) | fp32 | mixed
    cache_features: bool = True  # with head + no augmentation: train the head on cached features

    def validate(self) -> None:
        """Raise TrainingError naming the first bad setting."""
        if self.model not in MODELS:
            raise TrainingError(f"unknown model {self.model!r}; choose one of: {', '.join(MODELS)}")
        if self.strategy not in STRATEGIES:
            raise TrainingError(f"unknown strategy {self.strategy!r}; choose one of: {', '.join(STRATEGIES)}")
        for name, (lo, hi) in _LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or not lo <= value <= hi:
                raise TrainingError(f"{name.replace('_', ' ')} must be a whole number from {lo} to {hi} (got {value!r})")
        for name in ("lr_head", "lr_backbone"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value <= 1):
                raise TrainingError(f"{name.replace('_', ' ')} must be above 0 and at most 1 (got {value!r}); try 1e-3 or 1e-4")
        if not 0 <= self.weight_decay < 1:
            raise TrainingError(f"weight decay must be from 0 to 1 (got {self.weight_decay})")
        if not 0.0 < self.val_fraction < 1.0:
            raise TrainingError(f"validation fraction must be between 0 and 1 (got {self.val_fraction}); 0.2 is usual")
        if self.device not in ("auto", "cpu", "cuda"):
            raise TrainingError(f"device must be auto, cpu or cuda (got {self.device!r})")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise TrainingError("device cuda was asked for but PyTorch sees no CUDA GPU here; use auto or cpu")
        if self.precision not in ("auto", "fp32", "mixed"):
            raise TrainingError(f"precision must be auto, fp32 or mixed (got {self.precision!r})")

    @property
    def uses_feature_cache(self) -> bool:
        """Whether this run trains the head on backbone features computed once."""
        return self.strategy == "head" and not self.augment and self.cache_features

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict, ignoring unknown keys; raises TrainingError on a bad field."""
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            cfg = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise TrainingError(f"bad training settings: {exc}") from None
        return cfg


# --------------------------------------------------------------------------- devices


def configure_cpu_threads() -> int:
    """Use all cores but one for PyTorch (on 4+ cores), leaving one for the app; returns the count."""
    cores = os.cpu_count() or 1
    threads = cores - 1 if cores >= 4 else cores
    torch.set_num_threads(threads)
    return threads


def _device(cfg: TrainConfig) -> torch.device:
    return torch.device(default_device() if cfg.device == "auto" else cfg.device)


def _prepare(cfg: TrainConfig, dataset: Dataset
             ) -> tuple[Split, ModelEntry, Preprocess, torch.device, torch.dtype | None]:
    """What a run and its estimate both start from: the checked settings, the split, the model's
    entry and scaled preprocessing, the device and the autocast dtype (nothing loaded yet)."""
    cfg.validate()
    split = stratified_split(dataset, cfg.val_fraction, cfg.seed)
    entry = MODELS[cfg.model]
    device = _device(cfg)
    return split, entry, training_preprocess(entry, cfg.image_size), device, _autocast_dtype(cfg, device)


def _autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain fp32. Mixed precision: bf16 where supported, else fp16."""
    mixed = cfg.precision == "mixed" or (cfg.precision == "auto" and device.type == "cuda")
    if not mixed:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16  # CPU autocast supports bf16 only


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


# --------------------------------------------------------------------------- model & strategy


def suggested_image_size(data: str, model: str) -> int:
    """The image size to start from: a bundled set's own (digits are tiny), else the model's input
    size (224 for a name the zoo does not know; TrainConfig.validate reports that name)."""
    if data in BUNDLED:
        return BUNDLED[data].image_size
    return MODELS[model].preprocess.crop if model in MODELS else 224


def training_preprocess(entry: ModelEntry, image_size: int) -> Preprocess:
    """The model's preprocessing scaled to ``image_size``: same resize/crop ratio, mean, std."""
    base = entry.preprocess
    return dataclasses.replace(base, crop=image_size, resize=max(image_size, round(image_size * base.resize / base.crop)))


def _backbone_prefixes(model: nn.Module, entry: ModelEntry, strategy: str) -> tuple[list[str], list[str]]:
    """(backbone parameter names to train, head parameter names) for a strategy.

    ``last-block`` trains the last block and every parameter registered after
    it (e.g. EfficientNet's 1x1 head conv and its BatchNorm), which is what
    runs between that block and the classifier.
    """
    names = [n for n, _ in model.named_parameters()]
    head = [n for n in names if n.startswith(entry.head + ".")]
    body = [n for n in names if n not in head]
    if strategy == "head":
        return [], head
    if strategy == "full":
        return body, head
    start = next((i for i, n in enumerate(body) if n.startswith(entry.last_block + ".")), None)
    if start is None:
        raise TrainingError(f"{entry.name}: no parameters under its last block {entry.last_block!r}")
    return body[start:], head


def _apply_strategy(model: nn.Module, entry: ModelEntry, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Freeze/unfreeze for the strategy; return AdamW parameter groups (backbone group first)."""
    body, head = _backbone_prefixes(model, entry, cfg.strategy)
    trainable = set(body) | set(head)
    params = dict(model.named_parameters())
    for name, p in params.items():
        p.requires_grad_(name in trainable)
    groups = []
    if body:
        groups.append({"params": [params[n] for n in body], "lr": cfg.lr_backbone, "name": "backbone"})
    groups.append({"params": [params[n] for n in head], "lr": cfg.lr_head, "name": "head"})
    return groups


def _set_modes(model: nn.Module, cfg: TrainConfig) -> None:
    """Train mode only for modules whose every parameter trains; frozen parts stay in eval mode.

    BatchNorm layers always stay in eval mode, also when their scale and shift
    train (``last-block``, ``full``): they normalise with the pretrained running
    statistics. In train mode they would normalise with each small batch's
    statistics while validation uses running statistics that (with
    EfficientNet's TF-style momentum of 0.01) barely move in a short run; on
    600 digits, 2 epochs, that mismatch left ``full`` at 16% validation
    accuracy against 88% with frozen statistics (the usual advice for
    fine-tuning on small data, e.g. Keras' transfer-learning guide).
    """
    if cfg.strategy == "full":
        model.train()
    else:
        model.eval()
        for module in model.modules():
            ps = list(module.parameters())
            if ps and all(p.requires_grad for p in ps):
                module.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def count_parameters(model_name: str, strategy: str, num_classes: int) -> tuple[int, int]:
    """(trainable, total) parameters for a strategy, with a head for ``num_classes`` classes."""
    entry = MODELS[model_name]
    model = replace_head(entry.builder(), entry, num_classes)
    _apply_strategy(model, entry, TrainConfig(model=model_name, strategy=strategy))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


@contextmanager
def _headless(model: nn.Module, entry: ModelEntry) -> Iterator[nn.Module]:
    """Temporarily replace the head with Identity: the model then returns the head's input features."""
    parent_path, _, attr = entry.head.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    head = getattr(parent, attr)
    setattr(parent, attr, nn.Identity())
    try:
        yield model
    finally:
        setattr(parent, attr, head)


# --------------------------------------------------------------------------- data


def _decode_all(
    dataset: Dataset, preprocess: Preprocess, on_event: EventFn, should_stop: StopFn
) -> torch.Tensor:
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
        if time.monotonic() - last > 0.25 or i + 1 == n:
            last = time.monotonic()
            on_event({"event": "phase", "phase": "decoding images", "done": i + 1, "total": n})
    return out


def _normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, S, S) -> normalised float (B, 3, S, S), as Preprocess.__call__ does."""
    return (x.float().div_(255.0) - mean) / std


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop of the image padded by 1/8 of its size (reflect), then a random horizontal flip."""
    b, _, s, _ = x.shape  # (B, 3, S, S) float
    pad = max(1, s // 8)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")  # (B, 3, S+2p, S+2p)
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=gen)
    flips = torch.rand(b, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(b):
        dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
        crop = padded[i, :, dy : dy + s, dx : dx + s]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


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
        total = sum(map(sum, self.confusion))
        return sum(self.confusion[i][i] for i in range(len(self.confusion))) / max(total, 1)

    @property
    def per_class_accuracy(self) -> dict[str, float]:
        return {c: (row[i] / sum(row) if sum(row) else 0.0) for i, (c, row) in enumerate(zip(self.classes, self.confusion))}

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


# --------------------------------------------------------------------------- the loop


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
    # Settings, labels and the split are checked before the model or any GPU is touched.
    split, entry, preprocess, device, amp_dtype = _prepare(cfg, dataset)
    num_classes = len(dataset.classes)
    bad = [it.path for it in dataset.items if not 0 <= it.label < num_classes]
    if bad:
        raise DatasetError(f"{bad[0]} has a label outside the {num_classes} classes; re-check the dataset")

    emit({"event": "phase", "phase": "loading model", "done": 0, "total": 1})
    model = load_model(cfg.model).model  # pretrained, eval mode, CPU; a fresh copy per call
    torch.manual_seed(cfg.seed)  # the new head's initial weights
    replace_head(model, entry, num_classes)
    groups = _apply_strategy(model, entry, cfg)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())

    images = _decode_all(dataset, preprocess, emit, stop)  # (N, 3, S, S) uint8
    labels = torch.tensor([it.label for it in dataset.items])  # (N,)
    train_idx, val_idx = torch.tensor(split.train), torch.tensor(split.val)
    mean = torch.tensor(preprocess.mean).view(1, 3, 1, 1)
    std = torch.tensor(preprocess.std).view(1, 3, 1, 1)

    try:  # moving the model to the GPU can run out of memory too, not just a batch
        run = _Run(cfg, model, entry, device, amp_dtype, groups, emit, stop)
        history, val_logits, seconds, ips = run.fit(images, labels, train_idx, val_idx, mean, std)
    except torch.cuda.OutOfMemoryError:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise TrainingError(
            f"the GPU ran out of memory (batch size {cfg.batch_size}, {cfg.image_size} px, strategy {cfg.strategy}); "
            "try a smaller batch size or image size"
        ) from None

    preds = val_logits.argmax(1)  # (V,)
    probs = val_logits.softmax(1)  # (V, C)
    confusion = [[0] * num_classes for _ in range(num_classes)]
    misclassified = []
    for j, i in enumerate(split.val):
        t, p = dataset.items[i].label, int(preds[j])
        confusion[t][p] += 1
        if t != p:
            misclassified.append({"path": dataset.items[i].path, "true": dataset.classes[t],
                                  "predicted": dataset.classes[p], "confidence": float(probs[j, p])})
    misclassified.sort(key=lambda m: -m["confidence"])  # the most confident mistakes teach the most
    model = model.to("cpu", memory_format=torch.contiguous_format).float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return TrainResult(
        model=model, entry=entry, preprocess=preprocess, classes=list(dataset.classes), config=cfg,
        history=history, confusion=confusion, misclassified=misclassified, train_seconds=seconds,
        images_per_sec=ips, trainable_params=trainable, total_params=total, device=str(device),
        precision=str(amp_dtype).replace("torch.", "") if amp_dtype else "fp32",
        train_count=len(split.train), val_count=len(split.val),
    )


class _Run:
    """One training run's moving parts; :meth:`fit` is the loop."""

    def __init__(self, cfg: TrainConfig, model: nn.Module, entry: ModelEntry, device: torch.device,
                 amp_dtype: torch.dtype | None, groups: list[dict[str, Any]], emit: EventFn, stop: StopFn) -> None:
        self.cfg, self.model, self.entry, self.device, self.amp_dtype = cfg, model, entry, device, amp_dtype
        self.emit, self.stop = emit, stop
        self.channels_last = device.type == "cuda"
        model.to(device, memory_format=torch.channels_last if self.channels_last else torch.preserve_format)
        self.optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        # fp16 needs loss scaling against underflowing gradients; bf16 has fp32's range and does not.
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        self.shuffle = torch.Generator().manual_seed(cfg.seed)
        self.aug_gen = torch.Generator().manual_seed(cfg.seed + 1)

    # -- inputs

    def _batch(self, images: torch.Tensor, idx: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
               augment: bool) -> torch.Tensor:
        x = _normalize(images[idx], mean, std)  # (B, 3, S, S)
        if augment:
            x = _augment(x, self.aug_gen)
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.no_grad()
    def _forward_all(self, net: nn.Module, images: torch.Tensor, idx: torch.Tensor, mean: torch.Tensor,
                     std: torch.Tensor, phase: str | None) -> torch.Tensor:
        """``net`` over ``images[idx]`` in batches, in fp32 on the CPU at the end: (len(idx), D)."""
        outs = []
        bs = self.cfg.batch_size
        for k in range(0, len(idx), bs):
            x = self._batch(images, idx[k : k + bs], mean, std, augment=False)
            with _autocast(self.device, self.amp_dtype):
                outs.append(net(x).float().cpu())  # (B, D)
            if self.stop():
                raise Stopped()
            if phase:
                self.emit({"event": "phase", "phase": phase, "done": min(k + bs, len(idx)), "total": len(idx)})
        return torch.cat(outs)

    # -- loop

    def fit(self, images: torch.Tensor, labels: torch.Tensor, train_idx: torch.Tensor, val_idx: torch.Tensor,
            mean: torch.Tensor, std: torch.Tensor) -> tuple[list[dict[str, Any]], torch.Tensor, float, float]:
        """Train for cfg.epochs; return (epoch history, final val logits, train seconds, images/s)."""
        cfg, model = self.cfg, self.model
        head = model.get_submodule(self.entry.head)
        start = time.monotonic()
        if cfg.uses_feature_cache:
            # The frozen backbone in eval mode maps each image to a fixed vector: compute it once.
            model.eval()
            with _headless(model, self.entry) as backbone:
                feats = self._forward_all(backbone, images, torch.arange(len(images)), mean, std,
                                          "extracting features")  # (N, F)
            inputs, net = feats.to(self.device), head

            def batch_fn(idx: torch.Tensor, train: bool) -> torch.Tensor:
                return inputs[idx.to(self.device)]  # (B, F)
        else:
            net = model

            def batch_fn(idx: torch.Tensor, train: bool) -> torch.Tensor:
                return self._batch(images, idx, mean, std, augment=train and cfg.augment)  # (B, 3, S, S)

        labels_dev = labels.to(self.device)
        n_train = len(train_idx)
        steps_per_epoch = math.ceil(n_train / cfg.batch_size)
        total_steps = steps_per_epoch * cfg.epochs
        history: list[dict[str, Any]] = []
        seen, train_time, step = 0, 0.0, 0
        loop_start = time.monotonic()  # time left is extrapolated from the loop alone
        val_logits = torch.empty(0)
        for epoch in range(1, cfg.epochs + 1):
            epoch_start = time.monotonic()
            _set_modes(model, cfg)
            order = train_idx[torch.randperm(n_train, generator=self.shuffle)]
            loss_sum, correct = 0.0, 0
            for k in range(steps_per_epoch):
                t0 = time.monotonic()
                idx = order[k * cfg.batch_size : (k + 1) * cfg.batch_size]
                x, y = batch_fn(idx, True), labels_dev[idx.to(self.device)]
                with _autocast(self.device, self.amp_dtype):
                    logits = net(x)  # (B, C)
                    loss = F.cross_entropy(logits.float(), y)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                batch_loss = float(loss.detach())  # syncs with the device, so the timing below is real
                batch_correct = int((logits.argmax(1) == y).sum())
                dt = time.monotonic() - t0
                step += 1
                seen += len(idx)
                train_time += dt
                loss_sum += batch_loss * len(idx)
                correct += batch_correct
                elapsed = time.monotonic() - start
                self.emit({
                    "event": "batch", "epoch": epoch, "epochs": cfg.epochs, "step": k + 1,
                    "steps_per_epoch": steps_per_epoch, "global_step": step, "total_steps": total_steps,
                    "loss": batch_loss, "accuracy": batch_correct / len(idx),
                    "images_per_sec": len(idx) / dt if dt > 0 else None,
                    "elapsed": elapsed,
                    "eta_seconds": (time.monotonic() - loop_start) / step * (total_steps - step),
                })
                if self.stop():
                    raise Stopped()
            val_logits = self._evaluate(net, batch_fn, val_idx)
            val_loss = float(F.cross_entropy(val_logits, labels[val_idx]))
            val_acc = float((val_logits.argmax(1) == labels[val_idx]).float().mean())
            record = {"event": "epoch", "epoch": epoch, "epochs": cfg.epochs,
                      "train_loss": loss_sum / n_train, "train_accuracy": correct / n_train,
                      "val_loss": val_loss, "val_accuracy": val_acc,
                      "seconds": time.monotonic() - epoch_start}
            history.append(record)
            self.emit(record)
        seconds = time.monotonic() - start
        return history, val_logits, seconds, seen / train_time if train_time > 0 else 0.0

    @torch.no_grad()
    def _evaluate(self, net: nn.Module, batch_fn: Callable[[torch.Tensor, bool], torch.Tensor],
                  val_idx: torch.Tensor) -> torch.Tensor:
        """Logits (V, C) for the validation images, everything in eval mode."""
        self.model.eval()
        outs = []
        for k in range(0, len(val_idx), self.cfg.batch_size):
            x = batch_fn(val_idx[k : k + self.cfg.batch_size], False)
            with _autocast(self.device, self.amp_dtype):
                outs.append(net(x).float().cpu())  # (B, C)
            if self.stop():
                raise Stopped()
        return torch.cat(outs)


# --------------------------------------------------------------------------- estimate


@dataclass(frozen=True)
class Estimate:
    """How big and how long a run will be, measured on this machine before it starts."""

    trainable_params: int
    total_params: int
    seconds: float
    decode_seconds: float
    compute_seconds: float
    device: str
    method: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def estimate(cfg: TrainConfig, dataset: Dataset, *, probe_images: int = 4) -> Estimate:
    """Estimate a run's duration by timing a few real steps here, then scaling up.

    Times decoding ``probe_images`` of the dataset's images, and one forward
    (plus backward, for training) pass of a small batch at the chosen image
    size with the strategy's trainable parameters, after one warm-up pass. The
    model has random weights (speed does not depend on them). It is an
    estimate: larger batches run faster per image, and other load on the
    machine changes everything.
    """
    split, entry, preprocess, device, amp_dtype = _prepare(cfg, dataset)
    n_all, n_train, n_val = len(dataset.items), len(split.train), len(split.val)

    t0 = time.perf_counter()
    probe = dataset.items[: max(1, probe_images)]
    for item in probe:
        preprocess.crop_image(load_image(dataset.path(item), name=item.path))
    decode = (time.perf_counter() - t0) / len(probe) * n_all

    model = replace_head(entry.builder(), entry, len(dataset.classes))
    groups = _apply_strategy(model, entry, cfg)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    b = min(cfg.batch_size, 8)

    def timed(fn: Callable[[], None]) -> float:
        fn()  # warm-up (allocations, kernel selection)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / b

    def forward() -> None:
        model.eval()
        with torch.no_grad(), _autocast(device, amp_dtype):
            model(x)

    def step() -> None:
        _set_modes(model, cfg)
        with _autocast(device, amp_dtype):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad()
        loss.backward()

    try:
        # Same memory format as the real run (channels_last on CUDA), so the timing is its timing.
        fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        model.to(device, memory_format=fmt)
        x = torch.randn(b, 3, cfg.image_size, cfg.image_size, device=device)  # (b, 3, S, S)
        x = x.contiguous(memory_format=fmt)
        y = torch.zeros(b, dtype=torch.long, device=device)
        opt = torch.optim.AdamW(groups)  # after the move, as PyTorch advises
        per_eval = timed(forward)
        per_train = 0.0 if cfg.uses_feature_cache else timed(step)
    except torch.cuda.OutOfMemoryError:
        raise TrainingError(
            f"the GPU ran out of memory timing a batch of {b} at {cfg.image_size} px; "
            "try a smaller image size"
        ) from None
    finally:
        if device.type == "cuda":
            # This runs in the app's server process: hand the probe model's memory (weights, grads)
            # back, so the training workers and the Predict page's models get it.
            model.to("cpu")
            torch.cuda.empty_cache()
    if cfg.uses_feature_cache:
        compute = per_eval * n_all  # features once; the head's steps cost next to nothing
        how = "one forward pass over every image (backbone features), then the head alone"
    else:
        compute = cfg.epochs * (n_train * per_train + n_val * per_eval)
        how = f"{cfg.epochs} epoch(s) of forward+backward on {n_train} images and a forward pass on {n_val}"
    return Estimate(
        trainable_params=trainable, total_params=total, seconds=decode + compute, decode_seconds=decode,
        compute_seconds=compute, device=str(device),
        method=f"timed {len(probe)} image decodes and a batch of {b} at {cfg.image_size} px on {device}; {how}",
    )


# --------------------------------------------------------------------------- artifacts


_LOAD_EXAMPLE = '''"""Load this fine-tuned {arch} in plain PyTorch and classify one image.

    python load_example.py photo.jpg
"""
import json
import sys
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load_file
from torchvision import transforms
{import_line}

here = Path(__file__).resolve().parent
meta = json.loads((here / "meta.json").read_text())
model = {builder}(num_classes=meta["num_classes"])  # {arch} with a {n}-class head
model.load_state_dict(load_file(str(here / "model.safetensors")))
model.eval()

pp = meta["preprocess"]  # exactly what the model saw in training
preprocess = transforms.Compose([
    transforms.Resize(pp["resize"], interpolation=transforms.InterpolationMode(pp["interpolation"])),
    transforms.CenterCrop(pp["crop"]),
    transforms.ToTensor(),
    transforms.Normalize(pp["mean"], pp["std"]),
])

image = Image.open(sys.argv[1]).convert("RGB")
with torch.no_grad():
    probs = model(preprocess(image).unsqueeze(0)).softmax(1)[0]  # (num_classes,)
for p, i in zip(*probs.topk(min(3, len(probs)))):
    print(f"{{meta['classes'][int(i)]}}: {{float(p):.3f}}")
'''

_README = """# Fine-tuned {arch}

{n} classes: {classes}. Validation accuracy {acc:.1%} on {val} images ({strategy} strategy, {epochs} epoch(s)).

- `model.safetensors`: the full model's state dict (the new {n}-class head included).
- `meta.json`: architecture, classes, preprocessing, metrics.
- `load_example.py`: load it in plain PyTorch: `python load_example.py photo.jpg`.

With the playground: `python -m playground predict photo.jpg --model {folder}`.
"""


def save_finetuned(result: TrainResult, out_dir: str | Path) -> Path:
    """Write the fine-tuned model folder (model.safetensors, meta.json, README.md, load_example.py)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": FINETUNED_FORMAT})
    metrics = result.metrics()
    meta = {
        "format": FINETUNED_FORMAT,
        "architecture": result.entry.name,
        "classes": result.classes,
        "num_classes": len(result.classes),
        "preprocess": result.preprocess.to_dict(),
        "strategy": result.config.strategy,
        "config": result.config.to_dict(),
        "metrics": {k: metrics[k] for k in ("val_accuracy", "val_loss", "train_accuracy", "train_loss",
                                             "per_class_accuracy", "epochs", "train_seconds",
                                             "train_images", "val_images", "trainable_params")},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    # The architecture's own constructor (torchvision's, or playground.models.efficientnet_lite's)
    # builds the same modules as the zoo builder + replace_head, so the keys match.
    builder = getattr(result.entry.builder, "func", result.entry.builder)
    (out / "load_example.py").write_text(_LOAD_EXAMPLE.format(
        arch=result.entry.name, n=len(result.classes), builder=builder.__name__,
        import_line=f"from {builder.__module__} import {builder.__name__}"))
    shown = ", ".join(result.classes[:10]) + (", ..." if len(result.classes) > 10 else "")
    (out / "README.md").write_text(_README.format(
        arch=result.entry.name, n=len(result.classes), classes=shown, acc=result.val_accuracy,
        val=result.val_count, strategy=result.config.strategy, epochs=result.config.epochs, folder=out))
    return out
