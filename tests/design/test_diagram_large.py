"""The diagram of large designs (folded stages), its readability at the page's width, the receptive field
marks against PyTorch's gradients, and the PNG drawn from the same layout."""
from __future__ import annotations

import dataclasses
import io
import math
import re
import xml.etree.ElementTree as ET
from functools import cache
from typing import Any

import pytest
import torch
from PIL import Image

from playground.design.build import build_model
from playground.design.diagram_layout import TYPE_COLOURS, Rect
from playground.design.diagram_model import foldable, stages
from playground.design.diagram_render import PNG_SCALE
from playground.design.from_torchvision import torchvision_spec
from playground.design.presets import DEFAULT_SPEC
from playground.design.view import DesignView, compute
from playground.ui.designer.diagram import diagram_layout, diagram_png, diagram_svg
from tests.design.test_diagram import GRAPH, NS, blocks, texts

DISPLAY = 516   # the summary column's width at the default 1400 px window (a wider image is shrunk to it)
GLYPH = 0.58    # estimated average glyph width, in em (DejaVu Sans / sans-serif)


@cache
def imported(name: str) -> DesignView:
    return compute(torchvision_spec(name))


def _text_boxes(svg: str) -> list[tuple[str, float, tuple[float, float, float, float]]]:
    """(text, font size, box) of every <text>, the box estimated from the glyph width."""
    out = []
    for t in ET.fromstring(svg).iter(f"{NS}text"):
        size, x, y, s = float(t.get("font-size", "0")), float(t.get("x", 0)), float(t.get("y", 0)), t.text or ""
        w = GLYPH * size * len(s)
        x0 = x - w / 2 if t.get("text-anchor") == "middle" else x
        out.append((s, size, (x0, y - 0.8 * size, x0 + w, y + 0.2 * size)))
    return out


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _assert_readable(svg: str) -> None:
    root = ET.fromstring(svg)
    scale = min(1.0, DISPLAY / float(root.get("width", "0")))
    boxes = _text_boxes(svg)
    assert boxes
    small = [(s, size * scale) for s, size, _ in boxes if size * scale < 11]
    assert not small, small
    clashes = [(a[0], b[0]) for i, a in enumerate(boxes) for b in boxes[i + 1:] if _overlap(a[2], b[2])]
    assert not clashes, clashes[:5]
    faces = [(float(r.get("x", 0)), float(r.get("y", 0)), float(r.get("x", 0)) + float(r.get("width", 0)),
              float(r.get("y", 0)) + float(r.get("height", 0))) for r in blocks(svg)]
    under = [s for s, _, box in boxes for f in faces if _overlap(box, f)]
    assert not under, under[:5]  # no label drawn over a block


@pytest.mark.parametrize("design", ["resnet152", "efficientnet_b0", "default", "graph", "graph-opened"])
def test_labels_are_at_least_11_px_as_shown_and_never_overlap(design: str) -> None:
    if design == "default":
        svg = diagram_svg(compute(DEFAULT_SPEC), selected={4})
    elif design.startswith("graph"):
        svg = diagram_svg(compute(GRAPH), selected={"1.0.0"}, open_blocks=design.endswith("opened"))
    else:
        svg = diagram_svg(imported(design))
    _assert_readable(svg)


@pytest.mark.slow
def test_an_unfolded_stage_and_opened_blocks_stay_readable() -> None:
    _assert_readable(diagram_svg(imported("efficientnet_b0"), selected={8}, open_blocks=True))
    _assert_readable(diagram_svg(imported("resnet152"), unfolded=range(10), open_blocks=True))
    # GoogLeNet's inceptions opened: four lanes side by side, drawn with smaller blocks to fit the column
    _assert_readable(diagram_svg(imported("googlenet"), unfolded=range(10), open_blocks=True))


