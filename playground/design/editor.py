"""The designer's editor model: the design being edited (stable layer ids, undo) and its fields.

Plain Python (tested without streamlit). The page keeps one :class:`Design` in
``st.session_state`` and it is the single source of truth: widgets take their first
value from it and their callbacks write into it. Widget keys are built from layer ids:
an id stays with its layer through moves and edits, so moving or removing a layer never
hands one layer's widget state to another; and a layer whose contents change behind its
widgets' back (undo, replace) gets a fresh id, so its widgets start again from the design.

Every change goes through one method and can be undone: insert a layer or block anywhere, remove,
duplicate, move (a step or to any position), change a layer's type keeping the settings that still
apply, set a field or the input, expand a named block into its branch, replace the whole design, clear
it. Inside a branch's paths too, at any depth (ids and addresses: :mod:`playground.design.tree`), plus
the branch's own: add or remove a path, and wrap layers in a residual connection. Layers enter the editor
only through :meth:`Design.from_spec` / :meth:`Design.replace`, which refuse over :data:`MAX_LAYERS`
layers (or too many inside branches) before copying anything (a short share link can inflate to 330,000
empty layers; :mod:`playground.design.structure`).

Which fields a layer type shows, and their defaults, come from the typed layer specs in
:mod:`playground.spec.layers` (one dataclass per layer type), so the editor offers exactly
what a spec accepts. Validation is *not* done here: whatever the user typed goes into the
spec and :mod:`playground.spec.parse` says what is wrong with it, so there is one set of rules
and messages.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from playground.design.fields import (
    LAYER_TYPE_NAMES,
    EditorField,
    FieldKind,
    fields_of,
    format_value,
    new_layer,
    parse_text,
    retype,
)
from playground.design.structure import check_structure, spec_from_text, spec_structure_error, too_many_layers
from playground.design.tree import (
    Slot,
    SubIds,
    count_layers,
    locate,
    own,
    paths_of,
    residual_around,
    sync,
    walk,
)
from playground.spec.keys import _n
from playground.spec.parse import MAX_LAYERS, MAX_TOTAL_LAYERS

__all__ = ["Design", "Snapshot", "UNDO_DEPTH", "spec_structure_error", "too_many_layers", "spec_from_text",
           "EditorField", "FieldKind", "fields_of", "LAYER_TYPE_NAMES", "new_layer", "parse_text", "format_value",
           "retype"]

UNDO_DEPTH = 30  # changes the Undo button can take back


@dataclass(frozen=True)
class Snapshot:
    """A design as it was before a change, with the change's name for the Undo button."""

    label: str
    input: list[Any]
    layers: list[dict[str, Any]]
    ids: list[int]
    name: str | None
    sub: SubIds = field(default_factory=dict)


