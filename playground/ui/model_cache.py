"""One loaded model per process and reference, shared by every session and page (read-only).

Models load once (``st.cache_resource``), in eval mode; hooks (Grad-CAM, feature maps) are attached
per call and always removed, so every session can use the same object.
"""
from __future__ import annotations

import streamlit as st

from playground.catalog import finetuned_dir, load_model, note_model_use
from playground.finetune.device import server_device
from playground.models.finetuned import WEIGHTS_FILE
from playground.models.registry import MODELS, LoadedModel

__all__ = ["cached_model", "get_model"]


@st.cache_resource(show_spinner="Loading the model...", max_entries=6)
def cached_model(ref: str, stamp: float) -> LoadedModel:
    """One loaded model per process, shared by every session (read-only). ``stamp`` is the
    weight file's modification time, so a re-trained folder is loaded afresh. On the server's own
    device (``PLAYGROUND_SERVER_DEVICE``): by default the CPU when training jobs use this machine's GPU."""
    return load_model(ref, device=server_device())


def get_model(ref: str) -> LoadedModel:
    """The cached model for a zoo name, ``job:<id>`` or folder; raises PlaygroundError."""
    stamp = 0.0
    if ref not in MODELS:
        weights = finetuned_dir(ref) / WEIGHTS_FILE
        stamp = weights.stat().st_mtime if weights.is_file() else 0.0
        note_model_use(ref)  # loaded once per process, used on every prediction: retention counts from here
    return cached_model(ref, stamp)

