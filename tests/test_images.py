"""playground.images: every hostile or odd file is either a correct RGB image or a one-line ImageError.

All test images are generated here (no binary fixtures in the repo).
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from playground.errors import PlaygroundError
from playground.images import DEFAULT_DRAFT_SIZE, MAX_ASPECT_RATIO, ImageError, load_image


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height (a decompression bomb's calling card)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def photo_like(width: int, height: int) -> Image.Image:
    """A smooth colour gradient (compresses like a photo, unlike noise)."""
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], -1)
    return Image.fromarray(arr.astype(np.uint8))


def assert_error(data: bytes, *words: str, name: str = "upload.png", **kwargs) -> str:
    with pytest.raises(ImageError) as info:
        load_image(data, name=name, **kwargs)
    msg = str(info.value)
    assert isinstance(info.value, PlaygroundError)
    assert msg.startswith(f"{name}: ") and "\n" not in msg
    for word in words:
        assert word in msg, msg
    return msg


RED = (255, 0, 0)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP"])
def test_every_allowed_format_becomes_rgb(fmt: str) -> None:
    img = load_image(encode(Image.new("RGB", (64, 48), RED), fmt), name=f"red.{fmt.lower()}")
    assert img.mode == "RGB" and img.size == (64, 48)
    r, g, b = img.getpixel((32, 24))
    assert r > 240 and g < 16 and b < 16


def test_empty_file() -> None:
    assert_error(b"", "empty")


def test_text_file() -> None:
    assert_error(b"label,probability\ncat,0.9\n", "not a JPEG, PNG, WebP, GIF or BMP image")


def test_format_outside_the_allow_list_is_refused() -> None:
    assert_error(encode(Image.new("RGB", (8, 8)), "TIFF"), "not a JPEG")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_fails_inside_the_guard(fmt: str) -> None:
    data = encode(photo_like(300, 200), fmt)
    assert_error(data[: len(data) // 2], "truncated")


def test_bomb_header_is_refused_before_decoding() -> None:
    assert_error(png_header_only(10_000, 10_000), "too many pixels")  # Pillow's warning, escalated
    assert_error(png_header_only(30_000, 30_000), "too many pixels")  # Pillow's hard error


@pytest.mark.parametrize("size", [(100_000, 1), (10_000, 1), (4_000, 1), (1, 4_000), (2_100, 100)])
def test_long_thin_images_are_refused_before_decoding(size: tuple[int, int]) -> None:
    """A 100000x1 PNG is a few hundred bytes; resizing its short side to 256 would need ~20 GB."""
    data = encode(Image.new("L", size), "PNG", optimize=True)
    assert len(data) < 2_000
    w, h = size
    msg = assert_error(data, f"{w}x{h} is too long and thin", f"the limit is {MAX_ASPECT_RATIO}:1", "crop it",
                       name="strip.png")
    assert f"({max(w, h) / min(w, h):,.0f}:1;" in msg
    # refused from the header alone: the same header with no pixel data says the same, not "truncated"
    assert_error(png_header_only(w, h), "too long and thin")


def test_the_aspect_limit_is_inclusive() -> None:
    for size in ((MAX_ASPECT_RATIO, 1), (1, MAX_ASPECT_RATIO), (2_000, 100)):
        assert load_image(encode(Image.new("RGB", size, RED), "PNG")).size == size
    assert_error(encode(Image.new("RGB", (MAX_ASPECT_RATIO + 1, 1)), "PNG"), "too long and thin")


def test_pixel_limit_after_draft() -> None:
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    assert_error(data, "100x100", "limit", max_pixels=5_000)
    assert load_image(data, max_pixels=10_000).size == (100, 100)


def test_big_jpeg_is_reduced_while_decoding() -> None:
    data = encode(photo_like(2400, 1800), "JPEG", quality=85)
    reduced = load_image(data)
    # The smallest 1/2^k scale still covering the draft size: 1800/4 = 450 >= 448.
    assert reduced.size == (600, 450) and min(reduced.size) >= DEFAULT_DRAFT_SIZE[0]
    assert load_image(data, draft_size=None).size == (2400, 1800)
    # Pixels stay right: the reduced image looks like the full one, downscaled.
    full = np.asarray(load_image(data, draft_size=None).resize((600, 450), Image.BILINEAR), np.float32)
    assert np.abs(np.asarray(reduced, np.float32) - full).mean() < 4


def test_phone_mpo_jpeg_is_reduced_and_gives_its_first_picture() -> None:
    frames = [Image.new("RGB", (1000, 1000), c) for c in ((0, 255, 0), RED)]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    img = load_image(data)
    assert img.size == (500, 500) and img.getpixel((10, 10))[1] > 240


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    arr = np.array([[0, 25_600, 65_535, 32_896]], dtype=np.uint16)  # 0%, ~39%, 100%, ~50%
    img = load_image(encode(Image.fromarray(arr), "PNG"))
    assert img.mode == "RGB"
    assert [img.getpixel((i, 0))[0] for i in range(4)] == [0, 100, 255, 128]  # Pillow's convert gives 255s


def test_cmyk_jpeg_keeps_its_colours() -> None:
    img = load_image(encode(Image.new("RGB", (32, 32), RED).convert("CMYK"), "JPEG", quality=95))
    r, g, b = img.getpixel((16, 16))
    assert img.mode == "RGB" and r > 240 and g < 20 and b < 20


def test_alpha_is_composited_on_white() -> None:
    rgba = Image.new("RGBA", (3, 1))
    rgba.putdata([(255, 0, 0, 255), (255, 0, 0, 0), (255, 0, 0, 128)])
    img = load_image(encode(rgba, "PNG"))
    assert img.getpixel((0, 0)) == RED
    assert img.getpixel((1, 0)) == (255, 255, 255)
    assert img.getpixel((2, 0))[0] == 255 and 120 <= img.getpixel((2, 0))[1] <= 135


def test_palette_transparency_is_white() -> None:
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putpixel((0, 0), 0)
    img = load_image(encode(pal, "PNG", transparency=0))
    assert img.getpixel((0, 0)) == (255, 255, 255) and img.getpixel((1, 1)) == RED


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), c).convert("P") for c in (RED, (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert load_image(data).getpixel((8, 8)) == RED


def test_exif_orientation_is_applied() -> None:
    stored = Image.new("RGB", (40, 20), RED)
    stored.paste((0, 0, 255), (20, 0, 40, 20))  # stored: left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    img = load_image(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert img.size == (20, 40)
    top, bottom = img.getpixel((10, 5)), img.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60  # the left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_paths_and_names(tmp_path) -> None:
    path = tmp_path / "cup.png"
    path.write_bytes(encode(Image.new("RGB", (5, 5), RED), "PNG"))
    assert load_image(path).getpixel((0, 0)) == RED
    assert load_image(str(path)).size == (5, 5)
    with pytest.raises(ImageError, match=r"^.*missing\.jpg: no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="not a file"):
        load_image(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageError, match=r"notes\.txt: not a JPEG"):
        load_image(tmp_path / "notes.txt")


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_never_escape_as_anything_but_image_error(data: bytes) -> None:
    try:
        img = load_image(data)
    except ImageError as exc:
        assert "\n" not in str(exc)
    else:
        assert img.mode == "RGB"


_VALID = {fmt: encode(photo_like(40, 30), fmt) for fmt in ("PNG", "JPEG", "GIF", "WEBP", "BMP")}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(_VALID)), st.floats(0.0, 1.0), st.integers(0, 255))
def test_damaged_files_fail_cleanly(fmt: str, cut: float, flip: int) -> None:
    data = bytearray(_VALID[fmt][: max(1, int(len(_VALID[fmt]) * cut))])
    data[len(data) // 2] ^= flip
    try:
        img = load_image(bytes(data))
    except ImageError:
        return
    assert img.mode == "RGB" and img.size == (40, 30)
