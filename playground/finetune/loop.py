"""Fine-tuning a pretrained zoo model on a small image dataset: the training loop.

:func:`train` checks the settings and labels, loads the model with a new head,
freezes it for the strategy (playground.finetune.strategy), decodes every image
once (playground.finetune.pixels), and runs :meth:`_Run.fit`: epochs of AdamW
steps, each followed by a validation pass. With ``head`` and no augmentation the
backbone's output for each image never changes, so it is computed once and the
head trains on the cached features: the same arithmetic as the plain loop, at a
fraction of the cost. Every event carries the time left
(:class:`~playground.finetune.eta.TimeLeft`, from this run's own timings), and
the best validation epoch is kept, so a run stopped early still gives a model.
On a GPU, batches arrive uint8 through a pinned prefetcher and are normalised and
augmented there, and the loop waits for the GPU only to report (see _train_epoch).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from playground.finetune.calibration import calibration_key
from playground.finetune.config import TrainConfig, TrainingError
from playground.finetune.data import Dataset, DatasetError, Split
from playground.finetune.device import configure_cuda_backends
from playground.finetune.eta import Costs, TimeLeft
from playground.finetune.pixels import augment, decode_all, normalize
from playground.finetune.prefetch import Prefetcher
from playground.finetune.result import Stopped, TrainResult, finished_model, validation_report
from playground.finetune.runtime import Setup, autocast, prepare, work_of
from playground.finetune.strategy import apply_strategy, headless, parameter_counts, set_modes
from playground.models.registry import load_zoo_model, replace_head

__all__ = ["Stopped", "TrainResult", "train", "PHASE_EVENT_SECONDS", "GPU_REPORT_SECONDS"]

# The decoding phase reports its progress at most this often.
PHASE_EVENT_SECONDS = 0.25
# On a GPU, training steps' losses are read (one wait for the GPU) and reported at most this often;
# a CPU run reports every step, as reading a value there waits for nothing.
GPU_REPORT_SECONDS = 0.5
EventFn = Callable[[dict[str, Any]], None]
StopFn = Callable[[], bool]
Feed = Iterator[tuple[torch.Tensor, torch.Tensor]]  # (model input, labels) on the device, batch by batch
FeedFn = Callable[[list[torch.Tensor], bool], Feed]  # (batches of indices, training?) -> their inputs


def train(
    cfg: TrainConfig,
    dataset: Dataset,
    *,
    on_event: EventFn | None = None,
    should_stop: StopFn | None = None,
    prior: Costs | None = None,
) -> TrainResult:
    """Fine-tune ``cfg.model`` on ``dataset``; returns the trained model and validation results.

    ``on_event`` receives dicts: ``{"event": "phase", ...}`` while loading, decoding and
    extracting features, ``{"event": "batch", ...}`` after every training step and
    ``{"event": "epoch", ...}`` after each validation pass; each but the first carries
    ``eta_seconds``, the work left (None until something says how long it takes; ``prior``,
    the before-Start per-image costs, fills in until this run has measured its own).
    ``should_stop`` is polled every batch; when it returns True, :class:`Stopped` is raised,
    carrying the best epoch so far as a usable result (None before the first validation).
    Raises TrainingError / DatasetError / ModelUnavailable with a one-line message for
    anything the user can fix.
    """
    emit = on_event or (lambda _e: None)
    stop = should_stop or (lambda: False)
    # The split and the labels are checked before the model or any GPU is touched.
    setup = prepare(cfg, dataset)
    _check_labels(dataset)
    eta = TimeLeft(work_of(cfg, setup, len(dataset.items)), prior)

    gpu_note = ""
    if setup.device.type == "cuda":  # never the server: training runs in workers (and the CLI, benches)
        configure_cuda_backends()
        free, total_bytes = torch.cuda.mem_get_info(setup.device)  # this run's GPU, not GPU 0
        gpu_note = f"; {free / 2**30:.1f} of {total_bytes / 2**30:.1f} GiB of its memory were free at the start"
    emit({"event": "phase", "phase": "loading model", "done": 0, "total": 1})
    model = load_zoo_model(cfg.model).model  # pretrained, eval mode, CPU; a fresh copy per call
    torch.manual_seed(cfg.seed)  # the new head's initial weights
    replace_head(model, setup.entry, len(dataset.classes))
    groups = apply_strategy(model, setup.entry, cfg)
    trainable, total = parameter_counts(model)

    images = decode_all(dataset, setup.preprocess, _decode_progress(eta, emit), stop)  # (N, 3, S, S) uint8
    labels = torch.tensor([it.label for it in dataset.items])  # (N,)
    common: dict[str, Any] = dict(entry=setup.entry, preprocess=setup.preprocess, classes=list(dataset.classes),
                  trainable_params=trainable, total_params=total, device=str(setup.device),
                  precision=setup.precision, train_count=len(setup.split.train), val_count=len(setup.split.val))
    run: _Run | None = None
    try:  # moving the model to the GPU can run out of memory too, not just a batch
        run = _Run(cfg, model, setup, groups, emit, stop, eta)
        history, val_logits, seconds, ips = run.fit(images, labels, setup.split)
    except Stopped:
        raise Stopped(run.kept(dataset, setup.split, common) if run is not None else None) from None
    except torch.cuda.OutOfMemoryError:
        if setup.device.type == "cuda":
            torch.cuda.empty_cache()
        raise TrainingError(
            f"the GPU ran out of memory (batch size {cfg.batch_size}, {cfg.image_size} px, strategy {cfg.strategy}"
            f"{gpu_note}); try a smaller batch size or image size"
        ) from None

    confusion, misclassified = validation_report(val_logits, setup.split, dataset)
    return TrainResult(model=finished_model(model), config=cfg, history=history, confusion=confusion,
                       misclassified=misclassified, train_seconds=seconds, images_per_sec=ips,
                       timing=run.timing(), **common)


def _check_labels(dataset: Dataset) -> None:
    num_classes = len(dataset.classes)
    bad = [it.path for it in dataset.items if not 0 <= it.label < num_classes]
    if bad:
        raise DatasetError(f"{bad[0]} has a label outside the {num_classes} classes; re-check the dataset")


def _decode_progress(eta: TimeLeft, emit: EventFn) -> Callable[[int, int], None]:
    """Per decoded image: feed the time-left tracker; a phase event at most every PHASE_EVENT_SECONDS."""
    last = [time.monotonic()]
    eta.phase("decode", 0)

    def on_image(done: int, total: int) -> None:
        eta.phase("decode", done)
        if time.monotonic() - last[0] > PHASE_EVENT_SECONDS or done == total:
            last[0] = time.monotonic()
            emit({"event": "phase", "phase": "decoding images", "done": done, "total": total,
                  "eta_seconds": eta.seconds()})

    return on_image


# --------------------------------------------------------------------------- the loop


@dataclass
class _Progress:
    """Counters across the whole run: what the batch events and the throughput are made of."""

    total_steps: int
    started: float  # the run (feature extraction included)
    step: int = 0
    seen: int = 0  # training images through the optimiser
    step_seconds: float = 0.0  # time in optimiser steps alone
    epoch: int = 0  # the epoch under way, and its step (where a stopped run stopped)
    epoch_step: int = 0


@dataclass
class _Best:
    """The best validation epoch so far: its numbers and a CPU copy of its trainable weights."""

    epoch: int
    accuracy: float
    loss: float
    val_logits: torch.Tensor
    weights: dict[str, torch.Tensor]


class _Run:
    """One training run's moving parts; :meth:`fit` is the loop."""

    def __init__(self, cfg: TrainConfig, model: nn.Module, setup: Setup, groups: list[dict[str, Any]],
                 emit: EventFn, stop: StopFn, eta: TimeLeft) -> None:
        self.cfg, self.model, self.entry = cfg, model, setup.entry
        self.device, self.amp_dtype = setup.device, setup.amp_dtype
        self.emit, self.stop, self.eta = emit, stop, eta
        self.key = calibration_key(cfg, setup.device.type)
        self.mean = torch.tensor(setup.preprocess.mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(setup.preprocess.std, device=self.device).view(1, 3, 1, 1)
        cuda = self.device.type == "cuda"
        # Reading a loss waits for the GPU; on a CPU it waits for nothing, so CPU runs report every step.
        self.report_each_step = not cuda
        # Convolutions on a GPU are faster in NHWC (tensor cores); on a CPU they measured no faster.
        self.channels_last = cuda
        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        model.to(self.device, memory_format=fmt)  # type: ignore[call-overload]  # memory_format: see finished_model
        self.optimizer = self._optimizer(groups, cuda)
        # fp16 needs loss scaling against underflowing gradients; bf16 has fp32's range and does not.
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.shuffle = torch.Generator().manual_seed(cfg.seed)
        self.aug_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.history: list[dict[str, Any]] = []
        self.best: _Best | None = None
        self.progress: _Progress | None = None

    def fit(self, images: torch.Tensor, labels: torch.Tensor, split: Split
            ) -> tuple[list[dict[str, Any]], torch.Tensor, float, float]:
        """Train for cfg.epochs; return (epoch history, final val logits, train seconds, images/s)."""
        cfg = self.cfg
        train_idx, val_idx = torch.tensor(split.train), torch.tensor(split.val)
        steps_per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
        progress = self.progress = _Progress(total_steps=steps_per_epoch * cfg.epochs, started=time.monotonic())
        net, feed = self._inputs(images, labels)
        val_logits = torch.empty(0)
        for epoch in range(1, cfg.epochs + 1):
            epoch_start = time.monotonic()
            progress.epoch, progress.epoch_step = epoch, 0
            loss_sum, correct = self._train_epoch(epoch, net, feed, train_idx, progress)
            val_start = time.monotonic()
            val_logits = self._evaluate(net, feed, val_idx)
            self.eta.evaluated(len(val_idx), time.monotonic() - val_start)
            record = {"event": "epoch", "epoch": epoch, "epochs": cfg.epochs,
                      "train_loss": loss_sum / len(train_idx), "train_accuracy": correct / len(train_idx),
                      "val_loss": float(F.cross_entropy(val_logits, labels[val_idx])),
                      "val_accuracy": float((val_logits.argmax(1) == labels[val_idx]).float().mean()),
                      "seconds": time.monotonic() - epoch_start}
            self.history.append(record)
            self._keep_if_best(record, val_logits)
            self.emit(dict(record, eta_seconds=self.eta.seconds()))
        ips = progress.seen / progress.step_seconds if progress.step_seconds > 0 else 0.0
        return self.history, val_logits, time.monotonic() - progress.started, ips

    def timing(self) -> dict[str, Any]:
        """What this run measured, for later estimates of the same settings on this machine."""
        costs = self.eta.measured()
        if not self.cfg.uses_feature_cache:  # validation here is the backbone's forward pass: the same work
            costs = dataclasses.replace(costs, forward=costs.evaluate)
        return {"key": self.key, "costs": costs.to_dict(), "work_seconds": self.eta.work_seconds}

    # -- what a from-scratch run (playground.finetune.scratch) does differently: these four

    def _optimizer(self, groups: list[dict[str, Any]], cuda: bool) -> torch.optim.Optimizer:
        # Fused AdamW on a GPU: one kernel for all parameters, and it takes the fp16 GradScaler's
        # inf check itself, where the unfused step reads it back (a wait for the GPU every step).
        return torch.optim.AdamW(groups, weight_decay=self.cfg.weight_decay, fused=cuda or None)

    def _train_modes(self) -> None:
        set_modes(self.model, self.cfg)

    def _snapshot(self) -> dict[str, torch.Tensor]:
        """A CPU copy of what training changes: only trainable weights (BatchNorm statistics stay frozen
        under every fine-tuning strategy)."""
        return {n: p.detach().to("cpu", copy=True) for n, p in self.model.named_parameters() if p.requires_grad}

    def _restore(self, weights: dict[str, torch.Tensor]) -> None:
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, value in weights.items():
                params[name].copy_(value)

    # -- the best epoch, kept for a run that is stopped

    def _keep_if_best(self, record: dict[str, Any], val_logits: torch.Tensor) -> None:
        """Remember this epoch if its validation accuracy is the best yet (ties: the lower loss)."""
        best = self.best
        if best is not None and (record["val_accuracy"], -record["val_loss"]) <= (best.accuracy, -best.loss):
            return
        self.best = _Best(record["epoch"], record["val_accuracy"], record["val_loss"], val_logits, self._snapshot())

    def kept(self, dataset: Dataset, split: Split, common: dict[str, Any]) -> TrainResult | None:
        """The best epoch so far as a finished result (None before the first validation pass)."""
        best, progress = self.best, self.progress
        if best is None or progress is None:
            return None
        self._restore(best.weights)
        confusion, misclassified = validation_report(best.val_logits, split, dataset)
        where = {"epoch": progress.epoch, "epochs": self.cfg.epochs, "step": progress.epoch_step,
                 "steps_per_epoch": math.ceil(len(split.train) / self.cfg.batch_size)}
        ips = progress.seen / progress.step_seconds if progress.step_seconds > 0 else 0.0
        return TrainResult(model=finished_model(self.model), config=dataclasses.replace(self.cfg, epochs=best.epoch),
                           history=list(self.history), confusion=confusion, misclassified=misclassified,
                           train_seconds=time.monotonic() - progress.started, images_per_sec=ips,
                           timing=self.timing(), kept_epoch=best.epoch, stopped=where, **common)

    # -- inputs, steps, validation

    def _inputs(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[nn.Module, FeedFn]:
        """(the network a batch goes through, how batches of indices become its inputs and labels)."""
        if not self.cfg.uses_feature_cache:
            prefetcher = Prefetcher((images, labels), self.device)

            def feed(batches: list[torch.Tensor], training: bool) -> Feed:
                # uint8 (B, 3, S, S) and (B,) on the device, the next batch copied while this one computes
                for x, y in prefetcher.batches(batches):
                    yield self._prepare(x, augmented=training and self.cfg.augment), y

            return self.model, feed
        # The frozen backbone in eval mode maps each image to a fixed vector: compute it once.
        self.model.eval()
        with headless(self.model, self.entry) as backbone:
            feats = self._extract(backbone, images).to(self.device)  # (N, F)
        labels_dev = labels.to(self.device)

        def cached(batches: list[torch.Tensor], training: bool) -> Feed:
            for idx in batches:
                idx = idx.to(self.device)
                yield feats[idx], labels_dev[idx]  # (B, F), (B,)

        return self.model.get_submodule(self.entry.head), cached

    def _train_epoch(self, epoch: int, net: nn.Module, feed: FeedFn, train_idx: torch.Tensor,
                     progress: _Progress) -> tuple[float, int]:
        """One pass over the shuffled training images; returns (summed loss, correct predictions).

        Each step's loss and correct count stay on the device until a report reads them all at
        once: every step on a CPU, every GPU_REPORT_SECONDS on a GPU (a read waits for the GPU to
        finish, and a wait per step would leave it idle while the next step is prepared).
        """
        self._train_modes()
        order = train_idx[torch.randperm(len(train_idx), generator=self.shuffle)]
        batches = list(order.split(self.cfg.batch_size))
        report = _Report(epoch, len(batches), time.monotonic())
        batch_iter = feed(batches, True)
        for k, idx in enumerate(batches):
            x, y = next(batch_iter)
            loss, hits = self._step(net, x, y)
            progress.step += 1
            progress.epoch_step = k + 1
            progress.seen += len(idx)
            report.pending.append((k + 1, progress.step, len(idx), loss, hits))
            if self.report_each_step or k + 1 == len(batches) or time.monotonic() - report.since > GPU_REPORT_SECONDS:
                self._report(report, progress)
            if self.stop():
                self._report(report, progress)  # the steps done so far, before stopping
                raise Stopped()
        return report.loss_sum, report.correct

    def _report(self, report: _Report, progress: _Progress) -> None:
        """Read the pending steps' numbers (one wait for the device) and emit a batch event for each."""
        if not report.pending:
            return
        steps, global_steps, sizes, losses, hit_counts = zip(*report.pending)
        values = torch.stack([torch.stack(losses), torch.stack(hit_counts).float()]).tolist()
        seconds = time.monotonic() - report.since
        images = sum(sizes)
        progress.step_seconds += seconds
        for step, global_step, n, loss, hits in zip(steps, global_steps, sizes, *values):
            dt = seconds * n / images  # the group's time, shared out by images
            self.eta.step(dt, n)
            report.loss_sum += loss * n
            report.correct += int(hits)
            self.emit({
                "event": "batch", "epoch": report.epoch, "epochs": self.cfg.epochs, "step": step,
                "steps_per_epoch": report.steps_per_epoch, "global_step": global_step,
                "total_steps": progress.total_steps, "images": n, "loss": loss, "accuracy": hits / n,
                "images_per_sec": images / seconds if seconds > 0 else None,
                "elapsed": time.monotonic() - progress.started, "eta_seconds": self.eta.seconds(),
            })
        report.pending, report.since = [], time.monotonic()

    def _step(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One AdamW step on a batch; returns (its loss, its correct predictions) as device scalars, unread."""
        with autocast(self.device, self.amp_dtype):
            logits = net(x)  # (B, C)
            loss = F.cross_entropy(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach(), (logits.argmax(1) == y).sum()

    def _prepare(self, x: torch.Tensor, augmented: bool) -> torch.Tensor:
        """uint8 (B, 3, S, S) on the device -> the model's input there: normalised, maybe augmented."""
        x = normalize(x, self.mean, self.std)  # (B, 3, S, S) float
        if augmented:
            x = augment(x, self.aug_gen)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.no_grad()
    def _extract(self, net: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """The backbone's features of every image, in batches, fp32 on the CPU at the end: (N, F)."""
        outs = []
        n = len(images)
        batches = list(torch.arange(n).split(self.cfg.batch_size))
        self.eta.phase("extract", 0)
        done = itertools.accumulate(len(b) for b in batches)
        for (x,), upto in zip(Prefetcher((images,), self.device).batches(batches), done):
            x = self._prepare(x, augmented=False)
            with autocast(self.device, self.amp_dtype):
                outs.append(net(x).float().cpu())  # (B, F); .cpu() syncs, so the timing is real
            self.eta.phase("extract", upto)
            if self.stop():
                raise Stopped()
            self.emit({"event": "phase", "phase": "extracting features", "done": upto, "total": n,
                       "eta_seconds": self.eta.seconds()})
        return torch.cat(outs)

    @torch.no_grad()
    def _evaluate(self, net: nn.Module, feed: FeedFn, val_idx: torch.Tensor) -> torch.Tensor:
        """Logits (V, C) for the validation images, everything in eval mode (read once, at the end)."""
        self.model.eval()
        outs = []
        for x, _ in feed(list(val_idx.split(self.cfg.batch_size)), False):
            with autocast(self.device, self.amp_dtype):
                outs.append(net(x).float())  # (B, C) on the device
            if self.stop():
                raise Stopped()
        return torch.cat(outs).cpu()


@dataclass
class _Report:
    """Training steps of one epoch whose numbers are still on the device, and the epoch's sums so far."""

    epoch: int
    steps_per_epoch: int
    since: float  # when the first pending step started
    # (step in the epoch, global step, images, loss, correct predictions): the last two unread, on the device
    pending: list[tuple[int, int, int, torch.Tensor, torch.Tensor]] = dataclasses.field(default_factory=list)
    loss_sum: float = 0.0
    correct: int = 0
