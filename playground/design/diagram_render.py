"""The network diagram's two renderers, from one :class:`~playground.design.diagram_layout.Layout`:
an SVG string (shown on the page, downloaded for papers) and a PNG drawn with Pillow (for slides).

Both draw the same boxes, faces, lines and texts; the PNG needs no browser and no internet (Pillow's
bundled font at the label size). Texts are escaped for the SVG, though the layout only ever holds fixed
words, layer types from the spec's set and numbers.
"""
from __future__ import annotations

import html
import io
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from playground.design.diagram_layout import Circle, Layout, Line, Poly, Rect, Text
from playground.errors import PlaygroundError

__all__ = ["to_svg", "to_png", "PNG_SCALE", "PNG_MAX_PIXELS"]

PNG_SCALE = 2  # PNG pixels per layout pixel: sharp on slides and high-density screens
PNG_MAX_PIXELS = 40_000_000  # 120 MB of RGB at most (a 400-layer stage is about 75 MP at twice the size)


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _merge_sign(c: Circle) -> list[tuple[float, float, float, float]]:
    """The strokes of a merge's sign inside its circle: + (add), × (multiply), ‖ (concat)."""
    k = c.r * 0.55
    if c.merge == "concat":
        return [(c.cx - 3, c.cy - k, c.cx - 3, c.cy + k), (c.cx + 3, c.cy - k, c.cx + 3, c.cy + k)]
    if c.merge == "mul":
        d = k * 0.8
        return [(c.cx - d, c.cy - d, c.cx + d, c.cy + d), (c.cx - d, c.cy + d, c.cx + d, c.cy - d)]
    return [(c.cx - k, c.cy, c.cx + k, c.cy), (c.cx, c.cy - k, c.cx, c.cy + k)]


