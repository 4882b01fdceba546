"""The typed layer specs: one frozen dataclass per plain layer type, and the ``LAYER_TYPES`` registry of all.

Field names are the JSON keys and field defaults PyTorch's; each class lists how its keys are
read (``_KEYS``), the sliding windows it applies (``windows``), its own checks against the
incoming shape (``check``) and a short label (``describe``). :mod:`playground.spec.parse` walks
these to validate a spec and work out every shape. The other types live beside this module
(:mod:`~playground.spec.classic_blocks`, :mod:`~playground.spec.more_layers`, :mod:`~playground.spec.blocks`,
:mod:`~playground.spec.branch`); they are re-exported or registered here. Pure Python (no torch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from playground._format import format_dims
from playground.spec.base import LayerSpec, Shape
from playground.spec.blocks import NAMED_BLOCKS
from playground.spec.branch import Branch
from playground.spec.classic_blocks import Bottleneck, DWSep, Residual
from playground.spec.keys import (
    MAX_CHANNELS,
    _as_json,
    _choice,
    _conv_padding,
    _Invalid,
    _Key,
    _momentum,
    _padding,
    _pool_stride,
    _positive,
    _probability,
    _read_bool,
    _read_float,
    _size,
)
from playground.spec.more_layers import MORE_LAYERS
from playground.spec.window import Pair, Window

__all__ = [
    "LayerSpec", "Shape", "LAYER_TYPES", "ACTIVATIONS",
    "Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d", "ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "Sigmoid",
    "Tanh", "DWSep", "Residual", "Bottleneck", "GlobalAvgPool", "Flatten", "Dropout", "Linear",
]

@dataclass(frozen=True, slots=True)
class Conv2d(LayerSpec):
    """``nn.Conv2d``; ``padding`` may be ``"same"`` (stride 1 only) or ``"valid"``."""

    out_channels: int
    kernel_size: Pair
    stride: Pair = (1, 1)
    padding: Pair | str = (0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True

    type: ClassVar[str] = "conv2d"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "in_channels"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("out_channels", _positive(MAX_CHANNELS), example='"out_channels": 32 (the number of filters)'),
        _Key("kernel_size", _size, example='"kernel_size": 3'),
        _Key("stride", _size, (1, 1)),
        _Key("padding", _conv_padding, (0, 0)),
        _Key("dilation", _size, (1, 1)),
        _Key("groups", _positive(MAX_CHANNELS), 1),
        _Key("bias", _read_bool, True),
    )

    def pads(self) -> tuple[Pair, Pair]:
        """(top/left, bottom/right) padding; ``"same"`` puts the odd pixel bottom/right like PyTorch."""
        if self.padding == "valid":
            return (0, 0), (0, 0)
        if self.padding == "same":
            total = tuple(d * (k - 1) for k, d in zip(self.kernel_size, self.dilation))
            left = (total[0] // 2, total[1] // 2)
            return left, (total[0] - left[0], total[1] - left[1])
        return self.padding, self.padding  # type: ignore[return-value]

    def out_channels_for(self, channels: int) -> int:
        return self.out_channels

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        left, right = self.pads()
        return (Window(self.kernel_size, self.stride, left, right, self.dilation),)

    def check(self, shape: Shape) -> None:
        if self.padding == "same" and self.stride != (1, 1):
            fix = tuple((d * (k - 1)) // 2 for k, d in zip(self.kernel_size, self.dilation))
            raise _Invalid(f'padding "same" needs stride 1 (PyTorch rule), but stride is {_as_json(self.stride)}; '
                           f'use stride 1, or padding {_as_json(fix)} to keep the stride', "padding")
        c_in = shape[0]
        if c_in % self.groups or self.out_channels % self.groups:
            common = [g for g in range(1, min(c_in, self.out_channels) + 1)
                      if c_in % g == 0 and self.out_channels % g == 0]
            shown = ", ".join(map(str, common[:8])) + (", ..." if len(common) > 8 else "")
            advice = "groups 1" if common == [1] else f"one of {shown}"
            raise _Invalid(f"groups {self.groups} must divide both the {c_in} input channels and the "
                           f"{self.out_channels} out_channels; use {advice}", "groups")

    def describe(self) -> str:
        text = f"conv2d {self.out_channels}, {format_dims(self.kernel_size)}"
        if self.stride != (1, 1):
            text += f" /{_as_json(self.stride)}"
        if self.dilation != (1, 1):
            text += f" d{_as_json(self.dilation)}"
        if self.groups != 1:
            text += f" g{self.groups}"
        return text


@dataclass(frozen=True, slots=True)
class _Pool(LayerSpec):
    kernel_size: Pair
    stride: Pair | None = None
    padding: Pair = (0, 0)

    spatial: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.stride is None:  # PyTorch: stride defaults to kernel_size
            object.__setattr__(self, "stride", self.kernel_size)

    def _window(self, dilation: Pair, ceil_mode: bool) -> Window:
        return Window(self.kernel_size, self.stride, self.padding, self.padding, dilation, ceil_mode)  # type: ignore[arg-type]

    def check(self, shape: Shape) -> None:
        half = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        if self.padding[0] > half[0] or self.padding[1] > half[1]:
            raise _Invalid(f"padding {_as_json(self.padding)} is more than half the "
                           f"{format_dims(self.kernel_size)} kernel (PyTorch rule); use padding ≤ {_as_json(half)}",
                           "padding")

    def describe(self) -> str:
        text = f"{self.type} {format_dims(self.kernel_size)}"
        if self.stride != (1, 1):
            text += f" /{_as_json(self.stride)}"  # type: ignore[arg-type]
        return text


@dataclass(frozen=True, slots=True)
class MaxPool2d(_Pool):
    """``nn.MaxPool2d`` (stride defaults to kernel_size)."""

    dilation: Pair = (1, 1)
    ceil_mode: bool = False

    type: ClassVar[str] = "maxpool2d"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("kernel_size", _size, example='"kernel_size": 2'),
        _Key("stride", _pool_stride, None),
        _Key("padding", _padding, (0, 0)),
        _Key("dilation", _size, (1, 1)),
        _Key("ceil_mode", _read_bool, False),
    )

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (self._window(self.dilation, self.ceil_mode),)


@dataclass(frozen=True, slots=True)
class AvgPool2d(_Pool):
    """``nn.AvgPool2d`` (stride defaults to kernel_size; no dilation in PyTorch)."""

    ceil_mode: bool = False
    count_include_pad: bool = True

    type: ClassVar[str] = "avgpool2d"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("kernel_size", _size, example='"kernel_size": 2'),
        _Key("stride", _pool_stride, None),
        _Key("padding", _padding, (0, 0)),
        _Key("ceil_mode", _read_bool, False),
        _Key("count_include_pad", _read_bool, True),
    )

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (self._window((1, 1), self.ceil_mode),)


@dataclass(frozen=True, slots=True)
class BatchNorm2d(LayerSpec):
    """``nn.BatchNorm2d`` over the incoming channels."""

    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = True

    type: ClassVar[str] = "batchnorm2d"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "num_features"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("eps", lambda v, k: _read_float(v, k, low=0.0, low_open=True), 1e-5),
        _Key("momentum", _momentum, 0.1),
        _Key("affine", _read_bool, True),
    )


@dataclass(frozen=True, slots=True)
class ReLU(LayerSpec):
    """``nn.ReLU``."""

    type: ClassVar[str] = "relu"


@dataclass(frozen=True, slots=True)
class ReLU6(LayerSpec):
    """``nn.ReLU6``."""

    type: ClassVar[str] = "relu6"


@dataclass(frozen=True, slots=True)
class LeakyReLU(LayerSpec):
    """``nn.LeakyReLU(negative_slope)``."""

    negative_slope: float = 0.01

    type: ClassVar[str] = "leaky_relu"
    _KEYS: ClassVar[tuple[_Key, ...]] = (_Key("negative_slope", _read_float, 0.01),)


@dataclass(frozen=True, slots=True)
class GELU(LayerSpec):
    """``nn.GELU(approximate)``."""

    approximate: str = "none"

    type: ClassVar[str] = "gelu"
    _KEYS: ClassVar[tuple[_Key, ...]] = (_Key("approximate", _choice("none", "tanh"), "none"),)


@dataclass(frozen=True, slots=True)
class SiLU(LayerSpec):
    """``nn.SiLU`` (swish)."""

    type: ClassVar[str] = "silu"


@dataclass(frozen=True, slots=True)
class Sigmoid(LayerSpec):
    """``nn.Sigmoid``."""

    type: ClassVar[str] = "sigmoid"


@dataclass(frozen=True, slots=True)
class Tanh(LayerSpec):
    """``nn.Tanh``."""

    type: ClassVar[str] = "tanh"


@dataclass(frozen=True, slots=True)
class GlobalAvgPool(LayerSpec):
    """``nn.AdaptiveAvgPool2d(1)``: (C, H, W) -> (C, 1, 1)."""

    type: ClassVar[str] = "global_avgpool"
    spatial: ClassVar[bool] = True

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        # One window covering the whole map: exactly what the single output unit sees.
        return (Window(hw, hw),)


@dataclass(frozen=True, slots=True)
class Flatten(LayerSpec):
    """``nn.Flatten()``: (C, H, W) -> (C·H·W,)."""

    type: ClassVar[str] = "flatten"


@dataclass(frozen=True, slots=True)
class Dropout(LayerSpec):
    """``nn.Dropout(p)``."""

    p: float = 0.5

    type: ClassVar[str] = "dropout"
    _KEYS: ClassVar[tuple[_Key, ...]] = (_Key("p", _probability, 0.5),)

    def describe(self) -> str:
        return f"dropout {self.p:g}"


@dataclass(frozen=True, slots=True)
class Linear(LayerSpec):
    """``nn.Linear``; needs a flat input (put ``flatten`` before it)."""

    out_features: int
    bias: bool = True

    type: ClassVar[str] = "linear"
    _IN_KEY: ClassVar[str | None] = "in_features"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("out_features", _positive(MAX_CHANNELS), example='"out_features": 10'),
        _Key("bias", _read_bool, True),
    )

    def describe(self) -> str:
        return f"linear {self.out_features}"


_ORIGINAL: tuple[type[LayerSpec], ...] = (
    Conv2d, MaxPool2d, AvgPool2d, BatchNorm2d, ReLU, ReLU6, LeakyReLU, GELU, SiLU, Sigmoid, Tanh,
    DWSep, Residual, Bottleneck, GlobalAvgPool, Flatten, Dropout, Linear)
# The other types' modules import only spec.base, keys and window, so this module can gather them all.
_ALL: tuple[type[LayerSpec], ...] = (*_ORIGINAL, *MORE_LAYERS, *NAMED_BLOCKS, Branch)
LAYER_TYPES: dict[str, type[LayerSpec]] = {cls.type: cls for cls in _ALL}
"""Every layer type a spec may use, by its ``"type"`` string (the first eighteen are the original ones,
in their original order)."""

ACTIVATIONS: frozenset[str] = frozenset({"relu", "relu6", "leaky_relu", "gelu", "silu", "sigmoid", "tanh",
                                          "hardswish", "hardsigmoid"})
