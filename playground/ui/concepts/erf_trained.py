"""Concepts: the effective field of a pretrained layer on the photo, against the same layer at init.

The measurement is :func:`playground.models.erf_trained.trained_vs_init`; it runs once per
(model, layer, photo) for every session (``st.cache_data``), under the server's one-computation lock.
"""
from __future__ import annotations

from typing import Any

import streamlit as st
from PIL import Image

from playground.errors import PlaygroundError
from playground.models.erf_trained import trained_vs_init
from playground.models.registry import DEFAULT_MODEL
from playground.models.serving import encode_image, serving
from playground.models.unit_fields import draw_unit, layer_fields
from playground.ui.concepts import TRAINED_ERF_LAYER_KEY
from playground.ui.model_cache import get_model
from playground.ui.predict.layer_names import readable_layer
from playground.ui.text import show_error

__all__ = ["render_trained_erf", "DEFAULT_TRAINED_ERF_LAYER"]

DEFAULT_TRAINED_ERF_LAYER = "_blocks.5"  # 83 px field on a 14×14 map: all of it on the photo, clearly structured


@st.cache_data(show_spinner="Measuring the gradients of the trained and the untrained network...", max_entries=64)
def _measure(model: str, layer: str, digest: str, _photo: Image.Image) -> dict[str, Any]:
    """The two pictures (PNG bytes) and the numbers; ``digest`` stands for the photo in the cache key."""
    loaded = get_model(model)
    r = serving().compute(trained_vs_init, loaded, _photo, layer)  # one PyTorch computation at a time
    crop = loaded.preprocess.crop_image(_photo)
    pictures = [encode_image(draw_unit(crop, r.box, heat=m.grad, mass_hw=m.effective)).data
                for m in (r.trained, r.init)]
    return {"trained": pictures[0], "init": pictures[1], "theoretical": r.theoretical,
            "trained_side": r.trained.effective, "init_side": r.init.effective, "unit": r.unit,
            "inside": r.box.inside_fraction, "crop": crop.size[0], "seed": r.seed}


def _side(hw: tuple[int, int]) -> str:
    return f"{hw[0]} px" if hw[0] == hw[1] else f"{hw[0]}×{hw[1]} px"


def render_trained_erf(photo: Image.Image, digest: str) -> None:
    """A layer picker, then the trained and the initial network's gradient of that layer's centre unit."""
    st.subheader("Effective field: trained vs at init")
    st.write(
        "The effective-field lesson measures random networks. Training changes which pixels a unit uses: here "
        "the centre unit of a layer of the pretrained EfficientNet-Lite0 is measured on the photo above, then "
        "the same architecture with its initial random weights, on the same photo.")
    try:
        layers = list(layer_fields(get_model(DEFAULT_MODEL).entry))
    except PlaygroundError as exc:
        show_error(exc, icon=":material/error:")
        return
    if st.session_state.get(TRAINED_ERF_LAYER_KEY) not in layers:  # kept by the page's tabs, with its default
        default = DEFAULT_TRAINED_ERF_LAYER if DEFAULT_TRAINED_ERF_LAYER in layers else layers[len(layers) // 2]
        st.session_state[TRAINED_ERF_LAYER_KEY] = default
    layer = str(st.select_slider("Layer", layers, key=TRAINED_ERF_LAYER_KEY,
                                 format_func=lambda n: readable_layer(n, layers)))
    try:
        m = _measure(DEFAULT_MODEL, layer, digest, photo)
    except PlaygroundError as exc:
        show_error(exc, icon=":material/error:")
        return
    cols = st.columns(3)
    cols[0].metric("Theoretical field", _side(m["theoretical"]), border=True)
    cols[1].metric("Effective, trained (95% of the gradient)", _side(m["trained_side"]), border=True)
    cols[2].metric("Effective, at init", _side(m["init_side"]), border=True)
    left, right = st.columns(2)
    left.image(m["trained"], caption="pretrained weights", output_format="PNG")
    right.image(m["init"], caption=f"the same layers at init (seed {m['seed']})", output_format="PNG")
    clipped = "" if m["inside"] >= 1 else f" (clipped: only {m['inside']:.0%} of it lies on the photo)"
    trained, init = m["trained_side"][0], m["init_side"][0]
    verdict = ("wider than" if trained > init else "narrower than" if trained < init else "as wide as")
    st.caption(
        f"Colour: |∂ unit / ∂ input| of the centre unit {tuple(m['unit'])} of the {readable_layer(layer, layers)} "
        f"(module `{layer}`), all channels, on the "
        f"{m['crop']}×{m['crop']} crop the model sees; red: its theoretical field{clipped}; blue: the square "
        "around the centre holding 95% of the gradient. At init the gradient piles up in the middle of the field, "
        "as Luo et al. (2016) found for random networks; they also saw the effective field grow with training. "
        f"Here the trained unit's square is {verdict} at init, and its gradient follows what is on the photo.")
