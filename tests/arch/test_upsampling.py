"""The graph walk through decoders (transposed convs, upsampling, skip concatenations), SE gates and trainable counts.

Autograd is the oracle for the receptive field: with every weight a positive constant and a positive
input nothing cancels, so the input pixels an output unit's gradient reaches are exactly its field.
"""
from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torchvision.ops import SqueezeExcitation

from playground.arch.grid import PIXELS, Grid, resample, transposed, window
from playground.arch.measure import analyze_architecture, analyze_module
from playground.design.receptive_field import INPUT_RF_STATE, window_field
from playground.spec.window import Window


def _positive(model: nn.Module) -> nn.Module:
    """Same geometry, every weight 1 and every bias 0, in float64 (deep products of ones neither cancel nor underflow)."""
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0) if p.dim() > 1 else p.zero_()
    return model


def _probe_rows(model: nn.Module, shape: tuple[int, int, int], unit: tuple[int, int]) -> tuple[int, int]:
    """First and last input row that the gradient of output unit ``unit`` (all channels) reaches."""
    x = (torch.rand(1, *shape, dtype=torch.float64) + 0.5).requires_grad_(True)  # (1, C, H, W), positive
    model(x)[0, :, unit[0], unit[1]].sum().backward()
    assert x.grad is not None
    rows = (x.grad[0].abs().sum(0) > 0).any(1).nonzero().flatten()  # (H, W) -> rows hit
    return int(rows.min()), int(rows.max())


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU())


class _UNet(nn.Module):
    """Three levels down (max-pool 2), three up (two transposed convs, one bilinear upsample), four skip concatenations
    (the last joins the input image itself)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.ModuleList([_double_conv(3, 4), _double_conv(4, 4), _double_conv(4, 4)])
        self.bottom = _double_conv(4, 4)
        self.up = nn.ModuleList([nn.ConvTranspose2d(4, 4, 2, stride=2), nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1)])
        self.dec = nn.ModuleList([_double_conv(8, 4), _double_conv(8, 4), _double_conv(8, 4)])
        self.head = nn.Conv2d(7, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image, skips = x, []
        for block in self.down:
            x = block(x)
            skips.append(x)  # (B, 4, H/2^i, W/2^i)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)  # (B, 4, H/8, W/8)
        for i, block in enumerate(self.dec):
            x = self.up[i](x) if i < len(self.up) else F.interpolate(x, scale_factor=2, mode="bilinear")
            x = block(torch.cat([x, skips.pop()], dim=1))
        return self.head(torch.cat([x, image], dim=1))  # (B, 1, H, W)


def test_unet_field_goes_through_transposed_convs_upsampling_and_concats() -> None:
    side = 192  # the field (108 px) of a unit near the centre stays inside the image
    r = analyze_module(_UNet(), (3, side, side), name="unet")
    assert r.layers[-1].output_shape == (1, side, side) and r.notes == ()
    assert r.jump == (1.0, 1.0) and r.start == (0.0, 0.0)  # back on the input's grid: every concat aligned
    assert r.misaligned == () and r.se_gates == 0 and r.global_context is None  # a concat is not an SE gate
    # the period of the decoder's grid is at most 8 units: the largest field over 8 units around the centre
    model = _positive(_UNet())
    extents = [_probe_rows(model, (3, side, side), (u, u)) for u in range(side // 2 - 4, side // 2 + 4)]
    assert r.receptive_field[0] == max(bottom - top + 1 for top, bottom in extents) == 108
    assert r.receptive_field[0] == r.receptive_field[1]
    centre = extents[4]
    assert abs((centre[0] + centre[1]) / 2 - (r.start[0] + side // 2 * r.jump[0])) <= 4  # within a half period


def _rows_of(grid: Grid, units: range) -> list[tuple[int, int]]:
    return [grid.span(u) for u in units]


@pytest.mark.parametrize("layer, grid", [
    # a 3×3 transposed conv with stride 2: even units read one input, odd ones two
    (nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1), transposed(PIXELS, 3, 2, 1, 1)),
    (nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1), transposed(PIXELS, 4, 2, 1, 1)),
    (nn.ConvTranspose2d(1, 1, 5, stride=3, padding=2, dilation=1), transposed(PIXELS, 5, 3, 2, 1)),
    (nn.Upsample(scale_factor=2, mode="nearest"), resample(PIXELS, Fraction(1, 2), "nearest", False)),
    (nn.Upsample(scale_factor=3, mode="nearest-exact"), resample(PIXELS, Fraction(1, 3), "nearest-exact", False)),
    (nn.Upsample(scale_factor=2, mode="bilinear"), resample(PIXELS, Fraction(1, 2), "bilinear", False)),
    (nn.Upsample(scale_factor=3, mode="bilinear"), resample(PIXELS, Fraction(1, 3), "bilinear", False)),
    (nn.Upsample(scale_factor=2, mode="bicubic"), resample(PIXELS, Fraction(1, 2), "bicubic", False)),
    (nn.UpsamplingBilinear2d(size=(37, 37)), resample(PIXELS, Fraction(18, 36), "bilinear", True)),
])
def test_each_unit_reads_exactly_the_pixels_the_grid_says(layer: nn.Module, grid: Grid | None) -> None:
    assert grid is not None
    model = _positive(layer)
    units = range(8, 16)  # inside, away from the border (the grid, like Distill, ignores it)
    assert [_probe_rows(model, (1, 19, 19), (u, u)) for u in units] == _rows_of(grid, units)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 7), st.integers(1, 3), st.integers(0, 3), st.integers(1, 3)),
                min_size=1, max_size=8))
def test_windows_agree_with_the_distill_step_to_the_bit(chain: list[tuple[int, int, int, int]]) -> None:
    """For convs and pools alone (period 1) the exact spans are Distill's r, j and start, as the designer computes them."""
    grid: Grid | None = PIXELS
    state = INPUT_RF_STATE
    for k, s, p, d in chain:
        assert grid is not None
        grid = window(grid, k, s, p, d)
        state = window_field(state, Window((k, k), (s, s), (p, p), dilation=(d, d)))
    assert grid is not None and grid.period == 1
    assert (grid.rf, grid.jump, grid.start) == (state[0][0], state[1][0], state[2][0])


