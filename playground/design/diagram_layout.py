"""The network diagram's geometry: boxes, faces, lines and texts, for two renderers (SVG and PNG).

The flow runs top to bottom along an axis. A feature map is a pseudo-3D block: its front face is the
map (width: columns, height: rows, log scale), its depth the channels (log scale); a 1-D layer (flatten,
linear) is a thin short bar as wide as its features (log scale); a folded stage is a block with two
shadows behind it. A branch puts its paths in lanes side by side, its first path on the axis, and joins
them at a circle with the merge's sign (⊕ add, ‖ concat, ⊗ multiply). Every label sits to the right of
its block, :data:`FONT` pixels high, and each item is as wide and tall as its label needs, so texts never
overlap. The figure is :data:`WIDTH` pixels wide (wider only when many lanes need it): the page shows
it at its own size in the Designer's summary column (516 px at the default 1400 px window), so its
labels are shown at their own size.

Receptive field marks (with shapes shown): on the chosen layer, its centre unit; on the input and on
every map that feeds it, the region that unit reads (:mod:`playground.design.diagram_model`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from playground.design.diagram_model import (
    Frame,
    Item,
    Lanes,
    Node,
    Tree,
    chosen_field,
    feeds,
    spans_on,
)

__all__ = ["Rect", "Poly", "Line", "Circle", "Text", "Layout", "layout_tree", "text_width", "TYPE_COLOURS",
           "WIDTH", "FONT", "MARK", "UNIT"]

WIDTH = 480          # the figure's least width: it fits the Designer's summary column at the default window
FONT = 13            # every label's size in pixels (readable at 1:1)
LINE = 17            # label line spacing
PAD = 12
GAP = 12             # vertical room between two items
LANE_GAP = 14        # horizontal room between two lanes
FACE = (14.0, 64.0)  # a map's face side, smallest and largest
DEPTH = (3.0, 22.0)  # a map's depth (channels), thinnest and thickest
BAR_H = 8.0          # a 1-D layer's bar
HIDDEN = (36.0, 36.0, 8.0)  # every block's face and depth when shapes are hidden
COMPACT = 0.5        # block scale of a figure that would be wider than WIDTH at full scale
MERGE_R = 10.0
MARK = "#fb4f14"     # the region the chosen unit reads
UNIT = "#ffd33d"     # the chosen unit itself
INK, MUTED, EDGE = "#24292f", "#57606a", "#8c959f"

TYPE_COLOURS: dict[str, str] = {
    "input": "#9aa5b1",
    "conv2d": "#1f6feb", "dwsep": "#0f9d8a", "residual": "#8250df", "bottleneck": "#a371f7",
    "maxpool2d": "#e36209", "avgpool2d": "#f0883e", "global_avgpool": "#d4a72c",
    "batchnorm2d": "#b1bac4", "flatten": "#bf8700", "dropout": "#d0d7de", "linear": "#cf222e",
    # graph designs: a branch and the named blocks that stand for one
    "branch": "#6e40c9", "inverted_residual": "#1a7f37", "mbconv": "#116329", "fused_mbconv": "#4ac26b",
    "se": "#bf3989", "inception": "#0550ae", "convnext_block": "#953800", "dense_layer": "#8a4600",
    "layernorm2d": "#8c959f", "groupnorm": "#6e7781", "conv_transpose2d": "#218bff", "upsample": "#fb8f44",
    "adaptive_avgpool2d": "#bf8700", "channel_shuffle": "#a475f9", "layer_scale": "#57606a", "drop_path": "#d8dee4",
}
_ACTIVATION = "#2da44e"  # relu, gelu, tanh, ...: every activation shares one colour


def colour(kind: str) -> str:
    """The fill of a block of type ``kind`` (every activation shares one green)."""
    return TYPE_COLOURS.get(kind, _ACTIVATION)


def text_width(text: str, size: float = FONT) -> float:
    """A generous estimate of a text's drawn width (sans-serif glyphs average ~0.55 em; 0.62 leaves room)."""
    return 0.62 * size * len(text)


