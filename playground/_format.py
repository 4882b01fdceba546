"""Every number, pair, shape and duration text the product shows, written once.

Pages, the CLI tables and exported code all format through here, so the same
quantity reads the same everywhere (``11.7M`` parameters, ``3×5`` kernels,
``(64, 56, 56)`` shapes, ``2m 05s`` durations).
"""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence

__all__ = ["human", "human_bytes", "format_pair", "format_shape", "format_dims", "format_floats", "format_duration",
           "visible", "BIDI_CONTROLS"]

_SI = (("", 1.0), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12))
_BYTES = ((" B", 1.0), (" kB", 1e3), (" MB", 1e6), (" GB", 1e9), (" TB", 1e12))


def _scaled(value: float, units: tuple[tuple[str, float], ...]) -> str:
    """3 significant digits in the largest unit ≤ |value| (units ascending, the first with scale 1)."""
    i = max(n for n, (_, scale) in enumerate(units) if n == 0 or abs(value) >= scale)
    text = f"{value / units[i][1]:.3g}"
    if abs(float(text)) >= 1000 and i + 1 < len(units):  # 999,999 rounds to 1000K: say 1M
        i += 1
        text = f"{value / units[i][1]:.3g}"
    if "e" in text:  # beyond the largest unit
        text = f"{value / units[i][1]:,.0f}"
    return text + units[i][0]


def human(value: float) -> str:
    """1234 -> '1.23K', 11689512 -> '11.7M' (3 significant digits; K/M/G/T are powers of 1000)."""
    if isinstance(value, int) and abs(value) < 1000:
        return str(value)
    return _scaled(value, _SI)


def human_bytes(value: int) -> str:
    """Bytes in decimal units: 44_700_000 -> '44.7 MB'."""
    if value < 1000:
        return f"{value} B"
    return _scaled(value, _BYTES)


def format_pair(pair: Sequence[float] | None, fmt: str = "{}", missing: str = "-", sep: str = "×") -> str:
    """An ``[h, w]`` pair as one number when square (``3``), else ``3×5``; ``missing`` for None."""
    if pair is None:
        return missing
    a, b = (fmt.format(v) for v in pair)
    return a if a == b else f"{a}{sep}{b}"


def format_shape(shape: Sequence[int] | None, missing: str = "-") -> str:
    """A tensor shape as Python writes a tuple: ``(64, 56, 56)``, ``(10,)``; ``missing`` for None."""
    if shape is None:
        return missing
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def format_dims(dims: Sequence[float] | None, missing: str = "?") -> str:
    """Sizes joined the way a figure labels them: ``64×56×56``; ``missing`` for None."""
    if dims is None:
        return missing
    return "×".join(str(int(v)) if float(v).is_integer() else str(v) for v in dims)


def format_floats(values: Sequence[float], digits: int = 3) -> str:
    """A tuple of floats at fixed precision: ``(0.485, 0.456, 0.406)``."""
    return "(" + ", ".join(f"{v:.{digits}f}" for v in values) + ")"


def format_duration(seconds: float | None) -> str:
    """A wall-clock span: ``45 s``, ``2m 05s``, ``1h 03m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    whole = int(round(seconds))
    if whole >= 3600:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 60}m {whole % 60:02d}s" if whole >= 60 else f"{whole} s"


# Characters that reorder the text around them: a name holding U+202E shows "gpj.exe" as "exe.jpg".
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def visible(text: object) -> str:
    """A user-supplied name as it may be printed to a terminal or written into a file: control
    characters escaped (``\\x1b``, ``\\n``: no terminal escape sequence runs, no new line starts a
    markdown heading) and bidirectional overrides shown as ``<U+202E>`` instead of reordering the line.
    Everything else, accents and other scripts included, is left as it is."""
    out = []
    for ch in str(text):
        if ch in BIDI_CONTROLS:
            out.append(f"<U+{ord(ch):04X}>")
        elif ch == "\\":
            out.append("\\\\")  # so an escaped name cannot be mistaken for a real one that spells "\\x1b"
        elif unicodedata.category(ch) in ("Cc", "Cf") or ch in "\u2028\u2029":
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)