def to_svg(layout: Layout) -> str:
    """The layout as a standalone SVG document (``width``/``height`` in pixels, a matching viewBox)."""
    w, h = _num(layout.width), _num(layout.height)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
             f'font-family="DejaVu Sans, Verdana, sans-serif">']
    for s in layout.shapes:
        if isinstance(s, Rect):
            attrs = (f'x="{_num(s.x)}" y="{_num(s.y)}" width="{_num(s.w)}" height="{_num(s.h)}" fill="{s.fill}" '
                     f'stroke="{s.stroke}" stroke-width="{_num(s.stroke_width)}"')
            if s.dashed:
                attrs += ' stroke-dasharray="4,3"'
            if s.opacity < 1:
                attrs += f' fill-opacity="{_num(s.opacity)}"'
            title = f"<title>{html.escape(s.title)}</title>" if s.title else ""
            parts.append(f'<rect {attrs} data-role="{s.role}">{title}</rect>' if title
                         else f'<rect {attrs} data-role="{s.role}"/>')
        elif isinstance(s, Poly):
            points = " ".join(f"{_num(x)},{_num(y)}" for x, y in s.points)
            parts.append(f'<polygon points="{points}" fill="{s.fill}" stroke="{s.stroke}" stroke-width="0.8"/>')
        elif isinstance(s, Line):
            parts.append(f'<line x1="{_num(s.x1)}" y1="{_num(s.y1)}" x2="{_num(s.x2)}" y2="{_num(s.y2)}" '
                         f'stroke="{s.stroke}" stroke-width="{_num(s.width)}"/>')
        elif isinstance(s, Circle):
            sign = "".join(f'<line x1="{_num(a)}" y1="{_num(b)}" x2="{_num(c)}" y2="{_num(d)}"/>'
                           for a, b, c, d in _merge_sign(s))
            parts.append(f'<g data-merge="{s.merge}" stroke="{s.stroke}" stroke-width="{_num(s.width)}">'
                         f'<circle cx="{_num(s.cx)}" cy="{_num(s.cy)}" r="{_num(s.r)}" fill="#ffffff"/>{sign}</g>')
        elif isinstance(s, Text):
            weight = ' font-weight="bold"' if s.bold else ""
            parts.append(f'<text x="{_num(s.x)}" y="{_num(s.y)}" font-size="{_num(s.size)}" '
                         f'text-anchor="{s.anchor}" fill="{s.fill}"{weight}>{html.escape(s.text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


@lru_cache(maxsize=8)
def _font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    """DejaVu Sans (the SVG's first font) where installed, else Pillow's bundled one; and whether it
    has the × sign (the bundled font lacks it: shapes are then written 64x56x56)."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size), True
    except OSError:
        return ImageFont.load_default(size=size), False


def _rgba(colour: str, opacity: float = 1.0) -> tuple[int, int, int, int] | None:
    if not colour.startswith("#"):
        return None
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), round(255 * opacity))


def _dashed_rect(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float],
                 colour: tuple[int, int, int, int], width: int, dash: float) -> None:
    """A dashed outline (Pillow has none): each side as dashes of ``dash`` pixels, gaps as long."""
    x0, y0, x1, y1 = box
    for ax, ay, bx, by in ((x0, y0, x1, y0), (x1, y0, x1, y1), (x0, y1, x1, y1), (x0, y0, x0, y1)):
        length = max(bx - ax, by - ay)
        t = 0.0
        while t < length:
            e = min(length, t + dash)
            if ax == bx:
                draw.line((ax, ay + t, ax, ay + e), fill=colour, width=width)
            else:
                draw.line((ax + t, ay, ax + e, ay), fill=colour, width=width)
            t += 2 * dash


def to_png(layout: Layout, scale: int = PNG_SCALE) -> bytes:
    """The layout drawn with Pillow at ``scale`` pixels per layout pixel, as PNG bytes
    (``ceil(width·scale) × ceil(height·scale)`` pixels)."""
    # A tall design at twice the size is tens of megapixels (400 layers: 960 x 78,498): drawn at the size shown
    # past PNG_MAX_PIXELS, and never past it at all.
    while scale > 1 and layout.width * layout.height * scale * scale > PNG_MAX_PIXELS:
        scale -= 1
    if layout.width * layout.height * scale * scale > PNG_MAX_PIXELS:
        raise PlaygroundError(f"the diagram is {layout.width:,.0f} × {layout.height:,.0f} pixels, too large for a PNG "
                              f"(at most {PNG_MAX_PIXELS / 1e6:.0f} megapixels): fold some stages, or download the SVG")
    size = (int(-(-layout.width * scale // 1)), int(-(-layout.height * scale // 1)))
    image = Image.new("RGB", size, "#ffffff")
    draw = ImageDraw.Draw(image, "RGBA")  # RGBA: the field marks blend over the blocks

    def px(v: float) -> float:
        return v * scale

    for s in layout.shapes:
        if isinstance(s, Rect):
            box = (px(s.x), px(s.y), px(s.x + s.w), px(s.y + s.h))
            stroke, width = _rgba(s.stroke), max(1, round(s.stroke_width * scale))
            if s.dashed:
                if (fill := _rgba(s.fill, s.opacity)) is not None:
                    draw.rectangle(box, fill=fill)
                if stroke is not None:
                    _dashed_rect(draw, box, stroke, width, 4 * scale)
            else:
                draw.rectangle(box, fill=_rgba(s.fill, s.opacity), outline=stroke, width=width)
        elif isinstance(s, Poly):
            draw.polygon([(px(x), px(y)) for x, y in s.points], fill=_rgba(s.fill), outline=_rgba(s.stroke))
        elif isinstance(s, Line):
            draw.line((px(s.x1), px(s.y1), px(s.x2), px(s.y2)), fill=_rgba(s.stroke),
                      width=max(1, round(s.width * scale)))
        elif isinstance(s, Circle):
            width = max(1, round(s.width * scale))
            draw.ellipse((px(s.cx - s.r), px(s.cy - s.r), px(s.cx + s.r), px(s.cy + s.r)), fill="#ffffff",
                         outline=_rgba(s.stroke), width=width)
            for a, b, c, d in _merge_sign(s):
                draw.line((px(a), px(b), px(c), px(d)), fill=_rgba(s.stroke), width=width)
        elif isinstance(s, Text):
            font, has_times = _font(round(s.size * scale))
            text = s.text if has_times else s.text.replace("×", "x")
            draw.text((px(s.x), px(s.y)), text, fill=_rgba(s.fill), font=font,
                      anchor="ms" if s.anchor == "middle" else "ls", stroke_width=1 if s.bold else 0,
                      stroke_fill=_rgba(s.fill) if s.bold else None)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
