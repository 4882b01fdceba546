"""What a spec costs and sees, worked out analytically (no torch, no forward pass).

:func:`analyze` gives, per layer: output shape, parameters, multiply-accumulates
(MACs; FLOPs = 2·MACs), receptive field / jump / start (Araujo, Norris & Sim,
Distill 2019, dilation included) and activation memory; the totals; and what
every plain ``conv2d`` would cost as a depthwise-separable pair.

Receptive fields through blocks follow the path with the largest field (the
main path: the shortcut's 1×1 conv sees less); ``start`` is the centre of the
top-left output unit's field in input-pixel coordinates (input pixel i at i).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playground._format import format_pair, format_shape, human, human_bytes
from playground.design.receptive_field import INPUT_RF_STATE, RFState, window_field
from playground.spec.layers import BatchNorm2d, Bottleneck, Conv2d, DWSep, LayerSpec, Linear, Residual, Shape
from playground.spec.parse import Spec, SpecError, SpecSource, parse_spec, parse_spec_prefix
from playground.spec.window import Pair

__all__ = ["analyze", "analyze_prefix", "Report", "LayerReport", "DepthwiseSaving", "DepthwiseSavings",
           "BYTES_PER_VALUE"]

BYTES_PER_VALUE = 4  # fp32


# ---------------------------------------------------------------------------
# Cost per layer type: (params, MACs) from the input and output shapes
# ---------------------------------------------------------------------------

def _conv_cost(c_in: int, c_out: int, kernel: Pair, groups: int, bias: bool, out_hw: Pair) -> tuple[int, int]:
    per_position = c_out * (c_in // groups) * kernel[0] * kernel[1]
    return per_position + (c_out if bias else 0), per_position * out_hw[0] * out_hw[1]


def _hw(shape: Shape) -> Pair:
    """The (height, width) of a (C, H, W) shape."""
    return shape[1], shape[2]


def _cost_conv(layer: Conv2d, s_in: Shape, s_out: Shape) -> tuple[int, int]:
    return _conv_cost(s_in[0], layer.out_channels, layer.kernel_size, layer.groups, layer.bias, _hw(s_out))


def _cost_bn(layer: BatchNorm2d, s_in: Shape, s_out: Shape) -> tuple[int, int]:
    return (2 * s_in[0] if layer.affine else 0), 0


def _cost_linear(layer: Linear, s_in: Shape, s_out: Shape) -> tuple[int, int]:
    weights = s_in[0] * layer.out_features
    return weights + (layer.out_features if layer.bias else 0), weights


def _sum(*parts: tuple[int, int]) -> tuple[int, int]:
    return sum(p for p, _ in parts), sum(m for _, m in parts)


def _cost_dwsep(layer: DWSep, s_in: Shape, s_out: Shape) -> tuple[int, int]:
    c, out, hw = s_in[0], layer.out_channels, _hw(s_out)
    return _sum(_conv_cost(c, c, layer.kernel_size, c, False, hw), (2 * c, 0),
                _conv_cost(c, out, (1, 1), 1, False, hw), (2 * out, 0))


def _downsample(c_in: int, out: int, stride: Pair, hw: Pair) -> tuple[int, int]:
    """torchvision's shortcut: 1×1 conv (stride) + BN, present when the shape changes."""
    if stride == (1, 1) and c_in == out:
        return 0, 0
    return _sum(_conv_cost(c_in, out, (1, 1), 1, False, hw), (2 * out, 0))


def _cost_residual(layer: Residual, s_in: Shape, s_out: Shape) -> tuple[int, int]:
    c, out, hw = s_in[0], layer.out_channels, _hw(s_out)
    return _sum(_conv_cost(c, out, (3, 3), 1, False, hw), (2 * out, 0),
                _conv_cost(out, out, (3, 3), 1, False, hw), (2 * out, 0),
                _downsample(c, out, layer.stride, hw))


def _cost_bottleneck(layer: Bottleneck, s_in: Shape, s_out: Shape) -> tuple[int, int]:
    c, out, hw = s_in[0], layer.out_channels, _hw(s_out)
    width = out // 4
    return _sum(_conv_cost(c, width, (1, 1), 1, False, _hw(s_in)), (2 * width, 0),  # 1×1 at the input size
                _conv_cost(width, width, (3, 3), 1, False, hw), (2 * width, 0),  # 3×3 carries the stride
                _conv_cost(width, out, (1, 1), 1, False, hw), (2 * out, 0),
                _downsample(c, out, layer.stride, hw))


_COSTS: dict[type, Callable[[Any, Shape, Shape], tuple[int, int]]] = {
    Conv2d: _cost_conv, BatchNorm2d: _cost_bn, Linear: _cost_linear,
    DWSep: _cost_dwsep, Residual: _cost_residual, Bottleneck: _cost_bottleneck,
}  # every other type: no parameters, no MACs


