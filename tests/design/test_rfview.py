"""Receptive-field drawing: unit geometry against PyTorch's gradients, and the pixels drawn."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from playground.design.analysis import analyze
from playground.design.build import build_model
from playground.design.rfview import draw_receptive_field, fit_photo, unit_centre, unit_field

# PyTorch notes that an even kernel with padding "same" copies the input; that case is on purpose here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")

# Conv, dilation, even kernels, asymmetric "same" padding and average pooling, no activation:
# with positive weights every input pixel on a path to a unit has a non-zero gradient.
SPEC = {"input": [1, 23, 27], "layers": [
    {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1},
    {"type": "conv2d", "out_channels": 2, "kernel_size": 2, "padding": "same"},
    {"type": "avgpool2d", "kernel_size": 2, "stride": 1},
    {"type": "conv2d", "out_channels": 2, "kernel_size": [3, 5], "dilation": 2, "padding": [0, 3]},
]}


def _support(layer: int, unit: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the input pixels with a non-zero gradient for one output unit."""
    torch.manual_seed(0)
    model = build_model({**SPEC, "layers": SPEC["layers"][:layer + 1]}).double()
    for p in model.parameters():
        torch.nn.init.uniform_(p, 0.5, 1.0)
    x = torch.rand(1, *SPEC["input"], dtype=torch.float64, requires_grad=True)  # (1, C, H, W)
    model(x)[0, :, unit[0], unit[1]].sum().backward()
    rows, cols = torch.nonzero(x.grad[0].abs().sum(0), as_tuple=True)  # type: ignore[union-attr]
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


@pytest.mark.parametrize("layer", range(len(SPEC["layers"])))
def test_field_box_is_exactly_what_pytorch_backpropagates_to(layer: int) -> None:
    x = analyze(SPEC).layers[layer]
    _, out_h, out_w = x.output_shape
    for unit in {(0, 0), (out_h - 1, out_w - 1), (out_h // 2, out_w // 3), (0, out_w - 1)}:
        box = unit_field(x.receptive_field, x.jump, x.start, unit, (23, 27))
        top, left, bottom, right = _support(layer, unit)
        ct, cl, cb, cr = box.clipped  # type: ignore[misc]
        assert box.size == x.receptive_field
        # The support lies in the box and touches every edge the image does not cut off. (Dilation leaves
        # holes, so at a cut-off edge the first pixel actually read may lie a little inside.)
        assert ct <= top and cl <= left and bottom <= cb and right <= cr, (layer, unit)
        over = box.overhang
        assert [top, left, bottom, right] == [
            v if not over[side] else mine
            for v, mine, side in zip((ct, cl, cb, cr), (top, left, bottom, right), ("top", "left", "bottom", "right"))]
        if layer < 3:  # no dilation before layer 3: the support is the whole clipped box
            assert (top, left, bottom, right) == box.clipped


def test_centres_overhang_and_inside_share() -> None:
    # A 7x7 field with jump 2 and start -1: unit (0, 3) is centred at (-1, 5).
    assert unit_centre((2, 2), (-1.0, -1.0), (0, 3)) == (-1.0, 5.0)
    box = unit_field(7, 2, -1.0, (0, 3), (10, 10))
    assert (box.top, box.left, box.bottom, box.right) == (-4, 2, 2, 8)
    assert box.clipped == (0, 2, 2, 8)
    assert box.overhang == {"top": 4, "left": 0, "bottom": 0, "right": 0}
    assert box.inside_fraction == pytest.approx(3 * 7 / 49)
    assert unit_field(3, 1, 0.0, (0, 0), (4, 4)).clipped == (0, 0, 1, 1)
    assert unit_field(3, 10, 50.0, (0, 0), (4, 4)).clipped is None  # entirely in the padding


def test_drawing_marks_the_field_and_leaves_the_rest_of_the_photo() -> None:
    grey = Image.new("RGB", (40, 40), (128, 128, 128))
    view = draw_receptive_field(grey, input_shape=(3, 40, 40), receptive_field=8, jump=8, start=3.5,
                                output_hw=(5, 5), unit=(1, 2), max_side=400)
    assert view.scale == 10 and view.image.size == (400, 400) and view.grid_step == 1
    assert (view.field.top, view.field.left, view.field.bottom, view.field.right) == (8, 16, 15, 23)
    px = view.image.load()
    # Rows 8..15, cols 16..23 -> display y in [80, 160), x in [160, 240).
    r, g, b = px[200, 100]  # inside the field, between grid dots
    assert r > 150 and g < 128 and b < 128
    assert px[200, 300] == (128, 128, 128)  # below the field, between dots: untouched photo
    assert px[40, 40] != (128, 128, 128)  # the centre of unit (0, 0), input (3.5, 3.5), carries a grid dot


def test_field_past_the_edge_shows_on_a_grey_margin() -> None:
    white = Image.new("RGB", (20, 20), (255, 255, 255))
    view = draw_receptive_field(white, input_shape=(3, 20, 20), receptive_field=11, jump=1, start=0.0,
                                output_hw=(20, 20), unit=(0, 0), max_side=300)
    assert view.field.overhang["top"] == 5
    # The margin is the largest overhang of any unit (5 px per side): canvas 30 px -> 10x scale.
    assert view.scale == 10 and view.image.size == (300, 300)
    px = view.image.load()
    assert px[280, 20] == (150, 150, 150)  # margin outside the field (input row -3, col 23): plain grey
    r, g, b = px[60, 30]  # margin inside unit (0, 0)'s field (input coordinate (-2, 1)): tinted
    assert r > g and r > b


def test_fit_photo_crops_to_the_input_and_greys_one_channel() -> None:
    photo = Image.new("RGB", (300, 100), (200, 30, 30))
    img = fit_photo(photo, 1, (32, 48))
    assert img.size == (48, 32) and img.mode == "RGB"
    r, g, b = img.getpixel((10, 10))
    assert r == g == b
