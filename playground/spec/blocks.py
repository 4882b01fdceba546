"""Named blocks: each one stands for a small graph (a branch and its layers) and matches its reference
implementation parameter for parameter.

The spec keeps the block's name (the layer list shows "mbconv 24, 6×, 3×3 /2, SE", not thirty
primitives); :func:`playground.design.expand.expand_block` spells one out as a ``branch`` and plain
layers. Each class here gives the block's keys, its checks, the windows along each path that keeps
the map (for the receptive field) and its label; the costs are in :mod:`playground.design.costs`,
the PyTorch modules in :mod:`playground.design.modules`.

References (torchvision): ``mobilenetv2.InvertedResidual`` / ``mobilenetv3.InvertedResidual``,
``efficientnet.MBConv`` / ``FusedMBConv``, ``ops.SqueezeExcitation``, ``googlenet.Inception``,
``convnext.CNBlock``, ``densenet._DenseLayer``. Pure Python (no torch).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from playground._format import format_dims
from playground.spec.base import FieldPaths, LayerSpec, Shape
from playground.spec.keys import (
    MAX_CHANNELS,
    _as_json,
    _choice,
    _Invalid,
    _Key,
    _optional_positive,
    _positive,
    _probability,
    _ratio,
    _read_bool,
    _read_float,
    _size,
)
from playground.spec.window import Pair, Window

__all__ = ["NAMED_BLOCKS", "InvertedResidual", "MBConv", "FusedMBConv", "SqueezeExcitation", "Inception",
           "ConvNeXtBlock", "DenseLayer", "make_divisible", "BLOCK_ACTIVATIONS"]

BLOCK_ACTIVATIONS = ("relu", "relu6", "silu", "hardswish", "gelu")
"""Activations a named block may use inside (their spec type names)."""


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: round to a multiple of ``divisor``, never more than 10% down."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def _same_pad(kernel: Pair) -> Pair:
    return (kernel[0] - 1) // 2, (kernel[1] - 1) // 2


@lru_cache(maxsize=256)
def _depthwise(kernel: Pair, stride: Pair) -> Window:
    """The k×k conv of a block, padded (k − 1) // 2 on every side (torchvision's Conv2dNormActivation)."""
    pad = _same_pad(kernel)
    return Window(kernel, stride, pad, pad)


_POOL3 = Window((3, 3), (1, 1), (1, 1), (1, 1), ceil_mode=True)  # GoogLeNet's pool path


def _stride_text(stride: Pair) -> str:
    return f" /{_as_json(stride)}" if stride != (1, 1) else ""


@dataclass(frozen=True, slots=True)
class _Residualish(LayerSpec):
    """A block with ``out_channels`` and ``stride`` that adds its input back when the shape allows it
    (stride 1 and as many channels out as in), as the MobileNet and EfficientNet blocks do."""

    out_channels: int

    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "in_channels"

    def out_channels_for(self, channels: int) -> int:
        return self.out_channels

    def residual(self, channels: int) -> bool:
        """Whether the block adds its input to its output (no projection shortcut in these blocks)."""
        # every subclass has a stride field (declared there, after out_channels, to keep the keys' order)
        return getattr(self, "stride", (1, 1)) == (1, 1) and channels == self.out_channels

    def field_paths(self, shape: Shape) -> FieldPaths:
        main = self.windows((shape[1], shape[2]))
        return (main, ()) if self.residual(shape[0]) else (main,)


