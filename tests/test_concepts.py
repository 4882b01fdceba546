"""Concepts experiments: PyTorch is the oracle for every shape, count and field."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn

from playground import concepts as C
from playground.design.analysis import analyze
from playground.design.build import build_model
from playground.spec.share import decode_share


def test_kernel_presets_do_what_they_say() -> None:
    img = np.zeros((9, 9), dtype=np.float32)
    img[:, 5:] = 1.0  # a vertical step edge between columns 4 and 5
    assert np.allclose(C.apply_conv(img, C.KERNELS["Identity"]), img[1:-1, 1:-1])
    sobel_x = C.apply_conv(img, C.KERNELS["Sobel x (vertical edges)"])  # (7, 7)
    assert set(np.flatnonzero(np.abs(sobel_x).max(0))) == {3, 4}  # responds only next to the edge
    assert np.allclose(C.apply_conv(img, C.KERNELS["Sobel y (horizontal edges)"]), 0)
    assert np.allclose(C.apply_conv(np.ones((5, 5), np.float32), C.KERNELS["Box blur"]), 1)
    for kernel in C.KERNELS.values():
        assert np.asarray(kernel).shape == (3, 3)


@given(st.lists(st.floats(-3, 3), min_size=9, max_size=9), st.integers(3, 8), st.integers(3, 8))
@settings(max_examples=20, deadline=None)
def test_conv_as_dense_is_the_same_map(weights: list[float], h: int, w: int) -> None:
    kernel = np.array(weights, dtype=np.float32).reshape(3, 3)
    x = np.random.default_rng(0).random((h, w), dtype=np.float32)
    matrix = C.conv_as_dense(kernel, h, w)
    assert matrix.shape == ((h - 2) * (w - 2), h * w)
    assert np.allclose(matrix @ x.ravel(), C.apply_conv(x, kernel).ravel(), atol=1e-5)
    # parameter sharing: each row holds the same nine weights (all nine, as the crop is at least 3×3)
    assert all(sorted(row[row != 0]) == sorted(kernel[kernel != 0]) for row in matrix)


def test_gray_photo_sizes() -> None:
    assert C.gray_photo(Image.new("RGB", (400, 200)), 192).shape == (96, 192)
    assert C.gray_photo(Image.new("RGB", (4000, 3)), 192).shape == (C.MIN_SIDE, 192)  # a 1-row panorama still works
    strip = C.gray_photo(Image.new("RGB", (4000, 3)), 192)
    assert C.apply_conv(strip, C.KERNELS["Sharpen"]).shape == (C.MIN_SIDE - 2, 190)


def test_parameter_sharing_counts() -> None:
    cmp = C.parameter_sharing(32, 48)
    assert cmp["conv"].report.total_params == sum(p.numel() for p in nn.Conv2d(1, 1, 3).parameters()) == 10
    outputs = 30 * 46
    assert cmp["dense"].report.total_params == 32 * 48 * outputs + outputs
    assert cmp.ratio("dense", "conv") == cmp["dense"].report.total_params / 10


def test_padding_valid_vs_same() -> None:
    both = C.padding_comparison(32, 3)
    assert both["valid"].report.output_shape == (1, 30, 30)
    assert both["same"].report.output_shape == (1, 32, 32)
    x = torch.zeros(1, 1, 32, 32)
    for side in both.sides.values():
        assert tuple(build_model(side.spec)(x).shape[1:]) == side.report.output_shape  # PyTorch agrees


def test_stride_vs_pool_on_a_photo_shape() -> None:
    gray = np.random.default_rng(1).random((37, 50), dtype=np.float32)
    pair = C.downsample_comparison(37, 50)
    conv_report, pool_report = pair["conv"].report, pair["pool"].report
    assert C.apply_conv(gray, C.KERNELS["Sharpen"], stride=2, padding=1).shape == conv_report.output_shape[1:]
    assert C.apply_maxpool(gray).shape == pool_report.output_shape[1:]
    assert conv_report.total_params == 10 and pool_report.total_params == 0


@pytest.mark.parametrize("stride, dilation, rule", [
    (1, 1, lambda n: 2 * n + 1),
    (2, 1, lambda n: 3 + 4 * (n - 1)),  # after a stride-2 layer every 3×3 adds 2·2 pixels
    (1, 2, lambda n: 4 * n + 1),  # dilation 2: each 3×3 spans 5 pixels
])
def test_stacked_fields(stride: int, dilation: int, rule) -> None:
    for n in range(1, 11):
        report = C.stacked_fields(n, first_stride=stride, dilation=dilation).report
        assert report.layers[-1].receptive_field == (rule(n), rule(n))


def test_stacked_field_matches_autograd() -> None:
    stack = C.stacked_fields(4, size=32, first_stride=2, dilation=2)
    model = build_model(stack.spec).eval()  # convs only: a linear map, every tap carries gradient
    x = torch.randn(1, 1, 32, 32, requires_grad=True)
    y = model(x)  # (1, 1, 16, 16)
    y[0, 0, 8, 8].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero().flatten()
    # with dilation the field is a sparse lattice; its extent is the receptive field
    assert int(rows.max() - rows.min() + 1) == stack.report.layers[-1].receptive_field[0]


def test_depthwise_separable_counts() -> None:
    cmp = C.dwsep_comparison(256, 256, 3)
    regular = nn.Conv2d(256, 256, 3, padding=1, bias=False)
    separable = nn.Sequential(nn.Conv2d(256, 256, 3, padding=1, groups=256, bias=False),
                              nn.Conv2d(256, 256, 1, bias=False))
    assert cmp["regular"].report.total_params == sum(p.numel() for p in regular.parameters()) == 256 * 256 * 9
    assert cmp["separable"].report.total_params == sum(p.numel() for p in separable.parameters()) == 256 * 9 + 256**2
    ratio = cmp.ratio("regular", "separable")
    assert 8 < ratio < 9 and cmp.ratio("regular", "separable", "macs") == pytest.approx(ratio)


def test_gradient_flow_vanishes_without_skips() -> None:
    plain, residual = C.gradient_flow(30, skip=False), C.gradient_flow(30, skip=True)
    assert len(plain.signal_norms) == len(residual.weight_norms) == 30
    assert plain.relative_signal[0] < 1e-6 < 0.1 < residual.relative_signal[0]
    assert residual.first_layer > 1e6 * plain.first_layer
    assert C.gradient_flow(30, skip=False).signal_norms == plain.signal_norms  # fixed seed: reproducible


def test_skip_specs_have_equal_params_and_links_decode() -> None:
    plain, residual = C.skip_specs(blocks=4)
    assert analyze(plain).total_params == analyze(residual).total_params
    url = C.designer_url(residual)
    assert url.startswith("design?spec=") and decode_share(url.split("=", 1)[1]) == residual


def test_hierarchy_layers_pick_early_middle_late_without_stem_or_head() -> None:
    names = ["stem", *(f"block{i}" for i in range(16)), "head"]
    assert C.hierarchy_layers(names) == ["block0", "block8", "block15"]
    assert C.hierarchy_layers(["a", "b", "c"]) == ["a", "b", "c"]
    with pytest.raises(ValueError):
        C.hierarchy_layers(["a", "b"])


def test_erf_lesson_theoretical_linear_effective_sub_linear() -> None:
    from playground import concepts as C

    plain = [C.erf_growth(d, C.ERF_KINDS[0], samples=2) for d in (4, 16)]
    assert [r["theoretical"] for r in plain] == [9, 33]  # 2N + 1: linear
    assert plain[0]["effective"] <= 9 and plain[1]["effective"] < 33 - 6
    assert (plain[1]["effective"] - 1) / (plain[0]["effective"] - 1) < 4  # 4× the depth, far less than 4× field
    dilated = C.erf_growth(16, C.ERF_KINDS[2], samples=2)
    assert dilated["theoretical"] == 65 and dilated["effective"] > plain[1]["effective"]
    residual = C.erf_growth(16, C.ERF_KINDS[1], samples=2)
    assert residual["theoretical"] == 33 and residual["effective"] < plain[1]["effective"]