# ---------------------------------------------------------------------------
# Report objects
# ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LayerReport:
    """The numbers for one layer. Pairs are (height, width); field values are None after flatten."""

    index: int
    layer: LayerSpec
    input_shape: Shape
    output_shape: Shape
    params: int
    macs: int
    receptive_field: Pair | None
    jump: Pair | None
    start: tuple[float, float] | None

    @property
    def type(self) -> str:
        """The layer type, e.g. ``"conv2d"``."""
        return self.layer.type

    @property
    def description(self) -> str:
        """A short label such as ``conv2d 32, 3×3 /2``."""
        return self.layer.describe()

    @property
    def trainable_params(self) -> int:
        """Parameters a fresh model trains (all of them: nothing is frozen in a spec)."""
        return self.params

    @property
    def flops(self) -> int:
        """Floating-point operations, counted as 2 per multiply-accumulate."""
        return 2 * self.macs

    @property
    def activation_bytes(self) -> int:
        """Size of this layer's output for one image, in fp32 bytes."""
        return BYTES_PER_VALUE * math.prod(self.output_shape)

    def to_dict(self) -> dict[str, Any]:
        """The per-layer JSON of ``analyze(...).to_dict()["layers"]``."""
        return {
            "index": self.index, "type": self.type, "output_shape": list(self.output_shape),
            "params": self.params, "trainable_params": self.trainable_params,
            "macs": self.macs, "flops": self.flops, "activation_bytes": self.activation_bytes,
            "receptive_field": _list(self.receptive_field), "jump": _list(self.jump), "start": _list(self.start),
        }


def _list(pair: tuple | None) -> list | None:
    return None if pair is None else list(pair)


@dataclass(frozen=True, slots=True)
class DepthwiseSaving:
    """One plain conv2d against its depthwise-separable pair (k×k depthwise + 1×1 pointwise).

    The pair keeps stride, padding and dilation; the original's bias moves to the
    pointwise conv. The ratios are pair / original (≈ 1/out_channels + 1/k²).
    """

    index: int
    params: int
    macs: int
    dwsep_params: int
    dwsep_macs: int

    @property
    def params_ratio(self) -> float:
        """Parameters of the pair / of the original conv."""
        return self.dwsep_params / self.params

    @property
    def macs_ratio(self) -> float:
        """MACs of the pair / of the original conv."""
        return self.dwsep_macs / self.macs

    def to_dict(self) -> dict[str, Any]:
        """JSON: the counts before and after, and both ratios."""
        return {"index": self.index, "params": self.params, "macs": self.macs, "dwsep_params": self.dwsep_params,
                "dwsep_macs": self.dwsep_macs, "params_ratio": self.params_ratio, "macs_ratio": self.macs_ratio}


@dataclass(frozen=True, slots=True)
class DepthwiseSavings:
    """Every candidate conv2d (groups 1, kernel > 1×1) and the whole net if all were replaced."""

    layers: tuple[DepthwiseSaving, ...]
    total_params_before: int
    total_params_after: int
    total_macs_before: int
    total_macs_after: int

    def to_dict(self) -> dict[str, Any]:
        """JSON: every candidate and the whole-net totals before and after."""
        return {"layers": [s.to_dict() for s in self.layers],
                "total_params_before": self.total_params_before, "total_params_after": self.total_params_after,
                "total_macs_before": self.total_macs_before, "total_macs_after": self.total_macs_after}


@dataclass(frozen=True)
class Report:
    """``analyze(spec)``: per-layer numbers, totals, depthwise savings; ``str()`` is a table.

    ``input_shape`` is None only for ``analyze_prefix`` on a spec whose input
    itself is invalid (then there are no layers).
    """

    input_shape: Shape | None
    layers: tuple[LayerReport, ...]
    depthwise_savings: DepthwiseSavings
    name: str | None = None

    @property
    def output_shape(self) -> Shape | None:
        """The last layer's output shape (the input shape for an empty stack)."""
        return self.layers[-1].output_shape if self.layers else self.input_shape

    @property
    def total_params(self) -> int:
        """Parameters of every layer, summed."""
        return sum(layer.params for layer in self.layers)

    @property
    def total_trainable_params(self) -> int:
        """Trainable parameters, summed (all of them in a fresh model)."""
        return sum(layer.trainable_params for layer in self.layers)

    @property
    def total_macs(self) -> int:
        """Multiply-accumulates for one image, summed over the layers."""
        return sum(layer.macs for layer in self.layers)

    @property
    def total_flops(self) -> int:
        """2 · total MACs."""
        return 2 * self.total_macs

    @property
    def total_activation_bytes(self) -> int:
        """Sum of every layer's output size for one image, fp32."""
        return sum(layer.activation_bytes for layer in self.layers)

    @property
    def model_bytes(self) -> int:
        """Size of the parameters in fp32."""
        return BYTES_PER_VALUE * self.total_params

    def to_dict(self) -> dict[str, Any]:
        """JSON: DESIGN.md's analyze schema plus FLOPs, memory and depthwise savings."""
        return {
            "input_shape": _list(self.input_shape),
            "layers": [layer.to_dict() for layer in self.layers],
            "total_params": self.total_params,
            "total_trainable_params": self.total_trainable_params,
            "total_macs": self.total_macs,
            "total_flops": self.total_flops,
            "total_activation_bytes": self.total_activation_bytes,
            "model_bytes": self.model_bytes,
            "depthwise_savings": self.depthwise_savings.to_dict(),
        }

    def __str__(self) -> str:
        return _table(self)


