"""Receptive field on a real photo: pick a layer and one of its output units, see what it sees."""
from __future__ import annotations

from typing import Any

import streamlit as st

from playground._format import format_dims
from playground.design.rfview import RFView, draw_receptive_field
from playground.design.view import DesignView
from playground.samples import SAMPLE_PHOTOS, load_sample
from playground.ui.cell_click import MAX_CLICK_CELLS, add_cell_markers, apply_click
from playground.ui.designer.erf import render_erf

__all__ = ["render_receptive_field", "caption", "unit_key", "click_key", "photo_figure", "ROW", "COLUMN",
           "MAX_CLICK_CELLS"]

ROW, COLUMN = "r", "c"  # the two sliders that pick an output unit (see unit_key)
_APPLIED = "dz.rf.click.applied"  # the last click already copied into the sliders


def click_key(layer_index: int, out_hw: tuple[int, int]) -> str:
    """Widget key of the clickable photo of a layer (its size in the key: a click never lands on another map)."""
    return f"dz.rf.click.{layer_index}.{out_hw[0]}.{out_hw[1]}"


def photo_figure(drawing: RFView, input_hw: tuple[int, int], jump: tuple[float, float],
                 start: tuple[float, float], out_hw: tuple[int, int], title: str) -> Any:
    """The drawing as a plotly image with one near-transparent marker on each output unit's centre
    (:func:`playground.ui.cell_click.add_cell_markers`: a click on an image trace reports nothing)."""
    import numpy as np
    import plotly.graph_objects as go

    width, height = drawing.image.size
    scale = drawing.scale
    margin_y = (height / scale - input_hw[0]) / 2  # the grey padding margin, in input pixels
    margin_x = (width / scale - input_hw[1]) / 2
    fig = go.Figure(go.Image(z=np.asarray(drawing.image), hoverinfo="skip"))
    add_cell_markers(fig, out_hw,
                     y_of_row=lambda rows: (start[0] + rows * jump[0] + margin_y + 0.5) * scale,  # pixel i at i + 0.5
                     x_of_col=lambda cols: (start[1] + cols * jump[1] + margin_x + 0.5) * scale,
                     size=min(jump) * scale)
    fig.update_xaxes(visible=False, range=[0, width])
    fig.update_yaxes(visible=False, range=[height, 0], scaleanchor="x")
    fig.update_layout(title=title, height=min(620, height + 60), margin=dict(t=40, b=0, l=0, r=0),
                      dragmode=False, clickmode="event+select")
    return fig


def _apply_click(key: str, layer_index: int, out_hw: tuple[int, int]) -> None:
    """Copy a new click on the photo into the unit sliders (before they are drawn)."""
    apply_click(key, out_hw, unit_key(ROW, layer_index, out_hw[0]), unit_key(COLUMN, layer_index, out_hw[1]),
                _APPLIED)


def unit_key(axis: str, layer_index: int, size: int) -> str:
    """Widget key of the ROW or COLUMN slider for a layer whose output is ``size`` units along that axis.

    The key carries the layer and its size, so changing either starts from the centre unit
    instead of keeping a position that may no longer exist.
    """
    return f"dz.rf.{axis}.{layer_index}.{size}"


def caption(view: RFView, layer_index: int, jump: tuple[int, int], start: tuple[float, float]) -> str:
    """Words for the picture: which pixels the unit sees and how much of it is padding."""
    f = view.field
    h, w = f.size
    text = (f"Unit ({f.unit[0]}, {f.unit[1]}) of layer {layer_index} sees input rows {f.top}…{f.bottom} and "
            f"columns {f.left}…{f.right}: a {h}×{w} field centred at ({f.centre[0]:g}, {f.centre[1]:g}).")
    outside = {side: n for side, n in f.overhang.items() if n}
    if outside:
        sides = " and ".join(f"{n} px past the {side} edge" for side, n in outside.items())
        text += (f" Only {f.inside_fraction:.0%} of it lies on the image; it reaches {sides}, into the zero "
                 f"padding (grey).")
    jy, jx = jump
    step = "" if view.grid_step == 1 else f" (every {view.grid_step}th drawn)"
    text += (f" Blue dots: the centres of all the layer's units{step}, {jy if jy == jx else f'{jy}×{jx}'} px apart "
             f"(the jump); the first sits at ({start[0]:g}, {start[1]:g}) (the start).")
    return text


def render_receptive_field(view: DesignView) -> None:
    r = view.report
    layers = [x for x in r.layers if x.receptive_field is not None and len(x.output_shape) == 3] if r else []
    if not layers or r is None or r.input_shape is None:
        st.info("No layer with a spatial output yet: add a conv or pooling layer.")
        return
    labels = {x.index: f"{x.index}: {x.description} → {format_dims(x.output_shape)}" for x in layers}
    top = st.columns([3, 2])
    # Default: the last layer before global pooling, whose field the "does it see the whole input" question is about.
    pooled = [i for i, x in enumerate(layers) if x.type != "global_avgpool"]
    choice = top[0].selectbox("Layer", list(labels), index=pooled[-1] if pooled else len(layers) - 1,
                              format_func=labels.__getitem__, key="dz.rf.layer")
    photo_name = top[1].selectbox("Photo", list(SAMPLE_PHOTOS), key="dz.rf.photo")
    x = next(layer for layer in layers if layer.index == choice)
    _, out_h, out_w = x.output_shape
    photo_key = click_key(choice, (out_h, out_w))
    _apply_click(photo_key, choice, (out_h, out_w))
    cols = st.columns(2)
    row = cols[0].slider("Output row", 0, out_h - 1, out_h // 2, key=unit_key(ROW, choice, out_h)) if out_h > 1 else 0
    col = (cols[1].slider("Output column", 0, out_w - 1, out_w // 2, key=unit_key(COLUMN, choice, out_w))
           if out_w > 1 else 0)
    assert x.receptive_field is not None and x.jump is not None and x.start is not None  # a spatial layer
    drawing = draw_receptive_field(load_sample(photo_name), input_shape=r.input_shape,
                                   receptive_field=x.receptive_field, jump=x.jump, start=x.start,
                                   output_hw=(out_h, out_w), unit=(row, col))
    title = f"The photo as the {r.input_shape[1]}×{r.input_shape[2]} input sees it: click a unit to inspect it"
    figure = photo_figure(drawing, (r.input_shape[1], r.input_shape[2]), x.jump, x.start, (out_h, out_w), title)
    st.plotly_chart(figure, key=photo_key, on_select="rerun", selection_mode="points", width="content",
                    config={"displayModeBar": False})
    st.caption(caption(drawing, x.index, x.jump, x.start))
    if view.parsed is not None:
        render_erf(view.parsed.to_dict(), x.index)
