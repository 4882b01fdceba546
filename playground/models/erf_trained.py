"""The effective receptive field of a pretrained layer on a photo, next to the same layer at init.

Luo et al. (NIPS 2016) measured the effective field of random networks, and noted that training
makes it grow. Here it is measured on a real catalogue model (:mod:`playground.models.registry`)
and one photo: ``|∂ unit / ∂ input|`` of the central unit of a feature layer (all its channels, as
Luo et al.), once with the pretrained weights and once with the same architecture at its builder's
default init (seeded, so reproducible), each with the side of the centred square that holds 95% of
the gradient (:func:`playground.design.erf.mass_side`, the Designer's ERF measure), against the
theoretical field of :mod:`playground.models.unit_fields`. One forward and backward pass each.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from playground.design.erf import DEFAULT_MASS, mass_side
from playground.design.rfview import UnitField
from playground.errors import PlaygroundError
from playground.models.registry import LoadedModel, ModelEntry, load_zoo_model
from playground.models.unit_fields import LayerField, layer_field, model_input, unit_gradient

__all__ = ["ERFMap", "TrainedERF", "trained_vs_init", "init_model", "effective_side"]


@dataclass(frozen=True)
class ERFMap:
    """One model's gradient map of the unit: ``grad`` (H, W) sums to 1 (all zeros if the unit is cut off
    from the input); ``effective`` is the (rows, columns) of the centred square holding ``mass`` of it."""

    grad: np.ndarray = field(repr=False)
    effective: tuple[int, int]


@dataclass(frozen=True)
class TrainedERF:
    """The central unit of ``layer``: its field, and its gradient with trained and with initial weights."""

    model: str
    layer: str
    field: LayerField
    box: UnitField
    trained: ERFMap
    init: ERFMap
    seed: int
    mass: float

    @property
    def unit(self) -> tuple[int, int]:
        """(row, column) of the measured unit in the layer's map."""
        return self.box.unit[0], self.box.unit[1]

    @property
    def theoretical(self) -> tuple[int, int]:
        """The theoretical receptive field (rows, columns), before clipping to the image."""
        return self.field.receptive_field

    def to_dict(self) -> dict[str, Any]:
        """JSON: ``{"model", "layer", "unit", "theoretical", "trained", "init", "seed", "mass"}`` (no maps)."""
        return {"model": self.model, "layer": self.layer, "unit": list(self.unit),
                "theoretical": list(self.theoretical), "trained": list(self.trained.effective),
                "init": list(self.init.effective), "seed": self.seed, "mass": self.mass}

    def __str__(self) -> str:
        (th, tw), (ah, aw), (ih, iw) = self.theoretical, self.trained.effective, self.init.effective
        return (f"{self.model} {self.layer}, unit {self.unit}: theoretical field {th}×{tw} px; {self.mass:.0%} of the "
                f"gradient within {ah}×{aw} px trained, {ih}×{iw} px at init (seed {self.seed})")


def init_model(entry: ModelEntry, seed: int = 0) -> nn.Module:
    """``entry``'s architecture with its builder's default init, seeded (the caller's random state is kept)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return entry.builder().eval()


def effective_side(grad: np.ndarray, box: UnitField, theoretical: tuple[int, int],
                   mass: float = DEFAULT_MASS) -> tuple[int, int]:
    """The (rows, columns) of the square centred on the unit holding ``mass`` of ``grad`` (0×0 when it is all zero)."""
    if not grad.sum() > 0:
        return 0, 0
    return mass_side(grad.tolist(), box.centre, (float(theoretical[0]), float(theoretical[1])), mass)


def trained_vs_init(model: LoadedModel | str, img: Image.Image, layer: str, *, seed: int = 0,
                    mass: float = DEFAULT_MASS) -> TrainedERF:
    """The effective field of ``layer``'s central unit on ``img``: pretrained weights vs a seeded init.

    ``model`` is a loaded model or a zoo name (loaded here; :class:`ModelUnavailable` when its
    weights are missing). Raises :class:`~playground.models.inference.LayerError` for a layer without
    a spatial field, :class:`PlaygroundError` for a bad ``mass``. Deterministic for a seed.
    """
    if not 0.0 < mass < 1.0:
        raise PlaygroundError(f"mass must be between 0 and 1, such as 0.95 (got {mass})")
    loaded = load_zoo_model(model) if isinstance(model, str) else model
    entry = loaded.entry
    lf = layer_field(entry, layer)
    unit = lf.centre_unit
    box = lf.unit(*unit)
    x = model_input(loaded.preprocess, img, loaded.device)  # (1, 3, crop, crop)
    maps = []
    for net, inp in ((loaded.model, x), (init_model(entry, seed), x.cpu())):
        grad = unit_gradient(net, inp, layer, unit)  # (crop, crop)
        maps.append(ERFMap(grad, effective_side(grad, box, lf.receptive_field, mass)))
    return TrainedERF(loaded.name, layer, lf, box, maps[0], maps[1], seed, mass)