# ---------------------------------------------------------------------------
# The analysis
# ---------------------------------------------------------------------------

def _dwsep_equivalent(layer: Conv2d, index: int, s_in: Shape, s_out: Shape, params: int, macs: int
                      ) -> DepthwiseSaving:
    c_in, hw = s_in[0], _hw(s_out)
    dw_params, dw_macs = _conv_cost(c_in, c_in, layer.kernel_size, c_in, False, hw)
    pw_params, pw_macs = _conv_cost(c_in, layer.out_channels, (1, 1), 1, layer.bias, hw)
    return DepthwiseSaving(index, params, macs, dw_params + pw_params, dw_macs + pw_macs)


def _report(spec: Spec) -> Report:
    layers: list[LayerReport] = []
    savings: list[DepthwiseSaving] = []
    rf: RFState = INPUT_RF_STATE  # carried through every spatial layer's windows, in order
    spatial = True
    shapes = spec.shapes
    for index, layer in enumerate(spec.layers):
        s_in, s_out = shapes[index], shapes[index + 1]
        cost = _COSTS.get(type(layer))
        params, macs = cost(layer, s_in, s_out) if cost else (0, 0)
        if len(s_out) != 3:
            spatial = False
        if spatial:
            for w in spec.windows[index]:
                rf = window_field(rf, w)
            field: tuple = rf
        else:
            field = (None, None, None)
        layers.append(LayerReport(index, layer, s_in, s_out, params, macs, *field))
        if type(layer) is Conv2d and layer.groups == 1 and layer.kernel_size != (1, 1):
            savings.append(_dwsep_equivalent(layer, index, s_in, s_out, params, macs))

    total_params = sum(x.params for x in layers)
    total_macs = sum(x.macs for x in layers)
    saved_params = sum(s.params - s.dwsep_params for s in savings)
    saved_macs = sum(s.macs - s.dwsep_macs for s in savings)
    dw = DepthwiseSavings(tuple(savings), total_params, total_params - saved_params,
                          total_macs, total_macs - saved_macs)
    return Report(spec.input, tuple(layers), dw, spec.name)


def analyze(spec: SpecSource) -> Report:
    """Analyse a spec (dict, JSON text, file path or parsed Spec); raises SpecError if invalid.

    Pure Python and instant: shapes follow PyTorch's exact rules (ceil_mode and
    ``"same"`` included) and the numbers are what ``build_model(spec)`` holds.
    """
    return _report(parse_spec(spec))


def analyze_prefix(spec: SpecSource) -> tuple[Report, SpecError | None]:
    """Analyse the layers before the first invalid one; also return that error (None if valid).

    For the designer: it can still show the valid prefix while pointing at the
    broken layer. An invalid input gives an empty report (``input_shape`` None).
    """
    parsed, error = parse_spec_prefix(spec)
    if parsed is None:
        return Report(None, (), DepthwiseSavings((), 0, 0, 0, 0)), error
    return _report(parsed), error


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

def _table(report: Report) -> str:
    head = ("#", "layer", "output", "params", "MACs", "field", "jump", "start")
    rows = [("", "input", format_shape(report.input_shape), "", "", "1", "1", "0")]
    for x in report.layers:
        rows.append((str(x.index), x.description, format_shape(x.output_shape), human(x.params) if x.params else "0",
                     human(x.macs) if x.macs else "0", format_pair(x.receptive_field), format_pair(x.jump),
                     format_pair(x.start, "{:g}")))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = {0, 3, 4, 5, 6, 7}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "-" * len(line(head))
    title = [report.name, rule] if report.name else []
    out = [*title, line(head), rule, *map(line, rows), rule]
    t = report
    out.append(f"params       {human(t.total_params)} ({t.total_params:,}), all trainable; "
               f"{human_bytes(t.model_bytes)} as fp32")
    out.append(f"MACs         {human(t.total_macs)} per image ({t.total_macs:,}); "
               f"FLOPs = 2 × MACs = {human(t.total_flops)}")
    out.append(f"activations  {human_bytes(t.total_activation_bytes)} per image (fp32 layer outputs, summed)")
    dw = t.depthwise_savings
    if dw.layers:
        out.append(f"depthwise    replacing the {len(dw.layers)} plain conv2d with depthwise-separable pairs: "
                   f"params {human(dw.total_params_before)} -> {human(dw.total_params_after)}, "
                   f"MACs {human(dw.total_macs_before)} -> {human(dw.total_macs_after)}")
    out.append("field/jump/start: receptive field in input px, its step between neighbouring units, "
               "and the centre of the top-left unit's field")
    return "\n".join(out)
