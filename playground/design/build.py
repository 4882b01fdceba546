"""Spec -> ``torch.nn.Module``, and spec -> standalone PyTorch source code.

Both come from one description per layer (:func:`_call`: constructor name and arguments; a
``branch`` holds its paths' calls), so the exported code builds exactly the model ``build_model``
returns: the same ``Net`` (an ``nn.Sequential``), the same modules in the same places, the same
state-dict keys. The module classes live in :mod:`playground.design.modules` and are copied verbatim
into exported code when a spec uses them.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from playground._format import format_shape, human
from playground.design import modules as mod
from playground.design.analysis import LayerReport, analyze
from playground.design.modules import BasicBlock, Bottleneck, DWSep, Net
from playground.spec import blocks as B
from playground.spec import layers as S
from playground.spec import more_layers as M
from playground.spec.base import Shape
from playground.spec.branch import Branch
from playground.spec.parse import SpecError, SpecSource, parse_spec

__all__ = ["build_model", "to_pytorch_code", "Net", "DWSep", "BasicBlock", "Bottleneck", "MAX_BUILD_PARAMS"]

# build_model allocates every weight; refuse specs whose weights alone would need > 2 GB.
MAX_BUILD_PARAMS = 500_000_000

# What exported code copies from playground.design.modules, in the order it is written, and what each needs.
_SOURCE_ORDER = ("make_divisible", "activation", "conv_bn", "DWSep", "BasicBlock", "Bottleneck", "Branch",
                 "LayerNorm2d", "LayerScale", "DropPath", "SqueezeExcitation", "InvertedResidual", "MBConv",
                 "FusedMBConv", "BasicConv2d", "Inception", "Permute", "CNBlock", "DenseLayer")
_NEEDS: dict[str, tuple[str, ...]] = {
    "SqueezeExcitation": ("activation",), "conv_bn": ("activation",),
    "InvertedResidual": ("make_divisible", "conv_bn", "SqueezeExcitation"),
    "MBConv": ("make_divisible", "conv_bn", "SqueezeExcitation", "DropPath"),
    "FusedMBConv": ("make_divisible", "conv_bn", "DropPath"),
    "Inception": ("BasicConv2d",), "CNBlock": ("Permute", "DropPath"),
}


# ---------------------------------------------------------------------------
# One constructor call per layer, shared by build_model and to_pytorch_code
# ---------------------------------------------------------------------------

def _arg(value: Any) -> Any:
    """Pairs with equal halves become one int (what PyTorch and readers prefer)."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1]:
        return value[0]
    return value


@dataclass(frozen=True)
class _Call:
    """``name(*args, **kwargs)``; kwargs equal to ``defaults`` are left out of the source. A ``Branch``
    call's ``paths`` holds its paths' calls."""

    name: str  # "nn.Conv2d" or a class of playground.design.modules
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    paths: tuple[tuple[_Call, ...], ...] = ()

    def build(self) -> nn.Module:
        if self.name == "Branch":
            return mod.Branch(self.args[0], [[c.build() for c in path] for path in self.paths], **self.kwargs)
        cls = getattr(nn, self.name[3:]) if self.name.startswith("nn.") else getattr(mod, self.name)
        return cls(*map(_arg, self.args), **{k: _arg(v) for k, v in self.kwargs.items()})

    def source(self) -> str:
        parts = [repr(_arg(a)) for a in self.args]
        parts += [f"{k}={_arg(v)!r}" for k, v in self.kwargs.items()
                  if k not in self.defaults or _arg(self.defaults[k]) != _arg(v)]
        return f"{self.name}({', '.join(parts)})"

    def names(self) -> set[str]:
        """The module classes this call uses, its paths' included."""
        return {self.name}.union(*(c.names() for path in self.paths for c in path))


def _conv(layer: S.Conv2d, c: int) -> _Call:
    return _Call("nn.Conv2d", (c, layer.out_channels),
                 {"kernel_size": layer.kernel_size, "stride": layer.stride, "padding": layer.padding,
                  "dilation": layer.dilation, "groups": layer.groups, "bias": layer.bias},
                 {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True})