@dataclass(frozen=True)
class Rect:
    """A rectangle; ``title`` (a layer type) marks a layer's block; ``role`` says what it is."""

    x: float
    y: float
    w: float
    h: float
    fill: str = "none"
    stroke: str = "none"
    stroke_width: float = 1.0
    dashed: bool = False
    opacity: float = 1.0
    title: str | None = None
    role: str = "block"  # block / side / shadow / mark / unit / frame / swatch / background


@dataclass(frozen=True)
class Poly:
    """A filled polygon (a block's top or side face)."""

    points: tuple[tuple[float, float], ...]
    fill: str
    stroke: str = "none"


@dataclass(frozen=True)
class Line:
    """A straight connector."""

    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str = EDGE
    width: float = 1.5


@dataclass(frozen=True)
class Circle:
    """A merge: a circle holding the merge's sign (drawn with lines, no glyph needed)."""

    cx: float
    cy: float
    r: float
    merge: str
    stroke: str = INK
    width: float = 1.5


@dataclass(frozen=True)
class Text:
    """A label: ``y`` is its baseline; ``anchor`` start or middle."""

    x: float
    y: float
    text: str
    size: float = FONT
    anchor: str = "start"
    bold: bool = False
    fill: str = INK


@dataclass
class Layout:
    """The whole figure, in drawing order."""

    width: float
    height: float
    shapes: list[Rect | Poly | Line | Circle | Text] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------------------------

def _log(value: int, largest: int, lo: float, hi: float) -> float:
    if largest <= 1:
        return hi
    return lo + (hi - lo) * math.log2(max(1, value)) / math.log2(largest)


