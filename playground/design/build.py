"""Spec -> ``torch.nn.Module``, and spec -> standalone PyTorch source code.

Both come from one description per layer (:func:`_call`: constructor name and
arguments), so the exported code builds exactly the model ``build_model``
returns. The block classes below are copied verbatim into exported code when a
spec uses them, so they only use ``torch``/``nn``/``Tensor``.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from playground._format import format_shape, human
from playground.design.analysis import analyze
from playground.spec import layers as S
from playground.spec.layers import Shape
from playground.spec.parse import Spec, SpecError, SpecSource, parse_spec

__all__ = ["build_model", "to_pytorch_code", "DWSep", "BasicBlock", "Bottleneck", "MAX_BUILD_PARAMS"]

# build_model allocates every weight; refuse specs whose weights alone would need > 2 GB.
MAX_BUILD_PARAMS = 500_000_000


# ---------------------------------------------------------------------------
# Blocks (exported verbatim; parameter names match torchvision's)
# ---------------------------------------------------------------------------

class DWSep(nn.Module):
    """MobileNet-V1 depthwise-separable block.

    depthwise k×k conv (one filter per channel, padding (k-1)//2) -> BN -> ReLU
    -> pointwise 1×1 conv (mixes channels) -> BN -> ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3,
                 stride: int | tuple[int, int] = 1) -> None:
        super().__init__()
        kh, kw = kernel_size if isinstance(kernel_size, tuple) else (kernel_size, kernel_size)
        padding = ((kh - 1) // 2, (kw - 1) // 2)
        self.depthwise = nn.Conv2d(in_channels, in_channels, (kh, kw), stride, padding, groups=in_channels,
                                   bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.depthwise(x)))  # (B, C_in, H', W'): each channel filtered on its own
        return self.relu(self.bn2(self.pointwise(x)))  # (B, C_out, H', W')


class BasicBlock(nn.Module):
    """ResNet basic block (as torchvision.models.resnet.BasicBlock).

    3×3 conv (stride) -> BN -> ReLU -> 3×3 conv -> BN, plus the shortcut, -> ReLU.
    The shortcut is a 1×1 conv (stride) + BN when the shape changes, else the input.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int | tuple[int, int] = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride not in (1, (1, 1)) or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)  # (B, C_out, H', W')
        out = self.relu(self.bn1(self.conv1(x)))  # (B, C_out, H', W')
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """ResNet bottleneck block (as torchvision.models.resnet.Bottleneck, stride on the 3×3).

    1×1 conv (to out_channels // 4) -> BN -> ReLU -> 3×3 conv (stride) -> BN -> ReLU
    -> 1×1 conv (to out_channels) -> BN, plus the shortcut, -> ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int | tuple[int, int] = 1) -> None:
        super().__init__()
        width = out_channels // 4
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride not in (1, (1, 1)) or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)  # (B, C_out, H', W')
        out = self.relu(self.bn1(self.conv1(x)))  # (B, C_out/4, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (B, C_out/4, H', W')
        out = self.bn3(self.conv3(out))  # (B, C_out, H', W')
        return self.relu(out + identity)


_BLOCKS: dict[str, type[nn.Module]] = {"DWSep": DWSep, "BasicBlock": BasicBlock, "Bottleneck": Bottleneck}

_NN: dict[str, type[nn.Module]] = {name: getattr(nn, name) for name in (
    "Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d", "ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "Sigmoid",
    "Tanh", "AdaptiveAvgPool2d", "Flatten", "Dropout", "Linear")}


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
    """``name(*args, **kwargs)``; kwargs equal to ``defaults`` are left out of the source."""

    name: str  # "nn.Conv2d" or a block class name
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    def build(self) -> nn.Module:
        cls = _NN[self.name[3:]] if self.name.startswith("nn.") else _BLOCKS[self.name]
        return cls(*map(_arg, self.args), **{k: _arg(v) for k, v in self.kwargs.items()})

    def source(self) -> str:
        parts = [repr(_arg(a)) for a in self.args]
        parts += [f"{k}={_arg(v)!r}" for k, v in self.kwargs.items()
                  if k not in self.defaults or _arg(self.defaults[k]) != _arg(v)]
        return f"{self.name}({', '.join(parts)})"


def _conv(layer: S.Conv2d, c: int) -> _Call:
    return _Call("nn.Conv2d", (c, layer.out_channels),
                 {"kernel_size": layer.kernel_size, "stride": layer.stride, "padding": layer.padding,
                  "dilation": layer.dilation, "groups": layer.groups, "bias": layer.bias},
                 {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True})


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


