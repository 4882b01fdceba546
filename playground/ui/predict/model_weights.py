"""The Predict page's "Download weights" action: fetch a missing torchvision model's official file.

One button per torchvision model whose weights are not in the torch hub cache; a click fetches the
file through :func:`playground.models.registry.download_weights` (the same as
``python -m playground models --download NAME``) with an ``st.progress`` bar, and says in one line
when this server is offline. Only files from torchvision's own list can be fetched, one at a time
per file for the whole server, so a class clicking at once downloads each file once.
"""
from __future__ import annotations

import streamlit as st

from playground.errors import PlaygroundError
from playground.models.registry import MODELS, download_weights, hub_weights
from playground.ui.predict.models import model_rows, refresh_model_list
from playground.ui.text import md_text, server_details_visible, show_error
from playground.ui.widget_state import widget_key

__all__ = ["weights_downloader", "missing_downloadable", "DOWNLOAD"]

DOWNLOAD = "download"  # part of each button's key: widget_key(key, f"{DOWNLOAD}_{name}")
_DONE = "download_done"  # the message shown after the rerun that follows a download (not a widget)


def missing_downloadable() -> list[str]:
    """Zoo models that are unavailable here but can be fetched from torchvision: read off the Predict
    page's model list, which is kept a few seconds for all sessions, so no run checks every model's
    weights again."""
    return [r.name for r in model_rows() if not r.available and hub_weights(r.name) is not None]


def _refresh_model_lists() -> None:
    """The Predict page keeps its model list for a few seconds; a new file should show at once."""
    refresh_model_list()


def weights_downloader(key: str) -> None:
    """An expander with a "Download weights" button per missing torchvision model (nothing when none,
    and nothing for a student on a class server)."""
    done = st.session_state.pop(widget_key(key, _DONE), None)
    if done:
        st.success(done, icon=":material/check_circle:")
    # A download makes the server fetch files from the internet into its cache: on a class server, the
    # teacher's call (a class clicking through every model would fill the disk and the line)
    missing = missing_downloadable() if server_details_visible() else []
    if not missing:
        return
    with st.expander(f":material/download: Download weights ({len(missing)} torchvision model(s))"):
        st.caption("Fetches torchvision's official ImageNet weights (BSD-3-Clause) into this server's torch "
                   "hub cache. Needs internet on the server.")
        for name in missing:
            hub = hub_weights(name)
            assert hub is not None  # missing_downloadable() only lists models with a torchvision file
            if st.button(f"Download {MODELS[name].title}", key=widget_key(key, f"{DOWNLOAD}_{name}"),
                         icon=":material/download:", help=f"{hub.filename} from {hub.url}"):
                _download(key, name, hub.filename)


def _download(key: str, name: str, filename: str) -> None:
    bar = st.progress(0.0, text=f"Downloading {filename}...")

    def progress(done: int, total: int | None) -> None:
        fraction = min(1.0, done / total) if total else 0.0
        bar.progress(fraction, text=f"Downloading {filename}: {done / 1e6:.1f}"
                                    + (f" of {total / 1e6:.1f} MB" if total else " MB"))

    try:
        status = download_weights(name, progress)
    except PlaygroundError as exc:
        bar.empty()
        show_error(exc, icon=":material/cloud_off:")
        return
    _refresh_model_lists()
    # Rerun so that the model picker above lists the new model; the message survives the rerun.
    st.session_state[widget_key(key, _DONE)] = f"{md_text(name)} is ready: {md_text(status.reason)}"
    st.rerun()
