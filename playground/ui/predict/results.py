"""The Predict page's result panels: the top-k prediction, its chart, and the tabs that explain it.

Every result comes from :mod:`playground.models.serving`: computed once per (model, photo,
options) for all sessions, pictures already encoded, so a rerun runs no model and encodes no image.
"""
from __future__ import annotations

from functools import lru_cache

import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from playground._format import format_floats
from playground.errors import PlaygroundError
from playground.models.inference import Prediction, layer_names
from playground.models.registry import LoadedModel
from playground.models.serving import image_digest, serving
from playground.ui.pictures import show_image
from playground.ui.predict import CAM_CLASS, CAM_LAYER, EXPLAIN_TAB, FEATURE_LAYER
from playground.ui.predict.feature_field import render_feature_field
from playground.ui.predict.layer_names import layer_label, readable_layer
from playground.ui.predict.scratch_filters import render_filters
from playground.ui.tabs import lazy_tabs
from playground.ui.text import md_text, plotly_text
from playground.ui.widget_state import widget_key

__all__ = ["prediction", "top_k_chart", "render_explanations", "cam_class_key", "BAR_HEIGHT"]

_SHOWN = "shown"  # which (model, photo) the explanation widgets belong to (not a widget)
_MAX_WIDTH = 720  # pixels: the widest explanation picture


def prediction(loaded: LoadedModel, img: Image.Image, key: str, top_k: int = 5) -> Prediction:
    """The top-k prediction for this model and photo, from the shared cache (batched with other
    sessions' requests when it has to be computed). Remembers which (model, photo) ``key``'s
    explanations are about (:func:`cam_class_key`)."""
    st.session_state[widget_key(key, _SHOWN)] = f"{serving().model_token(loaded)}_{image_digest(img)[:16]}"
    return serving().predict(loaded, img, top_k=top_k)


def cam_class_key(key: str) -> str:
    """The key of the Grad-CAM "Class" box for the model and photo shown now.

    A class choice belongs to the photo it was made for, so each (model, photo) has its own box: a new
    photo (a sample, an upload, a camera shot) gets a new box that starts on its top class. Forgetting
    the old box's value is not enough: the browser keeps a widget's last value and sends it back with
    the next run, so the box would show the previous photo's class while the map explained another.
    """
    return widget_key(key, f"{CAM_CLASS}_{st.session_state.get(widget_key(key, _SHOWN), '')}")


BAR_HEIGHT = 42  # px per bar of the top-k chart


def top_k_chart(pred: Prediction, bar_height: int = BAR_HEIGHT) -> go.Figure:
    """Horizontal bars, most probable on top. The class axis is categorical in rank order whatever
    the labels look like (classes "0".."9" would otherwise become a numeric axis); a fine-tuned
    model's class names (a student's folder names) are shown literally, never as Plotly's HTML."""
    return _chart(tuple(pred.top), bar_height)


@lru_cache(maxsize=256)
def _chart(top: tuple[tuple[str, int, float], ...], bar_height: int) -> go.Figure:
    # Built once per distinct result: building and validating a plotly figure costs milliseconds of
    # server CPU, and st.plotly_chart only serialises a figure object it is given (nothing mutates it).
    labels = [plotly_text(label) for label, _, _ in top]
    probs = [p for _, _, p in top]
    fig = go.Figure(go.Bar(
        x=probs, y=labels, orientation="h", text=[f"{p:.1%}" for p in probs], textposition="auto",
        hovertemplate="%{y}: %{x:.2%}<extra></extra>", marker_color="#1f6feb",
    ))
    fig.update_layout(
        height=70 + bar_height * len(labels), margin=dict(l=10, r=10, t=10, b=30),
        xaxis=dict(range=[0, 1], tickformat=".0%", title="probability"),
        yaxis=dict(type="category", categoryorder="array", categoryarray=labels, autorange="reversed"),
    )
    return fig


