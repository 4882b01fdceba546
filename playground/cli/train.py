"""``python -m playground train SPEC.json DATA [--epochs N] [--batch-size B] [--lr LR] [--optimizer O] ...``.

Trains a Designer design (a layer spec file) from random weights on a zip or folder of class
sub-folders or a bundled dataset (``shapes`` is made for it), and writes the model folder that
``predict --model DIR`` and the folder's own ``load_example.py`` use. ``--runner local`` trains in
this process; ``--runner ray`` as a Ray task, exactly like ``finetune``. A design that does not
end in one value per class is refused with the fix on offer; ``--fix-head`` applies it.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

from playground._format import visible
from playground.cli._io import bounded
from playground.cli._training import in_limits, report, train_here, train_on_ray
from playground.finetune.config import DEFAULTS, DEVICES, LIMITS
from playground.finetune.design_config import DESIGN_DEFAULTS, OPTIMIZERS
from playground.finetune.jobs.runners import RUNNER_ENV, RUNNERS

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Train a design (a layer spec JSON) from scratch on a zip or folder of class sub-folders, or a bundled set."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The train command's arguments (bounds from playground.finetune.config, defaults for a design)."""
    from playground.finetune.data import BUNDLED

    parser.add_argument("spec", metavar="SPEC.json", help="the design: a layer spec JSON file ('-' reads stdin)")
    parser.add_argument("data", metavar="DATA",
                        help=f"a .zip or folder of class sub-folders, or a bundled dataset: {', '.join(BUNDLED)}")
    parser.add_argument("--epochs", type=bounded(int, LIMITS["epochs"].lo, LIMITS["epochs"].hi),
                        default=DESIGN_DEFAULTS["epochs"], metavar="N", help=f"default: {DESIGN_DEFAULTS['epochs']}")
    parser.add_argument("--batch-size", type=bounded(int, LIMITS["batch_size"].lo, LIMITS["batch_size"].hi),
                        default=DESIGN_DEFAULTS["batch_size"], metavar="B",
                        help=f"default: {DESIGN_DEFAULTS['batch_size']}")
    parser.add_argument("--lr", type=in_limits("lr_head"), default=None, metavar="LR",
                        help=f"learning rate (default: {DESIGN_DEFAULTS['lr_head']:g}; with sgd try 0.05)")
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), default=DESIGN_DEFAULTS["optimizer"],
                        help="; ".join(f"{k}: {v}" for k, v in OPTIMIZERS.items()))
    parser.add_argument("--augment", action="store_true", help="random crops and horizontal flips while training")
    parser.add_argument("--seed", type=in_limits("seed"), default=DEFAULTS["seed"], metavar="S",
                        help="seed for the split, the initial weights and shuffling (default: 0)")
    parser.add_argument("--val-split", dest="val_fraction", type=in_limits("val_fraction"),
                        default=DEFAULTS["val_fraction"], metavar="F", help="default: 0.2")
    parser.add_argument("--device", default=DEFAULTS["device"], choices=list(DEVICES), help="default: auto")
    parser.add_argument("--fix-head", action="store_true",
                        help="when the design does not end in one value per class, apply the proposed fix")
    parser.add_argument("--out", metavar="DIR", help="where to write the model folder "
                                                     "(default: <data dir>/models/<time>-<spec>)")
    parser.add_argument("--runner", choices=list(RUNNERS), default=None,
                        help=f"local: train in this process; ray: as a Ray task (default: {RUNNER_ENV}, else local)")
    parser.add_argument("--json", action="store_true",
                        help='print {"val_accuracy", "classes", "epochs", "design", "out", "runner", ...}')


def run(args: argparse.Namespace) -> int:
    """Read the design, check it against the data, train, write the model folder, report."""
    from playground.cli.analyze import read_spec_arg
    from playground.finetune.archive import open_dataset
    from playground.finetune.eta import throughput
    from playground.finetune.jobs.design_jobs import prepare_design
    from playground.finetune.jobs.runners import runner_name
    from playground.finetune.scratch import design_config
    from playground.paths import home_dir
    from playground.spec.parse import parse_spec

    runner = runner_name(args.runner)
    spec = parse_spec(read_spec_arg(args.spec)).to_dict()  # SpecError (one line) before any data is read
    cfg = design_config(spec, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                        augment=args.augment, seed=args.seed, device=args.device, val_fraction=args.val_fraction)
    sys.stderr.write(f"checking {args.data}...\n")
    dataset, cleanup = open_dataset(args.data)
    try:
        sys.stderr.write("\n".join(visible(line) for line in str(dataset).splitlines()) + "\n")
        cfg, cost = prepare_design(dataset, cfg, fix_head=args.fix_head)
        sys.stderr.write(f"estimate: {cost.describe()}\n")
        started = time.monotonic()
        name = Path(str(args.spec)).stem if args.spec != "-" else "design"
        out = Path(args.out) if args.out else home_dir() / "models" / f"{datetime.now():%Y%m%d-%H%M%S}-{name}"
        metrics = (train_on_ray if runner == "ray" else train_here)(cfg, dataset, out)
    finally:
        cleanup()
    summary = {
        "val_accuracy": metrics["val_accuracy"],
        "classes": list(dataset.classes),
        "epochs": cfg.epochs,
        "design": cfg.spec,  # as trained (with the head fix, when one was applied)
        "head_fixed": cfg.spec != spec,
        "optimizer": cfg.optimizer,
        "lr": cfg.lr,
        "batch_size": cfg.batch_size,
        "train_seconds": metrics["train_seconds"],
        "total_seconds": time.monotonic() - started,
        "estimated_seconds": cost.seconds,
        "out": str(out.resolve()),
        "train_images": metrics["train_images"],
        "val_images": metrics["val_images"],
        "per_class_accuracy": metrics["per_class_accuracy"],
        "history": [{k: v for k, v in h.items() if k != "event"} for h in metrics["history"]],
        "params": metrics["trainable_params"],
        "images_per_sec": throughput(metrics)["images_per_sec"],
        "device": metrics["device"],
        "precision": metrics["precision"],
        "runner": runner,
    }
    report(summary, cfg.epochs, args.json)
    return 0
