"""The original blocks: MobileNet-V1's depthwise-separable block and torchvision's ResNet blocks.

``dwsep``, ``residual`` (``BasicBlock``) and ``bottleneck`` (``Bottleneck``, with ResNeXt's ``groups`` and
Wide ResNet's ``width_per_group``), exactly as their reference implementations: their parameter counts
match them. Re-exported by :mod:`playground.spec.layers`, where they were first defined; the newer
named blocks are in :mod:`playground.spec.blocks`. Pure Python (no torch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from playground._format import format_dims
from playground.spec.base import FieldPaths, LayerSpec, Shape
from playground.spec.keys import MAX_CHANNELS, _as_json, _Invalid, _Key, _positive, _size
from playground.spec.window import Pair, Window

__all__ = ["DWSep", "Residual", "Bottleneck"]


@dataclass(frozen=True, slots=True)
class DWSep(LayerSpec):
    """MobileNet-V1 depthwise-separable block: depthwise k×k (padding (k−1)//2) → BN → ReLU → 1×1 → BN → ReLU."""

    out_channels: int
    kernel_size: Pair = (3, 3)
    stride: Pair = (1, 1)

    type: ClassVar[str] = "dwsep"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "in_channels"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("out_channels", _positive(MAX_CHANNELS), example='"out_channels": 64'),
        _Key("kernel_size", _size, (3, 3)),
        _Key("stride", _size, (1, 1)),
    )

    def out_channels_for(self, channels: int) -> int:
        return self.out_channels

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        pad = ((self.kernel_size[0] - 1) // 2, (self.kernel_size[1] - 1) // 2)
        return (Window(self.kernel_size, self.stride, pad, pad), Window((1, 1)))

    def describe(self) -> str:
        text = f"dwsep {self.out_channels}, {format_dims(self.kernel_size)}"
        return text + (f" /{_as_json(self.stride)}" if self.stride != (1, 1) else "")


@dataclass(frozen=True, slots=True)
class _ResNetBlock(LayerSpec):
    """A torchvision ResNet block: ``out_channels`` and ``stride``; a 1×1 (stride) + BN shortcut when the
    shape changes."""

    out_channels: int
    stride: Pair = (1, 1)

    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "in_channels"

    def out_channels_for(self, channels: int) -> int:
        return self.out_channels

    def describe(self) -> str:
        return f"{self.type} {self.out_channels}" + (f" /{_as_json(self.stride)}" if self.stride != (1, 1) else "")


def _block_keys(example: int) -> tuple[_Key, ...]:
    return (_Key("out_channels", _positive(MAX_CHANNELS), example=f'"out_channels": {example}'),
            _Key("stride", _size, (1, 1)))


@dataclass(frozen=True, slots=True)
class Residual(_ResNetBlock):
    """torchvision ``BasicBlock``: 3×3 (stride) → BN → ReLU → 3×3 → BN, + shortcut, → ReLU."""

    type: ClassVar[str] = "residual"
    _KEYS: ClassVar[tuple[_Key, ...]] = _block_keys(64)

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (Window((3, 3), self.stride, (1, 1), (1, 1)), Window((3, 3), (1, 1), (1, 1), (1, 1)))

    def field_paths(self, shape: Shape) -> FieldPaths:
        return self.windows((shape[1], shape[2])), _shortcut(self.stride)


def _shortcut(stride: Pair) -> tuple[Window, ...]:
    """The shortcut's windows: a 1×1 conv with the block's stride (the identity at stride 1)."""
    return (Window((1, 1), stride),)


@dataclass(frozen=True, slots=True)
class Bottleneck(_ResNetBlock):
    """torchvision ``Bottleneck`` (v1.5: stride on the 3×3). Its inner width is torchvision's
    ``int(planes · width_per_group / 64) · groups`` with ``planes = out_channels // 4``: ``out_channels // 4``
    for ResNet, wider for Wide ResNet (``width_per_group`` 128), grouped for ResNeXt (``groups`` 32)."""

    groups: int = 1
    width_per_group: int = 64

    type: ClassVar[str] = "bottleneck"
    _KEYS: ClassVar[tuple[_Key, ...]] = (*_block_keys(256), _Key("groups", _positive(MAX_CHANNELS), 1),
                                         _Key("width_per_group", _positive(MAX_CHANNELS), 64))

    def width(self) -> int:
        """The channels of the inner 1×1 and 3×3 convs (torchvision's formula)."""
        return int(self.out_channels // 4 * (self.width_per_group / 64.0)) * self.groups

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (Window((1, 1)), Window((3, 3), self.stride, (1, 1), (1, 1)), Window((1, 1)))

    def field_paths(self, shape: Shape) -> FieldPaths:
        return self.windows((shape[1], shape[2])), _shortcut(self.stride)

    def check(self, shape: Shape) -> None:
        if self.out_channels % 4:
            lower, upper = self.out_channels - self.out_channels % 4, self.out_channels + 4 - self.out_channels % 4
            fix = f"{lower} or {upper}" if lower else str(upper)
            raise _Invalid(f"out_channels {self.out_channels} is not divisible by 4 (the block's inner width is "
                           f"out_channels / 4); use {fix}", "out_channels")
        if self.width() < 1:
            raise _Invalid(f"width_per_group {self.width_per_group} leaves the inner convs no channels "
                           f"(out_channels / 4 · width_per_group / 64 < 1); use a larger width_per_group",
                           "width_per_group")

    def describe(self) -> str:
        text = _ResNetBlock.describe(self)
        if self.groups != 1 or self.width_per_group != 64:
            text += f" {self.groups}×{self.width() // self.groups}d"  # ResNeXt's "32×4d" notation
        return text