def _plain(name: str, *args: Any) -> Callable[[Any, int], _Call]:
    return lambda layer, c: _Call(name, args)


# Layer spec type -> its PyTorch constructor call, given the input channels/features.
_CALLS: dict[type, Callable[[Any, int], _Call]] = {
    S.Conv2d: _conv,
    S.MaxPool2d: _maxpool,
    S.AvgPool2d: _avgpool,
    S.BatchNorm2d: _batchnorm,
    S.ReLU: _plain("nn.ReLU"),
    S.ReLU6: _plain("nn.ReLU6"),
    S.LeakyReLU: lambda layer, c: _Call("nn.LeakyReLU", (layer.negative_slope,)),
    S.GELU: lambda layer, c: _Call("nn.GELU", (), {"approximate": layer.approximate}, {"approximate": "none"}),
    S.SiLU: _plain("nn.SiLU"),
    S.Sigmoid: _plain("nn.Sigmoid"),
    S.Tanh: _plain("nn.Tanh"),
    S.DWSep: lambda layer, c: _Call("DWSep", (c, layer.out_channels),
                                    {"kernel_size": layer.kernel_size, "stride": layer.stride},
                                    {"kernel_size": 3, "stride": 1}),
    S.Residual: lambda layer, c: _Call("BasicBlock", (c, layer.out_channels), {"stride": layer.stride},
                                       {"stride": 1}),
    S.Bottleneck: lambda layer, c: _Call("Bottleneck", (c, layer.out_channels), {"stride": layer.stride},
                                         {"stride": 1}),
    S.GlobalAvgPool: _plain("nn.AdaptiveAvgPool2d", 1),
    S.Flatten: _plain("nn.Flatten"),
    S.Dropout: lambda layer, c: _Call("nn.Dropout", (layer.p,)),
    S.Linear: lambda layer, c: _Call("nn.Linear", (c, layer.out_features), {"bias": layer.bias}, {"bias": True}),
}


def _calls(spec: Spec) -> list[_Call]:
    return [_CALLS[type(layer)](layer, spec.shapes[i][0]) for i, layer in enumerate(spec.layers)]


def _param_count(spec: Spec) -> int:
    return analyze(spec).total_params


def build_model(spec: SpecSource) -> nn.Sequential:
    """A fresh ``nn.Sequential`` whose ``model[i]`` is layer i of the spec (PyTorch default init).

    Feed it ``(B, C, H, W)`` tensors of the spec's input shape. Raises SpecError
    for an invalid spec or one too large to allocate (> MAX_BUILD_PARAMS weights).
    """
    parsed = parse_spec(spec)
    total = _param_count(parsed)
    if total > MAX_BUILD_PARAMS:
        raise SpecError(f"this network has {total:,} parameters, over the {MAX_BUILD_PARAMS:,} that can be built "
                        f"here; use fewer channels or a smaller linear layer")
    return nn.Sequential(*(call.build() for call in _calls(parsed)))


def _docstring_safe(text: str | None) -> str:
    """A user-given name, made harmless inside a triple-quoted docstring (one line, no quotes/escapes)."""
    if not text:
        return ""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(cleaned.replace("\\", "/").replace('"', "'").split())


def _batched(shape: Shape) -> str:
    """(10,) -> '(B, 10)': a shape comment for tensors with the batch dimension."""
    return "(B, " + ", ".join(map(str, shape)) + ")"


def to_pytorch_code(spec: SpecSource) -> str:
    """Standalone source defining ``class Net(nn.Module)`` for the spec: imports, the blocks it
    uses, one line per layer with its output shape. Depends on torch only, not on playground.
    """
    parsed = parse_spec(spec)
    calls = _calls(parsed)
    total_params = _param_count(parsed)
    used_blocks = [name for name in _BLOCKS if any(call.name == name for call in calls)]
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
    for name in used_blocks:
        lines += ["", inspect.getsource(_BLOCKS[name]).rstrip(), ""]
    lines += [
        "",
        "class Net(nn.Module):",
        f'    """{title}: {x_in} -> {x_out}."""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        "        self.layers = nn.Sequential(",
        f"            # input: {format_shape(parsed.input)}",
    ]
    for index, call in enumerate(calls):
        lines.append(f"            {call.source()},  # {index} -> {format_shape(parsed.shapes[index + 1])}")
    lines += [
        "        )",
        "",
        "    def forward(self, x: Tensor) -> Tensor:",
        f"        # x: {x_in}",
        f"        return self.layers(x)  # {x_out}",
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
