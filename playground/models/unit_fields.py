"""Where a unit of a catalogue model's layer looks: its theoretical field and its input gradient.

The theoretical field of every feature layer comes from the architecture walk of
:mod:`playground.arch` (torch.fx graph, Distill recurrences, the largest field over all paths
where branches meet), run once per architecture on the meta device (no weights, no memory).
EfficientNet-Lite's convolutions compute TensorFlow's "same" padding from each input's size in
Python, which torch.fx cannot trace; they are traced as leaf modules instead, their ``padding``
set to the top/left padding they really apply to the model's input size (all the Distill step
reads: ``start`` depends on the left padding only).

:func:`unit_gradient` is the unit's *effective* field on one photo: ``|∂ unit / ∂ input|`` summed
over the RGB channels, from one backward pass. It touches no parameter's ``.grad`` (the gradient is
taken with respect to the input only), so it is safe on the model every session shares.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from playground.design.rfview import UnitField, unit_field
from playground.models.inference import LayerError
from playground.models.registry import MODELS, ModelEntry

__all__ = ["LayerField", "layer_fields", "layer_field", "layer_output", "unit_gradient", "unit_of", "model_input",
           "draw_unit"]


@dataclass(frozen=True)
class LayerField:
    """The receptive-field geometry of one feature layer (Araujo et al., Distill 2019).

    Unit (row, column) is centred at input pixel ``start + (row, column) · jump`` and sees the
    ``receptive_field`` pixels around it; ``output_hw`` is the layer's map and ``input_hw`` the
    model's input (the preprocessed crop).
    """

    layer: str
    receptive_field: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[float, float]
    output_hw: tuple[int, int]
    input_hw: tuple[int, int]

    def unit(self, row: int, col: int) -> UnitField:
        """The pixels unit (row, col) sees: the whole field and the part inside the image."""
        if not (0 <= row < self.output_hw[0] and 0 <= col < self.output_hw[1]):
            h, w = self.output_hw
            raise LayerError(f"unit ({row}, {col}) is outside the {h}×{w} map of {self.layer}")
        return unit_field(self.receptive_field, self.jump, self.start, (row, col), self.input_hw)

    @property
    def centre_unit(self) -> tuple[int, int]:
        """The unit in the middle of the map (the one Luo et al. measure)."""
        return self.output_hw[0] // 2, self.output_hw[1] // 2


def _same_conv_type() -> type:
    from playground.models.efficientnet_lite import Conv2dSame

    return Conv2dSame


def _fix_same_padding(model: nn.Module, input_hw: tuple[int, int]) -> None:
    """Give each TF-"same" conv the (top, left) padding it applies to this input size (one meta pass)."""
    from playground.models.efficientnet_lite import _same_pads

    same = _same_conv_type()

    def record(module: Any, args: tuple[torch.Tensor, ...]) -> None:
        h, w = args[0].shape[-2:]
        top, _ = _same_pads(int(h), module.kernel_size[0], module.stride[0], module.dilation[0])
        left, _ = _same_pads(int(w), module.kernel_size[1], module.stride[1], module.dilation[1])
        module.padding = (top, left)  # read by the walk only: this copy's forward computes its own

    handles = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, same)]
    try:
        with torch.no_grad():
            model(torch.empty(1, 3, *input_hw, device="meta"))
    finally:
        for h in handles:
            h.remove()


@lru_cache(maxsize=16)
def _fields(name: str) -> dict[str, LayerField]:
    from playground.arch.graph import propagate_shapes, walk_graph
    from playground.arch.tracing import trace

    entry = MODELS[name]
    side = entry.preprocess.crop
    with torch.device("meta"):
        model = entry.builder().eval()
    same = _same_conv_type()
    _fix_same_padding(model, (side, side))

    gm = trace(model, leaf=lambda m, _name: isinstance(m, same))
    propagate_shapes(gm, torch.empty(1, 3, side, side, device="meta"))
    nodes, _ = walk_graph(gm)
    out: dict[str, LayerField] = {}
    for layer in entry.feature_layers:
        # A block's output is the last node inside its module scope (its add, activation or norm)
        inside = [n for n in nodes if n.name == layer or n.name.startswith(layer + ".")]
        last = inside[-1] if inside else None
        if last is None or last.receptive_field is None or last.jump is None or last.start is None:
            continue
        rf, jump, start = last.receptive_field, last.jump, last.start
        out[layer] = LayerField(layer, (int(rf[0]), int(rf[1])), (int(jump[0]), int(jump[1])),
                                (float(start[0]), float(start[1])),
                                (int(last.output_shape[-2]), int(last.output_shape[-1])), (side, side))
    return out


def layer_fields(entry: ModelEntry) -> dict[str, LayerField]:
    """The field geometry of every feature layer of ``entry``'s architecture (measured once per process).

    A fine-tuned model has its base entry: only the head differs, and the head has no spatial field.
    """
    if entry.name not in MODELS:
        raise LayerError(f"{entry.name}: receptive fields are measured for the catalogue architectures only")
    return dict(_fields(entry.name))


def layer_field(entry: ModelEntry, layer: str) -> LayerField:
    """The field geometry of one feature layer; LayerError names the layers there are."""
    fields = layer_fields(entry)
    if layer not in fields:
        raise LayerError(f"layer {layer!r} has no measured receptive field; choose one of {', '.join(fields)}")
    return fields[layer]


def unit_of(output: torch.Tensor, unit: tuple[int, int], channel: int | None) -> torch.Tensor:
    """The scalar whose gradient is the unit's field: one channel at ``unit``, or all channels summed
    (Luo et al.: the gradient set to 1 at the centre unit of every channel)."""
    row, col = unit
    if output.dim() != 4 or not (0 <= row < output.shape[2] and 0 <= col < output.shape[3]):
        raise LayerError(f"unit ({row}, {col}) is outside the layer's {tuple(output.shape[1:])} output")
    if channel is None:
        return output[0, :, row, col].sum()
    if not 0 <= channel < output.shape[1]:
        raise LayerError(f"channel {channel} is outside 0..{output.shape[1] - 1}")
    return output[0, channel, row, col]


class _Reached(Exception):
    """Raised by the hook once the layer has produced its output: the rest of the network is not needed."""


def layer_output(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """``layer``'s output for ``x``, running the model only up to that layer (the hook stops it there).

    The hook acts only in this thread: the model is shared, other sessions may be running it.
    """
    try:
        module = model.get_submodule(layer)
    except AttributeError:
        raise LayerError(f"layer {layer!r} does not exist in this model") from None
    owner = threading.get_ident()
    store: dict[str, Any] = {}

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        if threading.get_ident() == owner:
            store["output"] = output
            raise _Reached

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Reached:
        pass
    finally:
        handle.remove()
    out = store.get("output")
    if not isinstance(out, torch.Tensor) or out.dim() != 4:
        raise LayerError(f"layer {layer!r} does not produce a (C, H, W) feature map")
    return out


def unit_gradient(model: nn.Module, x: torch.Tensor, layer: str, unit: tuple[int, int],
                  channel: int | None = None) -> np.ndarray:
    """``|∂ unit / ∂ x|`` summed over x's channels, as an (H, W) float64 map summing to 1 (all zeros
    when the unit does not depend on the input here, e.g. every path through it is switched off).

    ``x`` is one preprocessed image ``(1, 3, H, W)``; ``unit`` = (row, column) of ``layer``'s output;
    ``channel`` None sums the unit over all channels. One forward pass up to ``layer``, one backward pass.
    """
    x = x.detach().clone().requires_grad_(True)  # (1, 3, H, W)
    with torch.enable_grad():
        out = layer_output(model, x, layer)  # (1, C, h, w)
        (grad,) = torch.autograd.grad(unit_of(out, unit, channel), x)  # (1, 3, H, W); no parameter .grad
    g = grad[0].abs().sum(0).double().cpu().numpy()  # (H, W)
    total = g.sum()
    return g / total if total > 0 else g


def model_input(preprocess: Any, img: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """The photo as the model's input batch ``(1, 3, crop, crop)``."""
    return preprocess(img).unsqueeze(0).to(device)


