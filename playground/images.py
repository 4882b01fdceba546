"""The one way untrusted bytes become an RGB image.

Every photo a user hands the playground (an upload, a camera shot, a file on the
command line, an image inside a dataset zip) goes through :func:`load_image`.
It accepts only a short list of formats, refuses decompression bombs before
decoding, decodes fully inside the guard (so a truncated file fails here, not
later in a model), applies the EXIF orientation, and converts every pixel mode
(palette, alpha, CMYK, 16-bit) to plain 8-bit RGB the way a viewer would show it.
"""
from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from playground.errors import PlaygroundError

__all__ = [
    "ImageError",
    "load_image",
    "ALLOWED_FORMATS",
    "UPLOAD_TYPES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_DRAFT_SIZE",
    "MAX_DECLARED_PIXELS",
    "MAX_FILE_BYTES",
    "MAX_ASPECT_RATIO",
]

# Pillow format names we are willing to parse; everything else is never handed to a decoder.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
# File extensions for upload widgets (the same list, as users spell it).
UPLOAD_TYPES: tuple[str, ...] = ("jpg", "jpeg", "png", "webp", "gif", "bmp")
_FORMATS_TEXT = "JPEG, PNG, WebP, GIF or BMP"

# Most pixels we decode (after JPEG draft reduction): 40 MP is 120 MB as RGB.
DEFAULT_MAX_PIXELS = 40_000_000
# Most pixels a header may declare at all, even for a JPEG we would shrink while decoding.
# Just above Pillow's own bomb threshold (Image.MAX_IMAGE_PIXELS, about 89.5 MP).
MAX_DECLARED_PIXELS = 90_000_000
# Biggest file we read from disk: a 40 MP PNG fits with room to spare.
MAX_FILE_BYTES = 200 * 1024 * 1024
# Longest side over shortest side. Real photos (even panoramas) stay under ~10:1; a 100000x1 strip is
# 375 bytes of PNG that every "resize the short side" step would blow up to gigabytes, and a strip
# over ~1460:1 crashes st.image outright (its height rounds to 0).
MAX_ASPECT_RATIO = 20
# JPEGs are decoded at the smallest 1/2, 1/4 or 1/8 scale that still covers this size
# (draft mode): twice a 224-pixel model input, so a 12 MP phone photo decodes ~16x faster.
DEFAULT_DRAFT_SIZE: tuple[int, int] = (448, 448)

_WHITE = (255, 255, 255)
_ORIENTATION = 0x0112  # EXIF tag number


class ImageError(PlaygroundError):
    """An image file that cannot be used, with a one-line reason naming the file."""


def load_image(
    source: bytes | str | os.PathLike[str],
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: tuple[int, int] | None = DEFAULT_DRAFT_SIZE,
) -> Image.Image:
    """Decode an untrusted image into a fully loaded 8-bit RGB PIL image.

    ``source`` is the file's bytes or a path. ``name`` is how messages refer to
    the file (default: the path, or ``"image"`` for bytes). ``max_pixels`` caps
    the decoded size; ``draft_size`` lets JPEGs decode at a reduced scale that
    still covers that size (``None`` decodes at full size).

    Raises :class:`ImageError` with a one-line reason for an empty, unreadable,
    unsupported, truncated, oversized or too long and thin (over ``MAX_ASPECT_RATIO``:1) file.
    """
    data, label = _read_source(source, name)
    if not data:
        raise ImageError(f"{label}: the file is empty; choose a {_FORMATS_TEXT} image")
    try:
        # Pillow warns (DecompressionBombWarning) above MAX_IMAGE_PIXELS and raises above twice
        # that. We escalate the warning to an error here; our own explicit size checks below
        # are the real guard, so the process-wide warnings filter racing with another thread
        # can at worst turn this belt-and-braces check off, never the limit itself.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
            _check_declared_size(img, label, max_pixels)
            # (Many phones write MPO: a JPEG with extra pictures appended; Pillow opens it as MPO.)
            if draft_size is not None and img.format in ("JPEG", "MPO"):
                img.draft("RGB", draft_size)
            if img.width * img.height > max_pixels:
                raise ImageError(
                    f"{label}: {img.width}x{img.height} is {_mp(img.width * img.height)}, "
                    f"over the {_mp(max_pixels)} limit; resize it and try again"
                )
            img.seek(0)  # first frame of an animation
            img.load()  # full decode now, inside the guard: truncated data fails here
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not a {_FORMATS_TEXT} image (or the file is damaged)") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageError(
            f"{label}: too many pixels to decode safely (over {_mp(MAX_DECLARED_PIXELS)}); "
            "resize it and try again"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        # Pillow words truncation several ways ("Truncated File Read", "image file is truncated ...").
        if "truncated" in reason.lower():
            what = "the file is cut short (truncated)"
        else:
            what = f"the image data is damaged or truncated ({reason})"
        raise ImageError(f"{label}: {what}; re-export or re-save it") from None
    return _to_rgb(_apply_orientation(img), label)


