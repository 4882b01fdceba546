"""``python -m playground finetune DATA [--model NAME] [--strategy S] [--epochs N] [--out DIR] [--json]``.

Runs in this process (the command line is its own process; only the app keeps
training out of its server). Progress goes to stderr; with ``--json`` stdout
holds only the result.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from playground.cli._io import bounded, print_json

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Fine-tune a pretrained model on a zip or folder of class sub-folders, or a bundled dataset."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA",
                        help="a .zip or folder of class sub-folders (cats/1.jpg, dogs/2.jpg...), or a bundled "
                             "dataset name: digits")
    parser.add_argument("--model", default="efficientnet_lite0", metavar="NAME",
                        help="zoo model to start from (see `models`; default: efficientnet_lite0)")
    parser.add_argument("--strategy", default="head", choices=["head", "last-block", "full"],
                        help="head: train only a new final layer (default); last-block: also the last block; "
                             "full: every layer")
    parser.add_argument("--epochs", type=bounded(int, 1, 500), default=5, metavar="N", help="default: 5")
    parser.add_argument("--batch-size", type=bounded(int, 1, 1024), default=32, metavar="B", help="default: 32")
    parser.add_argument("--image-size", type=bounded(int, 32, 640), default=None, metavar="PX",
                        help="square input size in pixels (default: the model's own, e.g. 224; 64 for digits)")
    parser.add_argument("--lr", type=bounded(float, 1e-8, 1), default=1e-3, metavar="LR",
                        help="learning rate of the new head (default: 1e-3)")
    parser.add_argument("--lr-backbone", type=bounded(float, 1e-8, 1), default=1e-4, metavar="LR",
                        help="learning rate of unfrozen pretrained layers (default: 1e-4)")
    parser.add_argument("--augment", action="store_true", help="random crops and horizontal flips while training")
    parser.add_argument("--val-split", type=bounded(float, 0.01, 0.99), default=0.2, metavar="F",
                        help="fraction of each class held out for validation (default: 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the split, the head and shuffling (default: 0)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto")
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
    from playground.finetune.data import open_dataset
    from playground.finetune.loop import TrainConfig, configure_cpu_threads, save_finetuned, suggested_image_size, train

    size = args.image_size if args.image_size is not None else suggested_image_size(args.data, args.model)
    cfg = TrainConfig(
        model=args.model, strategy=args.strategy, epochs=args.epochs, batch_size=args.batch_size,
        image_size=size, lr_head=args.lr, lr_backbone=args.lr_backbone, augment=args.augment,
        val_fraction=args.val_split, seed=args.seed, device=args.device,
    )
    cfg.validate()  # bad settings fail before the data is unpacked
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