_BOX = (255, 64, 32)     # the theoretical field (clipped to the image)
_MASS = (0, 220, 255)    # the square holding most of the gradient
_CENTRE = (255, 255, 0)  # the unit's centre


def draw_unit(crop: Image.Image, box: UnitField, heat: np.ndarray | None = None,
              mass_hw: tuple[int, int] | None = None, scale: int = 2) -> Image.Image:
    """The model's input ``crop`` enlarged ``scale`` times, with unit ``box``'s theoretical field
    (outline, clipped to the image), optionally its gradient ``heat`` (H, W) blended on top, strong
    where the unit's gradient is, and the ``mass_hw`` square (rows, columns) centred on the unit."""
    from PIL import ImageDraw

    from playground.models.inference import _JET, _colormap  # the one colour map of the model pictures

    base = crop.convert("RGB")
    if heat is not None:
        top = float(heat.max())
        unit = np.sqrt(heat / top) if top > 0 else np.zeros_like(heat)  # sqrt: the faint tails stay visible
        colours = _colormap(unit, _JET).astype(np.float32)  # (H, W, 3)
        alpha = (0.15 + 0.7 * unit)[..., None]  # the photo shows through where the gradient is weak
        photo = np.asarray(base, dtype=np.float32) * 0.6  # dimmed, so the heat reads on any photo
        base = Image.fromarray((photo * (1 - alpha) + colours * alpha + 0.5).astype(np.uint8))
    img = base.resize((base.width * scale, base.height * scale), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(img)
    width = max(2, scale)

    def rect(top: float, left: float, bottom: float, right: float, colour: tuple[int, int, int]) -> None:
        # Pixel rows top..bottom inclusive, clipped to the image
        h, w = crop.height, crop.width
        t, lf, b, r = max(top, 0), max(left, 0), min(bottom, h - 1), min(right, w - 1)
        if t <= b and lf <= r:
            draw.rectangle((lf * scale, t * scale, (r + 1) * scale - 1, (b + 1) * scale - 1), outline=colour,
                           width=width)

    if box.clipped is not None:
        rect(*box.clipped, _BOX)
    cy, cx = box.centre
    if mass_hw is not None and min(mass_hw) > 0:
        mh, mw = mass_hw
        rect(round(cy - (mh - 1) / 2), round(cx - (mw - 1) / 2), round(cy + (mh - 1) / 2), round(cx + (mw - 1) / 2),
             _MASS)
    px, py, rad = (cx + 0.5) * scale, (cy + 0.5) * scale, 2 + scale
    draw.ellipse((px - rad, py - rad, px + rad, py + rad), fill=_CENTRE, outline=(0, 0, 0))
    return img
