"""What one forward + backward pass of a layer spec costs the CPU: arithmetic operations and bytes held.

``analyze`` counts multiply-accumulates only, and counts pooling, norms and activations as 0: right
for comparing designs, wrong for deciding whether the server can afford to *run* one. A single
``avgpool2d`` with a 450×450 window at stride 1 over a 900×900 input costs 0 MACs and 41 G additions;
a 4096×4096 input costs 0 MACs and a 16.7 M-pixel gradient map. :func:`spec_workload` counts every
layer's work (pooling windows, elementwise passes, norms) and the bytes a training-style pass keeps
(every activation forward, the gradients backward, the input's gradient map), from the analysis
alone: pure Python, no model is built, so it can be checked before any work is done.

The figures are deliberate over-estimates (a block is charged several passes over its tensors);
they bound cost, they are not a profiler.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from playground.design.analysis import LayerReport, analyze
from playground.spec.parse import SpecSource, parse_spec

__all__ = ["Workload", "spec_workload", "human_ops"]

_FP32 = 4
_BACKWARD = 2  # a backward pass costs about twice the forward work (gradients of inputs and of weights)
# A named block (residual, bottleneck, mbconv, ...) holds convs (their MACs are counted) plus norms,
# activations, a merge and sometimes a small pooling: charged this many passes over its input + output.
_BLOCK_PASSES = 16
_BLOCK_TENSORS = 6  # a block keeps about this many tensors of its output's size for backward
_WINDOWED = {"maxpool2d", "avgpool2d"}
_WHOLE_INPUT = {"global_avgpool", "adaptive_avgpool2d"}
_WEIGHTED = {"conv2d", "conv_transpose2d", "linear"}
_SIMPLE = _WINDOWED | _WHOLE_INPUT | _WEIGHTED | {
    "batchnorm2d", "layernorm2d", "groupnorm", "relu", "relu6", "leaky_relu", "gelu", "silu", "sigmoid", "tanh",
    "hardswish", "hardsigmoid", "identity", "layer_scale", "flatten", "dropout", "upsample"}


@dataclass(frozen=True)
class Workload:
    """Operations and bytes of one forward + backward pass of one image (batch 1)."""

    ops: int  # arithmetic operations, forward + backward (a MAC, an addition, a comparison: 1 each)
    activation_bytes: int  # every layer's output, kept for backward (an upper bound of what autograd saves)
    gradient_bytes: int  # the largest gradient alive at once in the backward pass (in + out of one layer)
    input_bytes: int  # the input and its gradient
    heaviest: str  # the layer that costs the most operations, e.g. "layer 0 (avgpool2d)"

    @property
    def peak_bytes(self) -> int:
        """All of it at once: what one pass may hold."""
        return self.activation_bytes + self.gradient_bytes + self.input_bytes


def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _layer_ops(row: LayerReport) -> int:
    """Forward operations of one row that has no child rows."""
    kind, n_in, n_out = row.type, _numel(row.input_shape), _numel(row.output_shape)
    if kind in _WINDOWED:
        kh, kw = row.layer.kernel_size  # type: ignore[attr-defined]
        return n_out * kh * kw  # every output reads its whole window
    if kind in _WHOLE_INPUT:
        return n_in + n_out
    if kind in _WEIGHTED:
        return row.macs + n_out
    if kind in _SIMPLE:
        return 4 * (n_in + n_out)  # norms read twice and write; activations once: 4 passes bounds both
    return row.macs + _BLOCK_PASSES * (n_in + n_out)


def _leaves(rows: tuple[LayerReport, ...]) -> list[LayerReport]:
    out: list[LayerReport] = []
    for row in rows:
        for sub in row.walk():
            out.append(sub)
    return out


def spec_workload(spec: SpecSource) -> Workload:
    """The :class:`Workload` of ``spec`` (any spec ``analyze`` takes; raises ``SpecError`` as it does)."""
    parsed = parse_spec(spec)
    report = analyze(parsed)
    c, h, w = parsed.input
    ops = activations = largest = 0
    heaviest, heaviest_ops = "", -1
    for row in _leaves(report.layers):
        n_in, n_out = _numel(row.input_shape), _numel(row.output_shape)
        if row.children:  # a branch: its paths are rows of their own; the merge is one pass
            layer_ops = n_in * len(row.children) + n_out
            kept = n_out
        else:
            layer_ops = _layer_ops(row)
            kept = n_out * (1 if row.type in _SIMPLE else _BLOCK_TENSORS)
        ops += layer_ops
        activations += kept * _FP32
        largest = max(largest, (n_in + n_out) * _FP32)
        if layer_ops > heaviest_ops:
            heaviest, heaviest_ops = f"layer {row.name} ({row.type})", layer_ops
    return Workload(ops=ops * (1 + _BACKWARD), activation_bytes=activations, gradient_bytes=2 * largest,
                    input_bytes=2 * c * h * w * _FP32, heaviest=heaviest)


def human_ops(n: float) -> str:
    """``1.2 G`` / ``340 M`` / ``12 k`` operations, for messages."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f}"
