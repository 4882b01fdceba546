"""Real sample photos that ship offline with scikit-image.

Used by the Predict page, the designer's receptive-field view and the Concepts
page, so every page offers the same photos under the same names.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from PIL import Image

__all__ = ["SAMPLE_PHOTOS", "load_sample"]


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data  # imported lazily: skimage is slow to import

        return getattr(data, name)()

    return load


# Display name -> loader. All are colour photographs in skimage.data (no download).
SAMPLE_PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "Coffee cup": _skimage("coffee"),
    "Cat (Chelsea)": _skimage("chelsea"),
    "Astronaut": _skimage("astronaut"),
    "Rocket": _skimage("rocket"),
    "Motorcycle (left view)": lambda: _skimage("stereo_motorcycle")()[0],
    "Hubble deep field": _skimage("hubble_deep_field"),
}


@cache
def load_sample(name: str) -> Image.Image:
    """Return the named sample photo as an RGB PIL image (treat it as read-only)."""
    try:
        loader = SAMPLE_PHOTOS[name]
    except KeyError:
        raise KeyError(f"unknown sample photo {name!r}; choose one of {sorted(SAMPLE_PHOTOS)}") from None
    return Image.fromarray(np.ascontiguousarray(loader())).convert("RGB")
