"""The designer's network diagram (an SVG built from the analysis, no streamlit needed)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from playground._format import format_dims
from playground.design.presets import DEFAULT_SPEC, PRESETS
from playground.design.view import compute
from playground.ui.designer.diagram import PER_ROW, TYPE_COLOURS, diagram_svg

_NS = "{http://www.w3.org/2000/svg}"


def _blocks(svg: str) -> list[ET.Element]:
    """The layer blocks (input first): the rects with a <title>, or the dashed ones past a broken layer."""
    root = ET.fromstring(svg)
    return [r for r in root.iter(f"{_NS}rect") if r.find(f"{_NS}title") is not None or r.get("stroke-dasharray")]


def _texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{_NS}text")]


def test_one_block_per_layer_sized_by_its_output_and_coloured_by_type() -> None:
    view = compute(DEFAULT_SPEC)
    blocks = _blocks(diagram_svg(view))
    assert len(blocks) == len(DEFAULT_SPEC["layers"]) + 1
    types = ["input", *(layer["type"] for layer in DEFAULT_SPEC["layers"])]
    assert [b.find(f"{_NS}title").text for b in blocks] == types  # type: ignore[union-attr]
    assert blocks[1].get("fill") == TYPE_COLOURS["conv2d"] and blocks[-1].get("fill") == TYPE_COLOURS["linear"]
    height = [float(b.get("height", 0)) for b in blocks]
    width = [float(b.get("width", 0)) for b in blocks]
    shapes = view.parsed.shapes  # type: ignore[union-attr]
    # Smaller maps are shorter blocks, more channels wider ones (layer 3 pools 16x32x32 to 16x16x16;
    # layer 4 widens 16 to 32 channels at 16x16).
    assert shapes[3] == (16, 32, 32) and shapes[4] == (16, 16, 16) and shapes[5] == (32, 16, 16)
    assert height[4] < height[3] and width[4] == width[3]
    assert width[5] > width[4] and height[5] == height[4]
    # Every shape is written under its block.
    texts = _texts(diagram_svg(view))
    for shape in shapes:
        assert format_dims(shape) in texts


def test_the_open_layers_are_outlined_and_the_figure_wraps() -> None:
    view = compute(PRESETS["VGG-16"])
    svg = diagram_svg(view, selected={5})
    blocks = _blocks(svg)
    assert [i - 1 for i, b in enumerate(blocks) if b.get("stroke-width") == "3"] == [5]
    rows = {round(float(b.get("y", 0)) + float(b.get("height", 0))) for b in blocks}  # each row's baseline
    assert len(rows) == -(-len(blocks) // PER_ROW)


def test_it_follows_edits_and_draws_layers_past_a_broken_one_as_outlines() -> None:
    spec: dict[str, Any] = {"input": [3, 32, 32], "layers": [{"type": "conv2d", "out_channels": 8, "kernel_size": 3},
                                             {"type": "conv2d", "out_channels": 8, "kernel_size": 99},
                                             {"type": "relu"}]}
    blocks = _blocks(diagram_svg(compute(spec)))
    assert len(blocks) == 4 and [bool(b.get("stroke-dasharray")) for b in blocks] == [False, False, True, True]
    spec["layers"][1]["kernel_size"] = 3
    assert not any(b.get("stroke-dasharray") for b in _blocks(diagram_svg(compute(spec))))


def test_hidden_shapes_leave_every_block_the_same_size_and_no_shape_written() -> None:
    view = compute(DEFAULT_SPEC)
    svg = diagram_svg(view, show_shapes=False)
    blocks = _blocks(svg)
    assert len({(b.get("width"), b.get("height")) for b in blocks}) == 1
    assert not [t for t in _texts(svg) if "×" in t]


def test_no_user_text_reaches_the_picture() -> None:
    evil = '<script>alert(1)</script>[x](https:evil.example)'
    spec = {"name": evil, "input": [3, 8, 8], "layers": [{"type": "relu"}, {"type": evil}]}
    svg = diagram_svg(compute(spec))
    assert "evil" not in svg and "<script" not in svg
    assert re.fullmatch(r"[\x20-\x7e×]*", svg)  # plain ASCII markup (and the × of shapes)