def _read_source(source: bytes | str | os.PathLike[str], name: str | None) -> tuple[bytes, str]:
    """The file's bytes and the label messages use for it."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name or "image"
    path = Path(source)
    label = name or str(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImageError(f"{label}: not a file; give the path of an image file")
        if size > MAX_FILE_BYTES:
            raise ImageError(
                f"{label}: the file is {size / 2**20:.0f} MB, over the {MAX_FILE_BYTES // 2**20} MB limit; "
                "resize or recompress it"
            )
        return path.read_bytes(), label
    except FileNotFoundError:
        raise ImageError(f"{label}: no such file; check the path") from None
    except PermissionError:
        raise ImageError(f"{label}: permission denied; check the file's permissions") from None
    except IsADirectoryError:
        raise ImageError(f"{label}: not a file; give the path of an image file") from None
    except OSError as exc:
        raise ImageError(f"{label}: cannot read the file ({exc.strerror or exc})") from None


def _mp(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} MP"


def _check_declared_size(img: Image.Image, label: str, max_pixels: int) -> None:
    """Refuse absurd header sizes and shapes before any pixel is decoded."""
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageError(f"{label}: the image has no pixels ({w}x{h})")
    if max(w, h) > MAX_ASPECT_RATIO * min(w, h):
        raise ImageError(
            f"{label}: {w}x{h} is too long and thin ({max(w, h) / min(w, h):,.0f}:1; the limit is "
            f"{MAX_ASPECT_RATIO}:1); crop it closer to square and try again"
        )
    limit = max(max_pixels, MAX_DECLARED_PIXELS)
    # A JPEG may declare more than max_pixels when draft mode will shrink it; nothing may
    # declare more than the hard limit.
    if w * h > limit:
        raise ImageError(
            f"{label}: {w}x{h} is {_mp(w * h)}, over the {_mp(limit)} limit; resize it and try again"
        )


def _apply_orientation(img: Image.Image) -> Image.Image:
    """Rotate/flip as the camera's EXIF orientation tag says (phones store photos sideways)."""
    try:
        if img.getexif().get(_ORIENTATION, 1) in (1, None):
            return img  # nothing to do; skip exif_transpose's full copy
        return ImageOps.exif_transpose(img)
    except Exception:  # a malformed EXIF block must not sink an otherwise fine photo
        return img


def _to_rgb(img: Image.Image, label: str) -> Image.Image:
    """8-bit RGB as a viewer would show it: alpha on white, 16-bit scaled, palette/CMYK converted."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey = _wide_to_uint8(np.asarray(img), sixteen_bit=mode.startswith("I;16"))
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "P":
        # Palette images may carry transparency (a colour index or per-entry alpha).
        alpha = "transparency" in img.info or (img.palette is not None and img.palette.mode == "RGBA")
        img = img.convert("RGBA" if alpha else "RGB")
        mode = img.mode
        if mode == "RGB":
            return img
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("1", "L", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return img.convert("RGB")
    raise ImageError(f"{label}: unsupported pixel mode {mode}; re-save it as 8-bit RGB")


def _wide_to_uint8(arr: np.ndarray, *, sixteen_bit: bool) -> np.ndarray:
    """16-bit (or 32-bit/float) greyscale -> 8-bit. Pillow's own convert clips at 255, which
    would turn most 16-bit photos white, so scale the full 16-bit range down instead.

    A declared 16-bit mode is always scaled; a 32-bit one only when its values exceed 8 bits."""
    if arr.dtype.kind == "f":
        top = 255.0 if float(np.nanmax(arr, initial=0.0)) <= 255.0 else 65535.0
        return (np.clip(np.nan_to_num(arr) / top, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    wide = np.clip(arr.astype(np.int64), 0, 65535)
    if sixteen_bit or wide.max(initial=0) > 255:
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    return wide.astype(np.uint8)
