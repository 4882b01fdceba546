"""Specs shared by the spec, analysis and build tests: DESIGN.md's example, hypothesis strategies for
random specs, and the one-thread fixture the PyTorch oracle tests use.

``stacks()`` draws valid random specs (each layer kept only if the stack so far validates),
``layer_dicts()`` single spatial layers that may or may not be valid. A test module that compares
with PyTorch imports ``one_torch_thread`` too, which makes the autouse fixture apply there.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from hypothesis import strategies as st

from playground.spec.parse import SpecError, parse_spec

__all__ = ["DESIGN_EXAMPLE", "stacks", "layer_dicts", "one_torch_thread", "ACTIVATION_TYPES"]

# DESIGN.md's example spec: every layer family with explicit keys (spec and share-link tests).
DESIGN_EXAMPLE = {"input": [3, 224, 224], "layers": [
    {"type": "conv2d", "out_channels": 32, "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1,
     "groups": 1, "bias": False},
    {"type": "batchnorm2d"}, {"type": "relu"},
    {"type": "maxpool2d", "kernel_size": 2},
    {"type": "dwsep", "out_channels": 64, "kernel_size": 3, "stride": 1},
    {"type": "residual", "out_channels": 64, "stride": 2},
    {"type": "bottleneck", "out_channels": 256, "stride": 1},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "dropout", "p": 0.2},
    {"type": "linear", "out_features": 10}]}

ACTIVATION_TYPES = ["relu", "relu6", "leaky_relu", "gelu", "silu", "sigmoid", "tanh"]


def _size(low: int, high: int) -> st.SearchStrategy[Any]:
    """An int, or sometimes an [h, w] pair."""
    return st.one_of(st.integers(low, high), st.lists(st.integers(low, high), min_size=2, max_size=2))


@st.composite
def layer_dicts(draw: st.DrawFn, *, max_channels: int = 16, max_kernel: int = 5, max_stride: int = 3,
                max_dilation: int = 3, blocks: bool = True) -> dict[str, Any]:
    """One spatial layer dict with random (not necessarily valid) settings."""
    kinds = ["conv2d", "conv2d", "maxpool2d", "avgpool2d", "batchnorm2d", "activation"]
    if blocks:
        kinds += ["dwsep", "residual", "bottleneck"]
    kind = draw(st.sampled_from(kinds))
    if kind == "conv2d":
        layer = {"type": "conv2d", "out_channels": draw(st.integers(1, max_channels)),
                 "kernel_size": draw(_size(1, max_kernel)), "stride": draw(_size(1, max_stride)),
                 "padding": draw(st.one_of(_size(0, 3), st.sampled_from(["same", "valid"]))),
                 "dilation": draw(_size(1, max_dilation)), "groups": draw(st.sampled_from([1, 1, 1, 2, 4])),
                 "bias": draw(st.booleans())}
        if layer["padding"] == "same":
            layer["stride"] = 1
        return layer
    if kind == "maxpool2d":
        return {"type": "maxpool2d", "kernel_size": draw(_size(1, 4)),
                "stride": draw(st.one_of(st.none(), _size(1, max_stride))), "padding": draw(st.integers(0, 2)),
                "dilation": draw(_size(1, min(2, max_dilation))), "ceil_mode": draw(st.booleans())}
    if kind == "avgpool2d":
        return {"type": "avgpool2d", "kernel_size": draw(_size(1, 4)),
                "stride": draw(st.one_of(st.none(), _size(1, max_stride))), "padding": draw(st.integers(0, 2)),
                "ceil_mode": draw(st.booleans()), "count_include_pad": draw(st.booleans())}
    if kind == "batchnorm2d":
        return {"type": "batchnorm2d", "affine": draw(st.booleans())}
    if kind == "activation":
        type_ = draw(st.sampled_from(ACTIVATION_TYPES))
        return {"type": type_, **({"negative_slope": 0.2} if type_ == "leaky_relu" else {})}
    if kind == "dwsep":
        return {"type": "dwsep", "out_channels": draw(st.integers(1, max_channels)),
                "kernel_size": draw(_size(1, max_kernel)), "stride": draw(_size(1, min(2, max_stride)))}
    return {"type": kind, "out_channels": 4 * draw(st.integers(1, max(1, max_channels // 4))),
            "stride": draw(_size(1, min(2, max_stride)))}


@st.composite
def stacks(draw: st.DrawFn, *, max_layers: int = 8, max_side: int = 48, max_channels: int = 16,
           head: bool = True, **layer_options: Any) -> dict[str, Any]:
    """A valid random spec: random layers, each kept only if the stack so far still validates,
    optionally followed by a head (global_avgpool? flatten, dropout, activations, linear)."""
    spec: dict[str, Any] = {"input": [draw(st.integers(1, 4)), draw(st.integers(1, max_side)),
                                      draw(st.integers(1, max_side))], "layers": []}
    for _ in range(draw(st.integers(1, max_layers))):
        layer = draw(layer_dicts(max_channels=max_channels, **layer_options))
        try:
            parse_spec({"input": spec["input"], "layers": [*spec["layers"], layer]})
        except SpecError:
            continue
        spec["layers"].append(layer)
    if head and draw(st.booleans()):
        if draw(st.booleans()):
            spec["layers"].append({"type": "global_avgpool"})
        spec["layers"].append({"type": "flatten"})
        for _ in range(draw(st.integers(0, 2))):
            spec["layers"].append({"type": "linear", "out_features": draw(st.integers(1, 12)),
                                   "bias": draw(st.booleans())})
            spec["layers"].append({"type": draw(st.sampled_from([*ACTIVATION_TYPES, "dropout"]))})
        spec["layers"].append({"type": "linear", "out_features": draw(st.integers(1, 10))})
    parse_spec(spec)
    return spec


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors: one thread is fastest, and far faster than a thread pool on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
