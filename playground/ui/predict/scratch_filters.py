"""Predict page, filters tab: a design trained from scratch's first-layer filters beside a pretrained model's.

What a network learns in its first layer depends on what it was trained on and for how long: a design
trained here for a few epochs on a few thousand small pictures, next to a catalogue model trained on
ImageNet's 1.2 million photos (oriented edges, colour blobs). The pretrained model shown is ResNet-18
when its weights are on this server, else the catalogue's default, else the first usable one; it is
loaded through the same shared cache as the Predict page's own models.
"""
from __future__ import annotations

import streamlit as st

from playground.errors import PlaygroundError
from playground.models.designed import DesignClassifier
from playground.models.registry import DEFAULT_MODEL, MODELS, LoadedModel
from playground.models.serving import serving
from playground.ui.pictures import show_image
from playground.ui.predict.layer_names import first_conv_label
from playground.ui.text import md_text

__all__ = ["trained_from_scratch", "pretrained_partner", "render_filters", "PREFERRED_PRETRAINED"]

PREFERRED_PRETRAINED = "resnet18"  # the classic first layer: 64 filters of 7x7 over RGB


def trained_from_scratch(loaded: LoadedModel) -> bool:
    """Whether ``loaded`` is a Designer design trained from scratch here (a ``job:<id>`` design model)."""
    return isinstance(loaded.model, DesignClassifier)


def pretrained_partner() -> str | None:
    """The pretrained model to show beside a from-scratch one: ResNet-18, else the default, else any usable
    catalogue model; None when no pretrained weights are on this server."""
    usable = [name for name, entry in MODELS.items() if entry.weights.status()[0]]
    for name in (PREFERRED_PRETRAINED, DEFAULT_MODEL):
        if name in usable:
            return name
    return usable[0] if usable else None


def _grid(loaded: LoadedModel, width: int, caption: str) -> None:
    filters = serving().filters(loaded, max_width=width)
    out, cin, kh, kw = filters.shape
    show_image(filters.grid, width=min(width, filters.grid.size[0]))
    st.caption(f"{caption}: the {first_conv_label(filters.layer)}, {out} filters of {kh}x{kw} over {cin} input "
               f"channel{'s' if cin != 1 else ''}, each scaled to its own range.")


def render_filters(loaded: LoadedModel, max_width: int) -> None:
    """The model's first-layer filters; for a design trained from scratch, beside a pretrained model's."""
    from playground.ui.model_cache import get_model

    if not trained_from_scratch(loaded):
        _grid(loaded, max_width, "This model")
        st.caption("Colour blobs and edges at various angles are typical of a first layer trained on photos.")
        return
    partner = pretrained_partner()
    left, right = st.columns(2)
    with left:
        st.markdown("**Learned from scratch** (this design)")
        _grid(loaded, max_width // 2, "Trained here")
    with right:
        if partner is None:
            st.caption("No pretrained model's weights are on this server to compare with.")
        else:
            st.markdown(f"**Pretrained:** {MODELS[partner].title}")
            try:
                _grid(get_model(partner), max_width // 2, "Trained on ImageNet")
            except PlaygroundError as exc:
                st.caption(md_text(f"The pretrained model could not be loaded: {exc}"))
    st.caption("Both start from random numbers. The pretrained filters saw 1.2 million photos for many epochs "
               "and settled into smooth oriented edges and colour blobs; a small design trained for a few "
               "epochs on a few thousand small pictures keeps much of its random start, with edges only where "
               "its classes needed them. A filter's size and count are the design's choice (its first conv).")
