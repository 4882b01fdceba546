"""Training memory estimates against a direct measurement of a real CPU training step."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from playground.design.build import build_model
from playground.design.memory import (
    MemoryEstimateError,
    available_memory,
    memory_estimate,
)
from tests.support.memory_probe import saved_bytes

SPECS = [
    {"input": [3, 32, 32], "layers": [
        {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "batchnorm2d"},
        {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2}, {"type": "dwsep", "out_channels": 16},
        {"type": "residual", "out_channels": 16, "stride": 2}, {"type": "bottleneck", "out_channels": 32},
        {"type": "gelu"}, {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "dropout", "p": 0.2},
        {"type": "linear", "out_features": 10}]},
    {"input": [1, 28, 28], "layers": [
        {"type": "conv2d", "out_channels": 6, "kernel_size": 5}, {"type": "tanh"},
        {"type": "avgpool2d", "kernel_size": 2}, {"type": "conv2d", "out_channels": 16, "kernel_size": 5},
        {"type": "sigmoid"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]},
    {"input": [3, 24, 24], "layers": [
        {"type": "conv2d", "out_channels": 12, "kernel_size": 3, "stride": 2, "padding": 1}, {"type": "silu"},
        {"type": "leaky_relu"}, {"type": "relu6"}, {"type": "conv2d", "out_channels": 12, "kernel_size": 3,
                                                    "dilation": 2, "padding": 2, "groups": 3}]},
]


def step_saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """A real training step (forward + backward at the real batch): bytes of the non-parameter storages
    autograd saved, deduplicated by data pointer."""
    return saved_bytes(model, x)


def close(estimate: int, measured: int) -> bool:
    return abs(estimate - measured) <= 0.10 * measured


@pytest.mark.parametrize("spec", SPECS)
def test_spec_estimate_matches_a_real_step(spec: dict[str, Any]) -> None:
    batch = 6
    est = memory_estimate(spec, batch)
    torch.manual_seed(0)
    model = build_model(spec).train()
    measured = step_saved_bytes(model, torch.randn(batch, *spec["input"]))
    assert close(est.activations_bytes, measured), (est.activations_bytes, measured)
    n = sum(p.numel() for p in model.parameters())
    assert est.total_params == est.trainable_params == n
    assert est.parameters_bytes == est.gradients_bytes == 4 * n
    assert est.optimizer_bytes == 2 * 4 * n  # AdamW: exp_avg + exp_avg_sq
    assert est.training_bytes == est.parameters_bytes * 4 + est.activations_bytes + est.transient_bytes


def test_bf16_estimate_matches_a_real_autocast_step() -> None:
    spec, batch = SPECS[0], 5
    est = memory_estimate(spec, batch, precision="bf16")
    model = build_model(spec).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        measured = step_saved_bytes(model, torch.randn(batch, *est.input_shape))
    assert close(est.activations_bytes, measured), (est.activations_bytes, measured)
    assert est.activations_bytes < memory_estimate(spec, batch).activations_bytes


def test_activations_scale_with_batch_and_module_input() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 14 * 14, 2))
    one = memory_estimate(net, 1, input_shape=(3, 16, 16))
    eight = memory_estimate(net, 8, input_shape=(3, 16, 16))
    assert eight.activations_bytes == 8 * one.activations_bytes
    assert next(net.parameters()).device.type == "cpu" and net.training  # the caller's module is untouched
    # inference: the weights plus the largest layer input + output (ReLU: 2 × 4·14·14 fp32 values)
    assert one.inference_peak_bytes == one.parameters_bytes + 2 * 4 * 14 * 14 * 4


def test_bad_input_and_free_memory() -> None:
    with pytest.raises(MemoryEstimateError, match="batch size"):
        memory_estimate(SPECS[0], 0)
    with pytest.raises(MemoryEstimateError, match="unknown optimizer"):
        memory_estimate(SPECS[0], 2, optimizer="lion")
    with pytest.raises(MemoryEstimateError, match="strategies apply"):
        memory_estimate(SPECS[0], 2, strategy="head")
    free = available_memory("cpu")
    text = Path("/proc/meminfo").read_text()
    kb = int(re.search(r"MemAvailable:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    assert free is not None and abs(free - kb * 1024) < 0.5 * kb * 1024
