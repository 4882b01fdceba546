"""What the network diagram shows, before any geometry: nodes, branches, folded stages, opened blocks.

:func:`diagram_tree` turns a design's analysis into a tree of items the layout draws top to bottom:
a :class:`Node` per layer (or per folded stage), a :class:`Lanes` per branch (its paths side by side,
joined at the merge) and a :class:`Frame` round a named block drawn opened. Long designs are cut into
stages (:func:`stages`: runs of layers at one map size), and the long stages are folded to one node
("×N blocks") unless unfolded; the stage holding the chosen layer is always unfolded.

Every text here is a fixed word, a layer type from the spec's validated set, or a number: nothing the
user typed (a design's name, an unknown type) ever reaches the picture. With ``show_shapes=False`` stages
are fixed runs of layers, not map sizes, so where the resolution changes cannot be read off them.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from playground._format import format_dims
from playground.design.analysis import LayerReport, analyze
from playground.design.expand import EXPANDABLE, expand_block
from playground.design.view import DesignView
from playground.spec.base import Shape
from playground.spec.parse import SpecError

__all__ = ["Node", "Lanes", "Frame", "Item", "Stage", "Tree", "stages", "foldable", "diagram_tree",
           "selected_names", "FOLD_FROM", "MIN_FOLD", "HIDDEN_STAGE", "MAX_DRAWN"]

FOLD_FROM = 20     # designs with more top-level layers than this start with their long stages folded
MIN_FOLD = 3       # a stage of fewer layers is never folded (folding would not save room)
HIDDEN_STAGE = 8   # with shapes hidden, stages are runs of this many layers (map sizes would give them away)
# At most this many layers are drawn one by one: past it, the largest stages stay folded whatever was asked (the
# chosen layer's too, if need be). A link may hold 5,000 layers in branches; drawn all, the SVG took 0.3 s and
# 4 MB and its PNG 15 s of the server's CPU. 400 is more than ResNet-152 unfolded (about 370 rows with its blocks).
MAX_DRAWN = 400
OPENED_BLOCK = 16  # what an opened named block is counted as (its insides: an inception's four paths, an mbconv)
MERGE_WORDS = {"add": "add", "concat": "concat", "mul": "multiply"}


@dataclass
class Node:
    """One block: a layer, the input, a folded stage, or a layer past the broken one (``dashed``)."""

    lines: tuple[str, ...]              # the label, one text per line (fixed words, types, numbers)
    kind: str                           # a type name: the block's colour ("input" for the input)
    shape: Shape | None                 # its output (None: unknown or hidden)
    row: LayerReport | None = None      # the analysis row whose field the marks use (a stage: its last)
    key: tuple[int, ...] | None = None  # the path-qualified index ((4, 1, 0) for "4.1.0"); None: no spec row
    selected: bool = False
    folded: int = 0                     # layers a folded stage stands for (0: not folded)
    dashed: bool = False


@dataclass
class Lanes:
    """A branch: its paths side by side (an empty path is the identity), joined at ``merge``."""

    paths: list[list[Item]]
    merge: str                          # add / concat / mul
    lines: tuple[str, ...]
    shape: Shape | None
    key: tuple[int, ...]
    selected: bool = False


@dataclass
class Frame:
    """A named block drawn opened: its layers inside a dashed frame titled with its name and type."""

    title: str
    items: list[Item]
    selected: bool = False


Item = Node | Lanes | Frame


@dataclass(frozen=True)
class Stage:
    """A run of top-level layers ``first``..``last`` (inclusive): one map size, or a fixed-size chunk."""

    number: int
    first: int
    last: int
    size: str   # the map size ("56×56"), "head" after the maps, "" when shapes are hidden

    @property
    def count(self) -> int:
        """How many layers the stage holds."""
        return self.last - self.first + 1

    @property
    def label(self) -> str:
        """The stage as a pill: ``"56×56 · 4-6"`` (or ``"layers 8-15"`` without shapes)."""
        return f"{self.size} · {self.first}-{self.last}" if self.size else f"layers {self.first}-{self.last}"


@dataclass
class Tree:
    """The items top to bottom, plus what the legend and the caption need."""

    items: list[Item]
    types: list[str] = field(default_factory=list)   # layer types drawn, in order of appearance
    chosen: LayerReport | None = None                # the chosen layer (its field is traced)
    chosen_key: tuple[int, ...] | None = None
    max_side: int = 1
    max_channels: int = 1
    max_features: int = 1
    limited: bool = False  # some stages were kept folded (or layers past a broken one left out) by MAX_DRAWN


def _stage_key(shape: Shape) -> str:
    return format_dims(shape[1:]) if len(shape) == 3 and shape[1] * shape[2] > 1 else ""


def stages(layers: Sequence[LayerReport], *, show_shapes: bool = True) -> list[Stage]:
    """Consecutive top-level layers grouped by their output map size (1-D and 1×1 layers: the head);
    with ``show_shapes=False`` fixed runs of :data:`HIDDEN_STAGE` layers instead."""
    if not show_shapes:
        return [Stage(n, i, min(i + HIDDEN_STAGE, len(layers)) - 1, "")
                for n, i in enumerate(range(0, len(layers), HIDDEN_STAGE))]
    out: list[Stage] = []
    for i, row in enumerate(layers):
        key = _stage_key(row.output_shape) or "head"
        if out and out[-1].size == key:
            out[-1] = Stage(out[-1].number, out[-1].first, i, key)
        else:
            out.append(Stage(len(out), i, i, key))
    return out


def foldable(all_stages: Sequence[Stage], n_layers: int) -> list[Stage]:
    """The stages folded unless unfolded: in a design of more than :data:`FOLD_FROM` layers, those of at
    least :data:`MIN_FOLD` layers but the head (pooling, flatten, classifier: small, and read at a glance)."""
    if n_layers <= FOLD_FROM:
        return []
    return [s for s in all_stages if s.count >= MIN_FOLD and s.size != "head"]


def _key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split("."))


def selected_names(selected: Collection[int | str]) -> set[str]:
    """The chosen layers as path-qualified names: ``4`` and ``"4"`` are layer 4, ``"4.1.0"`` inside its branch."""
    return {str(s).strip() for s in selected}


def _shape_line(shape: Shape, show_shapes: bool) -> tuple[str, ...]:
    return (format_dims(shape),) if show_shapes else ()


def _fold_line(rows: Sequence[LayerReport], stage: Stage) -> str:
    """``"15-50 bottleneck ×36 blocks"`` for a stage of one type, ``"3-6 maxpool2d + bottleneck ×3"`` for
    two runs of types, ``"29-56 dense_layer ×24 + 4 more"`` where one type is at least half, else
    ``"0-2: 3 layers"``."""
    runs: list[list[Any]] = []
    for r in rows:
        if runs and runs[-1][0] == r.type:
            runs[-1][1] += 1
        else:
            runs.append([r.type, 1])
    span = f"{stage.first}-{stage.last}"
    if len(runs) == 1:
        return f"{span} {runs[0][0]} ×{runs[0][1]} blocks"
    if len(runs) == 2:
        return f"{span} " + " + ".join(t if n == 1 else f"{t} ×{n}" for t, n in runs)
    types = [r.type for r in rows]
    top = max(dict.fromkeys(types), key=types.count)  # the commonest type, the first one on a tie
    if 2 * types.count(top) >= len(types):
        return f"{span} {top} ×{types.count(top)} + {len(types) - types.count(top)} more"
    return f"{span}: {len(rows)} layers"


class _Builder:
    """Builds the tree for one set of options (a small class: the options travel with it)."""

    def __init__(self, names: set[str], show_shapes: bool, open_blocks: bool) -> None:
        self.names, self.show_shapes, self.open_blocks = names, show_shapes, open_blocks
        self.types: list[str] = []

    def _seen(self, kind: str) -> None:
        if kind not in self.types:
            self.types.append(kind)

    def row(self, row: LayerReport, *, numbered: bool = True) -> Item:
        """A layer's item: a node, a branch's lanes, or a named block's frame when blocks are opened."""
        # Rows inside an opened block are numbered from 0 again: never the chosen layer
        key, chosen = _key(row.name), numbered and row.name in self.names
        head = f"{row.name} {row.type}" if numbered else row.type
        if row.children:  # a branch is drawn as its lanes and merge sign, not a coloured block
            paths = [[self.row(r, numbered=numbered) for r in path] for path in row.children]
            merge = getattr(row.layer, "merge", "add")
            return Lanes(paths, merge, (f"{row.name} {MERGE_WORDS.get(merge, merge)}" if numbered
                                        else MERGE_WORDS.get(merge, merge), *_shape_line(row.output_shape,
                                                                                         self.show_shapes)),
                         row.output_shape, key, chosen)
        if self.open_blocks and row.type in EXPANDABLE and len(row.input_shape) == 3:
            try:
                inner = analyze({"input": list(row.input_shape),
                                 "layers": expand_block(row.layer, row.input_shape[0])})
            except (SpecError, ValueError):  # cannot happen for a block the analysis accepted: drawn shut
                inner = None
            if inner is not None:
                # The insides are not spec rows: typed but unnumbered, and left out of the traced field.
                return Frame(head, [self.row(r, numbered=False) for r in inner.layers], chosen)
        self._seen(row.type)
        return Node((head, *_shape_line(row.output_shape, self.show_shapes)), row.type, row.output_shape,
                    row if numbered else None, key if numbered else None, chosen)

    def stage(self, rows: Sequence[LayerReport], stage: Stage) -> Node:
        """A folded stage: one node with the stage's last output, standing for all its layers."""
        last = rows[-1]
        for r in rows:
            self._seen(r.type)
        macs: dict[str, int] = {}
        for r in rows:
            macs[r.type] = macs.get(r.type, 0) + r.macs
        kind = max(macs, key=lambda t: (macs[t], t == last.type))  # coloured as the type doing the work
        return Node((_fold_line(rows, stage), *_shape_line(last.output_shape, self.show_shapes)), kind,
                    last.output_shape,
                    last, _key(last.name), any(r.name in self.names for r in rows), folded=len(rows))


