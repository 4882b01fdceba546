"""A model's preprocessing: resize, centre-crop and normalise a photo exactly as in its training.

:class:`Preprocess` is data (sizes, statistics, interpolation), stored in each registry entry and in
a fine-tuned model's ``meta.json``; calling it turns a PIL image into the model's input tensor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torchvision.transforms.functional as TF
from PIL import Image

__all__ = ["Preprocess", "MAX_PREPROCESS_SIDE"]

MAX_PREPROCESS_SIDE = 4096  # a resize or crop beyond this is a corrupt meta.json, not a real model
_PIL_FILTERS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
                "bicubic": Image.Resampling.BICUBIC}
_INTERPOLATIONS = tuple(_PIL_FILTERS)
# Half-width of each filter's kernel in output pixels (Pillow's `support`), widened by the scale
# when shrinking; one extra source row each side absorbs the rounding of the box.
_SUPPORT = {"nearest": 0.5, "bilinear": 1.0, "bicubic": 2.0}
_MARGIN_ROWS = 1


@dataclass(frozen=True)
class Preprocess:
    """Resize the shorter side to ``resize``, centre-crop ``crop`` x ``crop``, scale to [0, 1],
    normalise with ``mean``/``std``: exactly what the model saw in training."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"

    def crop_image(self, img: Image.Image) -> Image.Image:
        """The resized, centre-cropped RGB image the model is shown (before normalising).

        Same geometry as torchvision's ``Resize(resize)`` + ``CenterCrop(crop)`` (zero padding where
        the crop is larger than the resized image), but only the cropped region is ever resampled:
        nothing much larger than ``crop`` x ``crop`` is allocated, however long and thin the photo
        (the two-step way upscales a 100000x1 strip to 25.6 M x 256 pixels, about 20 GB, first),
        and it is about 2.5x faster on a photo. The two passes are Pillow's own, in its order
        (horizontal, then vertical) and at the full resize's scale, so the result equals the
        two-step one within one grey level (float rounding of the box) at a few pixels.
        """
        if img.mode != "RGB":
            img = img.convert("RGB")
        w, h = img.size
        # torchvision's Resize(int): the shorter side becomes `resize`, the longer is truncated.
        nw, nh = (self.resize, int(self.resize * h / w)) if w <= h else (int(self.resize * w / h), self.resize)
        nw, nh = max(nw, 1), max(nh, 1)
        # CenterCrop, in resized coordinates: the crop's first column/row (negative = zero padding).
        left, top = _crop_offset(nw, self.crop), _crop_offset(nh, self.crop)
        x0, x1 = max(left, 0), min(left + self.crop, nw)  # the part of the crop inside the resized image
        y0, y1 = max(top, 0), min(top + self.crop, nh)
        region = _resample_box(img, (nw, nh), (x0, y0, x1, y1), self.interpolation)
        if region.size == (self.crop, self.crop):
            return region
        out = Image.new("RGB", (self.crop, self.crop))  # CenterCrop pads with zeros
        out.paste(region, (x0 - left, y0 - top))
        return out

    def __call__(self, img: Image.Image) -> torch.Tensor:
        """PIL image -> normalised float tensor (3, crop, crop)."""
        x = TF.pil_to_tensor(self.crop_image(img)).float().div_(255.0)  # (3, crop, crop) in [0, 1]
        return TF.normalize(x, list(self.mean), list(self.std))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what a fine-tuned model's meta.json stores)."""
        return {"resize": self.resize, "crop": self.crop, "mean": list(self.mean),
                "std": list(self.std), "interpolation": self.interpolation}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        """Inverse of :meth:`to_dict`; raises ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("preprocess must be an object")
        try:
            resize, crop = int(data["resize"]), int(data["crop"])
            mean = tuple(float(v) for v in data["mean"])
            std = tuple(float(v) for v in data["std"])
            interpolation = str(data.get("interpolation", "bilinear"))
        except KeyError as exc:
            raise ValueError(f"preprocess is missing {exc.args[0]!r}") from None
        except (TypeError, ValueError):
            raise ValueError("preprocess has a non-numeric resize, crop, mean or std") from None
        if not (1 <= resize <= MAX_PREPROCESS_SIDE and 1 <= crop <= MAX_PREPROCESS_SIDE):
            raise ValueError(f"preprocess resize/crop must be 1..{MAX_PREPROCESS_SIDE} pixels, got {resize}/{crop}")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError("preprocess mean and std need 3 values each, std above 0")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"preprocess interpolation must be one of {', '.join(_INTERPOLATIONS)}")
        return cls(resize, crop, mean, std, interpolation)


def _crop_offset(size: int, crop: int) -> int:
    """Where torchvision's ``CenterCrop(crop)`` starts along a side of ``size`` pixels.

    Inside the image: ``round((size - crop) / 2)``. A crop larger than the side first pads it with
    ``(crop - size) // 2`` zeros before, so the crop starts that far before the image (negative)."""
    if crop <= size:
        return int(round((size - crop) / 2.0))
    return -((crop - size) // 2)


def _resample_box(img: Image.Image, resized: tuple[int, int], crop: tuple[int, int, int, int],
                  interpolation: str) -> Image.Image:
    """Pixels ``crop`` = (x0, y0, x1, y1) of ``img`` resized to ``resized``, without resizing the rest.

    Pillow resizes horizontally, then vertically, rounding to 8 bits in between. Doing the same two
    passes on boxes (the source rows the vertical pass reads, then the crop's rows) gives the same
    numbers as cropping the full resize; a single 2-D box resize would round differently."""
    (w, h), (nw, nh) = img.size, resized
    x0, y0, x1, y1 = crop
    sy = h / nh  # source rows per resized row
    flt = _PIL_FILTERS[interpolation]
    bx0, bx1 = x0 * w / nw, min(x1 * w / nw, w)
    by0, by1 = y0 * h / nh, min(y1 * h / nh, h)
    if interpolation == "nearest":  # no filter, so no intermediate rounding to match: one pass
        return img.resize((x1 - x0, y1 - y0), flt, box=(bx0, by0, bx1, by1))
    reach = _SUPPORT[interpolation] * max(sy, 1.0)  # source rows each output row reads, each side
    r0 = max(int(math.floor(by0 - reach)) - _MARGIN_ROWS, 0)
    r1 = min(int(math.ceil(by1 + reach)) + _MARGIN_ROWS, h)
    rows = img.resize((x1 - x0, r1 - r0), flt, box=(bx0, r0, bx1, r1))  # horizontal pass only
    if (y0, y1) == (0, nh) and (r0, r1) == (0, h) and sy == 1.0:
        return rows
    return rows.resize((x1 - x0, y1 - y0), flt, box=(0, by0 - r0, x1 - x0, by1 - r0))  # vertical pass
