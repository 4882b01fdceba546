"""Small real datasets for the fine-tuning tests (built from scikit-learn's digits)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from playground.finetune import data as datasets

__all__ = ["TINY", "png_bytes", "tiny_digits", "make_zip"]

# Settings of a quick training run on tiny_digits (seconds on a CPU).
TINY = dict(image_size=32, batch_size=8, epochs=2)


def png_bytes(value: int = 128, size: int = 8) -> bytes:
    """A small valid grey PNG."""
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), value, np.uint8), "L").save(buf, "PNG")
    return buf.getvalue()


def tiny_digits(folder: Path, classes: int = 3, per_class: int = 12) -> datasets.Dataset:
    """The first ``per_class`` scikit-learn digits of each class 0..classes-1, as 16x16 PNGs in class folders."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for c in range(classes):
        (folder / str(c)).mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(digits.target == c)[:per_class]:
            grid = (255 - digits.images[i] * 15).astype(np.uint8)  # (8, 8), dark ink on white
            Image.fromarray(grid, "L").resize((16, 16)).save(folder / str(c) / f"{i:04d}.png")
    return datasets.from_folder(folder)


def make_zip(entries: dict[str, bytes]) -> bytes:
    """A zip with ``entries`` (name -> bytes), deflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()
