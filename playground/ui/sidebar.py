"""The sidebar every page shares: where the app runs and where it keeps data."""
from __future__ import annotations

import streamlit as st

from playground.config import home_dir

__all__ = ["render_sidebar", "compute_device_label"]


@st.cache_resource(show_spinner=False)
def compute_device_label() -> str:
    """One line naming the compute this server uses (a GPU name or CPU cores)."""
    import os

    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU: {os.cpu_count()} cores, no GPU"


def render_sidebar() -> None:
    """Draw the shared sidebar."""
    with st.sidebar:
        st.caption(f":material/memory: {compute_device_label()}")
        st.caption(f":material/folder: Data: `{home_dir()}`")
