"""Pictures the server already encoded, shown as they are (no server-side resize or re-encode)."""
from __future__ import annotations

import streamlit as st
from PIL import Image

from playground.models.serving import ImageView, serving

__all__ = ["show_image", "show_photo"]


def show_image(view: ImageView, caption: str | None = None, width: int | str = "stretch", where: object = st) -> None:
    """``st.image`` of pre-encoded bytes at a width that needs no server-side resize."""
    fmt = "JPEG" if view.data[:2] == b"\xff\xd8" else "PNG"
    where.image(view.data, caption=caption, width=width, output_format=fmt)  # type: ignore[attr-defined]


def show_photo(img: Image.Image, caption: str | None = None, width: int | str = "stretch") -> None:
    """The photo, from its cached display copy (a JPEG at most PHOTO_MAX_SIDE pixels)."""
    show_image(serving().photo(img), caption=caption, width=width)

