"""Sliding windows (a conv or pool along the main path of a layer) and PyTorch's output-size rules.

A :class:`Window` is the geometry both the shape rules (here) and the receptive-field step
(:mod:`playground.design.receptive_field`) walk, so the two can never disagree about a layer.
Pure Python (no torch).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Pair", "Window", "conv_out_len", "pool_out_len"]

Pair = tuple[int, int]  # (height, width)


def conv_out_len(size: int, kernel: int, stride: int, pad_l: int, pad_r: int, dilation: int) -> int:
    """Output length of a convolution along one axis (``nn.Conv2d``'s rule)."""
    return (size + pad_l + pad_r - dilation * (kernel - 1) - 1) // stride + 1


def pool_out_len(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """Output length of a max/avg pool along one axis (ATen ``pooling_output_shape``).

    With ``ceil_mode`` a last, partial window is kept, unless it would start in
    the right padding (then it is dropped).
    """
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = (span + stride - 1) // stride + 1
    if (out - 1) * stride >= size + pad:
        out -= 1
    return out


@dataclass(frozen=True, slots=True)
class Window:
    """One sliding window (a conv or pool) on the main path of a layer.

    All values are (height, width) pairs; ``pad_l`` is the top/left padding,
    ``pad_r`` the bottom/right one (they differ for ``"same"`` with an even
    kernel). The shape and receptive-field rules both walk these.
    """

    kernel: Pair
    stride: Pair = (1, 1)
    pad_l: Pair = (0, 0)
    pad_r: Pair = (0, 0)
    dilation: Pair = (1, 1)
    ceil_mode: bool | None = None  # None: a convolution; True/False: a pool with that ceil_mode

    @property
    def span(self) -> Pair:
        """Effective kernel extent ``d·(k − 1) + 1`` per axis."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))  # type: ignore[return-value]

    def out_size(self, hw: Pair) -> Pair:
        """Output (H, W) for an input of ``hw`` (may be < 1 when the window does not fit)."""
        k, s, pl, d = self.kernel, self.stride, self.pad_l, self.dilation
        if self.ceil_mode is None:
            pr = self.pad_r
            return (conv_out_len(hw[0], k[0], s[0], pl[0], pr[0], d[0]),
                    conv_out_len(hw[1], k[1], s[1], pl[1], pr[1], d[1]))
        return (pool_out_len(hw[0], k[0], s[0], pl[0], d[0], self.ceil_mode),
                pool_out_len(hw[1], k[1], s[1], pl[1], d[1], self.ceil_mode))
