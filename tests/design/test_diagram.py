"""The designer's network diagram (an SVG built from the analysis, no streamlit needed): blocks sized by
their output, branches in lanes, the chosen layer, and what a hide=shapes link may not show."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from playground._format import format_dims
from playground.design.diagram_layout import BAR_H, Poly, Rect
from playground.design.presets import DEFAULT_SPEC
from playground.design.view import compute
from playground.ui.designer.diagram import TYPE_COLOURS, diagram_layout, diagram_svg

NS = "{http://www.w3.org/2000/svg}"

GRAPH: dict[str, Any] = {"input": [3, 32, 32], "layers": [
    {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
    {"type": "branch", "merge": "add", "paths": [
        [{"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
         {"type": "branch", "merge": "mul", "paths": [[], [{"type": "global_avgpool"},
                                                          {"type": "conv2d", "out_channels": 16, "kernel_size": 1},
                                                          {"type": "sigmoid"}]]}],
        []]},
    {"type": "branch", "merge": "concat", "paths": [[{"type": "conv2d", "out_channels": 8, "kernel_size": 3,
                                                     "padding": 1}],
                                                   [{"type": "maxpool2d", "kernel_size": 3, "stride": 1,
                                                     "padding": 1}]]},
    {"type": "mbconv", "out_channels": 24, "stride": 2},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}


def blocks(svg: str) -> list[ET.Element]:
    """The layer blocks' front faces (input first): the rects with a <title>, or dashed ones past a broken layer."""
    root = ET.fromstring(svg)
    return [r for r in root.iter(f"{NS}rect")
            if r.find(f"{NS}title") is not None or r.get("data-role") == "block"]


def texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{NS}text")]


def faces(view: Any, **options: Any) -> list[tuple[Rect, list[Poly]]]:
    """Each block's front face with the top and side faces drawn just before it (its depth)."""
    shapes = diagram_layout(view, **options).shapes
    out = []
    for k, s in enumerate(shapes):
        if isinstance(s, Rect) and s.title:
            out.append((s, [p for p in shapes[max(0, k - 2):k] if isinstance(p, Poly)]))
    return out


def depth(polys: list[Poly]) -> float:
    return polys[0].points[1][0] - polys[0].points[0][0] if polys else 0.0


def test_one_block_per_layer_sized_by_its_output_and_coloured_by_type() -> None:
    view = compute(DEFAULT_SPEC)
    svg = diagram_svg(view)
    drawn = blocks(svg)
    assert len(drawn) == len(DEFAULT_SPEC["layers"]) + 1
    types = ["input", *(layer["type"] for layer in DEFAULT_SPEC["layers"])]
    assert [b.find(f"{NS}title").text for b in drawn] == types  # type: ignore[union-attr]
    assert drawn[1].get("fill") == TYPE_COLOURS["conv2d"] and drawn[-1].get("fill") == TYPE_COLOURS["linear"]
    f = faces(view)
    shapes = view.parsed.shapes  # type: ignore[union-attr]
    # Layer 3 pools 16x32x32 to 16x16x16 (a smaller face, the same depth); layer 4 widens to 32 channels.
    assert shapes[3] == (16, 32, 32) and shapes[4] == (16, 16, 16) and shapes[5] == (32, 16, 16)
    (a, pa), (b, pb), (c, pc) = f[3], f[4], f[5]
    assert b.w < a.w and b.h < a.h and depth(pb) == depth(pa)
    assert c.w == b.w and depth(pc) > depth(pb)
    # flatten and linear: thin short bars, no taller than a map's smallest face, with no depth
    for face, polys in f[-2:]:
        assert face.h == BAR_H and not polys and face.h < min(x.h for x, _ in f[:-2])
    assert f[-1][0].w < f[-2][0].w  # 10 features against 128
    for shape in shapes:  # every shape is written beside its block
        assert format_dims(shape) in texts(svg)


def test_branches_are_lanes_side_by_side_joined_at_their_merge() -> None:
    view = compute(GRAPH)
    svg = diagram_svg(view)
    root = ET.fromstring(svg)
    merges = [g.get("data-merge") for g in root.iter(f"{NS}g")]
    assert merges == ["mul", "add", "concat"]  # the nested gate merges first, inside the residual
    drawn = {(t := b.find(f"{NS}title")) is not None and t.text: b for b in blocks(svg)}
    conv, pool = drawn["conv2d"], drawn["maxpool2d"]  # conv2d: the last one drawn, layer 2's path 0
    # The concat's two paths side by side: the pool's lane to the right, at the same height.
    assert float(pool.get("x", 0)) > float(conv.get("x", 0)) + float(conv.get("width", 0))
    assert abs(float(pool.get("y", 0)) - float(conv.get("y", 0))) < 30
    words = texts(svg)
    assert {"1 add", "1.0.1 multiply", "2 concat", "1.0.1.1.0 global_avgpool", "2.1.0 maxpool2d"} <= set(words)