def test_fractional_jumps_after_upsampling() -> None:
    chain = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2), nn.Conv2d(1, 1, 3, padding=1))
    up = analyze_module(chain, (1, 32, 32), name="up")
    # every 3 neighbouring units of the upsampled map come from 2 units of the first conv: 3 + 1 pixels
    assert up.jump == (0.5, 0.5) and up.receptive_field == (4.0, 4.0)
    rows = [_probe_rows(_positive(chain), (1, 32, 32), (u, u)) for u in (30, 31)]
    assert [bottom - top + 1 for top, bottom in rows] == [4, 4]
    assert up.to_dict()["jump"] == [0.5, 0.5]  # a fractional jump stays fractional in JSON
    shuffled = analyze_module(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.PixelShuffle(2)), (1, 16, 16), "ps")
    assert shuffled.jump == (0.5, 0.5) and shuffled.receptive_field == (3.0, 3.0) and shuffled.notes == ()


class _Gates(nn.Module):
    """One SE gate, a per-channel layer scale (a parameter, not pooled from the map), and a pooled-context concat."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.se = SqueezeExcitation(8, 2)
        self.scale = nn.Parameter(torch.ones(1, 8, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.se(self.conv(x))  # (B, 8, H, W) * (B, 8, 1, 1) pooled from it: a gate
        x = x * self.scale  # a constant per channel: not a gate
        pooled = F.adaptive_avg_pool2d(x, 1).expand_as(x)  # image-level context, concatenated: not a gate
        return torch.cat([x, pooled], dim=1)


def test_only_a_map_times_its_own_pooled_weights_is_an_se_gate() -> None:
    r = analyze_module(_Gates(), (3, 16, 16), name="gates")
    assert r.se_gates == 1 and r.global_context == "squeeze-excitation"
    assert any(note.startswith("1 squeeze-and-excitation") for note in r.notes)
    assert r.to_dict()["se_gates"] == 1


def test_maxvit_counts_every_se_gate() -> None:
    """MaxViT-T has 11 MBConv blocks, each with torchvision's SqueezeExcitation; all but the first gate attended maps."""
    r = analyze_architecture("maxvit_t")
    assert r.se_gates == 11 and r.global_context == "self-attention"
    assert analyze_architecture("efficientnet_b0").se_gates == 16
    assert analyze_architecture("resnet50").se_gates == 0


class _FrozenStem(nn.Module):
    """A frozen stem, one conv used twice (shared), a head: 448 + 2,320 + 170 parameters, 2,490 trainable."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.body = nn.Conv2d(16, 16, 3, padding=1)
        self.head = nn.Linear(16, 10)
        self.stem.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(self.body(self.stem(x)))
        return self.head(x.mean((2, 3)))


def test_trainable_params_skip_frozen_and_count_shared_once() -> None:
    r = analyze_module(_FrozenStem(), (3, 16, 16), name="frozen")
    assert r.total_params == 2_938 and r.trainable_params == 2_490
    assert r.to_dict()["total_trainable_params"] == 2_490
    assert "Total params: 2,938 (2,490 trainable)" in str(r)
    plain = analyze_architecture("resnet18")
    assert plain.trainable_params == plain.total_params == 11_689_512