def _extremes(rows: Sequence[LayerReport], input_shape: Shape) -> tuple[int, int, int]:
    shapes = [input_shape, *(r.output_shape for r in rows)]
    spatial = [s for s in shapes if len(s) == 3]
    return (max((max(s[1], s[2]) for s in spatial), default=1), max((s[0] for s in spatial), default=1),
            max((s[0] for s in shapes if len(s) == 1), default=1))


def diagram_tree(view: DesignView, *, selected: Collection[int | str] = (), show_shapes: bool = True,
                 unfolded: Collection[int] = (), open_blocks: bool = False) -> Tree:
    """The items of ``view``'s diagram: the input, each layer (stages folded as :func:`foldable` says,
    but for those numbered in ``unfolded`` and the one holding the chosen layer), then any layers past
    the broken one as dashed nodes. ``selected``: top-level indices or path-qualified names."""
    report = view.report
    names = selected_names(selected)
    build = _Builder(names, show_shapes, open_blocks)
    if report is None or report.input_shape is None:
        return Tree([])
    rows = report.rows()
    chosen = next((r for r in rows if r.name in names), None)
    items: list[Item] = [Node(("input", *_shape_line(report.input_shape, show_shapes)), "input",
                              report.input_shape)]
    layers = report.layers
    all_stages = stages(layers, show_shapes=show_shapes)
    parts = {s.number: layers[s.first:s.last + 1] for s in all_stages}
    holds_chosen = {n for n, part in parts.items() if any(r.name in names for top in part for r in top.walk())}
    folded = ({s.number for s in foldable(all_stages, len(layers))} - set(unfolded)) - holds_chosen
    folded, limited = _within_budget(parts, folded, open_blocks, keep=holds_chosen)
    for stage in all_stages:
        part = parts[stage.number]
        items.extend([build.stage(part, stage)] if stage.number in folded else (build.row(r) for r in part))
    spec_layers = view.spec.get("layers")
    n_total = len(spec_layers) if isinstance(spec_layers, list) else len(layers)
    room = max(0, MAX_DRAWN - sum(1 if n in folded else _drawn(p, open_blocks) for n, p in parts.items()))
    limited = limited or n_total - len(layers) > room
    for index in range(len(layers), min(n_total, len(layers) + room)):  # past the broken layer: no type (user text)
        items.append(Node((str(index),), "", None, key=(index,), selected=str(index) in names, dashed=True))
    side, channels, features = _extremes(rows, report.input_shape)
    return Tree(items, build.types, chosen, _key(chosen.name) if chosen else None, side, channels, features,
                limited)


