"""Draw one output unit's receptive field and the layer's stride grid on a photo.

Geometry follows the analysis (Araujo, Norris & Sim, Distill 2019): input pixel i sits
at coordinate i; output unit u of a layer is centred at ``start + u * jump`` and sees
the ``receptive_field`` pixels centred there. Coordinates below 0 or past the last
pixel are zero padding: the picture shows that part on a grey margin.

Pure functions: PIL image in, PIL image out. No streamlit here.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageOps

from playground.spec.window import Pair

__all__ = ["UnitField", "RFView", "unit_field", "unit_centre", "fit_photo", "draw_receptive_field"]

# Colours (RGBA): field outline/fill, chosen unit's centre, other units' centres, padding margin.
_BOX = (255, 64, 32, 255)
_FILL = (255, 64, 32, 70)
_CENTRE = (255, 255, 0, 255)
_GRID = (0, 200, 255, 255)
_MARGIN = (150, 150, 150, 255)
_MIN_GRID_SPACING = 6  # display pixels between two drawn grid centres; denser grids are thinned


def _pair(v: int | float | Sequence[int | float]) -> tuple[float, float]:
    if isinstance(v, (int, float)):
        return float(v), float(v)
    h, w = v
    return float(h), float(w)


@dataclass(frozen=True)
class UnitField:
    """Where one output unit looks, in input-pixel coordinates (rows, columns inclusive).

    ``top..bottom`` / ``left..right`` may lie outside the image (zero padding);
    ``clipped`` is the part inside the image, or None when the field misses it entirely.
    """

    unit: Pair
    centre: tuple[float, float]          # (y, x)
    top: int
    left: int
    bottom: int
    right: int
    clipped: tuple[int, int, int, int] | None  # (top, left, bottom, right) inside the image
    input_hw: Pair

    @property
    def size(self) -> Pair:
        """Height and width of the whole field in pixels (the receptive field)."""
        return self.bottom - self.top + 1, self.right - self.left + 1

    @property
    def inside_fraction(self) -> float:
        """Share of the field's area that falls on real image pixels (the rest is padding)."""
        if self.clipped is None:
            return 0.0
        top, left, bottom, right = self.clipped
        h, w = self.size
        return (bottom - top + 1) * (right - left + 1) / (h * w)

    @property
    def overhang(self) -> dict[str, int]:
        """Pixels of the field beyond each image edge (0 where it stays inside)."""
        h, w = self.input_hw
        return {"top": max(0, -self.top), "left": max(0, -self.left),
                "bottom": max(0, self.bottom - (h - 1)), "right": max(0, self.right - (w - 1))}


def unit_centre(jump: float | Sequence[float], start: float | Sequence[float], unit: Pair) -> tuple[float, float]:
    """Input coordinate (y, x) of the centre of output unit ``unit = (row, col)``."""
    (jy, jx), (sy, sx) = _pair(jump), _pair(start)
    return sy + unit[0] * jy, sx + unit[1] * jx


def unit_field(receptive_field: float | Sequence[float], jump: float | Sequence[float],
               start: float | Sequence[float], unit: Pair, input_hw: Pair) -> UnitField:
    """The field of output unit ``unit = (row, col)`` of a layer, for an input of ``input_hw``."""
    rh, rw = _pair(receptive_field)
    cy, cx = unit_centre(jump, start, unit)
    # The field is centred on the unit: (r - 1) / 2 pixels either side. start and r always
    # have matching parity, so these are whole pixel indices; round() only absorbs float noise.
    top, left = round(cy - (rh - 1) / 2), round(cx - (rw - 1) / 2)
    bottom, right = top + int(rh) - 1, left + int(rw) - 1
    h, w = input_hw
    ct, cl, cb, cr = max(top, 0), max(left, 0), min(bottom, h - 1), min(right, w - 1)
    clipped = (ct, cl, cb, cr) if ct <= cb and cl <= cr else None
    return UnitField((int(unit[0]), int(unit[1])), (cy, cx), top, left, bottom, right, clipped, (int(h), int(w)))


def fit_photo(photo: Image.Image, channels: int, input_hw: Pair) -> Image.Image:
    """The photo as the network would see it: centre-cropped to the input's aspect ratio,
    resized to exactly ``input_hw`` (H, W), grey when the input has one channel."""
    h, w = input_hw
    img = ImageOps.fit(photo.convert("RGB"), (int(w), int(h)), method=Image.Resampling.BILINEAR)
    return img.convert("L").convert("RGB") if channels == 1 else img