def _conv_transpose(layer: M.ConvTranspose2d, c: int) -> _Call:
    return _Call("nn.ConvTranspose2d", (c, layer.out_channels),
                 {"kernel_size": layer.kernel_size, "stride": layer.stride, "padding": layer.padding,
                  "output_padding": layer.output_padding, "groups": layer.groups, "bias": layer.bias,
                  "dilation": layer.dilation},
                 {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "bias": True, "dilation": 1})


def _maxpool(layer: S.MaxPool2d, c: int) -> _Call:
    return _Call("nn.MaxPool2d", (),
                 {"kernel_size": layer.kernel_size, "stride": layer.stride, "padding": layer.padding,
                  "dilation": layer.dilation, "ceil_mode": layer.ceil_mode},
                 {"stride": layer.kernel_size, "padding": 0, "dilation": 1, "ceil_mode": False})


def _avgpool(layer: S.AvgPool2d, c: int) -> _Call:
    return _Call("nn.AvgPool2d", (),
                 {"kernel_size": layer.kernel_size, "stride": layer.stride, "padding": layer.padding,
                  "ceil_mode": layer.ceil_mode, "count_include_pad": layer.count_include_pad},
                 {"stride": layer.kernel_size, "padding": 0, "ceil_mode": False, "count_include_pad": True})


def _batchnorm(layer: S.BatchNorm2d, c: int) -> _Call:
    return _Call("nn.BatchNorm2d", (c,), {"eps": layer.eps, "momentum": layer.momentum, "affine": layer.affine},
                 {"eps": 1e-5, "momentum": 0.1, "affine": True})


def _upsample(layer: M.Upsample, c: int) -> _Call:
    return _Call("nn.Upsample", (), {"size": layer.size, "scale_factor": layer.scale_factor, "mode": layer.mode,
                                     "align_corners": layer.align_corners},
                 {"size": None, "scale_factor": None, "mode": "nearest", "align_corners": None})


def _plain(name: str, *args: Any) -> Callable[[Any, int], _Call]:
    return lambda layer, c: _Call(name, args)


def _keys(name: str, *keys: str, defaults: dict[str, Any] | None = None, with_c: bool = True
          ) -> Callable[[Any, int], _Call]:
    """A module of playground.design.modules taking (C_in, then) the layer's keys as keyword arguments."""
    def call(layer: Any, c: int) -> _Call:
        return _Call(name, (c,) if with_c else (), {k: getattr(layer, k) for k in keys}, defaults or {})
    return call


def _block_call(name: str, *keys: str, first: tuple[str, ...] = ("out_channels",), **defaults: Any
                ) -> Callable[[Any, int], _Call]:
    def call(layer: Any, c: int) -> _Call:
        return _Call(name, (c, *(getattr(layer, k) for k in first)), {k: getattr(layer, k) for k in keys}, defaults)
    return call


def _inverted_residual(layer: B.InvertedResidual, c: int) -> _Call:
    return _Call("InvertedResidual", (c, layer.out_channels),
                 {"expand_ratio": layer.expand_ratio, "kernel_size": layer.kernel_size, "stride": layer.stride,
                  "se": layer.se, "act": layer.activation, "expanded_channels": layer.expanded_channels},
                 {"expand_ratio": 6.0, "kernel_size": 3, "stride": 1, "se": False, "act": "relu6",
                  "expanded_channels": None})


