"""Layers inside branches, for the editor: a stable id for every layer at any depth, and where each one is.

A design's layers form a tree: a ``branch`` holds ``paths``, each a list of layers that may hold branches in
turn. :class:`playground.design.editor.Design` keeps the top level's ids in ``ids`` (as before branches could be
edited) and every branch's path ids in ``sub``: ``{branch id: [[ids of path 0], [ids of path 1], ...]}``. The
id lists are the very lists the editor edits, so an operation on a path changes the layers and their ids in the
same two lists, exactly as at the top level. Plain Python (tested without streamlit).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from playground.spec.error import SpecError

if TYPE_CHECKING:  # the analysis is read, never imported at run time: the editor model needs none of it
    from playground.design.analysis import LayerReport
    from playground.design.view import DesignView

__all__ = ["SubIds", "Slot", "EmptyPath", "lines", "paths_of", "sync", "walk", "locate", "id_at", "error_address",
           "own", "count_layers", "MAX_EDIT_DEPTH", "residual_around", "rows_by_name", "channels_in"]

SubIds = dict[int, list[list[int]]]
"""Each branch's path ids, by the branch's id (one list of ids per path, parallel to its layers)."""

MAX_EDIT_DEPTH = 32
"""Branches nested deeper than this are not given ids (a link could nest thousands deep; the parser
refuses past its own, smaller, limit and says so at the outer branch)."""


def paths_of(layer: Any) -> list[list[Any]] | None:
    """A branch's ``paths`` when they have the shape the editor can walk (a list of lists), else None."""
    if not isinstance(layer, dict) or layer.get("type") != "branch":
        return None
    paths = layer.get("paths")
    if isinstance(paths, list) and all(isinstance(p, list) for p in paths):
        return paths
    return None


def sync(layers: list[Any], ids: list[int], sub: SubIds, fresh: Callable[[int], list[int]]) -> SubIds:
    """The path ids for every branch under ``layers`` (whose own ids are ``ids``): existing lists are kept
    where they still match their path's length, others get ``fresh`` ids. Stale entries are dropped."""
    out: SubIds = {}
    stack: list[tuple[list[Any], list[int], int]] = [(layers, ids, 0)]
    while stack:
        level, level_ids, depth = stack.pop()
        if depth >= MAX_EDIT_DEPTH:
            continue
        for layer, layer_id in zip(level, level_ids):
            paths = paths_of(layer)
            if paths is None:
                continue
            old = sub.get(layer_id)
            if old is None or len(old) != len(paths) or any(len(o) != len(p) for o, p in zip(old, paths)):
                old = [fresh(len(p)) for p in paths]
            out[layer_id] = old
            stack.extend((p, p_ids, depth + 1) for p, p_ids in zip(paths, old))
    return out


@dataclass(frozen=True)
class Slot:
    """Where a layer is: the list holding it (the design's layers or a path) with its ids, and its address."""

    layers: list[Any]
    ids: list[int]
    index: int
    address: tuple[int, ...]    # (top index, path, index, path, index, ...)
    parent: int | None = None   # id of the branch whose path holds it (None at the top level)
    path: int | None = None     # which path of that branch

    @property
    def name(self) -> str:
        """The address as the analysis rows and SpecError.where write it: ``"4"`` or ``"4.1.0"``."""
        return ".".join(map(str, self.address))

    @property
    def depth(self) -> int:
        """0 at the top level, 1 inside a branch, ..."""
        return len(self.address) // 2

    @property
    def layer(self) -> Any:
        """The layer itself (the very dict the design holds)."""
        return self.layers[self.index]

    @property
    def layer_id(self) -> int:
        """The layer's id."""
        return self.ids[self.index]


@dataclass(frozen=True)
class EmptyPath:
    """A path with no layers (the identity), as a line of the layer list: the branch's id, the path, its depth."""

    branch_id: int
    path: int
    depth: int


def walk(layers: list[Any], ids: list[int], sub: SubIds) -> Iterator[Slot]:
    """Every layer, depth first in list order (a branch, then its path 0's layers, then path 1's...)."""
    return (line for line in lines(layers, ids, sub) if isinstance(line, Slot))


