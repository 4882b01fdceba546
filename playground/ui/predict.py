"""Widgets and views of the Predict page: model picker, cached models, result panels."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from playground._format import format_floats
from playground.errors import PlaygroundError
from playground.models.finetuned import WEIGHTS_FILE, finetuned_dir, finetuned_status
from playground.models.inference import Prediction, feature_maps, first_layer_filters, grad_cam, layer_names, predict
from playground.models.registry import (
    DEFAULT_MODEL,
    MODELS,
    LoadedModel,
    ModelStatus,
    default_device,
    load_model,
    model_status,
)
from playground.ui.common import widget_key

__all__ = ["model_picker", "cached_model", "get_model", "prediction", "top_k_chart", "render_explanations",
           "PREDICT", "MODEL_PICKER", "EXPLAIN_TAB", "CAM_CLASS", "CAM_LAYER", "FEATURE_LAYER"]

PREDICT = "predict"  # the Predict page's namespace for widget_key
# This module's widgets, as parts of their keys (playground.ui.common.widget_key)
MODEL_PICKER, EXPLAIN_TAB = "model", "tab"
CAM_CLASS, CAM_LAYER, FEATURE_LAYER = "cam_class", "cam_layer", "fm_layer"
_PREDICTION = "prediction"  # the memo of the last prediction (not a widget)


@st.cache_resource(show_spinner="Loading the model...", max_entries=6)
def cached_model(ref: str, stamp: float) -> LoadedModel:
    """One loaded model per process, shared by every session (read-only). ``stamp`` is the
    weight file's modification time, so a re-trained folder is loaded afresh."""
    return load_model(ref, device=default_device())


def get_model(ref: str) -> LoadedModel:
    """The cached model for a zoo name, ``job:<id>`` or folder; raises PlaygroundError."""
    stamp = 0.0
    if ref not in MODELS:
        weights = finetuned_dir(ref) / WEIGHTS_FILE
        stamp = weights.stat().st_mtime if weights.is_file() else 0.0
    return cached_model(ref, stamp)


def prediction(loaded: LoadedModel, img: Image.Image, key: str, top_k: int = 5) -> Prediction:
    """The top-k prediction for this model and photo, run once per (model, photo): the reruns that
    only change an explanation widget (class, layer, tab) reuse it instead of a new forward pass.

    Identity is enough: the cached model and the decoded photo (sample or memoised upload) are
    the same objects on every rerun until the user picks another one.
    """
    memo_key = widget_key(key, _PREDICTION)
    memo = st.session_state.get(memo_key)
    if memo is not None and memo[0] is loaded and memo[1] is img and memo[2] == top_k:
        return memo[3]
    pred = predict(loaded, img, top_k=top_k)
    st.session_state[memo_key] = (loaded, img, top_k, pred)
    return pred


def _query_model() -> str | None:
    value = st.query_params.get("model")
    return value.strip() or None if isinstance(value, str) else None


def model_picker(key: str) -> str | None:
    """Choose a usable model (zoo or fine-tuned); honours ``?model=<name | job:<id> | folder>``.

    Shows why unavailable models cannot be used, and an error for a bad ``?model=``.
    Returns the chosen model reference.
    """
    rows = model_status()
    usable = {r.name: r for r in rows if r.available}
    wanted = _query_model()
    if wanted and wanted not in usable:
        status = _status_of(wanted, rows)
        if status.available:
            usable[wanted] = status
        else:
            st.error(f"Cannot use the model from the link: {status.reason}", icon=":material/error:")
            wanted = None
    options = list(usable)
    picker = widget_key(key, MODEL_PICKER)
    if picker not in st.session_state or st.session_state[picker] not in usable:
        st.session_state[picker] = wanted or (DEFAULT_MODEL if DEFAULT_MODEL in usable else options[0])
    choice = st.selectbox("Model", options, key=picker, format_func=lambda n: _label(usable[n]))
    missing = [r for r in rows if not r.available]
    if missing:
        with st.expander(f":material/info: {len(missing)} more model(s) not available here"):
            for r in missing:
                st.markdown(f"**{r.name}**: {r.reason}")
    return choice


def _status_of(ref: str, rows: list[ModelStatus]) -> ModelStatus:
    for r in rows:
        if r.name == ref:
            return r
    return finetuned_status(ref)


def _label(status: ModelStatus) -> str:
    if status.name in MODELS:
        return status.title
    return f"{status.title} [{status.name}]"