@dataclass(frozen=True, slots=True)
class InvertedResidual(_Residualish):
    """MobileNet-V2 / V3 inverted residual: 1×1 expand (left out when it would not widen) → depthwise k×k
    (stride) → optional squeeze-and-excitation (V3: squeeze to ``make_divisible(hidden / 4)``, hard-sigmoid
    gate) → linear 1×1 projection, + the input when stride 1 and the width is kept. The hidden width is
    ``round(C_in · expand_ratio)`` (V2) or ``expanded_channels`` when given (V3)."""

    expand_ratio: float = 6.0
    kernel_size: Pair = (3, 3)
    stride: Pair = (1, 1)
    se: bool = False
    activation: str = "relu6"
    expanded_channels: int | None = None

    type: ClassVar[str] = "inverted_residual"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("out_channels", _positive(MAX_CHANNELS), example='"out_channels": 24'),
        _Key("expand_ratio", _ratio, 6.0), _Key("kernel_size", _size, (3, 3)), _Key("stride", _size, (1, 1)),
        _Key("se", _read_bool, False), _Key("activation", _choice(*BLOCK_ACTIVATIONS), "relu6"),
        _Key("expanded_channels", _optional_positive(MAX_CHANNELS), None))

    def hidden(self, channels: int) -> int:
        """The expanded width the depthwise conv works at."""
        if self.expanded_channels is not None:
            return self.expanded_channels
        return int(round(channels * self.expand_ratio))

    def expands(self, channels: int) -> bool:
        """Whether the block has its 1×1 expansion (V2: ratio ≠ 1; V3: hidden width ≠ input width)."""
        if self.expanded_channels is not None:
            return self.expanded_channels != channels
        return self.expand_ratio != 1

    def squeeze(self, channels: int) -> int:
        """The squeeze-and-excitation's inner width (MobileNet-V3's rule)."""
        return make_divisible(self.hidden(channels) // 4, 8)

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (_depthwise(self.kernel_size, self.stride),)  # its 1×1 convs change neither size nor field

    def check(self, shape: Shape) -> None:
        if self.hidden(shape[0]) < 1:
            raise _Invalid(f"expand_ratio {self.expand_ratio:g} leaves no channels for {shape[0]} coming in; "
                           "use a ratio of at least 1", "expand_ratio")

    def describe(self) -> str:
        width = (f"{self.expanded_channels} wide" if self.expanded_channels is not None
                 else f"{self.expand_ratio:g}×")
        text = f"inverted_residual {self.out_channels}, {width}, {format_dims(self.kernel_size)}"
        return text + _stride_text(self.stride) + (", SE" if self.se else "")


@dataclass(frozen=True, slots=True)
class MBConv(_Residualish):
    """EfficientNet's MBConv (torchvision): 1×1 expand to ``make_divisible(C_in · expand_ratio)`` (left out
    when that is C_in) → depthwise k×k (stride) → squeeze-and-excitation to ``max(1, C_in · se_ratio)`` with
    SiLU → 1×1 projection; SiLU throughout; + the input (after stochastic depth) when the shape is kept."""

    expand_ratio: float = 6.0
    kernel_size: Pair = (3, 3)
    stride: Pair = (1, 1)
    se_ratio: float = 0.25
    stochastic_depth_prob: float = 0.0

    type: ClassVar[str] = "mbconv"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("out_channels", _positive(MAX_CHANNELS), example='"out_channels": 24'),
        _Key("expand_ratio", _ratio, 6.0), _Key("kernel_size", _size, (3, 3)), _Key("stride", _size, (1, 1)),
        _Key("se_ratio", _probability, 0.25), _Key("stochastic_depth_prob", _probability, 0.0))

    def hidden(self, channels: int) -> int:
        """The expanded width (torchvision's ``adjust_channels``: a multiple of 8)."""
        return make_divisible(channels * self.expand_ratio, 8)

    def squeeze(self, channels: int) -> int:
        """The squeeze-and-excitation's inner width; 0 without one (``se_ratio`` 0)."""
        return max(1, int(channels * self.se_ratio)) if self.se_ratio > 0 else 0

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (_depthwise(self.kernel_size, self.stride),)  # its 1×1 convs change neither size nor field

    def describe(self) -> str:
        text = f"mbconv {self.out_channels}, {self.expand_ratio:g}×, {format_dims(self.kernel_size)}"
        return text + _stride_text(self.stride) + (", SE" if self.se_ratio > 0 else "")


@dataclass(frozen=True, slots=True)
class FusedMBConv(_Residualish):
    """EfficientNet-V2's Fused-MBConv (torchvision): one k×k conv (stride) expanding to
    ``make_divisible(C_in · expand_ratio)``, then a 1×1 projection (or, at ratio 1, a single k×k conv to
    ``out_channels``); SiLU; + the input (after stochastic depth) when the shape is kept."""

    expand_ratio: float = 4.0
    kernel_size: Pair = (3, 3)
    stride: Pair = (1, 1)
    stochastic_depth_prob: float = 0.0

    type: ClassVar[str] = "fused_mbconv"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("out_channels", _positive(MAX_CHANNELS), example='"out_channels": 48'),
        _Key("expand_ratio", _ratio, 4.0), _Key("kernel_size", _size, (3, 3)), _Key("stride", _size, (1, 1)),
        _Key("stochastic_depth_prob", _probability, 0.0))

    def hidden(self, channels: int) -> int:
        """The expanded width; equal to the input width when there is no separate projection."""
        return make_divisible(channels * self.expand_ratio, 8)

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (_depthwise(self.kernel_size, self.stride),)

    def describe(self) -> str:
        text = f"fused_mbconv {self.out_channels}, {self.expand_ratio:g}×, {format_dims(self.kernel_size)}"
        return text + _stride_text(self.stride)


