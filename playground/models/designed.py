"""A Designer design as a trainable, loadable classifier: :class:`DesignClassifier` and its :class:`ModelEntry`.

A design trained from scratch is used everywhere a fine-tuned zoo model is (the Predict page,
``predict --model job:<id>``, the model folder), so it gets the same description a zoo model has:
a :class:`~playground.models.registry.ModelEntry` built from its spec (:func:`design_entry`),
whose builder makes a :class:`DesignClassifier`: the design's own ``Net`` (``build_model``) behind
one fixed step that turns the RGB picture every page and loader produces into the grey one a
1-channel design takes. Its preprocessing (:func:`design_preprocess`) resizes to the design's input
and maps pixels to [-1, 1].
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from playground.design.analysis import analyze
from playground.design.build import build_model
from playground.models.preprocess import Preprocess
from playground.models.registry import ModelEntry
from playground.models.weights import ModelUnavailable

__all__ = ["DESIGN_ARCHITECTURE", "GREY_WEIGHTS", "DesignClassifier", "design_entry", "design_preprocess",
           "map_layers"]

DESIGN_ARCHITECTURE = "design"  # meta.json's "architecture" of a trained design
# RGB -> grey as Pillow's convert("L") weighs the channels (ITU-R 601-2 luma).
GREY_WEIGHTS = (0.299, 0.587, 0.114)
# Pixels in [0, 1] -> [-1, 1]: no dataset statistics to borrow for random weights, and a zero-centred input
# is what the default initialisation assumes.
_MEAN, _STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


class DesignClassifier(nn.Module):
    """The design's network ``net`` taking (B, 3, S, S) normalised RGB; a 1-channel design sees the
    luma of it (the same weighted sum of normalised channels: the weights add up to 1)."""

    grey: torch.Tensor

    def __init__(self, net: nn.Module, in_channels: int) -> None:
        super().__init__()
        self.net = net
        self.in_channels = in_channels
        self.register_buffer("grey", torch.tensor(GREY_WEIGHTS).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 1:
            x = (x * self.grey).sum(1, keepdim=True)  # (B, 1, S, S)
        out: torch.Tensor = self.net(x)
        return out


def design_preprocess(size: int) -> Preprocess:
    """Resize the shorter side to the design's input side, centre-crop it square, map to [-1, 1]."""
    return Preprocess(resize=size, crop=size, mean=_MEAN, std=_STD, interpolation="bilinear")


def map_layers(spec: dict[str, Any]) -> list[str]:
    """Module names (in a DesignClassifier) of the design's layers whose output is a feature map, in order."""
    return [f"net.{row.index}" for row in analyze(spec).layers if len(row.output_shape) == 3]


class _TrainedHere:
    """The weights source of a trained design: its own folder, never a download."""

    licence = "trained from scratch in this playground: yours"

    def status(self) -> tuple[bool, str]:
        return True, "weights trained from scratch in this playground"

    def kind(self) -> str | None:
        return None

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        raise ModelUnavailable("a trained design's weights are in its model folder; load it with load_model(folder)")


def design_entry(spec: dict[str, Any], classes: list[str], title: str | None = None) -> ModelEntry:
    """The ModelEntry of ``spec`` as a classifier of ``classes``: its builder, preprocessing and layers."""
    report = analyze(spec)
    shape = report.input_shape
    assert shape is not None  # analyze (not analyze_prefix) always has one
    c, size = shape[0], shape[1]
    maps = map_layers(spec)
    last = f"net.{len(report.layers) - 1}"
    name = spec.get("name") if isinstance(spec.get("name"), str) else None
    return ModelEntry(
        name=DESIGN_ARCHITECTURE, title=title or name or "your design",
        builder=lambda: DesignClassifier(build_model(spec), c), preprocess=design_preprocess(size),
        categories=list(classes), head=last, last_block=maps[-1] if maps else last,
        cam_layer=maps[-1] if maps else last, weights=_TrainedHere(), feature_layers=tuple(maps))