# Layer spec type -> its PyTorch constructor call, given the input channels/features.
_CALLS: dict[type, Callable[[Any, int], _Call]] = {
    S.Conv2d: _conv, S.MaxPool2d: _maxpool, S.AvgPool2d: _avgpool, S.BatchNorm2d: _batchnorm,
    S.ReLU: _plain("nn.ReLU"), S.ReLU6: _plain("nn.ReLU6"),
    S.LeakyReLU: lambda layer, c: _Call("nn.LeakyReLU", (layer.negative_slope,)),
    S.GELU: lambda layer, c: _Call("nn.GELU", (), {"approximate": layer.approximate}, {"approximate": "none"}),
    S.SiLU: _plain("nn.SiLU"), S.Sigmoid: _plain("nn.Sigmoid"), S.Tanh: _plain("nn.Tanh"),
    S.DWSep: lambda layer, c: _Call("DWSep", (c, layer.out_channels),
                                    {"kernel_size": layer.kernel_size, "stride": layer.stride},
                                    {"kernel_size": 3, "stride": 1}),
    S.Residual: lambda layer, c: _Call("BasicBlock", (c, layer.out_channels), {"stride": layer.stride},
                                       {"stride": 1}),
    S.Bottleneck: _block_call("Bottleneck", "stride", "groups", "width_per_group", stride=1, groups=1,
                              width_per_group=64),
    S.GlobalAvgPool: _plain("nn.AdaptiveAvgPool2d", 1),
    S.Flatten: _plain("nn.Flatten"),
    S.Dropout: lambda layer, c: _Call("nn.Dropout", (layer.p,)),
    S.Linear: lambda layer, c: _Call("nn.Linear", (c, layer.out_features), {"bias": layer.bias}, {"bias": True}),
    M.LayerNorm2d: _keys("LayerNorm2d", "eps", "elementwise_affine", "bias",
                         defaults={"eps": 1e-5, "elementwise_affine": True, "bias": True}),
    M.GroupNorm: lambda layer, c: _Call("nn.GroupNorm", (layer.num_groups, c), {"eps": layer.eps,
                                        "affine": layer.affine}, {"eps": 1e-5, "affine": True}),
    M.ConvTranspose2d: _conv_transpose, M.Upsample: _upsample,
    M.AdaptiveAvgPool2d: lambda layer, c: _Call("nn.AdaptiveAvgPool2d", (layer.output_size,)),
    M.Hardswish: _plain("nn.Hardswish"), M.Hardsigmoid: _plain("nn.Hardsigmoid"), M.Identity: _plain("nn.Identity"),
    M.LayerScale: _keys("LayerScale", "init_value", defaults={"init_value": 1e-6}),
    M.DropPath: _keys("DropPath", "p", "mode", defaults={"mode": "row"}, with_c=False),
    M.ChannelShuffle: lambda layer, c: _Call("nn.ChannelShuffle", (layer.groups,)),
    B.InvertedResidual: _inverted_residual,
    B.MBConv: _block_call("MBConv", "expand_ratio", "kernel_size", "stride", "se_ratio", "stochastic_depth_prob",
                          expand_ratio=6.0, kernel_size=3, stride=1, se_ratio=0.25, stochastic_depth_prob=0.0),
    B.FusedMBConv: _block_call("FusedMBConv", "expand_ratio", "kernel_size", "stride", "stochastic_depth_prob",
                               expand_ratio=4.0, kernel_size=3, stride=1, stochastic_depth_prob=0.0),
    B.SqueezeExcitation: lambda layer, c: _Call("SqueezeExcitation", (c, layer.squeeze(c)),
                                                {"act": layer.activation, "gate": layer.scale_activation},
                                                {"act": "relu", "gate": "sigmoid"}),
    B.Inception: _block_call("Inception", first=("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")),
    B.ConvNeXtBlock: _block_call("CNBlock", "layer_scale", "stochastic_depth_prob", first=(), layer_scale=1e-6,
                                 stochastic_depth_prob=0.0),
    B.DenseLayer: _block_call("DenseLayer", "growth_rate", "bn_size", "drop_rate", first=(), growth_rate=32,
                              bn_size=4, drop_rate=0.0),
}


def _call(row: LayerReport) -> _Call:
    """The constructor call of an analysed layer (a branch: with its paths' calls)."""
    layer, c = row.layer, row.input_shape[0]
    if isinstance(layer, Branch):
        return _Call("Branch", (layer.merge,), {"split": layer.split} if layer.split else {},
                     paths=tuple(tuple(_call(r) for r in path) for path in row.children))
    return _CALLS[type(layer)](layer, c)


def build_model(spec: SpecSource) -> Net:
    """A fresh :class:`~playground.design.modules.Net` (an ``nn.Sequential``) whose ``model[i]`` is layer i of
    the spec (PyTorch default init); a branch is a ``Branch`` module holding its paths.

    Feed it ``(B, C, H, W)`` tensors of the spec's input shape. Raises SpecError for an invalid spec or one
    too large to allocate (> MAX_BUILD_PARAMS weights).
    """
    report = analyze(parse_spec(spec))
    if report.total_params > MAX_BUILD_PARAMS:
        raise SpecError(f"this network has {report.total_params:,} parameters, over the {MAX_BUILD_PARAMS:,} that "
                        "can be built here; use fewer channels or a smaller linear layer")
    return Net(*(_call(row).build() for row in report.layers))


