"""One widget for "give me a photo": a bundled sample, an upload, or the camera.

Every path goes through :func:`playground.images.load_image`, so an odd or
hostile file becomes a one-line message shown in place, never a traceback.
"""
from __future__ import annotations

import streamlit as st
from PIL import Image

from playground.images import UPLOAD_TYPES, ImageError, load_image
from playground.samples import SAMPLE_PHOTOS, load_sample

__all__ = ["photo_input", "SOURCES"]

SOURCES = {
    "sample": ":material/photo_library: Sample",
    "upload": ":material/upload: Upload",
    "camera": ":material/photo_camera: Camera",
}


def photo_input(key: str) -> tuple[Image.Image | None, str]:
    """Let the user pick a photo; returns (RGB image or None, its name).

    ``key`` namespaces the widgets so several pages (or several pickers on one
    page) keep separate state. Decoding errors are shown here with ``st.error``.
    """
    source = st.segmented_control(
        "Photo", list(SOURCES), format_func=SOURCES.__getitem__, default="sample",
        required=True, key=f"{key}_photo_source",
    ) or "sample"
    if source == "sample":
        name = st.selectbox("Sample photo", list(SAMPLE_PHOTOS), key=f"{key}_photo_sample",
                            help="Real photographs bundled with scikit-image.")
        return load_sample(name), name
    if source == "upload":
        file = st.file_uploader("Image file", type=list(UPLOAD_TYPES), key=f"{key}_photo_upload",
                                help="JPEG, PNG, WebP, GIF (first frame) or BMP.")
    else:
        file = st.camera_input("Take a photo", key=f"{key}_photo_camera")
    if file is None:
        st.caption("Choose a file to classify." if source == "upload" else "Take a photo to classify it.")
        return None, ""
    return _decode(key, file.file_id, file.name, file.getvalue())


def _decode(key: str, file_id: str, name: str, data: bytes) -> tuple[Image.Image | None, str]:
    """Decode once per uploaded file: reruns (a new class or layer picked) reuse the image."""
    memo_key = f"{key}_photo_decoded"
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
        st.error(str(img), icon=":material/broken_image:")
        return None, name
    return img, name