def _drawn(part: Sequence[LayerReport], open_blocks: bool) -> int:
    """How many items drawing ``part`` layer by layer takes (every row inside branches; an opened block's insides)."""
    return sum(OPENED_BLOCK if open_blocks and r.type in EXPANDABLE else 1 for top in part for r in top.walk())


def _within_budget(parts: Mapping[int, Sequence[LayerReport]], folded: set[int], open_blocks: bool, *,
                   keep: set[int]) -> tuple[set[int], bool]:
    """``folded`` plus the largest other stages (those in ``keep`` last), until at most :data:`MAX_DRAWN` items
    are drawn; and whether any had to be added. A folded stage is one item."""
    sizes = {n: _drawn(part, open_blocks) for n, part in parts.items()}
    drawn = sum(1 if n in folded else size for n, size in sizes.items())
    out = set(folded)
    for n in sorted(sizes, key=lambda k: (k in keep, -sizes[k])):
        if drawn <= MAX_DRAWN:
            break
        if n not in out and sizes[n] > 1:
            out.add(n)
            drawn -= sizes[n] - 1
    return out, out != folded


def feeds(node: tuple[int, ...], chosen: tuple[int, ...]) -> bool:
    """Whether the output of the row at ``node`` flows into the row at ``chosen`` (path-qualified keys):
    an earlier layer at a shared level does, a layer in a sibling path or the branch holding it does not."""
    for depth, (a, b) in enumerate(zip(node, chosen)):
        if a != b:
            return depth % 2 == 0 and a < b   # even positions are layers, odd ones paths
    return len(node) > len(chosen)            # inside the chosen branch: it feeds its merge


