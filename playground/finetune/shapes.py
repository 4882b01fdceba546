"""The bundled shapes dataset: small RGB images of geometric shapes, generated (never downloaded).

:func:`render_shapes` draws a seeded, deterministic set in one vectorised numpy pass: each image
is one shape (circle, square, triangle, star or cross) at a random position, size, rotation and
colour on a textured, noisy background. Every pixel is decided by an inside test in polar
coordinates around the shape's centre, on a 2x supersampled grid averaged down (antialiasing).
:func:`write_shapes` saves it as a folder of class sub-folders, which is what
:mod:`playground.finetune.data` registers as the bundled sets ``shapes``, ``shapes64`` and
``shapes-shift`` (training shapes centred in the left half of the picture, validation shapes in
the right half: a test of translation invariance).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["SHAPE_CLASSES", "PER_CLASS", "ShapeImages", "render_shapes", "write_shapes"]

SHAPE_CLASSES = ("circle", "cross", "square", "star", "triangle")  # sorted: the class index order of a folder
PER_CLASS = 1000  # images per class in the bundled sets (5,000 in all)
# Up to 32 px each output pixel is the mean of 2x2 samples (smooth edges); larger images need it less,
# and four times the samples would cost four times the memory and time.
_SUPERSAMPLE_UP_TO = 32
_MIN_CONTRAST = 120.0  # shape vs background colour distance (0..441); closer pairs get the colour inverted
_TEXTURE = 25.0  # spread of the background blotches (grey levels)
_SIZES = (0.26, 0.40)  # a shape's half-size, as a share of the picture side
_STAR_INNER = 0.45  # a star's inner radius over its outer radius
_CROSS_ARM = 0.32  # a cross's arm half-width over its half-length


@dataclass(frozen=True)
class ShapeImages:
    """Rendered shapes: ``images`` uint8 (N, S, S, 3), ``labels`` (N,) indexing :data:`SHAPE_CLASSES`,
    ``centres`` (N, 2) each shape's centre (x, y) in pixels."""

    images: np.ndarray
    labels: np.ndarray
    centres: np.ndarray


def _edge_radius(phi: np.ndarray, points: int, inner: float) -> np.ndarray:
    """Distance from the centre to the edge, along direction ``phi``, of a shape with ``points`` outer
    vertices at radius 1 (the first at angle 0) joined through inner vertices at radius ``inner``
    halfway between them: a star, or a regular polygon when ``inner`` is cos(pi / points) (each
    edge's midpoint). Folding ``phi`` onto the first half-edge makes it one sine-rule formula."""
    half = np.float32(np.pi / points)  # angle from an outer vertex to the next inner one
    t = np.mod(phi, 2 * half)
    t = half - np.abs(t - half)  # angle from the nearest outer vertex, in [0, half]
    return inner * np.sin(half) / (np.sin(t) + inner * np.sin(half - t))


