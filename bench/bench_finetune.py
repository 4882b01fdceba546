"""Fine-tuning speed: strategies, the cached-features shortcut, fp32 vs mixed precision.

Runs real fine-tuning (EfficientNet-Lite0, pretrained) on the bundled digits and prints
- training throughput (images/s over the optimiser steps only) for head (plain loop),
  last-block and full, in fp32 and in mixed precision (bf16/fp16 autocast on CUDA; bf16
  autocast on a CPU), with each row's ratio to head/fp32 measured in the same process;
- the time of a head run with cached backbone features against the plain loop (same
  settings, same result), as a ratio; decoding the images is left out (it is the same
  for both). The plain loop pays a backbone forward pass per image per epoch, the cached
  run pays it once, so the ratio grows with --epochs.

Works on CUDA (channels_last, autocast) and on the CPU. Timings depend on the load
of the machine; compare only rows printed by the same run.

    python bench/bench_finetune.py [--images 600] [--size 64] [--epochs 2] [--batch 32] [--device auto]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("PLAYGROUND_HOME", tempfile.mkdtemp(prefix="bench-finetune-"))

import torch  # noqa: E402

from playground.finetune.config import TrainConfig  # noqa: E402
from playground.finetune.data import Dataset, bundled  # noqa: E402
from playground.finetune.loop import train  # noqa: E402
from playground.finetune.runtime import configure_cpu_threads  # noqa: E402


def subset(ds: Dataset, n: int) -> Dataset:
    """``n`` images spread evenly over the (class-sorted) list, so every class stays represented."""
    n = min(n, len(ds.items))
    return Dataset(ds.root, ds.name, ds.classes, [ds.items[i * len(ds.items) // n] for i in range(n)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--size", type=int, default=None, help="image size (default: 64 on CPU, 224 on CUDA)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()

    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    size = args.size or (224 if cuda else 64)
    if cuda:
        device = f"CUDA: {torch.cuda.get_device_name(0)}"
    else:
        device = f"CPU: {configure_cpu_threads()} threads of {os.cpu_count()} cores"
    ds = subset(bundled("digits"), args.images)
    base = dict(image_size=size, epochs=args.epochs, batch_size=args.batch, device="cuda" if cuda else "cpu")
    print(f"{device}; torch {torch.__version__}; {len(ds.items)} digits at {size} px, "
          f"{args.epochs} epoch(s), batch {args.batch}\n")

    train(TrainConfig(**dict(base, epochs=1, cache_features=False)), ds)  # warm-up: caches, kernels, allocator

    print(f"{'strategy':<12}{'precision':<11}{'train images/s':>15}{'vs head fp32':>14}{'val acc':>9}")
    baseline = None
    for strategy in ("head", "last-block", "full"):
        for precision in ("fp32", "mixed"):
            cfg = TrainConfig(**base, strategy=strategy, precision=precision, cache_features=False)
            result = train(cfg, ds)
            ips = result.images_per_sec
            baseline = baseline or ips
            print(f"{strategy:<12}{result.precision:<11}{ips:>15,.0f}{ips / baseline:>13.2f}x"
                  f"{result.val_accuracy:>9.3f}")

    print("\nhead strategy, whole run after decoding (forward passes + steps + validation each epoch):")
    timings = {}
    for cached in (False, True):
        result = train(TrainConfig(**base, cache_features=cached), ds)
        timings[cached] = result.train_seconds
        print(f"  {'cached features' if cached else 'plain loop':<16}{result.train_seconds:8.2f} s"
              f"   val acc {result.val_accuracy:.3f}")
    print(f"  cached features are {timings[False] / timings[True]:.1f}x faster than the plain loop")


if __name__ == "__main__":
    main()
