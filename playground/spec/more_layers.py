"""The layer types graph designs brought in: norms over channels, transposed convolution, upsampling,
adaptive pooling, hard activations, identity, layer scale, stochastic depth and channel shuffle.

Same rules as :mod:`playground.spec.layers`: field names are PyTorch's keys, defaults PyTorch's
(``nn.LayerNorm``, ``nn.GroupNorm``, ``nn.ConvTranspose2d``, ``nn.Upsample``, ``nn.AdaptiveAvgPool2d``,
``nn.ChannelShuffle``); ``layer_scale`` and ``drop_path`` are ConvNeXt's and torchvision's
``StochasticDepth``. Upsampling layers spread one input unit over several outputs at a fractional
jump, which the receptive-field recurrences do not cover: the field is not tracked past them (as after
``flatten``, and as the graph analysis of real models does). Pure Python (no torch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from playground._format import format_dims
from playground.spec.base import FieldPaths, LayerSpec, Shape
from playground.spec.keys import (
    MAX_CHANNELS,
    _as_json,
    _choice,
    _Invalid,
    _Key,
    _optional_bool,
    _optional_size,
    _padding,
    _positive,
    _probability,
    _ratio,
    _read_bool,
    _read_float,
    _scale_factor,
    _size,
)
from playground.spec.window import Pair, Window

__all__ = ["MORE_LAYERS", "LayerNorm2d", "GroupNorm", "ConvTranspose2d", "Upsample", "AdaptiveAvgPool2d",
           "Hardswish", "Hardsigmoid", "Identity", "LayerScale", "DropPath", "ChannelShuffle"]


def _eps(v: object, k: str) -> float:
    return _read_float(v, k, low=0.0, low_open=True)


@dataclass(frozen=True, slots=True)
class LayerNorm2d(LayerSpec):
    """``nn.LayerNorm(C)`` over the channels of every position (ConvNeXt's ``LayerNorm2d``)."""

    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    type: ClassVar[str] = "layernorm2d"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "normalized_shape"
    _KEYS: ClassVar[tuple[_Key, ...]] = (_Key("eps", _eps, 1e-5), _Key("elementwise_affine", _read_bool, True),
                                         _Key("bias", _read_bool, True))


@dataclass(frozen=True, slots=True)
class GroupNorm(LayerSpec):
    """``nn.GroupNorm(num_groups, C)``: statistics over groups of channels."""

    num_groups: int = 32  # PyTorch has no default: 32 is Wu & He's (Group Normalization, 2018)
    eps: float = 1e-5
    affine: bool = True

    type: ClassVar[str] = "groupnorm"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "num_channels"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("num_groups", _positive(MAX_CHANNELS), 32),
        _Key("eps", _eps, 1e-5), _Key("affine", _read_bool, True))

    def check(self, shape: Shape) -> None:
        if shape[0] % self.num_groups:
            fits = [g for g in range(1, shape[0] + 1) if shape[0] % g == 0]
            raise _Invalid(f"num_groups {self.num_groups} must divide the {shape[0]} channels coming in; use one "
                           f"of {', '.join(map(str, fits[-6:]))}", "num_groups")

    def describe(self) -> str:
        return f"groupnorm {self.num_groups}"


@dataclass(frozen=True, slots=True)
class ConvTranspose2d(LayerSpec):
    """``nn.ConvTranspose2d``: output ``(H − 1)·s − 2p + d·(k − 1) + output_padding + 1``."""

    out_channels: int
    kernel_size: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    output_padding: Pair = (0, 0)
    groups: int = 1
    bias: bool = True
    dilation: Pair = (1, 1)

    type: ClassVar[str] = "conv_transpose2d"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "in_channels"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("out_channels", _positive(MAX_CHANNELS), example='"out_channels": 32'),
        _Key("kernel_size", _size, example='"kernel_size": 2'),
        _Key("stride", _size, (1, 1)), _Key("padding", _padding, (0, 0)), _Key("output_padding", _padding, (0, 0)),
        _Key("groups", _positive(MAX_CHANNELS), 1), _Key("bias", _read_bool, True), _Key("dilation", _size, (1, 1)),
    )

    def out_channels_for(self, channels: int) -> int:
        return self.out_channels

    def resize(self, hw: Pair) -> Pair | None:
        h, w = ((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in zip(
            hw, self.stride, self.padding, self.dilation, self.kernel_size, self.output_padding))
        return h, w

    def field_paths(self, shape: Shape) -> FieldPaths:
        return None

    def check(self, shape: Shape) -> None:
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise _Invalid(f"output_padding {_as_json(self.output_padding)} must be smaller than the stride or "
                               f"the dilation (PyTorch rule); use output_padding < {max(s, d)}", "output_padding")
        if shape[0] % self.groups or self.out_channels % self.groups:
            raise _Invalid(f"groups {self.groups} must divide both the {shape[0]} input channels and the "
                           f"{self.out_channels} out_channels", "groups")

    def describe(self) -> str:
        text = f"conv_transpose2d {self.out_channels}, {format_dims(self.kernel_size)}"
        return text + (f" ×{_as_json(self.stride)}" if self.stride != (1, 1) else "")


@dataclass(frozen=True, slots=True)
class Upsample(LayerSpec):
    """``nn.Upsample``: give ``scale_factor`` (output = floor(input · scale)) or ``size``, not both."""

    size: Pair | None = None
    scale_factor: tuple[float, float] | None = None
    mode: str = "nearest"
    align_corners: bool | None = None

    type: ClassVar[str] = "upsample"
    spatial: ClassVar[bool] = True
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("size", _optional_size, None), _Key("scale_factor", _scale_factor, None),
        _Key("mode", _choice("nearest", "bilinear"), "nearest"), _Key("align_corners", _optional_bool, None))

    def resize(self, hw: Pair) -> Pair | None:
        if self.size is not None:
            return self.size
        assert self.scale_factor is not None  # check() ran first
        return math.floor(hw[0] * self.scale_factor[0]), math.floor(hw[1] * self.scale_factor[1])

    def field_paths(self, shape: Shape) -> FieldPaths:
        return None

    def check(self, shape: Shape) -> None:
        if (self.size is None) == (self.scale_factor is None):
            raise _Invalid('give either "scale_factor" (e.g. 2) or "size" (e.g. [56, 56]), not '
                           + ("both" if self.size is not None else "neither"), "scale_factor")
        if self.align_corners is not None and self.mode == "nearest":
            raise _Invalid('align_corners only applies to mode "bilinear" (PyTorch rule); drop it or use '
                           'mode "bilinear"', "align_corners")

    def describe(self) -> str:
        if self.size is not None:
            return f"upsample to {format_dims(self.size)} ({self.mode})"
        sf = self.scale_factor or (1.0, 1.0)
        return f"upsample ×{sf[0]:g}" + (f"×{sf[1]:g}" if sf[0] != sf[1] else "") + f" ({self.mode})"


