"""Receptive field on a real photo: pick a layer and one of its output units, see what it sees."""
from __future__ import annotations

import streamlit as st

from playground._format import format_dims
from playground.design.rfview import RFView, draw_receptive_field
from playground.design.view import DesignView
from playground.samples import SAMPLE_PHOTOS, load_sample

__all__ = ["render_receptive_field", "caption", "unit_key", "ROW", "COLUMN"]

ROW, COLUMN = "r", "c"  # the two sliders that pick an output unit (see unit_key)


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
    cols = st.columns(2)
    row = cols[0].slider("Output row", 0, out_h - 1, out_h // 2, key=unit_key(ROW, choice, out_h)) if out_h > 1 else 0
    col = (cols[1].slider("Output column", 0, out_w - 1, out_w // 2, key=unit_key(COLUMN, choice, out_w))
           if out_w > 1 else 0)
    drawing = draw_receptive_field(load_sample(photo_name), input_shape=r.input_shape,
                                   receptive_field=x.receptive_field, jump=x.jump, start=x.start,
                                   output_hw=(out_h, out_w), unit=(row, col))
    st.image(drawing.image, caption=f"The photo as the {r.input_shape[1]}×{r.input_shape[2]} input sees it")
    st.caption(caption(drawing, x.index, x.jump, x.start))  # type: ignore[arg-type]
