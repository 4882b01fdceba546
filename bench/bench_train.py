"""Training speed of a design from scratch: the playground's loop against a hand-written PyTorch loop.

For each design (a small 3-stage CNN, and the Designer's default design with its head fixed for the 5
shapes) it trains, in one process, on the same uint8 image tensor (the bundled shapes, decoded once
at the design's input size), with the same batch size, AdamW settings, fp32 and thread count:

- the playground: :func:`playground.finetune.scratch.train_design`, the function a from-scratch job runs
  (its images/s counts the optimiser steps, batch feeding included, as the loop reports it);
- by hand: the nanoGPT-style loop a student would write: shuffle, slice, normalise, forward, loss,
  backward, step; timed over the same steps.

The two run alternately ``--rounds`` times and the median of each is compared: ratio = playground /
by hand, the goal >= 0.90. On a GPU: not measured here (this script runs on the CPU; see
bench/gpu_check.py for GPU checks). Timings depend on everything else the machine is doing.

    python bench/bench_train.py [--images 2000] [--epochs 2] [--batch-size 64] [--rounds 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("PLAYGROUND_HOME", tempfile.mkdtemp(prefix="bench-train-"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from playground.design.presets import default_spec  # noqa: E402
from playground.finetune.data import Dataset, bundled  # noqa: E402
from playground.finetune.design_config import DesignConfig  # noqa: E402
from playground.finetune.head import require_head  # noqa: E402
from playground.finetune.pixels import decode_all  # noqa: E402
from playground.finetune.scratch import train_design  # noqa: E402
from playground.models.designed import design_entry  # noqa: E402


def _cbr(out: int) -> list[dict]:
    return [{"type": "conv2d", "out_channels": out, "kernel_size": 3, "padding": 1, "bias": False},
            {"type": "batchnorm2d"}, {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2}]


SMALL = {"name": "small 3-stage CNN", "input": [3, 32, 32],
         "layers": _cbr(16) + _cbr(32) + _cbr(32) + [{"type": "flatten"}, {"type": "linear", "out_features": 5}]}


def by_hand(spec: dict, images: torch.Tensor, labels: torch.Tensor, epochs: int, batch: int, lr: float) -> float:
    """Images/s of the optimiser steps of a plain PyTorch loop over ``images`` (uint8, (N, 3, S, S))."""
    torch.manual_seed(0)
    model = design_entry(spec, ["x"] * 5).builder().train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    mean = torch.full((1, 3, 1, 1), 0.5)
    std = torch.full((1, 3, 1, 1), 0.5)
    gen = torch.Generator().manual_seed(0)
    seen, seconds = 0, 0.0
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        start = time.perf_counter()
        for idx in order.split(batch):
            x = (images[idx].float() / 255 - mean) / std  # (B, 3, S, S)
            loss = F.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()  # the playground reads every CPU step's loss for its curves: so does this loop
            seen += len(idx)
        seconds += time.perf_counter() - start
    return seen / seconds


def compare(name: str, spec: dict, data: Dataset, args: argparse.Namespace) -> float:
    spec = require_head(spec, len(data.classes), fix=True)
    cfg = DesignConfig.of(spec, epochs=args.epochs, batch_size=args.batch_size, lr=1e-3, device="cpu",
                          precision="fp32", val_fraction=0.2)
    entry = design_entry(spec, data.classes)
    images = decode_all(data, entry.preprocess, lambda *_: None, lambda: False)  # (N, 3, S, S) uint8
    labels = torch.tensor([it.label for it in data.items])
    train_n = int(len(images) * 0.8)  # the playground trains on 80 %: the hand loop on as many images
    ours, hand = [], []
    for _ in range(args.rounds):
        ours.append(train_design(cfg, data).images_per_sec)
        hand.append(by_hand(spec, images[:train_n], labels[:train_n], args.epochs, args.batch_size, 1e-3))
    a, b = statistics.median(ours), statistics.median(hand)
    print(f"{name:<28} playground {a:8.0f} img/s   by hand {b:8.0f} img/s   ratio {a / b:.2f}")
    return a / b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="shapes used (of 5,000)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads for both loops")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shapes = bundled("shapes")
    step = max(1, len(shapes.items) // args.images)
    data = Dataset(shapes.root, shapes.name, shapes.classes, shapes.items[::step])
    print(f"CPU, {args.threads} thread(s), fp32, batch {args.batch_size}, {len(data.items)} shapes, "
          f"{args.epochs} epoch(s), median of {args.rounds}")
    ratios = [compare("small 3-stage CNN", SMALL, data, args),
              compare("Designer default (head fixed)", default_spec(), data, args)]
    print(f"worst ratio {min(ratios):.2f} (goal >= 0.90)")
    print("GPU: not measured (this benchmark runs on the CPU)")


if __name__ == "__main__":
    main()
