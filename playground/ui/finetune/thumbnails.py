"""Small copies of dataset images, and strips of them in one picture, for the Fine-tune page's grids."""
from __future__ import annotations

import streamlit as st
from PIL import Image

from playground.images import load_image

__all__ = ["thumbnail", "thumbnail_strip"]


@st.cache_data(show_spinner=False, max_entries=2000)
def thumbnail(path: str, size: int = 96, name: str | None = None) -> Image.Image:
    """A small copy of a dataset image for grids, decoded through playground.images (cached).

    ``name`` is how an ImageError refers to the file (the dataset-relative path, not the server's)."""
    img = load_image(path, name=name or "image", draft_size=(size, size))
    img.thumbnail((size, size))
    return img


_TILE, _GAP = 64, 4  # pixels: one photo's square in a strip, and the gap between photos


def thumbnail_strip(tiles: list[Image.Image], side: int = _TILE, per_row: int | None = None) -> Image.Image:
    """Thumbnails in one image, each centred in a ``side``×``side`` square (white between):
    side by side, or ``per_row`` to a row (a small block)."""
    per_row = per_row or max(1, len(tiles))
    rows = -(-len(tiles) // per_row)
    strip = Image.new("RGB", (min(len(tiles), per_row) * (side + _GAP) - _GAP, rows * (side + _GAP) - _GAP), "white")
    for i, tile in enumerate(tiles):
        small = tile.convert("RGB")
        small.thumbnail((side, side))
        x, y = (i % per_row) * (side + _GAP), (i // per_row) * (side + _GAP)
        strip.paste(small, (x + (side - small.width) // 2, y + (side - small.height) // 2))
    return strip