def top_k_chart(pred: Prediction) -> go.Figure:
    """Horizontal bars, most probable on top."""
    labels = [label for label, _, _ in pred.top]
    probs = [p for _, _, p in pred.top]
    fig = go.Figure(go.Bar(
        x=probs, y=labels, orientation="h", text=[f"{p:.1%}" for p in probs], textposition="auto",
        hovertemplate="%{y}: %{x:.2%}<extra></extra>", marker_color="#1f6feb",
    ))
    fig.update_layout(
        height=70 + 42 * len(labels), margin=dict(l=10, r=10, t=10, b=30),
        xaxis=dict(range=[0, 1], tickformat=".0%", title="probability"),
        yaxis=dict(autorange="reversed"),
    )
    return fig


def _images_row(*items: tuple[Image.Image, str]) -> None:
    for col, (img, caption) in zip(st.columns(len(items)), items):
        col.image(img, caption=caption, width="stretch")


def render_explanations(loaded: LoadedModel, img: Image.Image, pred: Prediction, key: str) -> None:
    """Tabs: Grad-CAM (class and layer pickers), feature maps (layer picker), filters, model input.
    Only the open tab is computed."""
    tabs = st.tabs(
        [":material/local_fire_department: Grad-CAM", ":material/layers: Feature maps",
         ":material/grid_view: First-layer filters", ":material/crop: What the model sees"],
        key=widget_key(key, EXPLAIN_TAB), on_change="rerun",
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
            with tabs[2]:
                filters = first_layer_filters(loaded)
                out, cin, kh, kw = filters.shape
                st.image(filters.grid, width=min(720, filters.grid.width * 2))
                st.caption(f"`{filters.layer}`: {out} filters of {kh}x{kw} over {cin} input channels, each "
                           "scaled to its own range. Colour blobs and edges at various angles are typical.")
        if tabs[3].open:
            with tabs[3]:
                p = loaded.preprocess
                st.image(p.crop_image(img), caption=f"{p.crop}x{p.crop} input", width=p.crop * 2)
                st.caption(f"Shorter side resized to {p.resize} ({p.interpolation}), centre {p.crop}x{p.crop} "
                           f"crop, then each channel normalised with mean {format_floats(p.mean)} and std "
                           f"{format_floats(p.std)}.")
    except PlaygroundError as exc:
        st.error(str(exc), icon=":material/error:")


def _keep_valid(key: str, options: list) -> None:
    """Forget a widget's remembered choice when it is no longer offered (new photo or model)."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def _grad_cam_tab(loaded: LoadedModel, img: Image.Image, pred: Prediction, layers: list[str], key: str) -> None:
    c1, c2 = st.columns(2)
    names = {idx: f"{label} ({p:.1%})" for label, idx, p in pred.top}
    class_key, layer_key = widget_key(key, CAM_CLASS), widget_key(key, CAM_LAYER)
    _keep_valid(class_key, list(names))
    _keep_valid(layer_key, layers)
    index = c1.selectbox("Class", list(names), format_func=names.__getitem__, key=class_key)
    default = layers.index(loaded.entry.cam_layer) if loaded.entry.cam_layer in layers else len(layers) - 1
    layer = c2.selectbox("Layer", layers, index=default, key=layer_key,
                         help="Later layers: coarse maps of whole objects. Earlier: finer, more local.")
    cam = grad_cam(loaded, img, class_index=index, layer=layer)
    _images_row((cam.image, "model input"), (cam.overlay, f"Grad-CAM: {cam.label}"))
    st.caption("Red regions raised the score of this class most: the gradient of the class score, "
               f"averaged per channel of `{layer}`, weights that layer's feature maps.")


def _feature_tab(loaded: LoadedModel, img: Image.Image, layers: list[str], key: str) -> None:
    layer_key = widget_key(key, FEATURE_LAYER)
    _keep_valid(layer_key, layers)
    layer = st.select_slider("Layer", layers, value=layers[max(1, len(layers) // 6)], key=layer_key)
    fm = feature_maps(loaded, img, layer)
    c, h, w = fm.shape
    st.image(fm.grid, width=min(720, max(360, fm.grid.width)))
    st.caption(f"`{layer}` outputs {c} maps of {h}x{w}; these are the {len(fm.channels)} most active "
               f"(channels {', '.join(map(str, fm.channels[:8]))}{', ...' if len(fm.channels) > 8 else ''}), "
               "yellow = strong.")
