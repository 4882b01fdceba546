"""torchvision modules -> layer-spec dicts: one converter per module class, reading the built module.

:func:`convert` turns any module made of the classes below into spec layers: plain modules (convs,
norms, activations, pools) into plain layers; torchvision's blocks into the named block that matches
them (``BasicBlock`` -> ``residual``, ``MBConv`` -> ``mbconv``, ``CNBlock`` -> ``convnext_block``, ...) or,
where the spec has no name for them (Inception-v3's modules, RegNet's and ShuffleNet's blocks,
SqueezeNet's Fire), into a ``branch`` with the block's own paths. Settings are read off the module
(channels, kernels, strides, probabilities), never assumed, and every converter checks the module is
the shape it expects (:class:`NotExpressible` otherwise). Dicts carry only non-default keys, so
share links of large models stay short. Used by :mod:`playground.design.from_torchvision`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playground.errors import PlaygroundError

__all__ = ["NotExpressible", "convert", "convert_all"]

Layer = dict[str, Any]


class NotExpressible(PlaygroundError):
    """A module the layer spec cannot express exactly (the message says which and why)."""


def _pair(v: Any) -> Any:
    """A PyTorch int or pair as spec JSON (one number when square)."""
    if isinstance(v, (tuple, list)):
        return v[0] if v[0] == v[1] else [v[0], v[1]]
    return v


def _ones(v: Any) -> bool:
    return _pair(v) == 1


def _qualname(m: Any) -> str:
    return f"{type(m).__module__}.{type(m).__qualname__}"


def convert_all(modules: Any) -> list[Layer]:
    """The layers of several modules in order."""
    return [layer for m in modules for layer in convert(m)]


def convert(m: Any) -> list[Layer]:
    """The spec layers of one module (a Sequential: its children in order)."""
    from torch import nn

    handler = _HANDLERS.get(_qualname(m)) or _LEAVES.get(type(m).__name__ if type(m).__module__.startswith(
        "torch.nn") else "")
    if handler is not None:
        return handler(m)
    if isinstance(m, nn.Sequential):
        return convert_all(m.children())
    raise NotExpressible(f"{type(m).__qualname__} ({type(m).__module__}) has no layer-spec equivalent")


# --------------------------------------------------------------------------- plain modules

def _conv(m: Any) -> list[Layer]:
    if m.padding_mode != "zeros":
        raise NotExpressible(f"a conv with padding_mode {m.padding_mode!r} (the spec pads with zeros)")
    layer: Layer = {"type": "conv2d", "out_channels": m.out_channels, "kernel_size": _pair(m.kernel_size)}
    if not _ones(m.stride):
        layer["stride"] = _pair(m.stride)
    if m.padding != (0, 0):
        layer["padding"] = m.padding if isinstance(m.padding, str) else _pair(m.padding)
    if not _ones(m.dilation):
        layer["dilation"] = _pair(m.dilation)
    if m.groups != 1:
        layer["groups"] = m.groups
    if m.bias is None:
        layer["bias"] = False
    return [layer]


def _bn(m: Any) -> list[Layer]:
    layer: Layer = {"type": "batchnorm2d"}
    if m.eps != 1e-5:
        layer["eps"] = m.eps
    if m.momentum != 0.1:
        layer["momentum"] = m.momentum
    if not m.affine:
        layer["affine"] = False
    return [layer]


def _pool(m: Any) -> list[Layer]:
    kind = "maxpool2d" if type(m).__name__ == "MaxPool2d" else "avgpool2d"
    layer: Layer = {"type": kind, "kernel_size": _pair(m.kernel_size)}
    if _pair(m.stride) != _pair(m.kernel_size):
        layer["stride"] = _pair(m.stride)
    if _pair(m.padding) != 0:
        layer["padding"] = _pair(m.padding)
    if kind == "maxpool2d" and not _ones(m.dilation):
        layer["dilation"] = _pair(m.dilation)
    if m.ceil_mode:
        layer["ceil_mode"] = True
    if kind == "avgpool2d" and not m.count_include_pad:
        layer["count_include_pad"] = False
    if kind == "avgpool2d" and m.divisor_override is not None:
        raise NotExpressible("an average pool with divisor_override")
    return [layer]


def _adaptive(m: Any) -> list[Layer]:
    size = _pair(m.output_size)
    if size is None or (isinstance(size, list) and None in size):
        raise NotExpressible("an adaptive pool that keeps one side's size (output_size None)")
    return [{"type": "global_avgpool"}] if size == 1 else [{"type": "adaptive_avgpool2d", "output_size": size}]


def _linear(m: Any) -> list[Layer]:
    return [{"type": "linear", "out_features": m.out_features, **({} if m.bias is not None else {"bias": False})}]


def _layernorm2d(m: Any) -> list[Layer]:
    layer: Layer = {"type": "layernorm2d"}
    if m.eps != 1e-5:
        layer["eps"] = m.eps
    return [layer]


def _named(type_: str) -> Callable[[Any], list[Layer]]:
    return lambda m: [{"type": type_}]


_LEAVES: dict[str, Callable[[Any], list[Layer]]] = {
    "Conv2d": _conv, "BatchNorm2d": _bn, "MaxPool2d": _pool, "AvgPool2d": _pool, "AdaptiveAvgPool2d": _adaptive,
    "Linear": _linear, "ReLU": _named("relu"), "ReLU6": _named("relu6"), "SiLU": _named("silu"),
    "Hardswish": _named("hardswish"), "Hardsigmoid": _named("hardsigmoid"), "Sigmoid": _named("sigmoid"),
    "Tanh": _named("tanh"), "Identity": _named("identity"), "Flatten": lambda m: [{"type": "flatten"}],
    "GELU": lambda m: [{"type": "gelu"} if m.approximate == "none" else {"type": "gelu", "approximate": "tanh"}],
    "Dropout": lambda m: [{"type": "dropout", "p": m.p}],
}


# --------------------------------------------------------------------------- torchvision blocks

def _add(main: list[Layer], shortcut: list[Layer]) -> Layer:
    return {"type": "branch", "merge": "add", "paths": [main, shortcut]}


def _stride(conv: Any) -> Any:
    return _pair(conv.stride)


def _basic_block(m: Any) -> list[Layer]:
    layer: Layer = {"type": "residual", "out_channels": m.conv2.out_channels, "stride": _stride(m.conv1)}
    return [layer]


def _bottleneck(m: Any) -> list[Layer]:
    out, width, groups = m.conv3.out_channels, m.conv1.out_channels, m.conv2.groups
    planes = out // 4
    per_group = round(width / groups * 64 / planes)
    if int(planes * (per_group / 64.0)) * groups != width or m.conv2.dilation != (1, 1):
        raise NotExpressible(f"a Bottleneck of width {width} for {out} channels out")
    layer: Layer = {"type": "bottleneck", "out_channels": out, "stride": _stride(m.conv2)}
    if groups != 1:
        layer["groups"] = groups
    if per_group != 64:
        layer["width_per_group"] = per_group
    return [layer]


def _convs(seq: Any) -> list[Any]:
    from torch import nn

    return [x for x in seq.modules() if isinstance(x, nn.Conv2d)]


def _activation_name(m: Any) -> str:
    name = _LEAVES[type(m).__name__](m)[0]["type"]
    return str(name)


def _mobilenet_v2_block(m: Any) -> list[Layer]:
    convs = _convs(m.conv)
    c_in, out = convs[0].in_channels, m.out_channels
    dw = next(c for c in convs if c.groups > 1)
    hidden = dw.out_channels
    ratio = hidden / c_in
    layer: Layer = {"type": "inverted_residual", "out_channels": out, "expand_ratio": ratio if ratio != int(ratio)
                    else int(ratio), "stride": _stride(dw)}
    if int(round(c_in * ratio)) != hidden:
        layer["expanded_channels"] = hidden
    if _pair(dw.kernel_size) != 3:
        layer["kernel_size"] = _pair(dw.kernel_size)
    return [layer]


def _mobilenet_v3_block(m: Any) -> list[Layer]:
    from torch import nn

    out = m.out_channels
    dw_unit = next(u for u in m.block if isinstance(u, nn.Sequential) and getattr(u[0], "groups", 1) > 1)
    dw = dw_unit[0]
    if not _ones(dw.dilation):
        raise NotExpressible("a dilated MobileNet-V3 block (segmentation backbones)")
    layer: Layer = {"type": "inverted_residual", "out_channels": out, "expanded_channels": dw.out_channels,
                    "kernel_size": _pair(dw.kernel_size), "stride": _stride(dw),
                    "activation": _activation_name(dw_unit[2])}
    if any(_qualname(u).endswith("SqueezeExcitation") for u in m.block):
        layer["se"] = True
    return [layer]


def _mbconv(m: Any) -> list[Layer]:
    convs = _convs(m.block)
    c_in, out = convs[0].in_channels, m.out_channels
    dw = next(c for c in convs if c.groups > 1 and c.groups == c.in_channels)
    se = next((u for u in m.block if _qualname(u).endswith("SqueezeExcitation")), None)
    ratio = dw.out_channels / c_in
    layer: Layer = {"type": "mbconv", "out_channels": out, "expand_ratio": int(ratio) if ratio == int(ratio) else ratio,
                    "kernel_size": _pair(dw.kernel_size), "stride": _stride(dw),
                    "stochastic_depth_prob": m.stochastic_depth.p}
    if se is None:
        layer["se_ratio"] = 0.0
    elif se.fc1.out_channels != max(1, c_in // 4):
        raise NotExpressible(f"an MBConv whose squeeze ({se.fc1.out_channels}) is not a quarter of {c_in}")
    return [layer]


def _fused_mbconv(m: Any) -> list[Layer]:
    convs = _convs(m.block)
    c_in, out = convs[0].in_channels, m.out_channels
    hidden = convs[0].out_channels if len(convs) == 2 else c_in
    ratio = hidden / c_in
    return [{"type": "fused_mbconv", "out_channels": out, "expand_ratio": int(ratio) if ratio == int(ratio) else ratio,
             "kernel_size": _pair(convs[0].kernel_size), "stride": _stride(convs[0]),
             "stochastic_depth_prob": m.stochastic_depth.p}]


def _se(m: Any) -> list[Layer]:
    layer: Layer = {"type": "se", "squeeze_channels": m.fc1.out_channels}
    act, gate = _activation_name(m.activation), _activation_name(m.scale_activation)
    if act != "relu":
        layer["activation"] = act
    if gate != "sigmoid":
        layer["scale_activation"] = gate
    return [layer]


def _basic_conv(m: Any) -> list[Layer]:
    """GoogLeNet's / Inception-v3's BasicConv2d: conv -> BN -> ReLU (the ReLU is functional)."""
    return [*_conv(m.conv), *_bn(m.bn), {"type": "relu"}]


def _inception(m: Any) -> list[Layer]:
    pool = m.branch4[0]
    if _pair(pool.kernel_size) != 3 or _pair(pool.stride) != 1 or _pair(m.branch2[1].conv.kernel_size) != 3:
        raise NotExpressible("an Inception module with other kernels than torchvision's")
    return [{"type": "inception", "ch1x1": m.branch1.conv.out_channels, "ch3x3red": m.branch2[0].conv.out_channels,
             "ch3x3": m.branch2[1].conv.out_channels, "ch5x5red": m.branch3[0].conv.out_channels,
             "ch5x5": m.branch3[1].conv.out_channels, "pool_proj": m.branch4[1].conv.out_channels}]


def _bc(*units: Any) -> list[Layer]:
    return [layer for u in units for layer in _basic_conv(u)]


_AVG3 = {"type": "avgpool2d", "kernel_size": 3, "stride": 1, "padding": 1}  # F.avg_pool2d(x, 3, 1, 1)
_MAX3 = {"type": "maxpool2d", "kernel_size": 3, "stride": 2}  # F.max_pool2d(x, 3, stride=2)


def _concat(*paths: list[Layer]) -> list[Layer]:
    return [{"type": "branch", "merge": "concat", "paths": list(paths)}]


def _inception_a(m: Any) -> list[Layer]:
    return _concat(_bc(m.branch1x1), _bc(m.branch5x5_1, m.branch5x5_2),
                   _bc(m.branch3x3dbl_1, m.branch3x3dbl_2, m.branch3x3dbl_3), [_AVG3, *_bc(m.branch_pool)])


def _inception_b(m: Any) -> list[Layer]:
    return _concat(_bc(m.branch3x3), _bc(m.branch3x3dbl_1, m.branch3x3dbl_2, m.branch3x3dbl_3), [_MAX3])


def _inception_c(m: Any) -> list[Layer]:
    return _concat(_bc(m.branch1x1), _bc(m.branch7x7_1, m.branch7x7_2, m.branch7x7_3),
                   _bc(m.branch7x7dbl_1, m.branch7x7dbl_2, m.branch7x7dbl_3, m.branch7x7dbl_4, m.branch7x7dbl_5),
                   [_AVG3, *_bc(m.branch_pool)])


def _inception_d(m: Any) -> list[Layer]:
    return _concat(_bc(m.branch3x3_1, m.branch3x3_2),
                   _bc(m.branch7x7x3_1, m.branch7x7x3_2, m.branch7x7x3_3, m.branch7x7x3_4), [_MAX3])


def _inception_e(m: Any) -> list[Layer]:
    # the 3×3 paths fork once more into a 1×3 and a 3×1 conv, concatenated: a branch inside a path
    return _concat(_bc(m.branch1x1), [*_bc(m.branch3x3_1), *_concat(_bc(m.branch3x3_2a), _bc(m.branch3x3_2b))],
                   [*_bc(m.branch3x3dbl_1, m.branch3x3dbl_2), *_concat(_bc(m.branch3x3dbl_3a),
                                                                        _bc(m.branch3x3dbl_3b))],
                   [_AVG3, *_bc(m.branch_pool)])


def _dense_block(m: Any) -> list[Layer]:
    return convert_all(m.values())  # a ModuleDict of _DenseLayer, each concatenating its output


def _dense_layer(m: Any) -> list[Layer]:
    growth, inner = m.conv2.out_channels, m.conv1.out_channels
    layer: Layer = {"type": "dense_layer", "growth_rate": growth, "bn_size": inner // growth}
    if m.drop_rate:
        layer["drop_rate"] = float(m.drop_rate)
    return [layer]


def _fire(m: Any) -> list[Layer]:
    return [*_conv(m.squeeze), {"type": "relu"},
            *_concat([*_conv(m.expand1x1), {"type": "relu"}], [*_conv(m.expand3x3), {"type": "relu"}])]


def _shuffle_block(m: Any) -> list[Layer]:
    if m.stride == 1:  # x1, x2 = x.chunk(2): the first half passes, the second goes through branch2
        merged = [{"type": "branch", "merge": "concat", "split": True, "paths": [[], convert(m.branch2)]}]
    else:
        merged = _concat(convert(m.branch1), convert(m.branch2))
    return [*merged, {"type": "channel_shuffle", "groups": 2}]


def _mnasnet_block(m: Any) -> list[Layer]:
    convs = _convs(m.layers)
    c_in, dw, out = convs[0].in_channels, convs[1], convs[2].out_channels
    layer: Layer = {"type": "inverted_residual", "out_channels": out, "expand_ratio": dw.out_channels // c_in,
                    "kernel_size": _pair(dw.kernel_size), "stride": _stride(dw), "activation": "relu"}
    if dw.out_channels != c_in * layer["expand_ratio"] or dw.out_channels == c_in:
        raise NotExpressible("an MNASNet block without expansion")
    return [layer]


def _regnet_block(m: Any) -> list[Layer]:
    shortcut = convert(m.proj) if m.proj is not None else []
    return [_add(convert(m.f), shortcut), *convert(m.activation)]


def _cn_block(m: Any) -> list[Layer]:
    conv = m.block[0]
    if _pair(conv.kernel_size) != 7 or conv.groups != conv.in_channels:
        raise NotExpressible("a ConvNeXt block with another kernel than 7×7 depthwise")
    # the layer scale's starting value is not readable off a meta tensor: torchvision's ConvNeXt uses 1e-6
    return [{"type": "convnext_block", "stochastic_depth_prob": m.stochastic_depth.p}]


_TV = "torchvision.models."
_HANDLERS: dict[str, Callable[[Any], list[Layer]]] = {
    _TV + "resnet.BasicBlock": _basic_block, _TV + "resnet.Bottleneck": _bottleneck,
    _TV + "mobilenetv2.InvertedResidual": _mobilenet_v2_block, _TV + "mobilenetv3.InvertedResidual":
    _mobilenet_v3_block, _TV + "efficientnet.MBConv": _mbconv, _TV + "efficientnet.FusedMBConv": _fused_mbconv,
    "torchvision.ops.misc.SqueezeExcitation": _se, _TV + "googlenet.BasicConv2d": _basic_conv,
    _TV + "googlenet.Inception": _inception, _TV + "inception.BasicConv2d": _basic_conv,
    _TV + "inception.InceptionA": _inception_a, _TV + "inception.InceptionB": _inception_b,
    _TV + "inception.InceptionC": _inception_c, _TV + "inception.InceptionD": _inception_d,
    _TV + "inception.InceptionE": _inception_e, _TV + "densenet._DenseBlock": _dense_block,
    _TV + "densenet._DenseLayer": _dense_layer, _TV + "squeezenet.Fire": _fire,
    _TV + "shufflenetv2.InvertedResidual": _shuffle_block, _TV + "mnasnet._InvertedResidual": _mnasnet_block,
    _TV + "regnet.ResBottleneckBlock": _regnet_block, _TV + "convnext.CNBlock": _cn_block,
    _TV + "convnext.LayerNorm2d": _layernorm2d,
}
