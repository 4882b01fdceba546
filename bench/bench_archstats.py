"""How long analysing a catalogue architecture takes, against one real forward pass of it.

    python bench/bench_archstats.py [--models resnet50,vit_b_16]

For each model: the full analysis (build on meta, trace, shape propagation, graph walk; caches
bypassed) and, as the baseline run in the same process, one CPU forward pass of the same model
with random weights at batch 1. Prints seconds and the ratio analysis / forward.
"""
from __future__ import annotations

import argparse
import time

import torch

from playground.arch.landmarks import LANDMARKS  # noqa: E402
from playground.arch.measure import analyze_module, build_architecture  # noqa: E402


def _best_of(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(LANDMARKS), help="comma-separated catalogue names")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a steadier baseline on a shared machine
    print(f"{'model':20s} {'analysis s':>10s} {'forward s':>10s} {'ratio':>7s}")
    total_analysis = 0.0
    for key in args.models.split(","):
        analysis = _best_of(lambda key=key: analyze_module(build_architecture(key), (3, 224, 224), name=key))
        model = build_architecture(key, device="cpu")
        x = torch.randn(1, 3, 224, 224)  # (B, C, H, W)
        with torch.no_grad():
            model(x)  # warm-up
            forward = _best_of(lambda model=model, x=x: model(x))
        total_analysis += analysis
        print(f"{key:20s} {analysis:10.3f} {forward:10.3f} {analysis / forward:7.2f}")
    print(f"all analyses: {total_analysis:.2f} s (the Architectures page computes them once per server)")


if __name__ == "__main__":
    main()