class _Geometry:
    """Measures and places the items of one tree."""

    def __init__(self, tree: Tree, show_shapes: bool, zoom: float = 1.0) -> None:
        self.tree, self.show_shapes, self.zoom = tree, show_shapes, zoom
        self._sizes: dict[int, tuple[float, float, float]] = {}  # by id(): the tree outlives the geometry
        self.under: list[Line] = []  # the connectors, drawn first: under the blocks
        self.out: list[Rect | Poly | Line | Circle | Text] = []
        self.field = chosen_field(tree.chosen) if tree.chosen is not None and show_shapes else None

    def block(self, node: Node) -> tuple[float, float, float]:
        """(face width, face height, depth) of a node's block."""
        z = self.zoom
        if not self.show_shapes or node.shape is None:
            return (HIDDEN[0] * z, HIDDEN[1] * z, HIDDEN[2] * z) if not node.dashed else (36.0 * z, 24.0 * z, 0.0)
        t, shape = self.tree, node.shape
        face, deep = (FACE[0] * z, FACE[1] * z), (DEPTH[0] * z, DEPTH[1] * z)
        if len(shape) == 3:
            return (_log(shape[2], t.max_side, *face), _log(shape[1], t.max_side, *face),
                    _log(shape[0], t.max_channels, *deep))
        return _log(shape[0], t.max_features, *face), BAR_H, 0.0

    # -- measuring ---------------------------------------------------------------------------------
    def measure(self, item: Item) -> tuple[float, float, float]:
        """(left of the axis, right of it, height) of an item, worked out once (placing asks again)."""
        size = self._sizes.get(id(item))
        if size is None:
            size = self._sizes[id(item)] = self._measure(item)
        return size

    def _measure(self, item: Item) -> tuple[float, float, float]:
        if isinstance(item, Node):
            fw, fh, d = self.block(item)
            label = max((text_width(t) for t in item.lines), default=0.0)
            shadow = 8.0 if item.folded else 0.0
            right = fw / 2 + d + shadow + 8 + label
            return fw / 2, right, max(fh + d + shadow, LINE * len(item.lines)) + GAP
        if isinstance(item, Frame):
            left, right, height = self.sequence(item.items)
            # the title sits right of the axis, clear of the line running down it
            return left + 8, max(right + 8, 8 + text_width(item.title) + 6), height + LINE + 2 * GAP
        widths = [self.sequence(path) if path else (8.0, 8.0, 0.0) for path in item.paths]
        left = widths[0][0]
        right = widths[0][1] + sum(LANE_GAP + w[0] + w[1] for w in widths[1:])
        label = max((text_width(t) for t in item.lines), default=0.0)
        right = max(right, MERGE_R + 8 + label)
        height = 2 * GAP + max(w[2] for w in widths) + 2 * MERGE_R + max(0.0, LINE * len(item.lines) - 2 * MERGE_R)
        return left, right, height + GAP

    def sequence(self, items: list[Item]) -> tuple[float, float, float]:
        sizes = [self.measure(i) for i in items]
        return (max((s[0] for s in sizes), default=0.0), max((s[1] for s in sizes), default=0.0),
                sum(s[2] for s in sizes))

    # -- placing: each returns the point its flow leaves from -----------------------------------
    def place_sequence(self, items: list[Item], axis: float, y: float, entry: float | None) -> float:
        """Place ``items`` down the axis from ``y``; ``entry``: where the line into the first comes from."""
        for item in items:
            top = y
            exit_y = self.place(item, axis, y)
            if entry is not None:
                self.under.append(Line(axis, entry, axis, top))
            entry = exit_y
            y += self.measure(item)[2]
        return entry if entry is not None else y

    def place(self, item: Item, axis: float, y: float) -> float:
        if isinstance(item, Node):
            return self.node(item, axis, y)
        if isinstance(item, Frame):
            left, right, height = self.measure(item)
            self.out.append(Rect(axis - left, y, left + right, height - GAP, stroke="#000000" if item.selected
                                 else EDGE, stroke_width=3 if item.selected else 1, dashed=True, role="frame"))
            self.out.append(Text(axis + 8, y + LINE - 3, item.title, bold=item.selected))
            inner_y = y + LINE + GAP / 2
            self.under.append(Line(axis, y, axis, inner_y))
            return self.place_sequence(item.items, axis, inner_y, inner_y)
        return self.lanes(item, axis, y)

    def lanes(self, item: Lanes, axis: float, y: float) -> float:
        sizes = [self.sequence(path) if path else (8.0, 8.0, 0.0) for path in item.paths]
        split = y + GAP / 2
        top = y + GAP
        axes, x = [], axis
        for k, (left, right, _) in enumerate(sizes):
            if k:
                x += LANE_GAP + left
            axes.append(x)
            x += right
        bottom = top + max(s[2] for s in sizes)
        merge_y = bottom + GAP + MERGE_R
        join = merge_y - MERGE_R - GAP / 2  # the lanes come together above the circle, clear of its label
        if len(axes) > 1:
            self.under.append(Line(axis, split, axes[-1], split))
            self.under.append(Line(axis, join, axes[-1], join))
        for lane_axis, path in zip(axes, item.paths):
            self.under.append(Line(lane_axis, split, lane_axis, top))
            end = self.place_sequence(path, lane_axis, top, top) if path else top
            self.under.append(Line(lane_axis, end, lane_axis, join if lane_axis != axis else merge_y - MERGE_R))
        self.under.append(Line(axis, join, axis, merge_y - MERGE_R))
        self.out.append(Circle(axis, merge_y, MERGE_R, item.merge, stroke="#000000" if item.selected else INK,
                               width=3 if item.selected else 1.5))
        for k, text in enumerate(item.lines):
            self.out.append(Text(axis + MERGE_R + 8, merge_y - MERGE_R + FONT + k * LINE, text, bold=item.selected,
                                 fill=INK if k == 0 else MUTED))
        return merge_y + MERGE_R

    def node(self, node: Node, axis: float, y: float) -> float:
        fw, fh, d = self.block(node)
        dx, dy = d, d * 0.7
        shadow = 8.0 if node.folded else 0.0
        fx, fy = axis - fw / 2, y + dy
        fill = "none" if node.dashed else colour(node.kind)
        if node.folded:  # two shadows behind, down and right: the layers this block stands for
            for k in (2, 1):
                self.out.append(Rect(fx + 4 * k, fy + 4 * k, fw, fh, fill=_shade(fill, 0.6), stroke=MUTED,
                                     role="shadow"))
        if d:
            self.out.append(Poly(((fx, fy), (fx + dx, fy - dy), (fx + fw + dx, fy - dy), (fx + fw, fy)),
                                 _shade(fill, 0.35), EDGE))
            self.out.append(Poly(((fx + fw, fy), (fx + fw + dx, fy - dy), (fx + fw + dx, fy + fh - dy),
                                  (fx + fw, fy + fh)), _shade(fill, -0.25), EDGE))
        outline = ("#000000", 3.0) if node.selected else (EDGE if node.dashed else MUTED, 1.0)
        self.out.append(Rect(fx, fy, fw, fh, fill=fill, stroke=outline[0], stroke_width=outline[1],
                             dashed=node.dashed, title=None if node.dashed else node.kind))
        self.marks(node, fx, fy, fw, fh)
        label_x = axis + fw / 2 + d + shadow + 8
        for k, text in enumerate(node.lines):
            self.out.append(Text(label_x, y + FONT + k * LINE, text, bold=node.selected and k == 0,
                                 fill=INK if k == 0 else MUTED))
        return fy + fh

    def marks(self, node: Node, fx: float, fy: float, fw: float, fh: float) -> None:
        """The receptive field marks on a map's face (see the module docstring)."""
        t = self.tree
        if self.field is None or node.shape is None or len(node.shape) != 3 or t.chosen_key is None:
            return
        _, rows, cols = node.shape
        if node.key is not None and node.key == t.chosen_key and not node.folded:
            r0, c0 = (rows - 1) // 2, (cols - 1) // 2  # the centre unit, as chosen_field takes it
            w, h = max(3.0, fw / cols), max(3.0, fh / rows)
            self.out.append(Rect(fx + (c0 + 0.5) * fw / cols - w / 2, fy + (r0 + 0.5) * fh / rows - h / 2, w, h,
                                 fill=UNIT, stroke="#000000", role="unit"))
            return
        if node.key is None and node.kind != "input":
            return
        if node.key is not None and not feeds(node.key, t.chosen_key):
            return
        spans = spans_on(node.row, node.shape, self.field)
        if spans is None:
            return
        (r0, r1), (c0, c1) = spans
        x0, x1 = fx + c0 * fw / cols, fx + (c1 + 1) * fw / cols
        y0, y1 = fy + r0 * fh / rows, fy + (r1 + 1) * fh / rows
        self.out.append(Rect(x0, y0, max(2.0, x1 - x0), max(2.0, y1 - y0), fill=MARK, stroke=MARK,
                             opacity=0.55, role="mark"))


