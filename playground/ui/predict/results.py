"""Widgets and views of the Predict page: model picker, cached models, result panels.

Every result comes from :mod:`playground.models.serving`: computed once per (model, photo,
options) for all sessions, pictures already encoded, so a rerun runs no model and encodes no image.
"""
from __future__ import annotations

from datetime import tzinfo
from functools import lru_cache

import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from playground._format import format_floats
from playground.config import home_dir
from playground.errors import PlaygroundError
from playground.models.finetuned import JOB_PREFIX, WEIGHTS_FILE, finetuned_dir, finetuned_status
from playground.models.inference import Prediction, layer_names
from playground.models.registry import (
    DEFAULT_MODEL,
    MODELS,
    LoadedModel,
    ModelStatus,
    default_device,
    load_model,
    model_status,
)
from playground.models.serving import ImageView, image_digest, serving
from playground.ui.common import widget_key
from playground.ui.feature_field import render_feature_field
from playground.ui.model_labels import FinetuneInfo, browser_timezone, finetune_infos, finetune_label
from playground.ui.text import md_text, plotly_text

__all__ = ["model_picker", "model_rows", "refresh_model_list",
           "cached_model", "get_model", "prediction", "top_k_chart", "render_explanations",
           "show_image", "show_photo", "PREDICT", "MODEL_PICKER", "EXPLAIN_TAB", "CAM_CLASS", "CAM_LAYER",
           "FEATURE_LAYER", "MODEL_LIST_TTL_S", "BAD_LINK_MODEL"]

PREDICT = "predict"  # the Predict page's namespace for widget_key
# This module's widgets, as parts of their keys (playground.ui.common.widget_key)
MODEL_PICKER, EXPLAIN_TAB = "model", "tab"
CAM_CLASS, CAM_LAYER, FEATURE_LAYER = "cam_class", "cam_layer", "fm_layer"
_SHOWN = "shown"  # which (model, photo) the explanation widgets belong to (not a widget)
# The model list reads every job folder's meta.json: once per this many seconds for all sessions,
# not on every click (a fine-tune that just finished shows up within it).
MODEL_LIST_TTL_S = 10.0
BAD_LINK_MODEL = ("Cannot use the model from the link: a link can name a model from the list (by its "
                  "short name, e.g. `efficientnet_lite0`) or a finished fine-tune as `job:<id>`. Showing the "
                  "default model instead.")
_MAX_SHOWN_REF = 80  # characters of a bad ?model= value quoted back
_MAX_WIDTH = 720  # pixels: the widest explanation picture


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
    """The top-k prediction for this model and photo, from the shared cache (batched with other
    sessions' requests when it has to be computed).

    When the model or photo differs from the one ``key``'s explanations showed last, the class
    picked for Grad-CAM is forgotten, so the class box and the map show the new top class (a kept
    choice would show one class in the box and explain another).
    """
    shown = (serving().model_token(loaded), image_digest(img))
    memo = widget_key(key, _SHOWN)
    if st.session_state.get(memo) != shown:
        st.session_state.pop(widget_key(key, CAM_CLASS), None)
        st.session_state[memo] = shown
    return serving().predict(loaded, img, top_k=top_k)


@st.cache_data(ttl=MODEL_LIST_TTL_S, show_spinner=False)
def _model_rows(home: str) -> list[ModelStatus]:
    """Every model and whether it can be used (per data directory: tests switch it; so ``home`` is
    part of the cache key, not an underscored argument Streamlit would leave out of it)."""
    return model_status()


def model_rows() -> list[ModelStatus]:
    """Every model and whether it can be used, as the Predict page lists them (kept a few seconds,
    shared by all sessions); :func:`refresh_model_list` forgets them."""
    return _model_rows(str(home_dir()))


def refresh_model_list() -> None:
    """Forget the cached model list, so a model that just became usable (downloaded weights) shows at once."""
    _model_rows.clear()


def _query_model() -> str | None:
    value = st.query_params.get("model")
    return value.strip() or None if isinstance(value, str) else None


def _link_status(wanted: str, rows: list[ModelStatus]) -> ModelStatus | None:
    """The status of a ``?model=`` value: catalogue names and ``job:<id>`` only, never a folder
    path (a link must not load, or tell the existence of, folders on the server's disk)."""
    for r in rows:
        if r.name == wanted:
            return r
    if wanted.startswith(JOB_PREFIX):
        status = finetuned_status(wanted)
        return status if status.available else None
    return None


