"""The designer's state: the design being edited, stable layer ids, and undo.

``Design`` is plain Python (tested without streamlit). The page keeps one in
``st.session_state`` and it is the single source of truth: widgets take their first
value from it and their callbacks write into it. Widget keys are built from layer ids:
an id stays with its layer through moves and edits, so moving or removing a layer never
hands one layer's widget state to another; and a layer whose contents change behind its
widgets' back (undo, replace) gets a fresh id, so its widgets start again from the design.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Design", "Snapshot", "UNDO_DEPTH", "spec_structure_error"]

UNDO_DEPTH = 30


def spec_structure_error(spec: Any) -> str | None:
    """Why ``spec`` cannot even be edited (not an object with an input list and a list of
    layer objects), or None. Bad *values* are fine: the analysis explains those per layer."""
    if not isinstance(spec, dict):
        return "it is not a spec object"
    if not isinstance(spec.get("input"), list):
        return '"input" is not a list like [3, 224, 224]'
    layers = spec.get("layers", [])
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        return '"layers" is not a list of layer objects'
    if spec.get("name") is not None and not isinstance(spec["name"], str):
        return '"name" is not text'
    return None


@dataclass(frozen=True)
class Snapshot:
    """A design as it was before a change, with the change's name for the Undo button."""

    label: str
    input: list[Any]
    layers: list[dict[str, Any]]
    ids: list[int]
    name: str | None


@dataclass
class Design:
    """A spec (input + layers) being edited, with one stable id per layer."""

    input: list[Any]
    layers: list[dict[str, Any]]
    name: str | None = None
    ids: list[int] = field(default_factory=list)
    next_id: int = 0
    input_rev: int = 0  # bumped when the input changes other than through its own fields
    undo_stack: list[Snapshot] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.layers):
            self.ids = self._fresh_ids(len(self.layers))

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Design":
        """A design holding a deep copy of ``spec`` (``{"input": [C, H, W], "layers": [...], "name"?}``).

        The caller checks the structure (see :func:`spec_structure_error`); values inside
        may be invalid, that is what the analysis reports.
        """
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
        """Index of the layer with this id (ValueError when it no longer exists)."""
        return self.ids.index(layer_id)

    @property
    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    @property
    def undo_label(self) -> str | None:
        return self.undo_stack[-1].label if self.undo_stack else None

    # -- changing ------------------------------------------------------------------------
    def checkpoint(self, label: str) -> None:
        """Remember the current design so :meth:`undo` can bring it back (before an edit)."""
        self.undo_stack.append(Snapshot(label, copy.deepcopy(self.input), copy.deepcopy(self.layers), list(self.ids),
                                        self.name))
        del self.undo_stack[:-UNDO_DEPTH]
        # An edited preset is no longer the preset: say so in its name (exported code uses it).
        if self.name and not self.name.endswith(" (edited)"):
            self.name += " (edited)"

    def undo(self) -> dict[int, int]:
        """Restore the design before the last checkpoint.

        A restored layer whose contents differ from what its id showed a moment ago (or that
        was removed) gets a fresh id: widgets keyed by the old id may still hold other values. Returns
        {old id: new id} for those, so the page can carry over which rows are open.
        """
        if not self.undo_stack:
            return {}
        snap = self.undo_stack.pop()
        shown = dict(zip(self.ids, self.layers))
        if snap.input != self.input:
            self.input_rev += 1
        self.input, self.layers, self.name = snap.input, snap.layers, snap.name
        renamed: dict[int, int] = {}
        self.ids = []
        for old, layer in zip(snap.ids, self.layers):
            if shown.get(old) != layer:  # changed, or brought back after a removal
                (renamed[old],) = self._fresh_ids(1)
            self.ids.append(renamed.get(old, old))
        return renamed

    def replace(self, spec: dict[str, Any], label: str) -> None:
        """Replace the whole design (preset, upload, share link), keeping a way back."""
        self.checkpoint(label)
        self.input = list(copy.deepcopy(spec["input"]))
        self.layers = copy.deepcopy(list(spec.get("layers", [])))
        self.name = spec.get("name")
        self.ids = self._fresh_ids(len(self.layers))
        self.input_rev += 1

    def add(self, layer: dict[str, Any], at: int | None = None) -> int:
        """Insert ``layer`` (at the end by default); returns its new id."""
        self.checkpoint(f"add {layer.get('type', 'layer')}")
        at = len(self.layers) if at is None else at
        (new_id,) = self._fresh_ids(1)
        self.layers.insert(at, copy.deepcopy(layer))
        self.ids.insert(at, new_id)
        return new_id

    def remove(self, layer_id: int) -> None:
        i = self.position(layer_id)
        self.checkpoint(f"remove layer {i} ({self.layers[i].get('type')})")
        del self.layers[i], self.ids[i]

    def duplicate(self, layer_id: int) -> int:
        """Insert a copy right below the layer; returns the copy's id."""
        i = self.position(layer_id)
        self.checkpoint(f"duplicate layer {i}")
        (new_id,) = self._fresh_ids(1)
        self.layers.insert(i + 1, copy.deepcopy(self.layers[i]))
        self.ids.insert(i + 1, new_id)
        return new_id

    def move(self, layer_id: int, delta: int) -> None:
        """Move a layer up (delta < 0) or down; a move past either end does nothing."""
        i = self.position(layer_id)
        j = i + delta
        if not 0 <= j < len(self.layers):
            return
        self.checkpoint(f"move layer {i}")
        for seq in (self.layers, self.ids):
            seq.insert(j, seq.pop(i))

    def set_field(self, layer_id: int, name: str, value: Any) -> None:
        """Set one key of a layer; None removes it (back to the default)."""
        i = self.position(layer_id)
        layer = self.layers[i]
        if layer.get(name) == value:
            return
        self.checkpoint(f"edit layer {i} {name}")
        if value is None:
            layer.pop(name, None)
        else:
            layer[name] = value

    def set_input(self, dim: int, value: Any) -> None:
        """Set input dimension ``dim`` (0 = channels, 1 = height, 2 = width)."""
        if dim < len(self.input) and self.input[dim] == value:
            return
        self.checkpoint("edit input size")
        while len(self.input) <= dim:
            self.input.append(None)
        self.input[dim] = value
