"""Streamlit pieces several pages share: the sidebar, and the one "give me a photo" widget.

The photo widget offers a bundled sample, an upload, or the camera. Every path goes through
:func:`playground.images.load_image`, so an odd or hostile file becomes a one-line message
shown in place, never a traceback.
"""
from __future__ import annotations

import os

import streamlit as st
from PIL import Image

from playground.config import home_dir
from playground.images import UPLOAD_TYPES, ImageError, load_image
from playground.samples import SAMPLE_PHOTOS, load_sample
from playground.ui.camera import CAMERA_NAME, camera_photo
from playground.ui.text import md_text, server_paths_hidden, show_error

__all__ = ["render_sidebar", "compute_device_label", "runner_label", "photo_input", "widget_key", "SOURCES",
           "PHOTO_SOURCE", "PHOTO_SAMPLE", "PHOTO_UPLOAD", "PHOTO_CAMERA"]

# The photo picker's widgets, as parts of their keys: see widget_key
PHOTO_SOURCE, PHOTO_SAMPLE = "photo_source", "photo_sample"
PHOTO_UPLOAD, PHOTO_CAMERA = "photo_upload", "photo_camera"
_PHOTO_DECODED = "photo_decoded"  # the memo of the last decoded upload (not a widget)


@st.cache_resource(show_spinner=False)
def compute_device_label() -> str:
    """One line naming the compute this server uses (a GPU name or CPU cores)."""
    import torch  # here, not at the top: importing this module should not load torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU: {os.cpu_count()} cores, no GPU"


@st.cache_data(ttl=30, show_spinner=False)  # the cluster's size changes rarely; asking costs a round trip
def runner_label() -> str:
    """Where fine-tuning jobs run: local worker processes, or the Ray cluster with its CPUs and GPUs."""
    from playground.errors import PlaygroundError
    from playground.finetune.jobs.runner import LOCAL_DESCRIPTION, describe_runner, runner_name

    try:
        if runner_name() == "local":  # no need to create the manager just to say so
            return LOCAL_DESCRIPTION
        from playground.finetune.jobs.manager import get_manager

        return describe_runner(get_manager().runner)
    except PlaygroundError as exc:
        return str(exc)


def render_sidebar() -> None:
    """Draw the shared sidebar."""
    lines = [f":material/memory: {compute_device_label()}", f":material/lan: Jobs: {md_text(runner_label())}"]
    # Server paths are for whoever runs the server: not shown on a class server (students see the pages)
    if not server_paths_hidden():
        lines.append(f":material/folder: Data: {md_text(home_dir())}")
    # One element, not three: every element costs the server a message on every run of every page.
    st.sidebar.caption("  \n".join(lines))


SOURCES = {
    "sample": ":material/photo_library: Sample",
    "upload": ":material/upload: Upload",
    "camera": ":material/photo_camera: Camera",
}


def widget_key(namespace: str, part: str) -> str:
    """Session-state key of widget ``part`` of a picker drawn with ``namespace`` (``"predict_photo_source"``),
    so several pages, or several pickers on one page, keep separate state."""
    return f"{namespace}_{part}"


def photo_input(key: str) -> tuple[Image.Image | None, str]:
    """Let the user pick a photo; returns (RGB image or None, its name).

    ``key`` namespaces the widgets so several pages (or several pickers on one
    page) keep separate state. Decoding errors are shown here with ``st.error``.
    """
    source = st.segmented_control(
        "Photo", list(SOURCES), format_func=SOURCES.__getitem__, default="sample",
        required=True, key=widget_key(key, PHOTO_SOURCE),
    ) or "sample"
    if source == "sample":
        _sample_from_link(widget_key(key, PHOTO_SAMPLE))
        name = st.selectbox("Sample photo", list(SAMPLE_PHOTOS), key=widget_key(key, PHOTO_SAMPLE),
                            help="Real photographs bundled with scikit-image.")
        return load_sample(name), name
    if source == "upload":
        file = st.file_uploader("Image file", type=list(UPLOAD_TYPES), key=widget_key(key, PHOTO_UPLOAD),
                                help="JPEG, PNG, WebP, GIF (first frame) or BMP.")
    else:
        file = camera_photo(widget_key(key, PHOTO_CAMERA))  # says why when the address cannot have a camera
        if file is None:
            return None, ""
        return _decode(key, file.file_id, CAMERA_NAME, file.getvalue())  # not the widget's long generated name
    if file is None:
        st.caption("Choose a file to classify.")
        return None, ""
    return _decode(key, file.file_id, file.name, file.getvalue())


def _sample_from_link(sample_key: str) -> None:
    """``?sample=<display name>`` picks that sample photo on a session's first view (the user can
    change it afterwards); a value that names no sample is ignored, and never shown."""
    wanted = st.query_params.get("sample")
    if sample_key not in st.session_state and isinstance(wanted, str) and wanted in SAMPLE_PHOTOS:
        st.session_state[sample_key] = wanted


def _decode(key: str, file_id: str, name: str, data: bytes) -> tuple[Image.Image | None, str]:
    """Decode once per uploaded file: reruns (a new class or layer picked) reuse the image."""
    memo_key = widget_key(key, _PHOTO_DECODED)
    memo = st.session_state.get(memo_key)
    if memo is not None and memo[0] == file_id:
        img = memo[1]
    else:
        try:
            img = load_image(data, name=name)
        except ImageError as exc:
            img = exc
        st.session_state[memo_key] = (file_id, img)
    if isinstance(img, ImageError):
        show_error(img, icon=":material/broken_image:")  # the message quotes the user's file name
        return None, name
    return img, name