def unit_span(rf: float, jump: float, start: float, n: int, lo: float, hi: float) -> tuple[int, int] | None:
    """The units (along one axis of a map of ``n`` units) whose whole field lies in ``[lo, hi]`` (input
    coordinates): the ones the chosen unit reads through this map. None when none do."""
    half = (rf - 1) / 2
    first = max(0, math.ceil((lo + half - start) / jump - 1e-9))
    last = min(n - 1, math.floor((hi - half - start) / jump + 1e-9))
    return (first, last) if first <= last else None


def chosen_field(row: LayerReport) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The input-coordinate span ((top, bottom), (left, right)) of the centre unit of ``row``'s map,
    or None when its field is not tracked or its output is not a map."""
    if row.receptive_field is None or row.jump is None or row.start is None or len(row.output_shape) != 3:
        return None
    spans = []
    for axis in (0, 1):
        n = row.output_shape[axis + 1]
        centre = row.start[axis] + ((n - 1) // 2) * row.jump[axis]
        half = (row.receptive_field[axis] - 1) / 2
        spans.append((centre - half, centre + half))
    return spans[0], spans[1]


def spans_on(row: LayerReport | None, shape: Shape, field_: tuple[tuple[float, float], tuple[float, float]]
             ) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The units of a map (``row``'s output, or the input image for ``row`` None) that the chosen field
    covers, as ((first row, last row), (first column, last column))."""
    out: list[Any] = []
    for axis in (0, 1):
        n = shape[axis + 1]
        if row is None:
            span = unit_span(1, 1, 0, n, *field_[axis])
        elif row.receptive_field is None or row.jump is None or row.start is None:
            return None
        else:
            span = unit_span(row.receptive_field[axis], row.jump[axis], row.start[axis], n, *field_[axis])
        if span is None:
            return None
        out.append(span)
    return out[0], out[1]