def _inside(label: int, u: np.ndarray, v: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Whether points (u, v) (shape-centred, rotated coordinates) are inside shape ``label`` of
    half-size ``size`` (broadcast against u, v)."""
    name = SHAPE_CLASSES[label]
    if name == "cross":  # two bars
        arm = size * _CROSS_ARM
        au, av = np.abs(u), np.abs(v)
        return ((au <= size) & (av <= arm)) | ((au <= arm) & (av <= size))
    dist = np.hypot(u, v)
    if name == "circle":
        return dist <= size * 0.85  # a circle of the full half-size looks bigger than the others
    phi = np.mod(np.arctan2(v, u), np.float32(2 * np.pi))
    if name == "square":
        return dist <= size * 1.05 * _edge_radius(phi, 4, float(np.cos(np.pi / 4)))
    if name == "triangle":
        return dist <= size * 1.15 * _edge_radius(phi, 3, float(np.cos(np.pi / 3)))
    return dist <= size * 1.15 * _edge_radius(phi, 5, _STAR_INNER)  # star


def _backgrounds(rng: np.random.Generator, n: int, side: int) -> np.ndarray:
    """Textured backgrounds float (N, S, S, 3) in 0..255: a random colour, a smooth low-frequency
    blotch pattern (a 4x4 grid of random shifts, bilinearly upsampled) and per-pixel noise."""
    base = rng.uniform(0, 255, (n, 3, 1, 1)).astype(np.float32)
    coarse = rng.standard_normal((n, 3, 4, 4), dtype=np.float32) * _TEXTURE
    # Bilinear upsampling of the 4x4 grid to S x S, as two small matrix products.
    pos = np.linspace(0, 3, side)
    lo = np.minimum(pos.astype(int), 2)
    frac = pos - lo
    interp = np.zeros((side, 4), dtype=np.float32)
    interp[np.arange(side), lo] = 1 - frac
    interp[np.arange(side), lo + 1] += frac
    smooth = interp @ coarse @ interp.T  # (N, 3, S, S)
    noise = rng.standard_normal((n, 3, side, side), dtype=np.float32) * 12
    return (base + smooth + noise).transpose(0, 2, 3, 1)  # (N, S, S, 3)


def render_shapes(per_class: int = PER_CLASS, *, image_size: int = 32, seed: int = 0,
                  region: str = "all") -> ShapeImages:
    """``per_class`` images of each shape, ``image_size`` pixels square, the same for the same seed.

    ``region``: where the shapes' centres may lie: "all" (anywhere the shape fits), "left" or
    "right" (that half of the picture). Shapes are about 50-80 % of the picture wide, rotated uniformly;
    labels come in blocks (class 0's images first).
    """
    if region not in ("all", "left", "right"):
        raise ValueError(f"region must be all, left or right (got {region!r})")
    rng = np.random.default_rng(seed)
    n, side = per_class * len(SHAPE_CLASSES), image_size
    labels = np.repeat(np.arange(len(SHAPE_CLASSES)), per_class)
    size = rng.uniform(_SIZES[0], _SIZES[1], n) * side  # half-size in pixels
    lo_x = size if region != "right" else np.full(n, side / 2)
    hi_x = side - size if region != "left" else np.full(n, side / 2)
    cx = rng.uniform(lo_x, np.maximum(lo_x, hi_x))
    cy = rng.uniform(size, side - size)
    angle = rng.uniform(0, 2 * np.pi, n)
    fg = rng.uniform(0, 255, (n, 3))
    bg = _backgrounds(rng, n, side)
    # Too little contrast with the background's mean colour: use the opposite colour instead.
    bg_mean = bg.mean(axis=(1, 2))
    dull = np.linalg.norm(fg - bg_mean, axis=1) < _MIN_CONTRAST
    fg[dull] = 255 - bg_mean[dull]

    ss = 2 if side <= _SUPERSAMPLE_UP_TO else 1
    fine = side * ss
    grid = ((np.arange(fine) + 0.5) / ss).astype(np.float32)  # sample positions in pixel units
    gx = grid[None, None, :] - cx[:, None, None].astype(np.float32)  # (N, 1, F)
    gy = grid[None, :, None] - cy[:, None, None].astype(np.float32)  # (N, F, 1)
    cos = np.cos(angle).astype(np.float32)[:, None, None]
    sin = np.sin(angle).astype(np.float32)[:, None, None]
    u, v = gx * cos + gy * sin, -gx * sin + gy * cos  # (N, F, F) rotated into each shape's frame
    mask = np.zeros((n, fine, fine), dtype=bool)
    for label in range(len(SHAPE_CLASSES)):
        rows = labels == label
        mask[rows] = _inside(label, u[rows], v[rows], size[rows, None, None].astype(np.float32))
    cover = mask.reshape(n, side, ss, side, ss).sum(axis=(2, 4), dtype=np.float32)
    cover = cover[..., None] / ss**2  # (N, S, S, 1): the share of each pixel the shape covers
    shade = fg[:, None, None, :].astype(np.float32) + rng.standard_normal((n, side, side, 3), dtype=np.float32) * 8
    images = np.clip(cover * shade + (1 - cover) * bg, 0, 255).round().astype(np.uint8)  # (N, S, S, 3)
    return ShapeImages(images, labels, np.stack([cx, cy], axis=1))


def write_shapes(dest: Path, *, image_size: int = 32, per_class: int = PER_CLASS, seed: int = 0,
                 shift: bool = False) -> list[str] | None:
    """Save a shapes set as PNGs in ``dest/<class>/<index>.png``.

    With ``shift``, the training images have their shapes in the left half and a second set (the
    validation images, a quarter as many) in the right half; returns the validation images' paths
    (relative to ``dest``), the split the dataset must keep. Without it, None: any split will do.
    """
    from PIL import Image

    sets = [("", render_shapes(per_class, image_size=image_size, seed=seed, region="left" if shift else "all"))]
    if shift:
        sets.append(("val-", render_shapes(max(2, per_class // 4), image_size=image_size, seed=seed + 1,
                                           region="right")))
    val: list[str] = []
    for prefix, shapes in sets:
        for i, (pixels, label) in enumerate(zip(shapes.images, shapes.labels)):
            folder = dest / SHAPE_CLASSES[int(label)]
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{prefix}{i:04d}.png"
            Image.fromarray(pixels, mode="RGB").save(folder / name, compress_level=1)  # small files, fast
            if prefix:
                val.append(f"{SHAPE_CLASSES[int(label)]}/{name}")
    return val if shift else None

