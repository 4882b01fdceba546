"""Predict's feature maps you can click: pick a unit of a map, see the pixels of the photo it sees.

Left, one channel of the layer's output; each cell is a unit, clickable through
:mod:`playground.ui.cell_click`. Right, the crop the model sees, with that unit's theoretical field
(from the architecture walk, :mod:`playground.models.unit_fields`) clipped to the image and, on
request, its effective field: ``|∂ unit / ∂ input|`` on this photo, from one backward pass. Every
picture is computed once per (model, photo, layer, unit) in the inference cache all sessions share.
"""
from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

import streamlit as st
import torch
from PIL import Image

from playground.design.erf import DEFAULT_MASS
from playground.errors import PlaygroundError
from playground.models.erf_trained import effective_side
from playground.models.inference import _VIRIDIS, _colormap, _unit
from playground.models.registry import LoadedModel
from playground.models.serving import ImageView, encode_image, image_digest, serving
from playground.models.unit_fields import LayerField, draw_unit, layer_field, layer_output, model_input, unit_gradient
from playground.ui.cell_click import MAX_CLICK_CELLS, add_cell_markers, apply_click
from playground.ui.predict.layer_names import readable_layer
from playground.ui.text import md_text
from playground.ui.widget_state import widget_key

__all__ = ["render_feature_field", "field_caption", "map_chart_key", "unit_slider_key", "FIELD_CHANNEL",
           "FIELD_ERF", "MAP_SIDE"]

FIELD_CHANNEL, FIELD_ERF = "ff_channel", "ff_erf"  # parts of widget keys (playground.ui.widget_state.widget_key)
MAP_SIDE = 336  # display pixels of the clickable map's longer side (about; whole pixels per unit)
_APPLIED = "ff_click_applied"  # the last click already copied into the sliders (not a widget)


def map_chart_key(key: str, layer: str, out_hw: tuple[int, int]) -> str:
    """Widget key of the clickable map of a layer (its size in it: a click never lands on another map)."""
    return widget_key(key, f"ff_click.{layer}.{out_hw[0]}.{out_hw[1]}")


def unit_slider_key(key: str, axis: str, layer: str, size: int) -> str:
    """Widget key of the row (``axis`` "r") or column ("c") slider of a layer's map of ``size`` units
    along that axis: a new layer starts from its centre unit instead of a position it may lack."""
    return widget_key(key, f"ff_{axis}.{layer}.{size}")


def _output(loaded: LoadedModel, x: torch.Tensor, layer: str) -> torch.Tensor:
    with torch.inference_mode():
        return layer_output(loaded.model, x, layer)


def _channel_picture(loaded: LoadedModel, img: Image.Image, layer: str, channel: int) -> tuple[str, int]:
    """One channel of the layer's output as a PNG data URI (viridis, whole pixels per unit) and its scale."""
    def compute() -> tuple[str, int]:
        x = model_input(loaded.preprocess, img, loaded.device)  # (1, 3, crop, crop)
        out = serving().compute(_output, loaded, x, layer)  # (1, C, h, w)
        if not 0 <= channel < out.shape[1]:
            raise PlaygroundError(f"channel {channel} is outside 0..{out.shape[1] - 1} of {layer}")
        fmap = out[0, channel].float().cpu().numpy()  # (h, w)
        h, w = fmap.shape
        scale = max(1, round(MAP_SIDE / max(h, w)))
        pic = Image.fromarray(_colormap(_unit(fmap), _VIRIDIS)).resize((w * scale, h * scale), Image.Resampling.NEAREST)
        return "data:image/png;base64," + base64.b64encode(encode_image(pic).data).decode("ascii"), scale

    key = ("ff_map", serving().model_token(loaded), image_digest(img), layer, channel)
    return serving().cache.get_or_compute(key, compute)


def _field_picture(loaded: LoadedModel, img: Image.Image, lf: LayerField, unit: tuple[int, int],
                   channel: int | None) -> tuple[ImageView, tuple[int, int] | None]:
    """The crop with the unit's field drawn; with ``channel`` also its gradient heat and 95%-mass square
    (returned as (rows, columns)), else None."""
    def compute() -> tuple[ImageView, tuple[int, int] | None]:
        box = lf.unit(*unit)
        crop = loaded.preprocess.crop_image(img)
        if channel is None:
            return encode_image(draw_unit(crop, box)), None
        x = model_input(loaded.preprocess, img, loaded.device)
        grad = serving().compute(unit_gradient, loaded.model, x, lf.layer, unit, channel)  # (crop, crop), sums to 1
        side = effective_side(grad, box, lf.receptive_field, DEFAULT_MASS)
        return encode_image(draw_unit(crop, box, heat=grad, mass_hw=side)), side

    key = ("ff_field", serving().model_token(loaded), image_digest(img), lf.layer, unit, channel)
    return serving().cache.get_or_compute(key, compute)


