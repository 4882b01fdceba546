"""Compare mode of the Predict page: one photo through two or more models, side by side.

Each model's column shows its top-5 with probabilities, a Grad-CAM of one class shared by every
model (the first model's top class unless the student picks another), its latency on this server
(median of warm forward passes, measured once per model and process) and its parameters and MACs.
Predictions and Grad-CAMs come from :mod:`playground.models.serving` (cached for every session,
batched); the numbers from :mod:`playground.models.compare`.
"""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from playground._format import human
from playground.errors import PlaygroundError
from playground.models.compare import Latency, ModelCost, check_comparable, measure_latency, model_cost, shared_class
from playground.models.inference import Prediction
from playground.models.registry import MODELS, LoadedModel
from playground.models.serving import serving
from playground.ui.model_cache import get_model
from playground.ui.photo_input import from_camera, photo_input
from playground.ui.pictures import show_image, show_photo
from playground.ui.predict.model_weights import weights_downloader
from playground.ui.predict.results import top_k_chart
from playground.ui.text import show_error
from playground.ui.widget_state import widget_key

__all__ = ["compare_toggle", "render_compare", "compare_chart", "COMPARE_TOGGLE", "COMPARE_MODELS",
           "COMPARE_CLASS", "DEFAULT_COMPARE", "MAX_COMPARE"]

# This module's widgets, as parts of their keys (playground.ui.widget_state.widget_key)
COMPARE_TOGGLE, COMPARE_MODELS, COMPARE_CLASS = "compare", "compare_models", "compare_class"
DEFAULT_COMPARE = ("efficientnet_lite0", "efficientnet_lite2")  # same family, two sizes: the cost of scale
MAX_COMPARE = 4  # columns that still fit a laptop screen; also bounds one click's work on the server
_TOP_K = 5
COMPARE_BAR_HEIGHT = 36  # px per bar: several charts side by side
_FIRST_TOP = -1  # the class picker's "first model's top class" entry


def compare_toggle(key: str) -> bool:
    """The switch between one model with its explanations and several models side by side."""
    return st.toggle(":material/compare: Compare models", key=widget_key(key, COMPARE_TOGGLE),
                     help="The same photo through two or more models: their top-5, where each looked "
                          "for the same class, how fast each runs here and how big each is.")


@st.cache_resource(show_spinner="Measuring the model's speed...", max_entries=16)
def _latency(ref: str, token: int) -> Latency:
    """Measured once per loaded model and process (``token`` identifies the loaded object): the
    speed does not depend on the photo, and measuring costs the server six forward passes."""
    return serving().compute(measure_latency, get_model(ref))  # nothing else runs while it is timed


def _usable_zoo() -> list[str]:
    """Zoo models whose weights are here now (cheap: one file check each)."""
    return [name for name, entry in MODELS.items() if entry.weights.status()[0]]


def _pick_models(key: str) -> list[str]:
    options = _usable_zoo()
    picker = widget_key(key, COMPARE_MODELS)
    if picker not in st.session_state:
        st.session_state[picker] = [n for n in DEFAULT_COMPARE if n in options] or options[:2]
    return st.multiselect("Models", options, key=picker, max_selections=MAX_COMPARE,
                          format_func=lambda n: MODELS[n].title,
                          help="The zoo's ImageNet models that are available here, up to "
                               f"{MAX_COMPARE}. Fine-tuned models have their own classes, so they "
                               "are compared on the Fine-tune page instead.")


def compare_chart(pred: Prediction) -> go.Figure:
    """The Predict page's top-k chart, a little more compact to fit several side by side."""
    return top_k_chart(pred, bar_height=COMPARE_BAR_HEIGHT)