@dataclass(frozen=True, slots=True)
class SqueezeExcitation(LayerSpec):
    """torchvision's ``SqueezeExcitation``: global average pool → 1×1 conv to ``squeeze_channels`` →
    activation → 1×1 conv back → gate (sigmoid), and the input scaled by that per-channel gate."""

    squeeze_channels: int | None = None  # None: a quarter of the channels coming in (at least 1)
    activation: str = "relu"
    scale_activation: str = "sigmoid"

    type: ClassVar[str] = "se"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "input_channels"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("squeeze_channels", _optional_positive(MAX_CHANNELS), None),
        _Key("activation", _choice(*BLOCK_ACTIVATIONS), "relu"),
        _Key("scale_activation", _choice("sigmoid", "hardsigmoid"), "sigmoid"))

    def squeeze(self, channels: int) -> int:
        """The inner width for ``channels`` coming in."""
        return self.squeeze_channels if self.squeeze_channels is not None else max(1, channels // 4)

    def field_paths(self, shape: Shape) -> FieldPaths:
        return ((),)  # the gate scales every position alike: the map's own field is unchanged

    def describe(self) -> str:
        return "se" if self.squeeze_channels is None else f"se {self.squeeze_channels}"


@dataclass(frozen=True, slots=True)
class Inception(LayerSpec):
    """GoogLeNet's Inception module (torchvision): four paths concatenated, each conv with BatchNorm
    (eps 0.001) and ReLU and no bias: 1×1; 1×1 → 3×3; 1×1 → 3×3 (torchvision's "5×5" path, as its
    weights have it); 3×3 max-pool (stride 1, ceil_mode) → 1×1."""

    ch1x1: int = 64  # the defaults are GoogLeNet's first module, inception3a
    ch3x3red: int = 96
    ch3x3: int = 128
    ch5x5red: int = 16
    ch5x5: int = 32
    pool_proj: int = 32

    type: ClassVar[str] = "inception"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "in_channels"
    _KEYS: ClassVar[tuple[_Key, ...]] = tuple(
        _Key(name, _positive(MAX_CHANNELS), default)
        for name, default in (("ch1x1", 64), ("ch3x3red", 96), ("ch3x3", 128), ("ch5x5red", 16), ("ch5x5", 32),
                              ("pool_proj", 32)))

    def out_channels_for(self, channels: int) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (_depthwise((3, 3), (1, 1)),)

    def field_paths(self, shape: Shape) -> FieldPaths:
        three = (_depthwise((3, 3), (1, 1)),)  # the 1×1 convs change neither size nor field
        return (), three, three, (_POOL3,)

    def describe(self) -> str:
        return f"inception {self.out_channels_for(0)}"


@dataclass(frozen=True, slots=True)
class ConvNeXtBlock(LayerSpec):
    """torchvision's ``CNBlock``: depthwise 7×7 (bias) → LayerNorm over channels (eps 1e-6) → 1×1 to 4C →
    GELU → 1×1 back to C → layer scale → stochastic depth, + the input. Keeps the shape."""

    layer_scale: float = 1e-6
    stochastic_depth_prob: float = 0.0

    type: ClassVar[str] = "convnext_block"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "dim"
    _KEYS: ClassVar[tuple[_Key, ...]] = (_Key("layer_scale", _ratio, 1e-6),
                                         _Key("stochastic_depth_prob", _probability, 0.0))

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (_depthwise((7, 7), (1, 1)),)

    def field_paths(self, shape: Shape) -> FieldPaths:
        return self.windows((shape[1], shape[2])), ()

    def describe(self) -> str:
        return "convnext_block 7×7"


@dataclass(frozen=True, slots=True)
class DenseLayer(LayerSpec):
    """torchvision's DenseNet ``_DenseLayer``: BN → ReLU → 1×1 to ``bn_size · growth_rate`` → BN → ReLU →
    3×3 to ``growth_rate``, concatenated after its input (a dense block is a run of these)."""

    growth_rate: int = 32
    bn_size: int = 4
    drop_rate: float = 0.0

    type: ClassVar[str] = "dense_layer"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "num_input_features"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("growth_rate", _positive(MAX_CHANNELS), 32), _Key("bn_size", _positive(MAX_CHANNELS), 4),
        _Key("drop_rate", lambda v, k: _read_float(v, k, low=0.0, high=1.0), 0.0))

    def out_channels_for(self, channels: int) -> int:
        return channels + self.growth_rate

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (_depthwise((3, 3), (1, 1)),)

    def field_paths(self, shape: Shape) -> FieldPaths:
        return (), self.windows((shape[1], shape[2]))

    def describe(self) -> str:
        return f"dense_layer +{self.growth_rate}"


NAMED_BLOCKS: tuple[type[LayerSpec], ...] = (InvertedResidual, MBConv, FusedMBConv, SqueezeExcitation, Inception,
                                             ConvNeXtBlock, DenseLayer)
"""The named blocks of this module, in the order the editor lists them."""
