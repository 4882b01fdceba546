"""The one "give me a photo" widget, which several pages share.

The photo widget offers a bundled sample, an upload, or the camera. Every path goes through
:func:`playground.images.load_image`, so an odd or hostile file becomes a one-line message
shown in place, never a traceback.

Browsers give the camera (``getUserMedia``) only to a *secure context*: a page served over HTTPS, or from
the local machine (``localhost``, ``*.localhost``, ``127.0.0.0/8``, ``[::1]``). On a class server reached
as ``http://<lab-ip>:8501`` the camera widget's "Take Photo" stays disabled with no reason given, so the
page says why. It can tell without any JavaScript of its own: ``st.context.url`` is the address the
browser shows, and :func:`secure_context` applies the browser's rule to it (the browser test checks that
it agrees with ``window.isSecureContext``).

The camera widget shows the shot it took in place of the live view, so a page should not show the photo
again (:func:`from_camera`); the shot is named :data:`CAMERA_NAME`, not the widget's generated
``camera-input-2025-01-01T12_00_00.000Z.jpg``.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import streamlit as st
from PIL import Image
from streamlit.runtime.uploaded_file_manager import UploadedFile

from playground.images import UPLOAD_TYPES, ImageError, load_image
from playground.samples import SAMPLE_PHOTOS, load_sample
from playground.ui.text import show_error
from playground.ui.widget_state import widget_key

__all__ = ["photo_input", "SOURCES", "PHOTO_SOURCE", "PHOTO_SAMPLE", "PHOTO_UPLOAD", "PHOTO_CAMERA",
           "camera_photo", "secure_context", "from_camera", "CAMERA_NAME", "CAMERA_NEEDS_HTTPS"]

# The photo picker's widgets, as parts of their keys: see widget_key
PHOTO_SOURCE, PHOTO_SAMPLE = "photo_source", "photo_sample"
PHOTO_UPLOAD, PHOTO_CAMERA = "photo_upload", "photo_camera"
_PHOTO_DECODED = "photo_decoded"  # the memo of the last decoded upload (not a widget)

CAMERA_NAME = "Camera photo"
CAMERA_NEEDS_HTTPS = ("The camera works only over HTTPS or on localhost; ask your teacher for the https "
                      "address or upload a photo.")


def secure_context(url: str | None) -> bool | None:
    """Whether a page at ``url`` is a secure context (so a browser lets it use the camera); None when
    there is no address to judge (no browser, e.g. a script run) or the scheme is not http(s).

    The W3C "potentially trustworthy origin" rule as browsers apply it to a top-level page: https, or
    http to a loopback host.
    """
    if not url:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return True
    if scheme != "http":
        return None
    host = (parts.hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: the browser does not resolve it to decide
        return False


def from_camera(key: str) -> bool:
    """Whether the photo picker drawn with namespace ``key`` is on the camera, whose widget already
    shows the shot it took (a page showing the photo too would show it twice)."""
    return st.session_state.get(widget_key(key, PHOTO_SOURCE)) == "camera"


def camera_photo(key: str) -> UploadedFile | None:
    """``st.camera_input`` under ``key``, with the reason above it when this address cannot have a camera.

    The widget is still drawn on an address judged insecure: a browser started with a flag that trusts
    the address would give it a camera, and a disabled button under the reason misleads nobody.
    """
    secure = secure_context(st.context.url)
    if secure is False:
        st.warning(CAMERA_NEEDS_HTTPS, icon=":material/no_photography:")
    file = st.camera_input("Take a photo", key=key)
    if secure is None:  # no address to judge: say it once, quietly
        st.caption(CAMERA_NEEDS_HTTPS)
    elif secure and file is None:
        st.caption("Take a photo to classify it.")
    return file


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
