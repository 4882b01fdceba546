"""``python -m playground finetune DATA [--model NAME] [--strategy S] [--epochs N] [--out DIR] [--runner R] [--json]``.

With ``--runner local`` (the default) it trains in this process (the command line is its own
process; only the app keeps training out of its server); with ``--runner ray`` (or
``PLAYGROUND_RUNNER=ray``) the job runs as a Ray task on ``RAY_ADDRESS`` or on a local cluster
this process starts and stops. Progress goes to stderr; with ``--json`` stdout holds only the result.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

from playground._format import visible
from playground.cli._training import in_limits, report, train_here, train_on_ray
from playground.finetune.config import DEFAULTS, DEVICES, STRATEGIES
from playground.finetune.jobs.runners import RUNNER_ENV, RUNNERS

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
        parser.add_argument(option, dest=setting, type=in_limits(setting), default=DEFAULTS[setting],
                            metavar=metavar, help=f"{text} ({default})" if text else default)
    parser.add_argument("--image-size", type=in_limits("image_size"), default=None, metavar="PX",
                        help="square input size in pixels (default: the model's own, e.g. "
                             f"{DEFAULTS['image_size']}; smaller for bundled sets of small images)")
    parser.add_argument("--augment", action="store_true", help="random crops and horizontal flips while training")
    parser.add_argument("--device", default=DEFAULTS["device"], choices=list(DEVICES),
                        help=f"default: {DEFAULTS['device']}")
    parser.add_argument("--out", metavar="DIR",
                        help="where to write the model folder for `predict --model DIR` "
                             "(default: <data dir>/models/<time>-<data>)")
    parser.add_argument("--runner", choices=list(RUNNERS), default=None,
                        help="local: train in this process; ray: as a Ray task on RAY_ADDRESS, or on a local "
                             f"Ray cluster started for this run (default: {RUNNER_ENV}, else local)")
    parser.add_argument("--json", action="store_true",
                        help='print {"val_accuracy", "classes", "epochs", "train_seconds", "out", "runner", ...}')


def run(args: argparse.Namespace) -> int:
    """Prepare the data, train, write the model folder, report."""
    from playground.finetune.archive import open_dataset
    from playground.finetune.config import TrainConfig
    from playground.finetune.eta import throughput
    from playground.finetune.jobs.runners import runner_name
    from playground.finetune.runtime import suggested_image_size
    from playground.paths import home_dir

    runner = runner_name(args.runner)
    size = args.image_size if args.image_size is not None else suggested_image_size(args.data, args.model)
    # Built (and so checked) before the data is unpacked: bad settings fail first.
    cfg = TrainConfig(model=args.model, strategy=args.strategy, image_size=size, augment=args.augment,
                      device=args.device, **{setting: getattr(args, setting) for setting, _, _ in _NUMBERS.values()})
    sys.stderr.write(f"checking {args.data}...\n")
    dataset, cleanup = open_dataset(args.data)
    try:
        sys.stderr.write("\n".join(visible(line) for line in str(dataset).splitlines()) + "\n")
        started = time.monotonic()
        name = Path(str(args.data).rstrip("/")).stem or "data"
        out = Path(args.out) if args.out else home_dir() / "models" / f"{datetime.now():%Y%m%d-%H%M%S}-{name}"
        metrics = (train_on_ray if runner == "ray" else train_here)(cfg, dataset, out)
    finally:
        cleanup()
    rates = throughput(metrics)
    summary = {
        "val_accuracy": metrics["val_accuracy"],
        "classes": list(dataset.classes),
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
        # All the work, not only the optimiser steps (those alone: "images_per_sec_parts"["step"]).
        "images_per_sec": rates["images_per_sec"],
        "images_per_sec_parts": rates["parts"],
        "device": metrics["device"],
        "precision": metrics["precision"],
        "bad_images": [{"path": p, "reason": r} for p, r in dataset.bad],
        "skipped": dataset.skipped,
        "runner": runner,
    }
    report(summary, cfg.epochs, args.json)
    return 0
