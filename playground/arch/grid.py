"""The exact receptive field along one axis: which input pixels each output unit sees, as a periodic table.

The Distill recurrences (Araujo, Norris & Sim, 2019) describe a chain of windows with three numbers,
field ``r``, jump ``j`` and start, because after convolutions and pools every unit sees a window of
the same size and neighbouring windows are ``j`` pixels apart. Upsampling breaks that: after a 2×
nearest upsample, units 0 and 1 see the same pixels and unit 2 sees the next ones; after a
transposed conv with stride 2 and kernel 3, even units see one input and odd units two. So a
:class:`Grid` keeps the span ``[lo, hi]`` (input pixels) of ``period`` consecutive units, and the
span of unit ``o + period`` is that of unit ``o`` moved by ``shift`` pixels. Every operation maps an
output unit to a range of input units (:func:`pull`); the field is the largest span over the period,
the jump ``shift / period``, and the start the centre of unit 0's span, averaged over the period so
that it lies on the straight grid that fits the units best (for a plain chain of windows, period 1,
these are exactly Distill's r, j and start, so the two analyses agree to the bit).

Spans ignore the image border, as Distill does (padding extends the grid), and assume every tap
of a window can carry signal. Pure Python: no torch.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

__all__ = ["Grid", "PIXELS", "MAX_PERIOD", "pull", "window", "transposed", "resample", "union"]

MAX_PERIOD = 4096  # longer periods (odd resampling ratios stacked many times) stop spatial tracking

Span = tuple[int, int]  # first and last input unit (or pixel) that one output unit sees


@dataclass(frozen=True)
class Grid:
    """One axis of a feature map: the input-pixel span of units ``0..period-1``; the rest repeat, moved by ``shift``."""

    period: int
    shift: int
    lo: tuple[int, ...]
    hi: tuple[int, ...]

    def span(self, unit: int) -> Span:
        """First and last input pixel that ``unit`` sees (any integer: the grid extends past the border)."""
        q, t = divmod(unit, self.period)
        return self.lo[t] + q * self.shift, self.hi[t] + q * self.shift

    @cached_property
    def rf(self) -> float:
        """The largest field over the units, in input pixels."""
        return float(max(h - lo for lo, h in zip(self.lo, self.hi)) + 1)

    @cached_property
    def jump(self) -> float:
        """Input pixels between neighbouring units, on average."""
        return self.shift / self.period

    @cached_property
    def start(self) -> float:
        """Centre of unit 0's field on the best-fitting straight grid (Distill's start when the period is 1)."""
        if self.period == 1:
            return (self.lo[0] + self.hi[0]) / 2
        step = Fraction(self.shift, self.period)
        offsets = (Fraction(lo + h, 2) - t * step for t, (lo, h) in enumerate(zip(self.lo, self.hi)))
        return float(sum(offsets, Fraction(0)) / self.period)


PIXELS = Grid(1, 1, (0,), (0,))  # the image: each pixel sees itself, pixel i at coordinate i


def pull(grid: Grid, period: int, step: int, source: Callable[[int], Span | None]) -> Grid | None:
    """The grid of an operation whose output unit ``o`` reads input units ``source(o)``, where
    ``source(o + period)`` is ``source(o)`` moved by ``step`` input units.

    None when some unit reads nothing (a dilated transposed conv's gaps) or the period grows past
    :data:`MAX_PERIOD`.
    """
    # Repeat until the input table repeats too: `step·reps` must be a whole number of input periods.
    reps = grid.period // math.gcd(step, grid.period)
    out_period = period * reps
    if out_period > MAX_PERIOD:
        return None
    lo, hi = [], []
    for o in range(out_period):
        units = source(o)
        if units is None:
            return None
        lo.append(grid.span(units[0])[0])
        hi.append(grid.span(units[1])[1])
    shift = step * reps // grid.period * grid.shift
    return _smallest(Grid(out_period, shift, tuple(lo), tuple(hi)))


def _smallest(grid: Grid) -> Grid:
    """The same grid with its shortest period (pools after an upsample often restore period 1)."""
    p = grid.period
    for q in range(1, p):
        if p % q or (grid.shift * q) % p:
            continue
        moved = grid.shift * q // p
        if all(grid.lo[t + q] == grid.lo[t] + moved and grid.hi[t + q] == grid.hi[t] + moved for t in range(p - q)):
            return Grid(q, moved, grid.lo[:q], grid.hi[:q])
    return grid


def window(grid: Grid, kernel: int, stride: int, pad_left: int, dilation: int) -> Grid | None:
    """A conv or pool: unit ``o`` reads input units ``o·s − p`` to ``o·s − p + d·(k − 1)``."""
    reach = dilation * (kernel - 1)
    if grid.period == 1:  # the common case, kept cheap: Distill's recurrences
        lo, hi = grid.lo[0] - pad_left * grid.shift, grid.hi[0] + (reach - pad_left) * grid.shift
        return Grid(1, grid.shift * stride, (lo,), (hi,))
    return pull(grid, 1, stride, lambda o: (o * stride - pad_left, o * stride - pad_left + reach))


def transposed(grid: Grid, kernel: int, stride: int, padding: int, dilation: int) -> Grid | None:
    """A transposed conv, the adjoint of :func:`window`: input unit ``i`` writes to outputs ``i·s − p + d·t``
    (``t`` < k), so output ``o`` reads every ``i`` with ``i·s = o + p − d·t``; ``s`` outputs per input."""

    def source(o: int) -> Span | None:
        hits = [(o + padding - dilation * t) // stride for t in range(kernel)
                if (o + padding - dilation * t) % stride == 0]
        return (min(hits), max(hits)) if hits else None

    return pull(grid, stride, 1, source)


def resample(grid: Grid, ratio: Fraction, mode: str, align_corners: bool) -> Grid | None:
    """Interpolation (``F.interpolate`` / ``nn.Upsample``) with ``ratio`` input units per output unit.

    Output ``o`` sits at input coordinate ``c`` (``(o + ½)·ratio − ½``, or ``o·ratio`` with
    ``align_corners``); nearest reads one unit (``floor(o·ratio)``, or ``floor((o + ½)·ratio)`` for
    nearest-exact), linear the two around ``c``, cubic four; a tap whose weight is exactly 0 (``c`` on
    a unit) carries no signal. None for a mode this does not model (area).
    """
    half = Fraction(1, 2)

    def source(o: int) -> Span | None:
        if mode == "nearest":
            i = math.floor(o * ratio)
            return i, i
        if mode == "nearest-exact":
            i = math.floor((o + half) * ratio)
            return i, i
        c = o * ratio if align_corners else (o + half) * ratio - half
        i = math.floor(c)
        if c == i:
            return i, i
        return (i, i + 1) if mode in ("linear", "bilinear") else (i - 1, i + 2)

    if mode not in ("nearest", "nearest-exact", "linear", "bilinear", "bicubic"):
        return None
    if mode in ("nearest", "nearest-exact"):
        align_corners = False
    # `source(o + den)` is `source(o)` moved by `num` units: ratio = num / den
    return pull(grid, ratio.denominator, ratio.numerator, source)


def union(grids: list[Grid]) -> Grid:
    """Every unit sees what it sees in any of the grids (branches joined on one grid: same jump)."""
    if all(g.period == 1 for g in grids):  # the common case, kept cheap
        return Grid(1, grids[0].shift, (min(g.lo[0] for g in grids),), (max(g.hi[0] for g in grids),))
    period = math.lcm(*(g.period for g in grids))
    spans = [[g.span(o) for g in grids] for o in range(period)]
    shift = grids[0].shift * period // grids[0].period
    return _smallest(Grid(period, shift, tuple(min(s[0] for s in row) for row in spans),
                          tuple(max(s[1] for s in row) for row in spans)))
