"""What one layer costs: its parameters and multiply-accumulates (MACs), from its input and output shapes.

Convolutions count ``H_out·W_out·C_out·(C_in/groups)·kh·kw`` MACs, a transposed convolution
``C_in·H_in·W_in·(C_out/groups)·kh·kw`` (each input value is spread over a window), linear layers
``in·out``; norms, activations, pooling, additions and products count 0, as in the graph analysis
of real models (:mod:`playground.arch.ops`). Named blocks are summed in closed form from the same
convolutions their reference implementations hold (tests check every one against the layers
:func:`playground.design.expand.expand_block` spells out, and against torchvision's modules), so
``analyze`` never has to expand them. A ``branch`` is the sum of its paths (the analysis walks them).
Pure Python.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playground.spec import blocks as B
from playground.spec import layers as L
from playground.spec import more_layers as M
from playground.spec.base import Shape
from playground.spec.window import Pair

__all__ = ["Cost", "layer_cost", "conv_cost"]

Cost = tuple[int, int]  # (parameters, MACs)
_ONE: Pair = (1, 1)


def conv_cost(c_in: int, c_out: int, kernel: Pair, groups: int, bias: bool, out_hw: Pair) -> Cost:
    """A ``Conv2d``'s parameters and MACs at an output of ``out_hw``."""
    per_position = c_out * (c_in // groups) * kernel[0] * kernel[1]
    return per_position + (c_out if bias else 0), per_position * out_hw[0] * out_hw[1]


def _bn(channels: int) -> Cost:
    return 2 * channels, 0


def _sum(*parts: Cost) -> Cost:
    params = macs = 0
    for p, m in parts:  # a plain loop: analyze runs this for every block on every edit
        params += p
        macs += m
    return params, macs


def _hw(shape: Shape) -> Pair:
    return shape[1], shape[2]


# --------------------------------------------------------------------------- plain layers

def _conv(layer: L.Conv2d, s_in: Shape, s_out: Shape) -> Cost:
    return conv_cost(s_in[0], layer.out_channels, layer.kernel_size, layer.groups, layer.bias, _hw(s_out))


def _conv_transpose(layer: M.ConvTranspose2d, s_in: Shape, s_out: Shape) -> Cost:
    per_input = (layer.out_channels // layer.groups) * layer.kernel_size[0] * layer.kernel_size[1]
    params = s_in[0] * per_input + (layer.out_channels if layer.bias else 0)
    return params, per_input * s_in[0] * s_in[1] * s_in[2]


def _linear(layer: L.Linear, s_in: Shape, s_out: Shape) -> Cost:
    weights = s_in[0] * layer.out_features
    return weights + (layer.out_features if layer.bias else 0), weights


def _layernorm(layer: M.LayerNorm2d, s_in: Shape, s_out: Shape) -> Cost:
    return (s_in[0] * (1 + int(layer.bias)) if layer.elementwise_affine else 0), 0


# --------------------------------------------------------------------------- the original blocks

def _dwsep(layer: L.DWSep, s_in: Shape, s_out: Shape) -> Cost:
    c, out, hw = s_in[0], layer.out_channels, _hw(s_out)
    return _sum(conv_cost(c, c, layer.kernel_size, c, False, hw), _bn(c),
                conv_cost(c, out, _ONE, 1, False, hw), _bn(out))


def _downsample(c_in: int, out: int, stride: Pair, hw: Pair) -> Cost:
    """torchvision's shortcut: 1×1 conv (stride) + BN, present when the shape changes."""
    if stride == (1, 1) and c_in == out:
        return 0, 0
    return _sum(conv_cost(c_in, out, _ONE, 1, False, hw), _bn(out))


def _residual(layer: L.Residual, s_in: Shape, s_out: Shape) -> Cost:
    c, out, hw = s_in[0], layer.out_channels, _hw(s_out)
    return _sum(conv_cost(c, out, (3, 3), 1, False, hw), _bn(out), conv_cost(out, out, (3, 3), 1, False, hw),
                _bn(out), _downsample(c, out, layer.stride, hw))


def _bottleneck(layer: L.Bottleneck, s_in: Shape, s_out: Shape) -> Cost:
    c, out, hw = s_in[0], layer.out_channels, _hw(s_out)
    width = layer.width()
    return _sum(conv_cost(c, width, _ONE, 1, False, _hw(s_in)), _bn(width),  # 1×1 at the input size
                conv_cost(width, width, (3, 3), layer.groups, False, hw), _bn(width),  # 3×3 carries the stride
                conv_cost(width, out, _ONE, 1, False, hw), _bn(out), _downsample(c, out, layer.stride, hw))


# --------------------------------------------------------------------------- named blocks

def _se(channels: int, squeeze: int) -> Cost:
    """torchvision's SqueezeExcitation: two biased 1×1 convs on the pooled 1×1 map."""
    return _sum(conv_cost(channels, squeeze, _ONE, 1, True, _ONE), conv_cost(squeeze, channels, _ONE, 1, True, _ONE))


def _inverted_residual(layer: B.InvertedResidual, s_in: Shape, s_out: Shape) -> Cost:
    c, hidden, out = s_in[0], layer.hidden(s_in[0]), layer.out_channels
    parts = [conv_cost(hidden, hidden, layer.kernel_size, hidden, False, _hw(s_out)), _bn(hidden),
             conv_cost(hidden, out, _ONE, 1, False, _hw(s_out)), _bn(out)]
    if layer.expands(c):
        parts += [conv_cost(c, hidden, _ONE, 1, False, _hw(s_in)), _bn(hidden)]
    if layer.se:
        parts.append(_se(hidden, layer.squeeze(c)))
    return _sum(*parts)


def _mbconv(layer: B.MBConv, s_in: Shape, s_out: Shape) -> Cost:
    c, hidden, out = s_in[0], layer.hidden(s_in[0]), layer.out_channels
    parts = [conv_cost(hidden, hidden, layer.kernel_size, hidden, False, _hw(s_out)), _bn(hidden),
             conv_cost(hidden, out, _ONE, 1, False, _hw(s_out)), _bn(out)]
    if hidden != c:
        parts += [conv_cost(c, hidden, _ONE, 1, False, _hw(s_in)), _bn(hidden)]
    if layer.squeeze(c):
        parts.append(_se(hidden, layer.squeeze(c)))
    return _sum(*parts)


def _fused_mbconv(layer: B.FusedMBConv, s_in: Shape, s_out: Shape) -> Cost:
    c, hidden, out, hw = s_in[0], layer.hidden(s_in[0]), layer.out_channels, _hw(s_out)
    if hidden == c:
        return _sum(conv_cost(c, out, layer.kernel_size, 1, False, hw), _bn(out))
    return _sum(conv_cost(c, hidden, layer.kernel_size, 1, False, hw), _bn(hidden),
                conv_cost(hidden, out, _ONE, 1, False, hw), _bn(out))


def _squeeze_excitation(layer: B.SqueezeExcitation, s_in: Shape, s_out: Shape) -> Cost:
    return _se(s_in[0], layer.squeeze(s_in[0]))


def _inception(layer: B.Inception, s_in: Shape, s_out: Shape) -> Cost:
    c, hw = s_in[0], _hw(s_out)

    def basic(c_in: int, c_out: int, k: int) -> Cost:  # torchvision's BasicConv2d: conv (no bias) + BN
        return _sum(conv_cost(c_in, c_out, (k, k), 1, False, hw), _bn(c_out))

    return _sum(basic(c, layer.ch1x1, 1), basic(c, layer.ch3x3red, 1), basic(layer.ch3x3red, layer.ch3x3, 3),
                basic(c, layer.ch5x5red, 1), basic(layer.ch5x5red, layer.ch5x5, 3), basic(c, layer.pool_proj, 1))


def _convnext_block(layer: B.ConvNeXtBlock, s_in: Shape, s_out: Shape) -> Cost:
    c, hw = s_in[0], _hw(s_out)
    return _sum(conv_cost(c, c, (7, 7), c, True, hw), _bn(c),  # LayerNorm: a weight and a bias per channel
                conv_cost(c, 4 * c, _ONE, 1, True, hw), conv_cost(4 * c, c, _ONE, 1, True, hw),  # the two Linears
                (c, 0))  # layer scale


def _dense_layer(layer: B.DenseLayer, s_in: Shape, s_out: Shape) -> Cost:
    c, inner, hw = s_in[0], layer.bn_size * layer.growth_rate, _hw(s_out)
    return _sum(_bn(c), conv_cost(c, inner, _ONE, 1, False, hw), _bn(inner),
                conv_cost(inner, layer.growth_rate, (3, 3), 1, False, hw))


_COSTS: dict[type, Callable[[Any, Shape, Shape], Cost]] = {
    L.Conv2d: _conv, L.BatchNorm2d: lambda layer, s_in, s_out: _bn(s_in[0]) if layer.affine else (0, 0),
    L.Linear: _linear, L.DWSep: _dwsep, L.Residual: _residual, L.Bottleneck: _bottleneck,
    M.ConvTranspose2d: _conv_transpose, M.LayerNorm2d: _layernorm,
    M.GroupNorm: lambda layer, s_in, s_out: _bn(s_in[0]) if layer.affine else (0, 0),
    M.LayerScale: lambda layer, s_in, s_out: (s_in[0], 0),
    B.InvertedResidual: _inverted_residual, B.MBConv: _mbconv, B.FusedMBConv: _fused_mbconv,
    B.SqueezeExcitation: _squeeze_excitation, B.Inception: _inception, B.ConvNeXtBlock: _convnext_block,
    B.DenseLayer: _dense_layer,
}  # every other type: no parameters, no MACs (a branch: the sum of its paths)


def layer_cost(layer: Any, s_in: Shape, s_out: Shape) -> Cost:
    """(parameters, MACs) of one layer (not a branch) for one image, ``s_in`` -> ``s_out``."""
    cost = _COSTS.get(type(layer))
    return cost(layer, s_in, s_out) if cost else (0, 0)
