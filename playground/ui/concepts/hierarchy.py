"""Concepts, the feature-hierarchy lesson: what the layers of a real pretrained CNN respond to, and the
effective field of one of its layers trained vs at init (:mod:`playground.ui.concepts.erf_trained`)."""
from __future__ import annotations

import streamlit as st
from PIL import Image

from playground import concepts as C
from playground.errors import PlaygroundError
from playground.models.inference import layer_names
from playground.models.registry import DEFAULT_MODEL
from playground.models.serving import ImageView, serving
from playground.ui.concepts.erf_trained import render_trained_erf
from playground.ui.model_cache import get_model
from playground.ui.pictures import show_image
from playground.ui.predict.layer_names import first_conv_label, layer_label
from playground.ui.replay import replayed
from playground.ui.text import md_text, show_error

__all__ = ["render_hierarchy"]


def _hierarchy(photo: Image.Image) -> tuple[tuple[ImageView, str], list[tuple[ImageView, str]], str]:
    """First-layer filters and the strongest maps of an early, a middle and a late layer, from the
    inference cache every session shares (computed once per photo, pictures already encoded)."""
    loaded = get_model(DEFAULT_MODEL)
    filters = serving().filters(loaded)
    out, k_h, k_w = filters.shape[0], filters.shape[2], filters.shape[3]
    first = (filters.grid, f"The {first_conv_label(filters.layer)}: its {out} learned {k_h}×{k_w} kernels")
    rows = []
    layers = layer_names(loaded)
    for layer in C.hierarchy_layers(layers):
        fm = serving().feature_maps(loaded, photo, layer, count=9, tile=80)
        c, h, w = fm.shape
        rows.append((fm.grid, f"{layer_label(layer, layers)}: {c} maps of {h}×{w}; the 9 most active"))
    # What the late maps fire on, in this photo's terms: the model's own top class for it
    top = serving().predict(loaded, photo, top_k=1).top[0][0]
    return first, rows, top


def render_hierarchy(photo: Image.Image, digest: str) -> None:
    """Feature maps at increasing depth of a real pretrained CNN: edges, then textures, then parts."""
    _hierarchy_lesson(digest, photo)
    render_trained_erf(photo, digest)  # the same model's effective field, trained vs at init


@replayed
def _hierarchy_lesson(digest: str, _photo: Image.Image) -> None:
    photo = _photo
    st.subheader("What the layers of a trained CNN respond to")
    st.write(
        "The first layer of a trained network learns small edge and colour detectors. Each later layer combines "
        "the maps below it over a larger receptive field, so its channels respond to textures, then to object "
        "parts. Zeiler & Fergus (2013) showed this by visualising the layers of a trained network; here it is "
        "measured now on the photo above, with the pretrained EfficientNet-Lite0 of the Predict page.")
    try:
        (filters, filters_caption), rows, top = _hierarchy(photo)
    except PlaygroundError as exc:
        show_error(exc, icon=":material/error:")  # it may quote what the user typed
        return
    left, right = st.columns([1, 3])
    with left:
        show_image(filters, caption=filters_caption)
    with right:
        for column, (grid, caption) in zip(st.columns(len(rows)), rows):
            with column:
                show_image(grid, caption=caption)
    st.caption(
        "Yellow = strong response. Early maps are large and follow edges of the photo; late maps are small "
        "(each unit sees most of the image) and fire on whole regions, such as the parts of this photo that "
        f"make the model answer **{md_text(top)}** (its top class here). "
        "Spatial size shrinks and channels grow with depth: the stride trades resolution for meaning.")
    st.markdown("[:material/image_search: Explore every layer, and Grad-CAM, on the Predict page](predict)")


