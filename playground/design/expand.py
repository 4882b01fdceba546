"""``expand_block``: a named block spelled out as the ``branch`` and plain layers it stands for.

One action for the editor ("expand"): the block's row becomes a branch (and, for blocks whose output
goes through an activation after the merge, that activation), with exactly the parameters, MACs,
shapes and receptive field of the block (tests check all four). One level at a time: a
squeeze-and-excitation inside an ``mbconv`` stays an ``se`` until it is expanded in its turn
(``deep=True`` expands everything). Pure Python: spec dicts in, spec dicts out.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playground.spec import blocks as B
from playground.spec import layers as L
from playground.spec.base import LayerSpec
from playground.spec.keys import _canon
from playground.spec.parse import parse_layer
from playground.spec.window import Pair

__all__ = ["expand_block", "EXPANDABLE"]

Layer = dict[str, Any]


def _conv(out: int, kernel: Pair | int = 1, stride: Pair | int = 1, *, groups: int = 1, bias: bool = False,
          padding: Pair | int | None = None) -> Layer:
    k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    pad = padding if padding is not None else ((k[0] - 1) // 2, (k[1] - 1) // 2)
    layer: Layer = {"type": "conv2d", "out_channels": out, "kernel_size": _canon(k),
                    "stride": _canon(stride if isinstance(stride, tuple) else (stride, stride)),
                    "padding": _canon(pad if isinstance(pad, tuple) else (pad, pad))}
    if groups != 1:
        layer["groups"] = groups
    layer["bias"] = bias
    return layer


def _bn(eps: float | None = None) -> Layer:
    return {"type": "batchnorm2d"} if eps is None else {"type": "batchnorm2d", "eps": eps}


def _act(name: str) -> Layer:
    return {"type": name}


def _residual_add(main: list[Layer], shortcut: list[Layer]) -> Layer:
    return {"type": "branch", "merge": "add", "paths": [main, shortcut]}


def _downsample(c: int, out: int, stride: Pair) -> list[Layer]:
    return [] if stride == (1, 1) and c == out else [_conv(out, 1, stride), _bn()]


def _dwsep(b: L.DWSep, c: int) -> list[Layer]:
    return [_conv(c, b.kernel_size, b.stride, groups=c), _bn(), _act("relu"), _conv(b.out_channels), _bn(),
            _act("relu")]


def _residual(b: L.Residual, c: int) -> list[Layer]:
    main = [_conv(b.out_channels, 3, b.stride), _bn(), _act("relu"), _conv(b.out_channels, 3), _bn()]
    return [_residual_add(main, _downsample(c, b.out_channels, b.stride)), _act("relu")]


def _bottleneck(b: L.Bottleneck, c: int) -> list[Layer]:
    width = b.width()
    main = [_conv(width), _bn(), _act("relu"), _conv(width, 3, b.stride, groups=b.groups), _bn(), _act("relu"),
            _conv(b.out_channels), _bn()]
    return [_residual_add(main, _downsample(c, b.out_channels, b.stride)), _act("relu")]


def _se_layer(squeeze: int, act: str, gate: str) -> Layer:
    return {"type": "se", "squeeze_channels": squeeze, "activation": act, "scale_activation": gate}


def _with_residual(main: list[Layer], residual: bool, drop: float = 0.0) -> list[Layer]:
    if not residual:
        return main
    tail = [{"type": "drop_path", "p": drop, "mode": "row"}] if drop > 0 else []
    return [_residual_add([*main, *tail], [])]


def _inverted_residual(b: B.InvertedResidual, c: int) -> list[Layer]:
    hidden, act = b.hidden(c), b.activation
    main = [_conv(hidden), _bn(), _act(act)] if b.expands(c) else []
    main += [_conv(hidden, b.kernel_size, b.stride, groups=hidden), _bn(), _act(act)]
    if b.se:
        main.append(_se_layer(b.squeeze(c), "relu", "hardsigmoid"))
    main += [_conv(b.out_channels), _bn()]
    return _with_residual(main, b.residual(c))


def _mbconv(b: B.MBConv, c: int) -> list[Layer]:
    hidden = b.hidden(c)
    main = [_conv(hidden), _bn(), _act("silu")] if hidden != c else []
    main += [_conv(hidden, b.kernel_size, b.stride, groups=hidden), _bn(), _act("silu")]
    if b.squeeze(c):
        main.append(_se_layer(b.squeeze(c), "silu", "sigmoid"))
    main += [_conv(b.out_channels), _bn()]
    return _with_residual(main, b.residual(c), b.stochastic_depth_prob)


def _fused_mbconv(b: B.FusedMBConv, c: int) -> list[Layer]:
    hidden = b.hidden(c)
    if hidden == c:
        main = [_conv(b.out_channels, b.kernel_size, b.stride), _bn(), _act("silu")]
    else:
        main = [_conv(hidden, b.kernel_size, b.stride), _bn(), _act("silu"), _conv(b.out_channels), _bn()]
    return _with_residual(main, b.residual(c), b.stochastic_depth_prob)


def _se(b: B.SqueezeExcitation, c: int) -> list[Layer]:
    gate = [{"type": "global_avgpool"}, _conv(b.squeeze(c), bias=True), _act(b.activation),
            _conv(c, bias=True), _act(b.scale_activation)]
    return [{"type": "branch", "merge": "mul", "paths": [[], gate]}]


def _inception(b: B.Inception, c: int) -> list[Layer]:
    def basic(out: int, k: int = 1) -> list[Layer]:  # torchvision's BasicConv2d
        return [_conv(out, k), _bn(0.001), _act("relu")]

    pool = {"type": "maxpool2d", "kernel_size": 3, "stride": 1, "padding": 1, "ceil_mode": True}
    return [{"type": "branch", "merge": "concat", "paths": [
        basic(b.ch1x1), [*basic(b.ch3x3red), *basic(b.ch3x3, 3)], [*basic(b.ch5x5red), *basic(b.ch5x5, 3)],
        [pool, *basic(b.pool_proj)]]}]


def _convnext_block(b: B.ConvNeXtBlock, c: int) -> list[Layer]:
    main = [_conv(c, 7, groups=c, bias=True), {"type": "layernorm2d", "eps": 1e-6}, _conv(4 * c, bias=True),
            _act("gelu"), _conv(c, bias=True), {"type": "layer_scale", "init_value": b.layer_scale}]
    return _with_residual(main, True, b.stochastic_depth_prob)


def _dense_layer(b: B.DenseLayer, c: int) -> list[Layer]:
    new = [_bn(), _act("relu"), _conv(b.bn_size * b.growth_rate), _bn(), _act("relu"), _conv(b.growth_rate, 3)]
    if b.drop_rate > 0:
        new.append({"type": "dropout", "p": b.drop_rate})
    return [{"type": "branch", "merge": "concat", "paths": [[], new]}]


_EXPANSIONS: dict[type[LayerSpec], Callable[[Any, int], list[Layer]]] = {
    L.DWSep: _dwsep, L.Residual: _residual, L.Bottleneck: _bottleneck, B.InvertedResidual: _inverted_residual,
    B.MBConv: _mbconv, B.FusedMBConv: _fused_mbconv, B.SqueezeExcitation: _se, B.Inception: _inception,
    B.ConvNeXtBlock: _convnext_block, B.DenseLayer: _dense_layer,
}

EXPANDABLE: frozenset[str] = frozenset(cls.type for cls in _EXPANSIONS)
"""The layer types :func:`expand_block` spells out (the named blocks)."""


def expand_block(layer: Layer | LayerSpec, in_channels: int, *, deep: bool = False) -> list[Layer]:
    """The layers a named block stands for, given the ``in_channels`` reaching it: a ``branch`` (plus the
    activation after the merge, for ResNet blocks) with exactly the block's parameters and MACs.

    ``deep=True`` expands named blocks inside it too (an ``mbconv``'s ``se``). ValueError for a layer that
    is not a named block (SpecError for one whose keys are invalid).
    """
    typed = parse_layer(layer) if isinstance(layer, dict) else layer
    expand = _EXPANSIONS.get(type(typed))
    if expand is None:
        raise ValueError(f"{typed.type} is not a named block; these can be expanded: {', '.join(sorted(EXPANDABLE))}")
    out = expand(typed, in_channels)
    return _deepen(out, in_channels) if deep else out


def _deepen(layers: list[Layer], channels: int) -> list[Layer]:
    """Expand every named block inside ``layers`` (walking the channel count along)."""
    from playground.spec.parse import parse_spec

    out: list[Layer] = []
    for layer in layers:
        if layer["type"] in EXPANDABLE:
            out += expand_block(layer, channels, deep=True)
        elif layer["type"] == "branch":
            split = layer.get("split", False)
            share = channels // len(layer["paths"]) if split else channels
            out.append({**layer, "paths": [_deepen(path, share) for path in layer["paths"]]})
        else:
            out.append(layer)
        # the channel count after this layer (named blocks' insides need no particular map size)
        channels = parse_spec({"input": [channels, 64, 64], "layers": [layer]}).output_shape[0]
    return out