@dataclass(frozen=True, slots=True)
class AdaptiveAvgPool2d(LayerSpec):
    """``nn.AdaptiveAvgPool2d(output_size)``. When the input divides evenly it is a plain pool (kernel =
    stride = input / output, the identity when equal); otherwise its windows differ in size and the
    field is not tracked past it."""

    output_size: Pair = (1, 1)  # PyTorch has no default: 1 pools globally

    type: ClassVar[str] = "adaptive_avgpool2d"
    spatial: ClassVar[bool] = True
    _KEYS: ClassVar[tuple[_Key, ...]] = (_Key("output_size", _size, (1, 1)),)

    def _even(self, hw: Pair) -> bool:
        return hw[0] % self.output_size[0] == 0 and hw[1] % self.output_size[1] == 0

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        if hw == self.output_size or not self._even(hw):
            return ()
        kernel = (hw[0] // self.output_size[0], hw[1] // self.output_size[1])
        return (Window(kernel, kernel),)

    def resize(self, hw: Pair) -> Pair | None:
        return None if self._even(hw) else self.output_size

    def field_paths(self, shape: Shape) -> FieldPaths:
        hw = (shape[1], shape[2])
        return (self.windows(hw),) if self._even(hw) else None

    def describe(self) -> str:
        return f"adaptive_avgpool2d {format_dims(self.output_size)}"


@dataclass(frozen=True, slots=True)
class Hardswish(LayerSpec):
    """``nn.Hardswish`` (MobileNet-V3)."""

    type: ClassVar[str] = "hardswish"


@dataclass(frozen=True, slots=True)
class Hardsigmoid(LayerSpec):
    """``nn.Hardsigmoid`` (MobileNet-V3's gate)."""

    type: ClassVar[str] = "hardsigmoid"


@dataclass(frozen=True, slots=True)
class Identity(LayerSpec):
    """``nn.Identity``: passes its input on."""

    type: ClassVar[str] = "identity"


@dataclass(frozen=True, slots=True)
class LayerScale(LayerSpec):
    """A learned factor per channel (ConvNeXt's layer scale): C parameters, all starting at ``init_value``."""

    init_value: float = 1e-6

    type: ClassVar[str] = "layer_scale"
    spatial: ClassVar[bool] = True
    _KEYS: ClassVar[tuple[_Key, ...]] = (_Key("init_value", _ratio, 1e-6),)

    def describe(self) -> str:
        return f"layer_scale {self.init_value:g}"


@dataclass(frozen=True, slots=True)
class DropPath(LayerSpec):
    """Stochastic depth (torchvision's ``StochasticDepth(p, mode)``): while training, drops the whole path
    for a sample (``row``) or the batch (``batch``) with probability ``p``. No parameters."""

    p: float = 0.1
    mode: str = "row"

    type: ClassVar[str] = "drop_path"
    _KEYS: ClassVar[tuple[_Key, ...]] = (_Key("p", _probability, 0.1), _Key("mode", _choice("row", "batch"), "row"))

    def describe(self) -> str:
        return f"drop_path {self.p:g}"


@dataclass(frozen=True, slots=True)
class ChannelShuffle(LayerSpec):
    """``nn.ChannelShuffle(groups)`` (ShuffleNet): interleaves the channels of ``groups`` groups."""

    groups: int = 2  # PyTorch has no default: ShuffleNet-V2 shuffles 2 groups

    type: ClassVar[str] = "channel_shuffle"
    spatial: ClassVar[bool] = True
    _KEYS: ClassVar[tuple[_Key, ...]] = (_Key("groups", _positive(MAX_CHANNELS), 2),)

    def check(self, shape: Shape) -> None:
        if shape[0] % self.groups:
            raise _Invalid(f"groups {self.groups} must divide the {shape[0]} channels coming in", "groups")

    def describe(self) -> str:
        return f"channel_shuffle {self.groups}"


MORE_LAYERS: tuple[type[LayerSpec], ...] = (LayerNorm2d, GroupNorm, ConvTranspose2d, Upsample, AdaptiveAvgPool2d,
                                            Hardswish, Hardsigmoid, Identity, LayerScale, DropPath, ChannelShuffle)
"""The layer types of this module, in the order the editor lists them."""