@dataclass(frozen=True)
class RFView:
    """The drawing plus what it shows (for the caption)."""

    image: Image.Image
    field: UnitField
    grid_step: int     # every grid_step-th unit centre is drawn (1 = all of them)
    scale: float       # display pixels per input pixel


def _layer_margin(rf: tuple[float, float], jump: tuple[float, float], start: tuple[float, float],
                  output_hw: Pair, input_hw: Pair) -> tuple[int, int]:
    """Grey margin (rows, cols) to draw around the image: the largest overhang of any unit of
    the layer (so the picture does not jump while the unit moves), at most half the image."""
    out = []
    for r, j, s, n, size in zip(rf, jump, start, output_hw, input_hw):
        first = -(s - (r - 1) / 2)
        last = s + (n - 1) * j + (r - 1) / 2 - (size - 1)
        out.append(int(min(max(0.0, first, last), size // 2)))
    return out[0], out[1]


def draw_receptive_field(photo: Image.Image, *, input_shape: Sequence[int], receptive_field: int | Sequence[int],
                         jump: float | Sequence[float], start: float | Sequence[float],
                         output_hw: Pair, unit: Pair, max_side: int = 480,
                         grid_spacing: float = _MIN_GRID_SPACING) -> RFView:
    """Draw the field of output unit ``unit = (row, col)`` of a layer and the centres of all its units.

    ``photo`` (any size) is shown as the network sees it (:func:`fit_photo` to
    ``input_shape`` = (C, H, W)), scaled so the picture's longer side is about
    ``max_side`` pixels; small inputs keep their pixels visible as blocks. ``grid_spacing``: the fewest
    display pixels between two drawn unit centres (a denser grid is thinned to every n-th unit).
    """
    channels, in_h, in_w = (int(v) for v in input_shape)
    rf, jp, st = _pair(receptive_field), _pair(jump), _pair(start)
    box = unit_field(rf, jp, st, unit, (in_h, in_w))
    my, mx = _layer_margin(rf, jp, st, output_hw, (in_h, in_w))
    scale = max_side / max(in_h + 2 * my, in_w + 2 * mx)

    def to_px(y: float, x: float) -> tuple[float, float]:
        # Input coordinate (pixel centre) -> display coordinate of that pixel's top-left corner.
        return (x + mx) * scale, (y + my) * scale

    canvas_w, canvas_h = round((in_w + 2 * mx) * scale), round((in_h + 2 * my) * scale)
    canvas = Image.new("RGBA", (canvas_w, canvas_h), _MARGIN)
    size = (max(1, round(in_w * scale)), max(1, round(in_h * scale)))
    if scale >= 1:  # the network's own pixels, enlarged as blocks
        shown = fit_photo(photo, channels, (in_h, in_w)).resize(size, Image.Resampling.NEAREST)
    else:  # a large input: straight to the display size
        shown = fit_photo(photo, channels, (size[1], size[0]))
    shown = shown.convert("RGBA")
    canvas.paste(shown, (round(mx * scale), round(my * scale)))

    # The field: a translucent fill plus an outline; both clipped to the canvas, so a
    # field reaching into the padding shows on the grey margin.
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    x0, y0 = to_px(box.top, box.left)
    x1, y1 = to_px(box.bottom + 1, box.right + 1)
    x0, y0 = max(0.0, x0), max(0.0, y0)
    x1, y1 = min(canvas_w - 1.0, x1 - 1), min(canvas_h - 1.0, y1 - 1)
    if x0 <= x1 and y0 <= y1:
        draw.rectangle((x0, y0, x1, y1), fill=_FILL, outline=_BOX, width=max(2, round(scale / 4)))

    # The stride grid: centres of the layer's output units, thinned so dots stay apart.
    step = max(1, math.ceil(grid_spacing / max(1e-9, min(jp) * scale)))
    radius = max(1.0, min(3.0, min(jp) * scale * step / 5))
    out_h, out_w = output_hw
    for r in range(0, out_h, step):
        for c in range(0, out_w, step):
            y, x = unit_centre(jp, st, (r, c))
            px, py = to_px(y + 0.5, x + 0.5)
            draw.ellipse((px - radius, py - radius, px + radius, py + radius), fill=_GRID)
    px, py = to_px(box.centre[0] + 0.5, box.centre[1] + 0.5)
    big = radius + 2
    draw.ellipse((px - big, py - big, px + big, py + big), fill=_CENTRE, outline=(0, 0, 0, 255))
    return RFView(Image.alpha_composite(canvas, overlay).convert("RGB"), box, step, scale)