def lines(layers: list[Any], ids: list[int], sub: SubIds) -> Iterator[Slot | EmptyPath]:
    """What the layer list shows, in order: every layer as in :func:`walk`, and an :class:`EmptyPath` where a
    branch's path holds no layer."""
    def level(items: list[Any], item_ids: list[int], prefix: tuple[int, ...], parent: int | None,
              path: int | None) -> Iterator[Slot | EmptyPath]:
        for i, layer_id in enumerate(item_ids):
            slot = Slot(items, item_ids, i, (*prefix, i), parent, path)
            yield slot
            paths, path_ids = paths_of(items[i]), sub.get(layer_id)
            if paths is not None and path_ids is not None:
                for p, (inner, inner_ids) in enumerate(zip(paths, path_ids)):
                    if not inner_ids:
                        yield EmptyPath(layer_id, p, slot.depth + 1)
                    yield from level(inner, inner_ids, (*prefix, i, p), layer_id, p)
    return level(layers, ids, (), None, None)


def locate(layers: list[Any], ids: list[int], sub: SubIds, layer_id: int) -> Slot:
    """Where the layer with this id is (ValueError when it no longer exists)."""
    if layer_id in ids:  # the common case, without walking
        return Slot(layers, ids, ids.index(layer_id), (ids.index(layer_id),))
    for slot in walk(layers, ids, sub):
        if slot.layer_id == layer_id:
            return slot
    raise ValueError(f"no layer with id {layer_id}")


def id_at(layers: list[Any], ids: list[int], sub: SubIds, address: tuple[int, ...]) -> int | None:
    """The id of the layer at ``address`` (top index, path, index, ...), or the deepest one that exists on the
    way (the branch, when its path or layer is not there): None only when the top index is out of range."""
    if not address or not 0 <= address[0] < len(ids):
        return None
    found = ids[address[0]]
    for k in range(1, len(address) - 1, 2):
        p, i = address[k], address[k + 1]
        path_ids = sub.get(found)
        if path_ids is None or not 0 <= p < len(path_ids) or not 0 <= i < len(path_ids[p]):
            break
        found = path_ids[p][i]
    return found


def error_address(err: SpecError) -> tuple[int, ...] | None:
    """The address of the layer a SpecError blames (None: the input or the whole spec)."""
    if err.layer_index is None:
        return None
    return (err.layer_index, *(n for p, i, _ in err.inner for n in (p, i)))


def own(layer: Any) -> Any:
    """What a layer's own widgets show: a branch without its paths (those layers have ids of their own)."""
    if paths_of(layer) is not None:
        return {k: v for k, v in layer.items() if k != "paths"}
    return layer


def count_layers(layers: list[Any], limit: int) -> tuple[int, int]:
    """(layers counted at every depth, deepest nesting seen), walking without recursion and stopping once the
    count passes ``limit`` or the nesting passes :data:`MAX_EDIT_DEPTH` (a short link can inflate to a huge
    or very deep tree)."""
    count, deepest = 0, 0
    stack: list[tuple[list[Any], int]] = [(layers, 0)]
    while stack and count <= limit and deepest <= MAX_EDIT_DEPTH:
        level, depth = stack.pop()
        deepest = max(deepest, depth)
        count += len(level)
        for layer in level:
            paths = paths_of(layer)
            if paths is not None:
                stack.extend((p, depth + 1) for p in paths)
    return count, deepest


def residual_around(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """A residual connection around ``layers``: an ``add`` branch of those layers and the identity."""
    return {"type": "branch", "merge": "add", "paths": [layers, []]}


def rows_by_name(view: DesignView) -> dict[str, LayerReport]:
    """The analysis row of every valid layer at every depth, by its path-qualified name ("4.1.0")."""
    if view.report is None:
        return {}
    return {row.name: row for top in view.report.layers for row in top.walk()}


def channels_in(view: DesignView, slot: Slot | None, at: int, path_of: tuple[str, int] | None = None) -> int | None:
    """Channels reaching position ``at`` of the list holding ``slot`` (the top level, or a path): the width for a
    layer inserted there; for a path with no layers, ``slot`` None and ``path_of = (branch name, path)``.

    Inside a path from the analysis rows; None when unknown (the branch is not valid yet, or at the top of the
    design, where a first layer starts at its own width)."""
    if slot is not None and slot.parent is None:
        return view.channels_into(at)
    if slot is not None:
        path_of = (".".join(map(str, slot.address[:-2])), slot.address[-2])
    if path_of is None:
        return view.channels_into(at)
    branch = rows_by_name(view).get(path_of[0])
    path = path_of[1]
    if branch is None or not 0 <= path < len(branch.children):
        return None
    rows = branch.children[path]
    if at < len(rows):
        return rows[at].input_shape[0]
    if rows:
        return rows[-1].output_shape[0]
    split = getattr(branch.layer, "split", False)  # each path gets its share of the channels
    return branch.input_shape[0] // (len(branch.children) if split else 1)
