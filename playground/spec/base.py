"""The base of every typed layer spec: what a layer type declares (keys, windows, checks, label).

:mod:`playground.spec.layers` (the plain layers), :mod:`playground.spec.more_layers` (norms,
upsampling, stochastic depth, ...), :mod:`playground.spec.blocks` (named blocks) and
:mod:`playground.spec.branch` (the ``branch`` layer) all derive from :class:`LayerSpec`, which
lives here so those modules need not import one another. Pure Python (no torch).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from playground.spec.keys import _canon, _Key
from playground.spec.window import Pair, Window

__all__ = ["LayerSpec", "Shape", "FieldPaths"]

Shape = tuple[int, ...]  # (C, H, W), or (F,) after flatten

FieldPaths = tuple[tuple[Window, ...], ...] | None
"""The sliding windows along each path that keeps the map, or None: the field is not tracked past here."""


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """Base of the typed layer specs; field names are the JSON keys."""

    type: ClassVar[str]
    spatial: ClassVar[bool] = False  # needs a (C, H, W) input
    _KEYS: ClassVar[tuple[_Key, ...]] = ()
    _IN_KEY: ClassVar[str | None] = None  # optional key naming the input size (checked, not stored)

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON: every key explicit, square pairs written as one number."""
        out: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = _canon(value) if isinstance(value, tuple) else value
        return out

    def out_channels_for(self, channels: int) -> int:
        """Channels this layer outputs for a feature map of ``channels`` (flatten and linear, which
        change the shape's rank, are worked out by the parser's walk itself)."""
        return channels

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        """The sliding windows on the main path, in order (empty: size-preserving)."""
        return ()

    def resize(self, hw: Pair) -> Pair | None:
        """The output (H, W) of a layer whose size is not set by sliding windows (upsampling), else None."""
        return None

    def field_paths(self, shape: Shape) -> FieldPaths:
        """The windows along every path that keeps the map (a block's main path and its shortcut), for a
        (C, H, W) input: the receptive field takes the widest; None when the field is no longer a grid of
        windows after this layer (upsampling)."""
        return (self.windows((shape[1], shape[2])),)

    def check(self, shape: Shape) -> None:
        """Layer-specific checks against the incoming shape; raises _Invalid."""

    def describe(self) -> str:
        """A short human label, e.g. ``conv2d 32, 3×3 /2``."""
        return self.type