def test_the_chosen_layer_is_outlined_by_index_or_by_path() -> None:
    view = compute(GRAPH)
    for chosen, title in ((0, "conv2d"), ("2.1.0", "maxpool2d"), ("1.0.1.1.1", "conv2d")):
        outlined = [b for b in blocks(diagram_svg(view, selected={chosen})) if b.get("stroke-width") == "3"]
        assert [b.find(f"{NS}title").text for b in outlined] == [title]  # type: ignore[union-attr]
    bold = [t.text for t in ET.fromstring(diagram_svg(view, selected={"2.1.0"})).iter(f"{NS}text")
            if t.get("font-weight") == "bold"]
    assert bold == ["2.1.0 maxpool2d"]


def test_named_blocks_open_into_their_layers() -> None:
    view = compute(GRAPH)
    shut, opened = texts(diagram_svg(view)), texts(diagram_svg(view, open_blocks=True))
    assert "3 mbconv" in shut and "3 mbconv" in opened
    # opened: the expansion's convs (expand 16->64, depthwise, project to 24) and its squeeze-excitation gate
    assert opened.count("conv2d") >= 3 and "multiply" in opened and len(opened) > len(shut) + 8
    root = ET.fromstring(diagram_svg(view, open_blocks=True, selected={0}))
    assert [r for r in root.iter(f"{NS}rect") if r.get("data-role") == "frame"]
    # The block's insides are numbered from 0 again, yet only layer 0 of the design is the chosen one.
    assert len([r for r in root.iter(f"{NS}rect") if r.get("stroke-width") == "3"]) == 1
    assert not [g for g in root.iter(f"{NS}g") if g.get("stroke-width") == "3"]  # nor the block's own merge


def test_it_follows_edits_and_draws_layers_past_a_broken_one_as_outlines() -> None:
    spec: dict[str, Any] = {"input": [3, 32, 32], "layers": [{"type": "conv2d", "out_channels": 8, "kernel_size": 3},
                                                              {"type": "conv2d", "out_channels": 8, "kernel_size": 99},
                                                              {"type": "relu"}]}
    drawn = blocks(diagram_svg(compute(spec)))
    assert len(drawn) == 4 and [bool(b.get("stroke-dasharray")) for b in drawn] == [False, False, True, True]
    spec["layers"][1]["kernel_size"] = 3
    assert not any(b.get("stroke-dasharray") for b in blocks(diagram_svg(compute(spec))))


def _hidden_picture(spec: dict[str, Any], **options: Any) -> str:
    return diagram_svg(compute(spec), show_shapes=False, **options)


def test_hidden_shapes_leave_every_block_the_same_size_and_no_shape_written() -> None:
    for spec in (DEFAULT_SPEC, GRAPH):
        svg = _hidden_picture(spec, selected={2}, open_blocks=True)
        drawn = blocks(svg)
        assert len({(b.get("width"), b.get("height")) for b in drawn}) == 1
        assert not [t for t in texts(svg) if "×" in t or re.fullmatch(r"[\d ]+", t)]
        assert not [r for r in ET.fromstring(svg).iter(f"{NS}rect") if r.get("data-role") in ("mark", "unit")]
    # Stronger: designs that differ only in their sizes (strides, widths, kernels, input side) give the same
    # picture, branches and opened blocks included.
    other = {"input": [3, 64, 64], "layers": [
        {"type": "conv2d", "out_channels": 32, "kernel_size": 5, "stride": 2, "padding": 2},
        {"type": "branch", "merge": "add", "paths": [
            [{"type": "conv2d", "out_channels": 32, "kernel_size": 1},
             {"type": "branch", "merge": "mul", "paths": [[], [{"type": "global_avgpool"},
                                                              {"type": "conv2d", "out_channels": 32, "kernel_size": 1},
                                                              {"type": "sigmoid"}]]}],
            []]},
        {"type": "branch", "merge": "concat", "paths": [[{"type": "conv2d", "out_channels": 40, "kernel_size": 1}],
                                                       [{"type": "maxpool2d", "kernel_size": 3, "stride": 1,
                                                         "padding": 1}]]},
        {"type": "mbconv", "out_channels": 48, "stride": 1},
        {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 7}]}
    for options in ({}, {"selected": {"2.1.0"}}, {"open_blocks": True}):
        assert _hidden_picture(GRAPH, **options) == _hidden_picture(other, **options)


def test_no_user_text_reaches_the_picture() -> None:
    evil = '<script>alert(1)</script>[x](https:evil.example)'
    spec = {"name": evil, "input": [3, 8, 8], "layers": [{"type": "relu"}, {"type": evil}]}
    svg = diagram_svg(compute(spec))
    assert "evil" not in svg and "<script" not in svg
    assert re.fullmatch(r"[\x20-\x7e×]*", svg)  # plain ASCII markup (and the × of shapes)