def model_picker(key: str) -> str | None:
    """Choose a usable model (zoo or fine-tuned); honours ``?model=<catalogue name | job:<id>>``.

    Shows why unavailable models cannot be used, and one message for a ``?model=`` that is not usable.
    Returns the chosen model reference.
    """
    rows = model_rows()
    usable = {r.name: r for r in rows if r.available}
    wanted = _query_model()
    if wanted and wanted not in usable:
        status = _link_status(wanted, rows)
        if status is not None and status.available:
            usable[wanted] = status
        elif status is not None and status.name in MODELS:  # a catalogue model this server lacks
            st.error(f"Cannot use the model from the link: {status.reason}", icon=":material/error:")
            wanted = None
        else:
            st.error(f"{BAD_LINK_MODEL} (The link asked for: {md_text(wanted[:_MAX_SHOWN_REF])})",
                     icon=":material/error:")
            wanted = None
    options = list(usable)
    picker = widget_key(key, MODEL_PICKER)
    if picker not in st.session_state or st.session_state[picker] not in usable:
        st.session_state[picker] = wanted or (DEFAULT_MODEL if DEFAULT_MODEL in usable else options[0])
    # Fine-tunes are told apart by their job (dataset, strategy, accuracy, date, id), not by their classes
    infos = finetune_infos(str(home_dir()), tuple(n for n in options if n.startswith(JOB_PREFIX)))
    tz = browser_timezone()
    choice = st.selectbox("Model", options, key=picker, format_func=lambda n: _label(usable[n], infos.get(n), tz))
    missing = [r for r in rows if not r.available]
    if missing:
        with st.expander(f":material/info: {len(missing)} more model(s) not available here"):
            for r in missing:
                st.markdown(f"**{r.name}**: {r.reason}")
    return choice


def _label(status: ModelStatus, info: FinetuneInfo | None, tz: tzinfo | None) -> str:
    if status.name in MODELS:
        return status.title
    if info is not None:
        return finetune_label(info, tz)
    return f"{status.title} · {status.name}"  # a folder given by path: its name is all there is


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


def show_image(view: ImageView, caption: str | None = None, width: int | str = "stretch", where: object = st) -> None:
    """``st.image`` of pre-encoded bytes at a width that needs no server-side resize."""
    fmt = "JPEG" if view.data[:2] == b"\xff\xd8" else "PNG"
    where.image(view.data, caption=caption, width=width, output_format=fmt)  # type: ignore[attr-defined]


def show_photo(img: Image.Image, caption: str | None = None, width: int | str = "stretch") -> None:
    """The photo, from its cached display copy (a JPEG at most PHOTO_MAX_SIDE pixels)."""
    show_image(serving().photo(img), caption=caption, width=width)


@st.fragment
def render_explanations(loaded: LoadedModel, img: Image.Image, pred: Prediction, key: str) -> None:
    """Tabs: Grad-CAM (class and layer pickers), feature maps (layer picker), filters, model input.
    Only the open tab is computed; a click in here reruns only this part of the page."""
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
                filters = serving().filters(loaded, max_width=_MAX_WIDTH)
                out, cin, kh, kw = filters.shape
                show_image(filters.grid, width=min(_MAX_WIDTH, filters.grid.size[0]))
                st.caption(f"`{filters.layer}`: {out} filters of {kh}x{kw} over {cin} input channels, each "
                           "scaled to its own range. Colour blobs and edges at various angles are typical.")
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
    class_key, layer_key = widget_key(key, CAM_CLASS), widget_key(key, CAM_LAYER)
    _keep_valid(class_key, list(names))
    _keep_valid(layer_key, layers)
    index = c1.selectbox("Class", list(names), format_func=names.__getitem__, key=class_key)
    default = layers.index(loaded.entry.cam_layer) if loaded.entry.cam_layer in layers else len(layers) - 1
    layer = c2.selectbox("Layer", layers, index=default, key=layer_key,
                         help="Later layers: coarse maps of whole objects. Earlier: finer, more local.")
    cam = serving().grad_cam(loaded, img, class_index=index, layer=layer)
    for col, (view, caption) in zip(st.columns(2), ((cam.image, "model input"),
                                                    (cam.overlay, f"Grad-CAM: {cam.label}"))):
        show_image(view, caption=caption, where=col)
    st.caption("Red regions raised the score of this class most: the gradient of the class score, "
               f"averaged per channel of `{layer}`, weights that layer's feature maps.")


def _feature_tab(loaded: LoadedModel, img: Image.Image, layers: list[str], key: str) -> None:
    layer_key = widget_key(key, FEATURE_LAYER)
    _keep_valid(layer_key, layers)
    layer = st.select_slider("Layer", layers, value=layers[max(1, len(layers) // 6)], key=layer_key)
    fm = serving().feature_maps(loaded, img, layer)
    c, h, w = fm.shape
    grid_width = fm.grid.size[0]
    show_image(fm.grid, width=max(360, grid_width) if grid_width <= _MAX_WIDTH else "stretch")
    st.caption(f"`{layer}` outputs {c} maps of {h}x{w}; these are the {len(fm.channels)} most active "
               f"(channels {', '.join(map(str, fm.channels[:8]))}{', ...' if len(fm.channels) > 8 else ''}), "
               "yellow = strong.")
    render_feature_field(loaded, img, layer, fm.channels, key)  # click a unit: what it sees