def _shade(hex_colour: str, amount: float) -> str:
    """``hex_colour`` lightened (amount > 0) or darkened (< 0): the lit top and shaded side of a block."""
    if not hex_colour.startswith("#"):
        return "none"
    rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(c + (255 - c) * amount) if amount > 0 else round(c * (1 + amount)) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def _legend(types: list[str], width: float, y: float) -> tuple[list[Rect | Text], float]:
    """The colour key: a swatch and the type name for each type drawn, wrapping at ``width``."""
    out: list[Rect | Text] = []
    x, row_y = float(PAD), y
    for kind in types:
        slot = 16 + text_width(kind) + 14
        if x + slot > width - PAD and x > PAD:
            x, row_y = float(PAD), row_y + LINE + 4
        out.append(Rect(x, row_y, 12, 12, fill=colour(kind), stroke=MUTED, role="swatch"))
        out.append(Text(x + 16, row_y + 11, kind))
        x += slot
    return out, (row_y + LINE + 4 - y) if types else 0.0


def layout_tree(tree: Tree, *, show_shapes: bool = True) -> Layout:
    """Place ``tree``'s items (see the module docstring); the figure is at least :data:`WIDTH` wide."""
    geo = _Geometry(tree, show_shapes)
    left, right, height = geo.sequence(tree.items)
    if left + right + 2 * PAD > WIDTH:  # many lanes side by side: smaller blocks, the labels keep their size
        geo = _Geometry(tree, show_shapes, COMPACT)
        left, right, height = geo.sequence(tree.items)
    width = max(float(WIDTH), left + right + 2 * PAD)
    axis = max(PAD + left, (width - left - right) / 2 + left)  # the content centred in the figure
    geo.place_sequence(tree.items, axis, PAD, None)
    legend, legend_h = _legend(tree.types, width, PAD + height + 4)
    total = math.ceil(PAD + height + 4 + legend_h + PAD)
    background = Rect(0, 0, width, total, fill="#ffffff", role="background")
    return Layout(width, total, [background, *geo.under, *geo.out, *legend])