@st.fragment
def render_explanations(loaded: LoadedModel, img: Image.Image, pred: Prediction, key: str) -> None:
    """Tabs: Grad-CAM (class and layer pickers), feature maps (layer picker), filters, model input.
    Only the open tab is computed; a click in here reruns only this part of the page."""
    tabs = lazy_tabs(
        [":material/local_fire_department: Grad-CAM", ":material/layers: Feature maps",
         ":material/grid_view: First-layer filters", ":material/crop: What the model sees"],
        key=widget_key(key, EXPLAIN_TAB),
    )
    layers = list(layer_names(loaded))
    try:
        if tabs[0].open:
            with tabs[0]:
                _grad_cam_tab(loaded, img, pred, layers, key)
        if tabs[1].open:
            with tabs[1]:
                _feature_tab(loaded, img, layers, key)
        if tabs[2].open:
            with tabs[2]:  # a design trained from scratch: beside a pretrained model's
                render_filters(loaded, _MAX_WIDTH)
        if tabs[3].open:
            with tabs[3]:
                p = loaded.preprocess
                view = serving().model_input(loaded, img, scale=2)
                show_image(view, caption=f"{p.crop}x{p.crop} input", width=view.size[0])
                st.caption(f"Shorter side resized to {p.resize} ({p.interpolation}), centre {p.crop}x{p.crop} "
                           f"crop, then each channel normalised with mean {format_floats(p.mean)} and std "
                           f"{format_floats(p.std)}.")
    except PlaygroundError as exc:
        st.error(md_text(exc), icon=":material/error:")


def _keep_valid(key: str, options: list) -> None:
    """Forget a widget's remembered choice when it is no longer offered (new photo or model)."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def _grad_cam_tab(loaded: LoadedModel, img: Image.Image, pred: Prediction, layers: list[str], key: str) -> None:
    c1, c2 = st.columns(2)
    names = {idx: f"{label} ({p:.1%})" for label, idx, p in pred.top}
    class_key, layer_key = cam_class_key(key), widget_key(key, CAM_LAYER)
    _keep_valid(class_key, list(names))
    _keep_valid(layer_key, layers)
    index = c1.selectbox("Class", list(names), format_func=names.__getitem__, key=class_key)
    default = layers.index(loaded.entry.cam_layer) if loaded.entry.cam_layer in layers else len(layers) - 1
    layer = c2.selectbox("Layer", layers, index=default, key=layer_key, format_func=lambda n: layer_label(n, layers),
                         help="Later layers: coarse maps of whole objects. Earlier: finer, more local. "
                              "After the name: the layer's module in the model's PyTorch code.")
    cam = serving().grad_cam(loaded, img, class_index=index, layer=layer)
    for col, (view, caption) in zip(st.columns(2), ((cam.image, "model input"),
                                                    (cam.overlay, f"Grad-CAM: {cam.label}"))):
        show_image(view, caption=caption, where=col)
    st.caption("Red regions raised the score of this class most: the gradient of the class score, "
               f"averaged per channel of the {readable_layer(layer, layers)} (module `{layer}`), weights that "
               "layer's feature maps.")


def _feature_tab(loaded: LoadedModel, img: Image.Image, layers: list[str], key: str) -> None:
    layer_key = widget_key(key, FEATURE_LAYER)
    _keep_valid(layer_key, layers)
    layer = st.select_slider("Layer", layers, value=layers[max(1, len(layers) // 6)], key=layer_key,
                             format_func=lambda n: readable_layer(n, layers))
    fm = serving().feature_maps(loaded, img, layer)
    c, h, w = fm.shape
    grid_width = fm.grid.size[0]
    show_image(fm.grid, width=max(360, grid_width) if grid_width <= _MAX_WIDTH else "stretch")
    st.caption(f"The {readable_layer(layer, layers)} (module `{layer}`) outputs {c} maps of {h}x{w}; these are "
               f"the {len(fm.channels)} most active "
               f"(channels {', '.join(map(str, fm.channels[:8]))}{', ...' if len(fm.channels) > 8 else ''}), "
               "yellow = strong.")
    render_feature_field(loaded, img, layer, fm.channels, key)  # click a unit: what it sees
