"""``python -m playground finetune DATA [--model NAME] [--strategy S] [--epochs N] [--out DIR] [--json]``.

Runs in this process (the command line is its own process; only the app keeps
training out of its server). Progress goes to stderr; with ``--json`` stdout
holds only the result.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from playground.cli._io import bounded, print_json
from playground.finetune.config import DEFAULTS, DEVICES, LIMITS, STRATEGIES

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Fine-tune a pretrained model on a zip or folder of class sub-folders, or a bundled dataset."
# Option -> (TrainConfig field, metavar, help before the default). Bounds and defaults come from the config.
_NUMBERS = {
    "--epochs": ("epochs", "N", ""),
    "--batch-size": ("batch_size", "B", ""),
    "--lr": ("lr_head", "LR", "learning rate of the new head"),
    "--lr-backbone": ("lr_backbone", "LR", "learning rate of unfrozen pretrained layers"),
    "--val-split": ("val_fraction", "F", "fraction of each class held out for validation"),
    "--seed": ("seed", "S", "seed for the split, the head and shuffling"),
}


def _in_limits(setting: str) -> Callable[[str], Any]:
    """An argparse ``type=`` for a TrainConfig setting, checked against its LIMITS."""
    allowed = LIMITS[setting]
    if allowed.whole:
        return bounded(int, allowed.lo, allowed.hi)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value not in allowed:
            raise argparse.ArgumentTypeError(f"must be {allowed.describe()}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The finetune command's arguments, generated from playground.finetune.config."""
    from playground.finetune.data import BUNDLED

    parser.add_argument("data", metavar="DATA",
                        help="a .zip or folder of class sub-folders (cats/1.jpg, dogs/2.jpg...), or a bundled "
                             f"dataset name: {', '.join(BUNDLED)}")
    parser.add_argument("--model", default=DEFAULTS["model"], metavar="NAME",
                        help=f"zoo model to start from (see `models`; default: {DEFAULTS['model']})")
    parser.add_argument("--strategy", default=DEFAULTS["strategy"], choices=list(STRATEGIES),
                        help="; ".join(f"{name}: {text}" for name, text in STRATEGIES.items())
                             + f" (default: {DEFAULTS['strategy']})")
    for option, (setting, metavar, text) in _NUMBERS.items():
        default = f"default: {DEFAULTS[setting]:g}"
        parser.add_argument(option, dest=setting, type=_in_limits(setting), default=DEFAULTS[setting],
                            metavar=metavar, help=f"{text} ({default})" if text else default)
    parser.add_argument("--image-size", type=_in_limits("image_size"), default=None, metavar="PX",
                        help="square input size in pixels (default: the model's own, e.g. "
                             f"{DEFAULTS['image_size']}; smaller for bundled sets of small images)")
    parser.add_argument("--augment", action="store_true", help="random crops and horizontal flips while training")
    parser.add_argument("--device", default=DEFAULTS["device"], choices=list(DEVICES),
                        help=f"default: {DEFAULTS['device']}")
    parser.add_argument("--out", metavar="DIR",
                        help="where to write the model folder for `predict --model DIR` "
                             "(default: <data dir>/models/<time>-<data>)")
    parser.add_argument("--json", action="store_true",
                        help='print {"val_accuracy", "classes", "epochs", "train_seconds", "out", ...}')


class _Reporter:
    """Progress lines on stderr: phase changes and one line per epoch."""

    def __init__(self) -> None:
        self.phase: str | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "phase" and event["phase"] != self.phase:
            self.phase = event["phase"]
            sys.stderr.write(f"{self.phase}...\n")
        elif kind == "epoch":
            self.phase = None
            sys.stderr.write(
                f"epoch {event['epoch']}/{event['epochs']}: train loss {event['train_loss']:.3f} "
                f"acc {event['train_accuracy']:.1%}, val loss {event['val_loss']:.3f} "
                f"acc {event['val_accuracy']:.1%} ({event['seconds']:.1f} s)\n"
            )


def run(args: argparse.Namespace) -> int:
    """Prepare the data, train, write the model folder, report."""
    from playground.config import home_dir
    from playground.finetune.archive import open_dataset
    from playground.finetune.config import TrainConfig
    from playground.finetune.loop import train
    from playground.finetune.runtime import configure_cpu_threads, suggested_image_size
    from playground.models.finetuned import save_finetuned

    size = args.image_size if args.image_size is not None else suggested_image_size(args.data, args.model)
    # Built (and so checked) before the data is unpacked: bad settings fail first.
    cfg = TrainConfig(model=args.model, strategy=args.strategy, image_size=size, augment=args.augment,
                      device=args.device, **{setting: getattr(args, setting) for setting, _, _ in _NUMBERS.values()})
    sys.stderr.write(f"checking {args.data}...\n")
    dataset, cleanup = open_dataset(args.data)
    try:
        sys.stderr.write(str(dataset) + "\n")
        configure_cpu_threads()
        started = time.monotonic()
        result = train(cfg, dataset, on_event=_Reporter())
        name = Path(str(args.data).rstrip("/")).stem or "data"
        out = Path(args.out) if args.out else home_dir() / "models" / f"{datetime.now():%Y%m%d-%H%M%S}-{name}"
        save_finetuned(result, out)
    finally:
        cleanup()
    metrics = result.metrics()
    summary = {
        "val_accuracy": metrics["val_accuracy"],
        "classes": result.classes,
        "epochs": cfg.epochs,
        "train_seconds": metrics["train_seconds"],
        "total_seconds": time.monotonic() - started,
        "out": str(out.resolve()),
        "model": cfg.model,
        "strategy": cfg.strategy,
        "train_images": metrics["train_images"],
        "val_images": metrics["val_images"],
        "per_class_accuracy": metrics["per_class_accuracy"],
        "history": [{k: v for k, v in h.items() if k != "event"} for h in metrics["history"]],
        "trainable_params": metrics["trainable_params"],
        "images_per_sec": metrics["images_per_sec"],
        "device": metrics["device"],
        "precision": metrics["precision"],
        "bad_images": [{"path": p, "reason": r} for p, r in dataset.bad],
        "skipped": dataset.skipped,
    }
    if args.json:
        print_json(summary)
    else:
        print(f"validation accuracy {summary['val_accuracy']:.1%} after {cfg.epochs} epoch(s) "
              f"({summary['train_seconds']:.1f} s training)")
        print(f"model written to {summary['out']}")
        print(f"use it: python -m playground predict IMAGE --model {summary['out']}")
    return 0
