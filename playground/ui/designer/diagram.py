"""The network diagram beside the layer list: the classic CNN figure, redrawn on every edit.

Each layer is a block sized by its output (height: the map's side; width: its channels; a thin bar
once flattened, as tall as its features), coloured by type, with its index and shape below; the
the layer chosen in the list is outlined. Layers past a broken one are grey dashed outlines.

:func:`diagram_svg` is a pure function of the analysis (tested without streamlit). The SVG holds no
user text at all: only layer types from the spec's fixed set (validated layers), whole numbers
and fixed words, and it is shown with ``st.image``, which draws it as a picture, never as page markup.
With ``show_shapes=False`` (a teacher's ``hide=shapes`` link) every block has the same size and
no shape is written, so the picture gives nothing away.
"""
from __future__ import annotations

import html
import math
from collections.abc import Collection

from playground._format import format_dims
from playground.design.view import DesignView

__all__ = ["diagram_svg", "render_diagram", "TYPE_COLOURS", "PER_ROW"]

PER_ROW = 12             # blocks per row before the figure wraps
_SLOT = 58               # horizontal pixels per block
_MAX_H, _MIN_H = 84, 10  # block heights for the largest / smallest map side
_MAX_W, _MIN_W = 40, 6   # block widths for the most / fewest channels
_FLAT_W = 5              # a flattened (1-D) layer is a thin bar
_LABELS = 30             # room under a row for the index and shape lines
_PAD = 8
_LEGEND_PER_ROW, _LEGEND_SLOT, _LEGEND_H = 6, 110, 16  # the colour key under the blocks

TYPE_COLOURS: dict[str, str] = {
    "input": "#9aa5b1",
    "conv2d": "#1f6feb", "dwsep": "#0f9d8a", "residual": "#8250df", "bottleneck": "#a371f7",
    "maxpool2d": "#e36209", "avgpool2d": "#f0883e", "global_avgpool": "#d4a72c",
    "batchnorm2d": "#b1bac4", "flatten": "#bf8700", "dropout": "#d0d7de", "linear": "#cf222e",
    # graph designs: a branch and the named blocks that stand for one
    "branch": "#6e40c9", "inverted_residual": "#1a7f37", "mbconv": "#116329", "fused_mbconv": "#4ac26b",
    "se": "#bf3989", "inception": "#0550ae", "convnext_block": "#953800", "dense_layer": "#8a4600",
    "layernorm2d": "#8c959f", "groupnorm": "#6e7781", "conv_transpose2d": "#218bff", "upsample": "#fb8f44",
    "adaptive_avgpool2d": "#bf8700", "channel_shuffle": "#a475f9", "layer_scale": "#57606a", "drop_path": "#d8dee4",
}
_ACTIVATION = "#2da44e"  # relu, gelu, tanh, ...: every activation shares one colour


def _colour(layer_type: str) -> str:
    return TYPE_COLOURS.get(layer_type, _ACTIVATION)


def _scale(value: int, largest: int, lo: int, hi: int) -> float:
    """``value`` on a log scale between ``lo`` (1) and ``hi`` (``largest``) pixels."""
    if largest <= 1:
        return float(hi)
    return lo + (hi - lo) * math.log2(max(1, value)) / math.log2(largest)


def diagram_svg(view: DesignView, *, selected: Collection[int] = (), show_shapes: bool = True) -> str:
    """The SVG of the design: the input, then one block per layer (see the module doc).

    ``selected``: indices of the layers to outline (the chosen one). Layers after the valid
    prefix are drawn as grey dashed blocks without a shape.
    """
    shapes = list(view.parsed.shapes) if view.parsed is not None else []
    types = ["input", *(layer.type for layer in view.parsed.layers)] if view.parsed is not None else []
    n_total = len(view.spec.get("layers", [])) + 1 if isinstance(view.spec.get("layers"), list) else len(types)
    n_total = max(n_total, 1)
    spatial = [s for s in shapes if len(s) == 3]
    max_side = max((max(s[1], s[2]) for s in spatial), default=1)
    max_ch = max((s[0] for s in spatial), default=1)
    max_feat = max((s[0] for s in shapes if len(s) == 1), default=1)

    rows = math.ceil(n_total / PER_ROW)
    row_h = _MAX_H + _LABELS + _PAD
    legend = list(dict.fromkeys(types[1:]))  # the types present, in order of appearance
    legend_rows = math.ceil(len(legend) / _LEGEND_PER_ROW)
    width = max(min(n_total, PER_ROW) * _SLOT, _LEGEND_PER_ROW * _LEGEND_SLOT) + 2 * _PAD
    height = rows * row_h + legend_rows * _LEGEND_H + _PAD
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">',
             f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    for slot in range(n_total):
        row, col = divmod(slot, PER_ROW)
        cx = _PAD + col * _SLOT + _SLOT / 2
        base = _PAD + row * row_h + _MAX_H  # blocks stand on a common line
        index = slot - 1  # slot 0 is the input
        known = slot < len(shapes)
        if known and show_shapes:
            shape = shapes[slot]
            if len(shape) == 3:
                w = _scale(shape[0], max_ch, _MIN_W, _MAX_W)
                h = _scale(max(shape[1], shape[2]), max_side, _MIN_H, _MAX_H)
            else:
                w, h = _FLAT_W, _scale(shape[0], max_feat, _MIN_H, _MAX_H)
        else:
            w, h = 16.0, 0.6 * _MAX_H
        x, y = cx - w / 2, base - h
        if known:
            outline = 'stroke="#000000" stroke-width="3"' if index in selected else 'stroke="#57606a" stroke-width="1"'
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="2" '
                         f'fill="{_colour(types[slot])}" {outline}><title>{html.escape(types[slot])}</title></rect>')
        else:
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="2" fill="none" '
                         f'stroke="#8c959f" stroke-dasharray="3,2"/>')
        label = "in" if slot == 0 else str(index)
        weight = ' font-weight="bold"' if index in selected else ""
        parts.append(f'<text x="{cx:.1f}" y="{base + 12:.1f}" text-anchor="middle" fill="#24292f"{weight}>'
                     f'{label}</text>')
        if known and show_shapes:
            text = format_dims(shapes[slot])
            size = 9 if len(text) <= 10 else 7
            parts.append(f'<text x="{cx:.1f}" y="{base + 24:.1f}" text-anchor="middle" font-size="{size}" '
                         f'fill="#57606a">{html.escape(text)}</text>')
    top = rows * row_h + _PAD
    for k, layer_type in enumerate(legend):
        row, col = divmod(k, _LEGEND_PER_ROW)
        x, y = _PAD + col * _LEGEND_SLOT, top + row * _LEGEND_H
        parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{_colour(layer_type)}"/>'
                     f'<text x="{x + 14}" y="{y + 9}" fill="#24292f">{html.escape(layer_type)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_diagram(view: DesignView, *, selected: Collection[int] = (), show_shapes: bool = True) -> None:
    """Draw the diagram (and a one-line key to its colours) with ``st.image``."""
    import streamlit as st

    if view.parsed is None:
        return
    st.image(diagram_svg(view, selected=selected, show_shapes=show_shapes), width="stretch")
    what = ("block height: the map's side, width: its channels (log scales)" if show_shapes
            else "sizes and shapes hidden on this link")
    st.caption(f"The network, input on the left ({what}); outlined: the layer chosen in the list.")
