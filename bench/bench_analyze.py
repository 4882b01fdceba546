"""How much faster is the analytic ``analyze()`` than ``torchinfo.summary`` on the same network?

    python bench/bench_analyze.py [--layers 100] [--side 224] [--repeat 5]

Two networks, both measured in this process: a ~100-layer plain stack (conv/BN/ReLU stages, residual
and depthwise blocks, pools, a linear head), and torchvision's EfficientNet-B0 imported as a graph
design (``torchvision_spec``: 16 MBConv blocks with squeeze-and-excitation and residual branches).
``analyze`` parses the dict and computes everything, cold (no cache between calls); torchinfo gets the
already-built model (building it is not charged to torchinfo: torchvision's own module for
EfficientNet-B0) and runs its forward pass with hooks, which is what any shape/MAC tool based on
PyTorch has to do. Prints both times and the ratios (goal: ≥ 100× on each).
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from playground.design.analysis import analyze  # noqa: E402


def make_spec(n_layers: int, side: int) -> dict[str, Any]:
    """A plausible deep stack of about ``n_layers`` layers."""
    layers: list[dict[str, Any]] = [
        {"type": "conv2d", "out_channels": 32, "kernel_size": 3, "stride": 2, "padding": 1, "bias": False},
        {"type": "batchnorm2d"}, {"type": "relu"}]
    width, stage = 32, 0
    while len(layers) < n_layers - 4:
        if stage % 4 == 3:
            layers.append({"type": "residual", "out_channels": width})
        elif stage % 4 == 2:
            layers.append({"type": "dwsep", "out_channels": width})
        else:
            layers += [{"type": "conv2d", "out_channels": width, "kernel_size": 3, "padding": 1, "bias": False},
                       {"type": "batchnorm2d"}, {"type": "relu"}]
        stage += 1
        if stage % 8 == 0 and side // 2 ** (stage // 8 + 1) >= 4:
            layers.append({"type": "maxpool2d", "kernel_size": 2})
            width = min(2 * width, 256)
    layers += [{"type": "global_avgpool"}, {"type": "flatten"}, {"type": "dropout", "p": 0.2},
               {"type": "linear", "out_features": 1000}]
    return {"input": [3, side, side], "layers": layers}


def best_of(fn: Callable[[], Any], repeat: int, number: int) -> float:
    """Median seconds per call over ``repeat`` rounds of ``number`` calls."""
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        rounds.append((time.perf_counter() - start) / number)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=100)
    parser.add_argument("--side", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    spec = make_spec(args.layers, args.side)
    report = analyze(spec)
    analyze(spec).to_dict()  # warm up
    t_analyze = best_of(lambda: analyze(spec), args.repeat, 200)
    t_json = best_of(lambda: analyze(spec).to_dict(), args.repeat, 200)

    import torch
    import torchinfo

    from playground.design.build import build_model

    torch.set_num_threads(1)  # a fair single-core comparison (analyze is single-threaded Python)
    model = build_model(spec).eval()
    shape = (1, *spec["input"])
    stats = torchinfo.summary(model, input_size=shape, verbose=0)
    t_torchinfo = best_of(lambda: torchinfo.summary(model, input_size=shape, verbose=0), args.repeat, 1)

    assert stats.total_params == report.total_params, (stats.total_params, report.total_params)
    print(f"network: {len(spec['layers'])} layers, input {tuple(spec['input'])}, "
          f"{report.total_params:,} params, {report.total_macs:,} MACs (torchinfo agrees on params)")
    print(f"analyze()            {t_analyze * 1e3:8.3f} ms  ({t_analyze * 1e6 / len(spec['layers']):.1f} µs/layer)")
    print(f"analyze().to_dict()  {t_json * 1e3:8.3f} ms")
    print(f"torchinfo.summary    {t_torchinfo * 1e3:8.1f} ms  (1 thread, model already built)")
    print(f"ratio                {t_torchinfo / t_analyze:8.0f}x  (goal >= 100x)")
    efficientnet_b0(args.repeat)


def efficientnet_b0(repeat: int) -> None:
    """The same comparison on torchvision's EfficientNet-B0, imported as a graph design."""
    import torchinfo
    import torchvision

    from playground.design.from_torchvision import torchvision_spec

    spec = torchvision_spec("efficientnet_b0")
    report = analyze(spec)
    t_analyze = best_of(lambda: analyze(spec), repeat, 200)
    model = torchvision.models.efficientnet_b0(weights=None).eval()
    shape = (1, *spec["input"])
    stats = torchinfo.summary(model, input_size=shape, verbose=0)
    t_torchinfo = best_of(lambda: torchinfo.summary(model, input_size=shape, verbose=0), repeat, 1)
    assert stats.total_params == report.total_params, (stats.total_params, report.total_params)
    print(f"\nEfficientNet-B0 (torchvision, imported as a design: {len(spec['layers'])} layers, "
          f"{len(report.rows())} rows): {report.total_params:,} params, {report.total_macs:,} MACs "
          "(torchinfo agrees on params)")
    print(f"analyze()            {t_analyze * 1e3:8.3f} ms")
    print(f"torchinfo.summary    {t_torchinfo * 1e3:8.1f} ms  (1 thread, torchvision's module already built)")
    print(f"ratio                {t_torchinfo / t_analyze:8.0f}x  (goal >= 100x)")


if __name__ == "__main__":
    main()