@dataclass
class Design:
    """A spec (input + layers) being edited, with one stable id per layer at every depth.

    ``ids`` are the top-level layers' ids; ``sub`` each branch's path ids (:mod:`playground.design.tree`).
    Every method taking a ``layer_id`` works on a layer inside a path exactly as at the top level."""

    input: list[Any]
    layers: list[dict[str, Any]]
    name: str | None = None
    ids: list[int] = field(default_factory=list)
    next_id: int = 0
    input_rev: int = 0  # bumped when the input changes other than through its own fields
    undo_stack: list[Snapshot] = field(default_factory=list)
    sub: SubIds = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.layers):
            self.ids = self._fresh_ids(len(self.layers))
        self._sync()

    def _sync(self) -> None:
        """Give every layer inside a (new or reshaped) branch an id; keep the ids of the others."""
        self.sub = sync(self.layers, self.ids, self.sub, self._fresh_ids)

    revision: int = 0   # counts every change (edits and undos): "has the user edited since ...?"

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Design:
        """A design holding a deep copy of ``spec`` (``{"input": [C, H, W], "layers": [...], "name"?}``).

        Raises SpecError when the structure cannot be edited (see :func:`spec_structure_error`), e.g.
        over :data:`MAX_LAYERS` layers, before copying anything; values inside may be invalid,
        that is what the analysis reports.
        """
        check_structure(spec)
        return cls(list(copy.deepcopy(spec["input"])), copy.deepcopy(list(spec.get("layers", []))), spec.get("name"))

    def _fresh_ids(self, n: int) -> list[int]:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids

    # -- reading -------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """The design as a spec dict (a copy: editing it does not change the design)."""
        out: dict[str, Any] = {"name": self.name} if self.name is not None else {}
        out.update(input=copy.deepcopy(self.input), layers=copy.deepcopy(self.layers))
        return out

    def position(self, layer_id: int) -> int:
        """Top-level index of the layer with this id, or of the top-level branch holding it (ValueError when
        it no longer exists)."""
        return self.locate(layer_id).address[0]

    def locate(self, layer_id: int) -> Slot:
        """Where the layer with this id is, at any depth (ValueError when it no longer exists)."""
        return locate(self.layers, self.ids, self.sub, layer_id)

    def slots(self) -> list[Slot]:
        """Every layer at every depth, in list order (a branch, then its paths' layers)."""
        return list(walk(self.layers, self.ids, self.sub))

    def all_ids(self) -> list[int]:
        """The ids of every layer at every depth, in list order."""
        return [slot.layer_id for slot in walk(self.layers, self.ids, self.sub)]

    @property
    def can_undo(self) -> bool:
        """Whether there is a change to undo."""
        return bool(self.undo_stack)

    @property
    def undo_label(self) -> str | None:
        """The name of the change :meth:`undo` would take back (None: nothing to undo)."""
        return self.undo_stack[-1].label if self.undo_stack else None

    # -- changing ------------------------------------------------------------------------
    def checkpoint(self, label: str) -> None:
        """Remember the current design so :meth:`undo` can bring it back (before an edit)."""
        self.revision += 1
        self.undo_stack.append(Snapshot(label, copy.deepcopy(self.input), copy.deepcopy(self.layers), list(self.ids),
                                        self.name, copy.deepcopy(self.sub)))
        del self.undo_stack[:-UNDO_DEPTH]
        # An edited preset is no longer the preset: say so in its name (exported code uses it).
        if self.name and not self.name.endswith(" (edited)"):
            self.name += " (edited)"

    def undo(self) -> dict[int, int]:
        """Restore the design before the last checkpoint.

        A restored layer whose contents differ from what its id showed a moment ago (or that
        was removed) gets a fresh id: widgets keyed by the old id may still hold other values. Returns
        {old id: new id} for those, so the page can carry over which layer is chosen.
        """
        if not self.undo_stack:
            return {}
        snap = self.undo_stack.pop()
        self.revision += 1
        # A branch's own widgets show its merge and split; its paths' layers are compared each under its own id.
        shown = {slot.layer_id: own(slot.layer) for slot in self.slots()}
        if snap.input != self.input:
            self.input_rev += 1
        self.input, self.layers, self.name = snap.input, snap.layers, snap.name
        renamed: dict[int, int] = {}
        gone = object()
        for slot in walk(self.layers, snap.ids, snap.sub):
            if shown.get(slot.layer_id, gone) != own(slot.layer):  # changed, or brought back after a removal
                (renamed[slot.layer_id],) = self._fresh_ids(1)
        self.ids = [renamed.get(i, i) for i in snap.ids]
        self.sub = {renamed.get(k, k): [[renamed.get(i, i) for i in p] for p in paths] for k, paths in snap.sub.items()}
        self._sync()
        return renamed

    def replace(self, spec: dict[str, Any], label: str) -> None:
        """Replace the whole design (preset, upload, share link, paste), keeping a way back.

        SpecError (before anything changes) when ``spec`` cannot be edited, e.g. too many layers."""
        check_structure(spec)
        self.checkpoint(label)
        self.input = list(copy.deepcopy(spec["input"]))
        self.layers = copy.deepcopy(list(spec.get("layers", [])))
        self.name = spec.get("name")
        self.ids = self._fresh_ids(len(self.layers))
        self.sub = {}
        self._sync()
        self.input_rev += 1

    def clear(self) -> None:
        """A new empty design: no layers, the same input size (Undo brings the layers back)."""
        self.checkpoint("new empty design")
        self.layers, self.ids, self.name, self.sub = [], [], None, {}

    def _room(self, slot_list: list[Any], adding: int, removing: int = 0) -> None:
        """ValueError when ``adding`` layers (less ``removing``) would pass a limit: :data:`MAX_LAYERS` in one list,
        :data:`MAX_TOTAL_LAYERS` counting every layer inside branches."""
        if len(slot_list) - removing + adding > MAX_LAYERS:
            raise ValueError(f"this list already has {len(slot_list)} layers; {MAX_LAYERS} is the limit")
        total = count_layers(self.layers, MAX_TOTAL_LAYERS)[0]
        if total - removing + adding > MAX_TOTAL_LAYERS:
            raise ValueError(f"the design already has {_n(total)} layers counting those inside branches; "
                             f"{_n(MAX_TOTAL_LAYERS)} is the limit")

    def _path(self, branch_id: int, path: int) -> tuple[list[Any], list[int]]:
        """Path ``path`` of the branch with this id: its layers and their ids (ValueError when there is none)."""
        paths = paths_of(self.locate(branch_id).layer)
        if paths is None or branch_id not in self.sub or not 0 <= path < len(paths):
            raise ValueError(f"layer {self.locate(branch_id).name} has no path {path}")
        return paths[path], self.sub[branch_id][path]

    def insert(self, layers: list[dict[str, Any]], at: int | None = None, label: str | None = None, *,
               into: tuple[int, int] | None = None) -> list[int]:
        """Insert copies of ``layers`` (a layer or a block) at position ``at`` (the end by default, clamped to the
        list) of the top level, or of path ``into = (branch id, path)``; returns their new ids. ValueError when
        the design would pass a limit (:meth:`_room`)."""
        target, target_ids = (self.layers, self.ids) if into is None else self._path(*into)
        self._room(target, _count(layers))
        what = layers[0].get("type", "layer") if len(layers) == 1 else f"{len(layers)} layers"
        where = "" if into is None else f" in layer {self.locate(into[0]).name} path {into[1]}"
        self.checkpoint(label or f"add {what}{where}")
        at = len(target) if at is None else max(0, min(at, len(target)))
        new_ids = self._fresh_ids(len(layers))
        target[at:at] = copy.deepcopy(layers)
        target_ids[at:at] = new_ids
        self._sync()
        return new_ids

    def insert_near(self, layer_id: int, layers: list[dict[str, Any]], offset: int) -> list[int]:
        """Insert ``layers`` in the list holding the layer: above it (offset 0) or below it (offset 1)."""
        slot = self.locate(layer_id)
        into = None if slot.parent is None or slot.path is None else (slot.parent, slot.path)
        return self.insert(layers, slot.index + offset, into=into)

    def add(self, layer: dict[str, Any], at: int | None = None) -> int:
        """Insert ``layer`` (at the end by default); returns its new id."""
        (new_id,) = self.insert([layer], at)
        return new_id

    def remove(self, layer_id: int) -> None:
        """Delete the layer with this id (a branch with everything inside it)."""
        slot = self.locate(layer_id)
        self.checkpoint(f"remove layer {slot.name} ({_type(slot.layer)})")
        del slot.layers[slot.index], slot.ids[slot.index]
        self._sync()

    def duplicate(self, layer_id: int) -> int:
        """Insert a copy right below the layer (in its own list); returns the copy's id."""
        slot = self.locate(layer_id)
        self._room(slot.layers, _count([slot.layer]))
        self.checkpoint(f"duplicate layer {slot.name}")
        (new_id,) = self._fresh_ids(1)
        slot.layers.insert(slot.index + 1, copy.deepcopy(slot.layer))
        slot.ids.insert(slot.index + 1, new_id)
        self._sync()
        return new_id

    def move(self, layer_id: int, delta: int) -> None:
        """Move a layer up (delta < 0) or down within its list; a move past either end does nothing."""
        slot = self.locate(layer_id)
        if 0 <= slot.index + delta < len(slot.layers):
            self.move_to(layer_id, slot.index + delta)

    def move_to(self, layer_id: int, position: int) -> None:
        """Move a layer to ``position`` of its list (clamped to the list), in one step however far."""
        slot = self.locate(layer_id)
        i, j = slot.index, max(0, min(position, len(slot.layers) - 1))
        if i == j:
            return
        self.checkpoint(f"move layer {slot.name}")
        slot.layers.insert(j, slot.layers.pop(i))
        slot.ids.insert(j, slot.ids.pop(i))

    def change_type(self, layer_id: int, layer_type: str, channels: int | None = None) -> int:
        """Make the layer a ``layer_type``, keeping the settings that type also has (see :func:`retype`).

        Returns the layer's new id: its contents changed behind its widgets' back."""
        slot = self.locate(layer_id)
        new = retype(slot.layer if isinstance(slot.layer, dict) else {}, layer_type, channels)
        if new == slot.layer:
            return layer_id
        self._room(slot.layers, _count([new]), _count([slot.layer]))
        self.checkpoint(f"change layer {slot.name} to {layer_type}")
        slot.layers[slot.index] = new
        (slot.ids[slot.index],) = self._fresh_ids(1)
        self._sync()
        return slot.ids[slot.index]

    def expand(self, layer_id: int, channels: int) -> list[int]:
        """Replace a named block (``mbconv``, ``residual``...) by the branch and layers it stands for, given the
        ``channels`` reaching it (:func:`playground.design.expand.expand_block`); returns the new layers' ids.
        ValueError when the layer is not a named block, SpecError when its settings are invalid."""
        from playground.design.expand import expand_block

        slot = self.locate(layer_id)
        layers = expand_block(slot.layer, channels)
        self._room(slot.layers, _count(layers), 1)
        self.checkpoint(f"expand layer {slot.name} ({_type(slot.layer)})")
        new_ids = self._fresh_ids(len(layers))
        slot.layers[slot.index:slot.index + 1] = layers
        slot.ids[slot.index:slot.index + 1] = new_ids
        self._sync()
        return new_ids

    def wrap(self, layer_id: int, count: int = 1) -> int:
        """Wrap the layer and the ``count - 1`` after it in its list (fewer at the list's end) in a residual
        connection: an ``add`` branch of those layers and the identity, in one change. The wrapped layers keep
        their ids (their contents are unchanged); returns the new branch's id."""
        slot = self.locate(layer_id)
        end = min(len(slot.layers), slot.index + max(1, count))
        inner, inner_ids = slot.layers[slot.index:end], slot.ids[slot.index:end]
        self._room(slot.layers, 1)
        self.checkpoint(f"wrap layer{'s' if end - slot.index > 1 else ''} {slot.name} in a residual")
        (branch_id,) = self._fresh_ids(1)
        slot.layers[slot.index:end] = [residual_around(inner)]
        slot.ids[slot.index:end] = [branch_id]
        self.sub[branch_id] = [inner_ids, []]
        self._sync()
        return branch_id

    def add_path(self, branch_id: int) -> None:
        """Add an empty path (the identity) to the branch with this id (ValueError: not an editable branch)."""
        slot = self.locate(branch_id)
        paths = paths_of(slot.layer)
        if paths is None:
            raise ValueError(f"layer {slot.name} is not a branch with a list of paths")
        self.checkpoint(f"add a path to layer {slot.name}")
        paths.append([])
        self.sub[branch_id].append([])

    def remove_path(self, branch_id: int, path: int) -> None:
        """Remove path ``path`` (with its layers) from the branch; ValueError for its last path (remove the
        branch instead) or a path that is not there."""
        slot = self.locate(branch_id)
        self._path(branch_id, path)
        paths = paths_of(slot.layer) or []
        if len(paths) == 1:
            raise ValueError(f"layer {slot.name} has one path left: remove the branch instead")
        self.checkpoint(f"remove path {path} of layer {slot.name}")
        del paths[path], self.sub[branch_id][path]
        self._sync()

    def set_field(self, layer_id: int, name: str, value: Any) -> None:
        """Set one key of a layer; None removes it (back to the default)."""
        slot = self.locate(layer_id)
        layer = slot.layer
        if layer.get(name) == value:
            return
        self.checkpoint(f"edit layer {slot.name} {name}")
        if value is None:
            layer.pop(name, None)
        else:
            layer[name] = value
        self._sync()

    def set_input(self, dim: int, value: Any) -> None:
        """Set input dimension ``dim`` (0 = channels, 1 = height, 2 = width)."""
        if dim < len(self.input) and self.input[dim] == value:
            return
        self.checkpoint("edit input size")
        while len(self.input) <= dim:
            self.input.append(None)
        self.input[dim] = value


def _count(layers: list[Any]) -> int:
    """Layers in ``layers`` counting those inside branches (stops counting past the limit)."""
    return count_layers(layers, MAX_TOTAL_LAYERS)[0]


def _type(layer: Any) -> Any:
    return layer.get("type") if isinstance(layer, dict) else "?"