def _docstring_safe(text: str | None) -> str:
    """A user-given name, made harmless inside a triple-quoted docstring (one line, no quotes/escapes)."""
    if not text:
        return ""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(cleaned.replace("\\", "/").replace('"', "'").split())


def _batched(shape: Shape) -> str:
    """(10,) -> '(B, 10)': a shape comment for tensors with the batch dimension."""
    return "(B, " + ", ".join(map(str, shape)) + ")"


def _lines(row: LayerReport, call: _Call, indent: str) -> list[str]:
    """Source lines of one layer, with its output shape as a comment (a branch: one line per inner layer)."""
    comment = f"  # {row.name} -> {format_shape(row.output_shape)}"
    if call.name != "Branch":
        return [f"{indent}{call.source()},{comment}"]
    split = ", split=True" if call.kwargs.get("split") else ""
    out = [f"{indent}Branch({call.args[0]!r}, [{comment}"]
    for path_rows, path_calls in zip(row.children, call.paths):
        if not path_rows:
            out.append(f"{indent}    [],  # identity")
            continue
        out.append(f"{indent}    [")
        for inner_row, inner_call in zip(path_rows, path_calls):
            out += _lines(inner_row, inner_call, indent + "        ")
        out.append(f"{indent}    ],")
    out.append(f"{indent}]{split}),")
    return out


def _used_sources(calls: list[_Call]) -> list[str]:
    """Source of every module class and helper the calls use (with what they need), in definition order."""
    wanted = set().union(*(c.names() for c in calls)) if calls else set()
    pending = [n for n in wanted if n in _SOURCE_ORDER]
    while pending:
        for need in _NEEDS.get(pending.pop(), ()):
            if need not in wanted:
                wanted.add(need)
                pending.append(need)
    return [inspect.getsource(getattr(mod, name)).rstrip() for name in _SOURCE_ORDER if name in wanted]


def to_pytorch_code(spec: SpecSource) -> str:
    """Standalone source defining ``class Net(nn.Sequential)`` for the spec: imports, the blocks it uses (one
    small class each), one line per layer with its output shape. Depends on torch only, not on playground;
    ``Net()`` has the same state-dict keys as ``build_model(spec)``.
    """
    parsed = parse_spec(spec)
    report = analyze(parsed)
    calls = [_call(row) for row in report.layers]
    total_params = report.total_params
    c, h, w = parsed.input
    x_in, x_out = _batched(parsed.input), _batched(parsed.output_shape)
    title = _docstring_safe(parsed.name) or "A convolutional network"

    lines = [
        f'"""{title}, designed in CNN Playground.',
        "",
        f"Input {x_in} -> output {x_out}; {total_params:,} parameters ({human(total_params)}).",
        "Plain PyTorch: paste it into your project; it needs nothing but torch.",
        '"""',
        "from __future__ import annotations",
        "",
        "import torch",
        "from torch import Tensor, nn",
        "",
    ]
    for source in _used_sources(calls):
        lines += ["", source, ""]
    lines += [
        "",
        "class Net(nn.Sequential):",
        f'    """{title}: {x_in} -> {x_out}; net[i] is layer i."""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__(",
        f"            # input: {format_shape(parsed.input)}",
    ]
    for row, call in zip(report.layers, calls):
        lines += _lines(row, call, " " * 12)
    lines += [
        "        )",
        "",
        "    @property",
        "    def layers(self) -> nn.Sequential:",
        '        """The network itself (exports before graph designs kept their layers in ``self.layers``)."""',
        "        return self",
        "",
        "",
        'if __name__ == "__main__":',
        "    net = Net()",
        f"    x = torch.randn(1, {c}, {h}, {w})  # (B, C, H, W)",
        f"    print(net(x).shape)  # torch.Size([1, {', '.join(map(str, parsed.output_shape))}])",
        f"    print(sum(p.numel() for p in net.parameters()), 'parameters')  # {total_params}",
        "",
    ]
    return "\n".join(lines)