def _class_picker(key: str, preds: list[tuple[LoadedModel, Prediction]]) -> int | None:
    """The Grad-CAM class for every model: the first model's top class, or any class in a top-5."""
    first_model, first = preds[0]
    options: dict[int, str] = {_FIRST_TOP: f"{first_model.name}'s top class ({first.top[0][0]})"}
    for _, pred in preds:
        for label, idx, _p in pred.top:
            options.setdefault(idx, f"{label} (class {idx})")
    class_key = widget_key(key, COMPARE_CLASS)
    if class_key in st.session_state and st.session_state[class_key] not in options:
        del st.session_state[class_key]  # a class no longer offered (new photo or models)
    choice = st.selectbox("Explain class", list(options), format_func=options.__getitem__, key=class_key,
                          help="Grad-CAM of this one class for every model: do they look at the same place?")
    return None if choice == _FIRST_TOP else int(choice)


def _column(loaded: LoadedModel, img: Image.Image, pred: Prediction, index: int, cost: ModelCost,
            latency: Latency) -> None:
    st.markdown(f"**{loaded.entry.title}**")  # the registry's own text, not a user's
    st.caption(f"`{loaded.name}`")
    st.plotly_chart(compare_chart(pred), width="stretch", config={"displayModeBar": False},
                    key=f"compare_chart_{loaded.name}")
    cam = serving().grad_cam(loaded, img, class_index=index, layer=loaded.entry.cam_layer)
    show_image(cam.overlay, caption=f"Grad-CAM: {cam.label} ({cam.probability:.1%})")
    a, b, c = st.columns(3)
    a.metric(f"Latency ({latency.device.upper()})", f"{latency.median_ms:.0f} ms",
             help=f"Median of {len(latency.runs_ms)} warm forward passes of one {cost.input_side}×"
                  f"{cost.input_side} image on this server, measured when the model was first compared.")
    b.metric("Parameters", human(cost.params))
    c.metric("MACs", human(cost.macs), help=f"Multiply-accumulates for one image; {cost.method}.")


def _summary(rows: list[tuple[LoadedModel, Prediction, ModelCost, Latency]]) -> None:
    # Exact values in the cells (sorting, copying), written as the columns above write them:
    # a percentage, milliseconds, and counts in the compact "4.7M" of the metrics
    number = st.column_config.NumberColumn
    st.dataframe(
        [{"Model": m.name, "Top class": p.top[0][0], "Probability": p.top[0][2],
          "Latency (ms)": round(lat.median_ms, 1), "Parameters": cost.params, "MACs": cost.macs,
          "Input": f"{cost.input_side}×{cost.input_side}", "Counted by": cost.method}
         for m, p, cost, lat in rows],
        hide_index=True, width="stretch",
        column_config={"Probability": number(format="percent"), "Latency (ms)": number(format="%.0f"),
                       "Parameters": number(format="compact"), "MACs": number(format="compact")},
    )


def render_compare(key: str) -> None:
    """The whole compare mode: model and photo pickers, then one column per model and a summary."""
    pick, photo = st.columns([3, 2], gap="large")
    with pick:
        refs = _pick_models(key)
        weights_downloader(key)
    with photo:
        img, name = photo_input(key)
    if img is None:
        return
    if len(refs) < 2:
        st.info("Pick two or more models to compare.", icon=":material/compare:")
        return
    try:
        models = [get_model(r) for r in refs]
        check_comparable(models)
        preds = [(m, serving().predict(m, img, top_k=_TOP_K)) for m in models]
        if from_camera(key):  # the camera widget above already shows the shot it took
            picked = _class_picker(key, preds)
        else:
            thumb, chooser = st.columns([1, 4], gap="large", vertical_alignment="center")
            with thumb:
                show_photo(img, caption=name)
            with chooser:
                picked = _class_picker(key, preds)
        index = shared_class(preds[0][1], picked, len(models[0].categories))
        rows = [(m, p, model_cost(m), _latency(m.name, serving().model_token(m))) for m, p in preds]
        for col, (m, p, cost, lat) in zip(st.columns(len(rows), gap="medium"), rows):
            with col:
                _column(m, img, p, index, cost, lat)
    except PlaygroundError as exc:
        show_error(exc, icon=":material/error:")
        return
    _summary(rows)
    st.caption("Latency is measured on this server, which the whole class shares: it varies with load. "
               "MACs: torchvision models by the Architectures analysis, EfficientNet-Lite counted on "
               "the module (its TensorFlow-style padding cannot be traced); both count the same way.")