def test_long_designs_fold_their_stages_and_unfold_them_on_demand() -> None:
    view = imported("resnet152")
    layers = view.report.layers  # type: ignore[union-attr]
    folds = foldable(stages(layers), len(layers))
    assert [(s.first, s.last, s.size) for s in folds] == [(0, 2, "112×112"), (3, 6, "56×56"), (7, 14, "28×28"),
                                                         (15, 50, "14×14"), (51, 53, "7×7")]
    folded = texts(diagram_svg(view))
    assert "15-50 bottleneck ×36 blocks" in folded and "1024×14×14" in folded
    assert len(blocks(diagram_svg(view))) == 1 + len(folds) + 3  # input, the stages, pool-flatten-linear
    one = blocks(diagram_svg(view, unfolded=[folds[3].number]))
    assert len(one) == 1 + len(folds) - 1 + 36 + 3
    # The chosen layer's stage is drawn layer by layer without asking, the chosen block outlined.
    chosen = diagram_svg(view, selected={30})
    assert len(blocks(chosen)) == len(one) and "30 bottleneck" in texts(chosen)
    assert [b for b in blocks(chosen) if b.get("stroke-width") == "3"]
    effnet = imported("efficientnet_b0")
    drawn = texts(diagram_svg(effnet))
    assert len(blocks(diagram_svg(effnet))) <= 12 and any(re.search(r"mbconv ×\d+ blocks", t) for t in drawn)
    # A short design is never folded.
    assert not foldable(stages(compute(DEFAULT_SPEC).report.layers), 18)  # type: ignore[union-attr]


def test_with_shapes_hidden_stages_are_runs_of_layers_not_map_sizes() -> None:
    layers = imported("resnet152").report.layers  # type: ignore[union-attr]
    hidden = stages(layers, show_shapes=False)
    assert [s.label for s in hidden[:2]] == ["layers 0-7", "layers 8-15"] and all("×" not in s.label for s in hidden)
    svg = diagram_svg(imported("resnet152"), show_shapes=False)
    assert not [t for t in texts(svg) if re.search(r"\d×\d", t)]  # "×N blocks" counts only, no shape
    assert len({(b.get("width"), b.get("height")) for b in blocks(svg)}) == 1


CHAIN: dict[str, Any] = {"input": [1, 40, 36], "layers": [
    {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},
    {"type": "avgpool2d", "kernel_size": 2},
    {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "stride": 2},
    {"type": "conv2d", "out_channels": 2, "kernel_size": [5, 3], "padding": [2, 1], "dilation": [1, 2]},
    {"type": "relu"}]}


def _marks(view: DesignView, chosen: int) -> list[tuple[Rect, list[Rect]]]:
    """Each block's face with the field marks drawn on it."""
    out: list[tuple[Rect, list[Rect]]] = []
    for s in diagram_layout(view, selected={chosen}).shapes:
        if isinstance(s, Rect) and s.title:
            out.append((s, []))
        elif isinstance(s, Rect) and s.role in ("mark", "unit"):
            out[-1][1].append(s)
    return out


def _span(face: Rect, mark: Rect, rows: int, cols: int) -> tuple[tuple[int, int], tuple[int, int]]:
    r0, r1 = round((mark.y - face.y) / face.h * rows), round((mark.y + mark.h - face.y) / face.h * rows) - 1
    c0, c1 = round((mark.x - face.x) / face.w * cols), round((mark.x + mark.w - face.x) / face.w * cols) - 1
    return (r0, r1), (c0, c1)