@lru_cache(maxsize=64)
def _map_figure(uri: str, out_hw: tuple[int, int], scale: int, unit: tuple[int, int]) -> Any:
    # Built once per picture and unit: a figure of a few thousand markers costs milliseconds to build,
    # and st.plotly_chart only serialises it (nothing mutates it).
    import plotly.graph_objects as go

    h, w = out_hw
    fig = go.Figure(go.Image(source=uri, hoverinfo="skip"))
    add_cell_markers(fig, out_hw, y_of_row=lambda rows: (rows + 0.5) * scale,
                     x_of_col=lambda cols: (cols + 0.5) * scale, size=scale)
    row, col = unit
    fig.add_shape(type="rect", x0=col * scale, y0=row * scale, x1=(col + 1) * scale, y1=(row + 1) * scale,
                  line=dict(color="#ff4020", width=3))  # the chosen unit
    fig.update_xaxes(visible=False, range=[0, w * scale])
    fig.update_yaxes(visible=False, range=[h * scale, 0], scaleanchor="x")
    fig.update_layout(height=h * scale + 10, width=w * scale + 10, margin=dict(t=5, b=5, l=5, r=5),
                      dragmode=False, clickmode="event+select")
    return fig


def field_caption(lf: LayerField, unit: tuple[int, int], channel: int, side: tuple[int, int] | None,
                  name: str | None = None) -> str:
    """Words for the two pictures: which pixels the unit sees, how much is padding, the effective field.
    ``name``: the layer's readable name (:mod:`playground.ui.predict.layer_names`), put before its path."""
    f = lf.unit(*unit)
    (h, w), (ch, cw) = f.size, lf.input_hw
    where = f"the {name} (module `{lf.layer}`)" if name else f"`{lf.layer}`"
    text = (f"Unit ({unit[0]}, {unit[1]}) of {where}, channel {channel}, sees input rows "
            f"{f.top}…{f.bottom} and columns {f.left}…{f.right} of the {ch}×{cw} crop the model sees: a {h}×{w} "
            f"field (red) centred at ({f.centre[0]:g}, {f.centre[1]:g}); its neighbours are "
            f"{lf.jump[0]} px apart.")
    if f.inside_fraction < 1:
        text += (f" Only {f.inside_fraction:.0%} of it lies on the image (the red square is clipped to it): the "
                 "rest is the zero padding around the crop.")
    if side is None:
        text += " Turn on the effective field to see which of those pixels the unit actually uses."
    elif min(side) == 0:
        text += " On this photo the unit's gradient is zero: every path to it is switched off (ReLU)."
    else:
        text += (f" Colour: |∂ unit / ∂ input| on this photo; {DEFAULT_MASS:.0%} of it lies within the blue "
                 f"{side[0]}×{side[1]} square around the centre, the unit's effective field.")
    return text


def render_feature_field(loaded: LoadedModel, img: Image.Image, layer: str, channels: list[int], key: str) -> None:
    """The clickable map of one of ``channels`` (strongest first) of ``layer``, and the chosen unit's field."""
    try:
        lf = layer_field(loaded.entry, layer)
    except PlaygroundError as exc:
        st.caption(md_text(exc))
        return
    st.markdown("**Click a unit of a map to see which pixels of the photo it sees**")
    c1, c2 = st.columns([2, 3])
    names = {c: f"channel {c}" + (" (the strongest)" if i == 0 else "") for i, c in enumerate(channels)}
    channel_key = widget_key(key, f"{FIELD_CHANNEL}.{layer}")
    if st.session_state.get(channel_key) not in names:
        st.session_state.pop(channel_key, None)
    channel = c1.selectbox("Map", list(names), format_func=names.__getitem__, key=channel_key)
    erf = c2.toggle("Effective field (the unit's gradient on this photo)", key=widget_key(key, FIELD_ERF),
                    help="One backward pass through the model: which input pixels change this unit most.")
    out_h, out_w = lf.output_hw
    chart_key = map_chart_key(key, layer, lf.output_hw)
    row_key, col_key = (unit_slider_key(key, a, layer, n) for a, n in (("r", out_h), ("c", out_w)))
    apply_click(chart_key, lf.output_hw, row_key, col_key, widget_key(key, _APPLIED))
    s1, s2 = st.columns(2)
    row = s1.slider("Unit row", 0, out_h - 1, out_h // 2, key=row_key) if out_h > 1 else 0
    col = s2.slider("Unit column", 0, out_w - 1, out_w // 2, key=col_key) if out_w > 1 else 0
    uri, scale = _channel_picture(loaded, img, layer, int(channel))
    picture, side = _field_picture(loaded, img, lf, (row, col), int(channel) if erf else None)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(_map_figure(uri, lf.output_hw, scale, (row, col)), key=chart_key, on_select="rerun",
                        selection_mode="points", width="content", config={"displayModeBar": False})
        if out_h * out_w > MAX_CLICK_CELLS:
            st.caption(f"{out_h}×{out_w} units are too many to click: pick one with the sliders.")
    with right:
        right.image(picture.data, width=min(picture.size[0], 448), output_format="PNG")
    st.caption(field_caption(lf, (row, col), int(channel), side,
                             name=readable_layer(layer, loaded.entry.feature_layers)))
