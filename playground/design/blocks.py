"""Building blocks for quick building: common layer groups by name, and where a new layer fits.

A block is a short list of spec layers (``BLOCKS[name](channels)``); :func:`fit_position` puts a
new layer or block before a finished network's head, so a conv added to a classifier is valid
at once instead of "needs a fix" after the linear layer. Plain Python, no streamlit.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playground.design.editor import new_layer

__all__ = ["BLOCKS", "BLOCK_HELP", "new_block", "HEAD_TYPES", "head_start", "fit_position"]

_DEFAULT_CHANNELS = 16  # a block's width when the channel count coming in is unknown


HEAD_TYPES = frozenset({"global_avgpool", "flatten"})
"""Layer types that start a classifier head: spatial layers belong before them."""

_HEAD_PART = frozenset({"global_avgpool", "flatten", "linear", "dropout"})  # go at the end, not before the head


def head_start(layers: list[dict[str, Any]]) -> int:
    """Index of the first layer of the head (global pooling or flatten), or ``len(layers)``."""
    return next((i for i, layer in enumerate(layers) if layer.get("type") in HEAD_TYPES), len(layers))


def fit_position(layers: list[dict[str, Any]], first_type: str) -> int:
    """Where a new layer (or block starting with ``first_type``) fits: head parts at the end,
    everything else just before the head, so a conv added to a finished network is valid at once."""
    return len(layers) if first_type in _HEAD_PART else head_start(layers)


def _conv_bn_relu(c: int, stride: int = 1) -> list[dict[str, Any]]:
    # No bias: the BatchNorm right after has its own shift (torchvision's ResNet/MobileNet do the same).
    return [{"type": "conv2d", "out_channels": c, "kernel_size": 3, "stride": stride, "padding": 1, "bias": False},
            {"type": "batchnorm2d"}, {"type": "relu"}]


BLOCKS: dict[str, Callable[[int], list[dict[str, Any]]]] = {
    "conv·BN·ReLU": lambda c: _conv_bn_relu(c),
    "conv·BN·ReLU·pool": lambda c: [*_conv_bn_relu(c), {"type": "maxpool2d", "kernel_size": 2}],
    "dwsep": lambda c: [new_layer("dwsep", c)],
    "dwsep /2": lambda c: [{"type": "dwsep", "out_channels": 2 * c, "kernel_size": 3, "stride": 2}],
    "residual": lambda c: [new_layer("residual", c)],
    "residual /2": lambda c: [{"type": "residual", "out_channels": 2 * c, "stride": 2}],
    "head": lambda c: [{"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}],
}
"""Common building blocks by name: ``BLOCKS[name](channels)`` is the list of layers. The "/2"
blocks halve the map and double the width, the usual stage transition (MobileNet, ResNet)."""

BLOCK_HELP: dict[str, str] = {
    "conv·BN·ReLU": "3×3 conv (no bias) → BatchNorm → ReLU, same width",
    "conv·BN·ReLU·pool": "3×3 conv → BatchNorm → ReLU → 2×2 max-pool (a VGG-style stage end)",
    "dwsep": "MobileNet's depthwise-separable block, same width",
    "dwsep /2": "dwsep with stride 2 and twice the channels (MobileNet's downsampling step)",
    "residual": "ResNet's BasicBlock, same width",
    "residual /2": "BasicBlock with stride 2 and twice the channels (a new ResNet stage)",
    "head": "global average pooling → flatten → linear 10 (at the end)",
}
"""One line per block: what it holds."""


def new_block(name: str, channels: int | None = None) -> list[dict[str, Any]]:
    """The layers of block ``name`` for ``channels`` coming in (None: unknown, 16 wide)."""
    if name not in BLOCKS:
        raise KeyError(f"unknown block {name!r}; choose one of {', '.join(BLOCKS)}")
    return BLOCKS[name](channels if channels and channels > 0 else _DEFAULT_CHANNELS)