def test_the_field_marks_are_what_the_centre_unit_reads_per_pytorch() -> None:
    """Oracle: with positive weights and input, the gradient of the chosen unit is non-zero exactly on the
    input pixels and earlier units it reads."""
    view = compute(CHAIN)
    shapes = view.parsed.shapes  # type: ignore[union-attr]
    model = build_model(CHAIN).double()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.1)
    x = torch.ones(1, *shapes[0], dtype=torch.float64, requires_grad=True)
    kept: list[torch.Tensor] = []
    for module in model.children():
        module.register_forward_hook(lambda _m, _i, out: (out.retain_grad(), kept.append(out))[1])  # type: ignore[func-returns-value]
    y = model(x)
    drawn = _marks(view, chosen=3)
    _, rows, cols = shapes[4]
    y[0, 0, (rows - 1) // 2, (cols - 1) // 2].backward()

    def support(grad: torch.Tensor) -> tuple[tuple[int, int], tuple[int, int]]:
        nz = grad[0].abs().sum(0).nonzero()
        return (int(nz[:, 0].min()), int(nz[:, 0].max())), (int(nz[:, 1].min()), int(nz[:, 1].max()))

    assert x.grad is not None
    face, marks = drawn[0]  # the input
    assert len(marks) == 1 and _span(face, marks[0], *shapes[0][1:]) == support(x.grad)
    for k in range(3):  # the outputs of layers 0-2 feed layer 3
        face, marks = drawn[k + 1]
        grad = kept[k].grad
        assert grad is not None
        assert len(marks) == 1 and _span(face, marks[0], *shapes[k + 1][1:]) == support(grad), k
    face, marks = drawn[4]  # the chosen layer: its centre unit
    assert [m.role for m in marks] == ["unit"]
    assert not drawn[5][1]  # a layer after it reads nothing into it


def test_the_png_is_the_same_picture_drawn_by_pillow() -> None:
    view = compute(GRAPH)
    layout = diagram_layout(view, selected={0})
    data = diagram_png(view, selected={0})
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    assert image.size == (math.ceil(layout.width * PNG_SCALE), math.ceil(layout.height * PNG_SCALE))
    conv = next(s for s in layout.shapes if isinstance(s, Rect) and s.title == "conv2d")
    # A point inside the first conv's face, clear of its outline and of the field marks at its centre.
    pixel = image.convert("RGB").getpixel((round((conv.x + 4) * PNG_SCALE), round((conv.y + 4) * PNG_SCALE)))
    assert "#" + "".join(f"{c:02x}" for c in pixel) == TYPE_COLOURS["conv2d"]  # type: ignore[union-attr]
    assert diagram_png(compute(DEFAULT_SPEC), show_shapes=False)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_every_torchvision_design_draws_readably_folded_and_draws_opened() -> None:
    from playground.design.from_torchvision import TORCHVISION_DESIGNS

    for name in TORCHVISION_DESIGNS:
        view = compute(torchvision_spec(name, side=64))
        _assert_readable(diagram_svg(view))
        middle = len(view.report.layers) // 2  # type: ignore[union-attr]
        opened = diagram_svg(view, unfolded=range(12), open_blocks=True, selected={middle})
        assert blocks(opened) and ET.fromstring(opened).get("width")


def test_a_design_too_big_to_draw_stays_folded_and_its_png_is_bounded() -> None:
    """A link may hold 5,000 layers in branches: at most MAX_DRAWN are drawn one by one whatever is unfolded (the
    largest stages stay folded, the chosen layer's last), and a PNG is drawn at the size shown, or not at all, past
    PNG_MAX_PIXELS."""
    from playground.design.diagram_model import MAX_DRAWN, diagram_tree
    from playground.design.diagram_render import PNG_MAX_PIXELS, to_png
    from playground.errors import PlaygroundError
    from playground.ui.designer.diagram import diagram_layout

    conv = {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}
    branch = {"type": "branch", "merge": "add", "paths": [[dict(conv)] for _ in range(9)]}
    # Stages by map size: 30 branches at 32x32 (300 rows), then a stride-2 conv and 300 branches at 16x16 (3,001)
    layers = [dict(branch) for _ in range(30)] + [dict(conv, stride=2)] + [dict(branch) for _ in range(300)]
    view = compute({"input": [8, 32, 32], "layers": layers})
    assert view.valid

    def drawn(items: list) -> int:
        return sum(drawn([i for p in it.paths for i in p]) + 1 if hasattr(it, "paths") else 1 for it in items)

    tree = diagram_tree(view, unfolded=range(10))
    assert tree.limited and drawn(tree.items) <= MAX_DRAWN + 1  # + the input
    assert drawn(tree.items) > 30 * 10  # the small stage was still drawn unfolded: only the big one folded
    chosen = diagram_tree(view, unfolded=range(10), selected=["100.3.0"])  # inside the big stage: it cannot fit
    assert chosen.limited and drawn(chosen.items) <= 3
    small = diagram_tree(view, unfolded=range(10), selected=["10.3.0"])
    assert small.limited and drawn(small.items) > 30 * 10
    # The PNG: twice the size while it fits, then the size shown, then refused with what to do.
    plain = compute({"input": [8, 32, 32], "layers": [dict(conv) for _ in range(MAX_DRAWN - 1)]})
    layout = diagram_layout(plain, unfolded=(0,))
    assert layout.width * layout.height * 4 > PNG_MAX_PIXELS >= layout.width * layout.height
    image = Image.open(io.BytesIO(to_png(layout)))
    assert image.size == (int(-(-layout.width // 1)), int(-(-layout.height // 1)))
    with pytest.raises(PlaygroundError, match="too large for a PNG"):
        to_png(dataclasses.replace(layout, height=layout.height * 3))  # over the limit even at the size shown
