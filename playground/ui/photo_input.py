"""The camera part of the photo picker: one shot, one short name, and a word when the camera cannot work.

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
from streamlit.runtime.uploaded_file_manager import UploadedFile

__all__ = ["camera_photo", "secure_context", "from_camera", "CAMERA_NAME", "CAMERA_NEEDS_HTTPS"]

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
    from playground.ui.common import PHOTO_SOURCE, widget_key  # common builds its picker on this module

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
